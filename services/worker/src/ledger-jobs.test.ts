import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import {
  bankAccountId,
  clearingActorId,
  createExternalTransfer,
  createLedger,
  holdExpiryActorId,
  type Ledger,
  loadAccount,
  loadTransfer,
  reviewHeldTransfer,
  runTransferCommand,
  transferStreamId,
} from '@ledger/application';
import { externalTransfer, fundedAccount, twoPhaseTransfer } from '@ledger/application/testing';
import { defaultRuleModes, defaultRuleThresholds } from '@ledger/domain';
import { availableBalanceOf, balanceOf, pendingTimeoutSecondsDefault } from '@ledger/domain/ledger';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import {
  accountsProjection,
  getAccount,
  getTransaction,
  transactionsProjection,
  trialBalance,
} from '@ledger/projection-accounts';
import { runProjection } from '@ledger/readmodel';
import { testRedisUrl, uniquePrefix, until as waitUntil } from '@ledger/testkit';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { startWorker, type Worker } from './index.js';
import { ledgerDispatchRules, sweepOverdueTransfers } from './ledger-jobs.js';

// Hold expiry and the clearing rail, end to end: events in the store, the dispatcher, the
// delayed jobs on BullMQ (real Redis) or in process, the ledger commands the jobs run, and
// what the read models show. Delays are tens of ms; only outcomes are asserted, not timing.

const testTimeoutMs = 60_000;
const waitMs = 15_000;
const returnIban = 'DE89370400440532013000';
const settleIban = 'GB82WEST12345698765432';

const until = (what: string, condition: () => Promise<boolean>, timeoutMs = waitMs) =>
  waitUntil(what, condition, timeoutMs);

interface LogLine {
  level: number;
  msg: string;
  transfers?: number;
  err?: { message: string };
  result?: string;
  reason?: string;
}

interface FixtureOptions {
  /** The worker's HOLD_SWEEP_INTERVAL_MS; default: its own (30 s, longer than a test). */
  sweepMs?: number;
  /** The clearing rail's delay; default 50 ms. */
  clearingDelayMs?: number;
  /** A Redis of the test's own (ownRedis); default: the shared test Redis. */
  redisUrl?: string;
}

/** `behindMs()`: how far the worker's clock is behind the one that made the holds, now. */
async function fixture(
  t: Test,
  mode: 'bullmq' | 'in-process',
  behindMs: () => number = () => 0,
  options: FixtureOptions = {},
) {
  const redisUrl = options.redisUrl ?? testRedisUrl;
  // Closed below, after the worker and the read models have stopped.
  const { database, store, close } = await openTestStore('worker_ledger_jobs');
  // The test's commands and the worker share one ledger context, as in one process.
  const ledger = createLedger(store);
  // The read models' errors are kept: a model that stopped says why in the assertion.
  const modelErrors: string[] = [];
  const modelLogger = createLogger(
    { level: 'error', name: 'ledger-jobs-test' },
    { write: (line: string) => modelErrors.push(line) },
  );
  const projections = [accountsProjection, transactionsProjection].map((projection) =>
    runProjection({ db: database.db, store, projection, logger: modelLogger }),
  );
  const lines: LogLine[] = [];
  const logger = createLogger(
    { level: 'info', name: 'ledger-jobs-test' },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  );
  const prefix = uniquePrefix('ledger-jobs-test');
  const workers: Worker[] = [];
  /** A worker on the fixture's database; a second call is the same worker after a restart. */
  const start = async () => {
    const next = await startWorker({
      db: database.db,
      store,
      ledger,
      logger,
      ...(mode === 'bullmq' ? { redisUrl, redisPrefix: prefix } : {}),
      clearing: { delayMs: options.clearingDelayMs ?? 50, returnIbans: [returnIban] },
      ...(options.sweepMs === undefined ? {} : { holdSweepIntervalMs: options.sweepMs }),
      retry: { attempts: 6, backoffDelayMs: 20 },
      // This worker's clock may be behind the one that made the holds.
      now: () => new Date(Date.now() - behindMs()),
    });
    workers.push(next);
    return next;
  };
  /** Deletes this test's BullMQ keys (a Redis that lost its data); nothing in process. */
  const dropQueueKeys = async () => {
    if (mode !== 'bullmq') return;
    const redis = new Redis(redisUrl);
    try {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      await redis.quit();
    }
  };
  const worker = await start();
  t.teardown(async () => {
    // Every worker (a restarted one too) before the read models and the database.
    for (const w of workers) await w.stop();
    await Promise.all(projections.map((p) => p.stop()));
    await close();
    await dropQueueKeys();
  });
  const meta = { actorId: 'test' };
  /** A customer account holding `amount` (minor units) of EUR. */
  const funded = (amount: bigint) => fundedAccount(ledger, amount, meta);
  const statusOf = async (transferId: string) => (await loadTransfer(ledger, transferId)).state.status;
  /** Waits for the read models to reach what the store holds now. */
  const projected = async () => {
    const head = await store.lastWrittenPosition();
    for (const p of projections) {
      const caughtUp = await p.waitFor(head, waitMs);
      t.ok(caughtUp, 'read models caught up', caughtUp ? {} : { status: p.status(), errors: modelErrors });
    }
  };
  /** A pending two-phase transfer made now, expiring after timeoutSeconds; its id. */
  const pendingHold = async (from: string, to: string, amount: bigint, timeoutSeconds: number) => {
    const made = await twoPhaseTransfer(ledger, { from, to, amount, timeoutSeconds, now: new Date() }, meta);
    if (made.status !== 'accepted') throw new Error(made.status);
    return made.transfer.id;
  };
  /**
   * The first worker dispatches everything in the store now (its jobs are queued), then
   * stops, and its queue loses them: the in-process queue with the worker, BullMQ's with
   * Redis's data.
   */
  const stopWorkerLosingItsQueue = async () => {
    const head = await store.lastWrittenPosition();
    t.ok(await worker.dispatcher.waitFor(head, waitMs), 'the jobs were dispatched');
    await worker.stop();
    await dropQueueKeys();
  };
  const lastEventOf = async (transferId: string) => {
    const events = await store.readStream(transferStreamId(transferId));
    return { first: events[0]!, last: events[events.length - 1]! };
  };
  /** Jobs of this test's prefix in `queue`'s delayed set (BullMQ). */
  const delayedJobs = async (queue: string) => {
    const redis = new Redis(redisUrl);
    try {
      return await redis.zcard(`${prefix}:${queue}:delayed`);
    } finally {
      await redis.quit();
    }
  };
  return {
    store,
    ledger,
    db: database.db,
    dropQueueKeys,
    delayedJobs,
    worker,
    lines,
    meta,
    funded,
    statusOf,
    projected,
    lastEventOf,
    restart: start,
    pendingHold,
    stopWorkerLosingItsQueue,
    /** The projector stops (or lags): the read models see nothing from now on. */
    stopProjections: () => Promise.all(projections.map((p) => p.stop())),
  };
}

/** Per currency Σ debits = Σ credits in the read model. */
async function balanced(t: Test, db: Parameters<typeof trialBalance>[0]) {
  t.ok(
    (await trialBalance(db)).every((row) => row.balanced),
    'Σ debits = Σ credits',
  );
}

async function hold(ledger: Ledger, from: string, to: string, expiresInMs: number) {
  // The clock comes in on the command: made "now − (1 s − expiresInMs)" with a 1 s timeout,
  // the hold expires expiresInMs from now (timeouts are whole seconds, expiresInMs ≤ 1000).
  const outcome = await twoPhaseTransfer(
    ledger,
    { from, to, amount: 30_00n, timeoutSeconds: 1, now: new Date(Date.now() - 1000 + expiresInMs) },
    { actorId: 'test' },
  );
  if (outcome.status !== 'accepted') throw new Error(JSON.stringify(outcome.status));
  return outcome.transfer.id;
}

const failures = (lines: LogLine[]) => lines.filter((l) => /^job failed/.test(l.msg));

for (const mode of ['bullmq', 'in-process'] as const) {
  t.test(
    `${mode}: an external transfer held for review goes to the rail only once approved`,
    { timeout: testTimeoutMs },
    async (t) => {
      const f = await fixture(t, mode);
      const alice = await f.funded(100_00n);
      // Every rule active, large_amount from 10.00 EUR: a 20.00 EUR external transfer is held.
      const thresholds = defaultRuleThresholds();
      const rules = {
        policy: {
          thresholds: { ...thresholds, reviewAmountMin: { ...thresholds.reviewAmountMin, EUR: 10_00n } },
          modes: defaultRuleModes(),
          watchList: [],
        },
        settingsVersion: '0',
      };
      const made = await createExternalTransfer(
        f.ledger,
        {
          transferId: randomUUID(),
          fromAccountId: alice,
          beneficiary: { iban: settleIban, name: 'Payee' },
          amount: 20_00n,
          currency: 'EUR',
          reference: null,
          limits: {},
          rules,
          now: new Date(),
        },
        f.meta,
      );
      if (made.status !== 'accepted') throw new Error(made.status);
      const id = made.transfer.id;
      t.match(made.transfer, { status: 'pending', review: { reasons: ['large_amount'] } });
      // Held: its expiry is armed, its clearing not. A restart that lost the queue re-arms it
      // from the read model, where it is held_for_review.
      await f.projected();
      t.match(await getTransaction(f.db, id), { status: 'held_for_review' });
      await f.stopWorkerLosingItsQueue();
      await f.restart();
      await until('the re-arm ran', async () => f.lines.some((l) => l.msg === 'pending transfers re-armed'));
      // Ten times the rail's delay: had it gone to the rail, it would have been answered.
      await new Promise((resolve) => setTimeout(resolve, 500));
      t.equal(await f.statusOf(id), 'pending', 'not sent to the rail while held');
      t.notOk(
        f.lines.some((l) => l.msg === 'clearing rail answered'),
        'no clearing job ran',
      );

      const approved = await reviewHeldTransfer(
        f.ledger,
        {
          userId: randomUUID(),
          role: 'manager',
          kycStatus: 'none',
          metadata: f.meta,
          now: new Date(),
        },
        { transferId: id, decision: 'approved', reason: 'known payee' },
      );
      t.match(approved, { status: 'accepted', transfer: { status: 'pending', expiresAt: null } });
      await until('the rail settled it', async () => (await f.statusOf(id)) === 'posted');
      t.match(
        f.lines.filter((l) => l.msg === 'clearing rail answered').map((l) => l.result),
        ['settled'],
      );
      const { last } = await f.lastEventOf(id);
      t.match(last.metadata, { actorId: clearingActorId });
      t.equal(await f.statusOf(id), 'posted');
    },
  );

  t.test(
    `${mode}: a hold with a timeout is expired by its delayed job`,
    { timeout: testTimeoutMs },
    async (t) => {
      const f = await fixture(t, mode);
      const alice = await f.funded(100_00n);
      const bob = await f.funded(0n);
      // Posted at once, well before its time: its expiry job finds it ended, the expected no-op.
      const posted = await hold(f.ledger, alice, bob, 1000);
      const postedNow = await runTransferCommand(
        f.ledger,
        { type: 'PostPendingTransfer', transferId: posted, now: new Date() },
        f.meta,
      );
      t.equal(postedNow.status, 'accepted');
      const expiring = await hold(f.ledger, alice, bob, 50);
      const noTimeout = await twoPhaseTransfer(f.ledger, { from: alice, to: bob, amount: 5_00n }, f.meta);
      t.equal(noTimeout.status, 'accepted');
      await until('the hold expired', async () => (await f.statusOf(expiring)) === 'expired');
      await until(
        'both expiry jobs ran',
        async () => f.lines.filter((l) => l.msg === 'hold expiry').length === 2,
      );
      t.same(
        f.lines
          .filter((l) => l.msg === 'hold expiry')
          .map((l) => l.result)
          .sort(),
        ['already_ended', 'expired'],
      );
      t.same(failures(f.lines), [], 'no job failed: an ended hold is not a failure');
      t.equal(await f.statusOf(posted), 'posted');
      t.equal(
        await f.statusOf(noTimeout.status === 'accepted' ? noTimeout.transfer.id : ''),
        'pending',
        'no timeout given: it expires after the default 7 days, not now',
      );

      const { first, last } = await f.lastEventOf(expiring);
      t.equal(last.type, 'PendingTransferExpired');
      t.match(last.metadata, { actorId: holdExpiryActorId, causationId: first.eventId });
      const { state } = await loadAccount(f.ledger, alice);
      if (state.status === 'none') throw new Error('no account');
      t.equal(state.debitsPending, 5_00n, 'the expired hold is released; the one without timeout stays');
      t.equal(balanceOf(state), 70_00n, 'only the posted hold moved money');

      await f.projected();
      t.match(
        await getTransaction(f.db, expiring),
        { status: 'voided' },
        'API.md shows an expired hold as voided',
      );
      t.match(await getAccount(f.db, alice), {
        balance: '70.00',
        pendingDebits: '5.00',
        availableBalance: '65.00',
      });
      t.match(await getAccount(f.db, bob), { balance: '30.00', pendingCredits: '5.00' });
      await balanced(t, f.db);
    },
  );

  t.test(
    `${mode}: a hold made without a timeout is expired by its job after the default 7 days`,
    { timeout: testTimeoutMs },
    async (t) => {
      const f = await fixture(t, mode);
      const alice = await f.funded(100_00n);
      const bob = await f.funded(0n);
      // Made 7 days ago less 50 ms, with no timeoutSeconds: its default expiry is 50 ms away.
      const made = new Date(Date.now() - pendingTimeoutSecondsDefault * 1000 + 50);
      const outcome = await twoPhaseTransfer(
        f.ledger,
        { from: alice, to: bob, amount: 30_00n, now: made },
        f.meta,
      );
      if (outcome.status !== 'accepted') throw new Error(outcome.status);
      const id = outcome.transfer.id;
      t.match(outcome.transfer, {
        status: 'pending',
        timeoutSeconds: pendingTimeoutSecondsDefault,
        expiresAt: new Date(made.getTime() + pendingTimeoutSecondsDefault * 1000).toISOString(),
      });
      // The dispatch rule arms it as it arms an explicit timeout.
      const { first } = await f.lastEventOf(id);
      const [expiryRule] = ledgerDispatchRules({ clearing: { delayMs: 50, returnIbans: new Set() } });
      t.equal(expiryRule?.job, 'ledger.expire-hold');
      t.ok(expiryRule?.when?.(first), 'an expiry job is made');
      t.same(expiryRule?.runAt?.(first), new Date(made.getTime() + pendingTimeoutSecondsDefault * 1000));
      await until('the hold expired', async () => (await f.statusOf(id)) === 'expired');
      const { state } = await loadAccount(f.ledger, alice);
      t.match(state, { debitsPending: 0n }, 'the hold is released');
      t.same(failures(f.lines), []);
    },
  );

  t.test(
    `${mode}: a worker whose clock is behind retries the expiry until it is due`,
    { timeout: testTimeoutMs },
    async (t) => {
      // A minute behind until an attempt has been refused as not due; then in step.
      let behindMs = 60_000;
      const f = await fixture(t, mode, () => behindMs);
      const alice = await f.funded(100_00n);
      const bob = await f.funded(0n);
      const expiring = await hold(f.ledger, alice, bob, 20);
      await until('an attempt refused as not due', async () =>
        failures(f.lines).some((l) => /not yet/.test(l.err?.message ?? '')),
      );
      t.equal(await f.statusOf(expiring), 'pending', 'not expired by a clock that says it is not due');
      behindMs = 0;
      await until('the hold expired on a retry', async () => (await f.statusOf(expiring)) === 'expired');
      const { state } = await loadAccount(f.ledger, alice);
      t.match(state, { debitsPending: 0n });
    },
  );

  t.test(`${mode}: the clearing rail settles an external transfer`, { timeout: testTimeoutMs }, async (t) => {
    const f = await fixture(t, mode);
    const alice = await f.funded(100_00n);
    const made = await externalTransfer(
      f.ledger,
      {
        from: alice,
        beneficiary: { iban: settleIban, name: 'Dana Payee' },
        amount: 40_00n,
        reference: 'rent',
      },
      f.meta,
    );
    t.equal(made.status, 'pending');
    const id = made.id;
    await until('settled', async () => (await f.statusOf(id)) === 'posted');
    const { first, last } = await f.lastEventOf(id);
    t.match(last, { type: 'PendingTransferPosted', data: { amount: '4000' } });
    t.match(last.metadata, { actorId: clearingActorId, causationId: first.eventId });
    const clearing = (await loadAccount(f.ledger, bankAccountId('EUR', 'clearing'))).state;
    t.match(clearing, { creditsPosted: 40_00n, creditsPending: 0n }, 'the money is on clearing');
    const from = (await loadAccount(f.ledger, alice)).state;
    if (from.status === 'none') throw new Error('no account');
    t.equal(balanceOf(from), 60_00n);
    t.equal(from.debitsPending, 0n);
    await f.projected();
    t.match(await getTransaction(f.db, id), {
      status: 'posted',
      postedAmount: '40.00',
      type: 'external',
      beneficiary: { iban: settleIban, name: 'Dana Payee' },
    });
    t.match(await getAccount(f.db, alice), { balance: '60.00', availableBalance: '60.00' });
    t.match(await getAccount(f.db, bankAccountId('EUR', 'clearing')), { balance: '40.00' });
    t.same(failures(f.lines), []);
    await balanced(t, f.db);
  });

  t.test(`${mode}: the clearing rail returns an external transfer`, { timeout: testTimeoutMs }, async (t) => {
    const f = await fixture(t, mode);
    const alice = await f.funded(100_00n);
    const made = await externalTransfer(
      f.ledger,
      {
        from: alice,
        beneficiary: { iban: returnIban, name: 'Closed Account' },
        amount: 40_00n,
        reference: null,
      },
      f.meta,
    );
    const id = made.id;
    await until('returned', async () => (await f.statusOf(id)) === 'returned');
    const { first, last } = await f.lastEventOf(id);
    t.match(last, { type: 'PendingTransferReturned', data: { transferId: id } });
    t.match(last.metadata, { actorId: clearingActorId, causationId: first.eventId });
    const from = (await loadAccount(f.ledger, alice)).state;
    if (from.status === 'none') throw new Error('no account');
    t.equal(availableBalanceOf(from), 100_00n, 'the money is back');
    t.equal(balanceOf(from), 100_00n);
    const clearing = (await loadAccount(f.ledger, bankAccountId('EUR', 'clearing'))).state;
    t.match(clearing, { creditsPosted: 0n, creditsPending: 0n });
    await f.projected();
    t.match(await getTransaction(f.db, id), { status: 'returned', postedAmount: null });
    t.match(await getAccount(f.db, alice), {
      balance: '100.00',
      availableBalance: '100.00',
      pendingDebits: '0.00',
    });
    t.same(failures(f.lines), []);
    await balanced(t, f.db);
  });

  t.test(
    `${mode}: a restarted worker re-arms the expiry of a hold whose job its queue lost`,
    { timeout: testTimeoutMs },
    async (t) => {
      const f = await fixture(t, mode);
      const alice = await f.funded(100_00n);
      const bob = await f.funded(0n);
      // Due in 4 s: time for the first worker to dispatch its job and stop well before.
      const expiring = await f.pendingHold(alice, bob, 30_00n, 4);
      await f.stopWorkerLosingItsQueue();
      await f.projected();
      t.equal(await f.statusOf(expiring), 'pending');
      // The next worker's dispatcher is past the event: only the re-arm can make the job again.
      await f.restart();
      await until('the hold expired', async () => (await f.statusOf(expiring)) === 'expired');
      t.ok(
        f.lines.some((l) => l.msg === 'pending transfers re-armed'),
        'the sweep ran',
      );
      t.same(failures(f.lines), []);
    },
  );

  t.test(
    `${mode}: a restarted worker re-arms a hold the transactions read model has not seen (projector behind)`,
    { timeout: testTimeoutMs },
    async (t) => {
      const f = await fixture(t, mode);
      const alice = await f.funded(100_00n);
      const bob = await f.funded(0n);
      // Pending, and in the read model before it stops: re-armed from there.
      await f.pendingHold(alice, bob, 5_00n, 60);
      await f.projected();
      await f.stopProjections();
      const expiring = await f.pendingHold(alice, bob, 30_00n, 4);
      // Made and voided past the checkpoint: found in $all, ended there, not re-armed.
      const late = await f.pendingHold(alice, bob, 1_00n, 60);
      const ended = await runTransferCommand(
        f.ledger,
        { type: 'VoidPendingTransfer', transferId: late, now: new Date() },
        f.meta,
      );
      t.equal(ended.status, 'accepted');
      await f.stopWorkerLosingItsQueue();
      t.equal(await getTransaction(f.db, expiring), null, 'the read model does not have the hold');
      await f.restart();
      await until('the hold expired', async () => (await f.statusOf(expiring)) === 'expired');
      // The restarted worker's sweep (the first worker's found nothing): the hold the read
      // model has and the one past its checkpoint, not the one voided there.
      const sweeps = () => f.lines.filter((l) => l.msg === 'pending transfers re-armed');
      await until('the second sweep ended', async () => sweeps().length === 2);
      t.same(
        sweeps().map((l) => l.transfers),
        [0, 2],
      );
      t.same(failures(f.lines), []);
    },
  );
}

/**
 * A redis-server of the test's own on a free port, without persistence: `kill()` loses its
 * data, `start()` brings up an empty one on the same port. Killed at the test's end, after
 * what the test set up later (teardowns run last first).
 */
async function ownRedis(t: Test) {
  const port = await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
  const url = `redis://127.0.0.1:${port}`;
  let child: ReturnType<typeof spawn> | undefined;
  const answers = async () => {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      await redis.connect();
      return (await redis.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      redis.disconnect();
    }
  };
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await until('redis-server answers', answers);
  };
  const kill = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  t.teardown(kill);
  return { url, start, kill };
}

t.test(
  'bullmq: Redis loses the jobs while the worker runs; the sweep expires the hold and the clearing comes back',
  { timeout: testTimeoutMs },
  async (t) => {
    // The sweep every 200 ms; the hold expires and the rail answers 4 s after they are made:
    // time for the dispatcher to put both jobs in Redis first.
    const f = await fixture(t, 'bullmq', () => 0, { sweepMs: 200, clearingDelayMs: 4000 });
    const alice = await f.funded(100_00n);
    const bob = await f.funded(0n);
    const expiring = await f.pendingHold(alice, bob, 30_00n, 4);
    const external = await externalTransfer(
      f.ledger,
      { from: alice, beneficiary: { iban: settleIban, name: 'Dana Payee' }, amount: 10_00n, reference: null },
      f.meta,
    );
    await until('both jobs wait in Redis', async () => {
      const [holds, clearing] = await Promise.all([f.delayedJobs('holds'), f.delayedJobs('clearing')]);
      return holds === 1 && clearing === 1;
    });
    // The keys are gone, the connection is not: nothing tells the worker.
    await f.dropQueueKeys();
    t.equal(await f.statusOf(expiring), 'pending');
    await until('the hold expired', async () => (await f.statusOf(expiring)) === 'expired');
    await until('the external transfer settled', async () => (await f.statusOf(external.id)) === 'posted');
    t.ok(
      f.lines.some((l) => l.msg === 'overdue hold expired'),
      'by the sweep',
    );
    const { state } = await loadAccount(f.ledger, alice);
    t.match(state, { debitsPending: 0n }, 'the hold is released');
    t.same(failures(f.lines), []);
  },
);

t.test(
  'bullmq: Redis comes back empty; the running worker re-arms the hold and the clearing',
  { timeout: testTimeoutMs },
  async (t) => {
    const redis = await ownRedis(t);
    // No sweep within the test: only the re-arm can make the jobs again.
    const f = await fixture(t, 'bullmq', () => 0, {
      redisUrl: redis.url,
      sweepMs: 3_600_000,
      clearingDelayMs: 4000,
    });
    const alice = await f.funded(100_00n);
    const bob = await f.funded(0n);
    const expiring = await f.pendingHold(alice, bob, 30_00n, 4);
    const external = await externalTransfer(
      f.ledger,
      { from: alice, beneficiary: { iban: settleIban, name: 'Dana Payee' }, amount: 10_00n, reference: null },
      f.meta,
    );
    await until('both jobs wait in Redis', async () => {
      const [holds, clearing] = await Promise.all([f.delayedJobs('holds'), f.delayedJobs('clearing')]);
      return holds === 1 && clearing === 1;
    });
    await redis.kill();
    await redis.start();
    t.equal(await f.statusOf(expiring), 'pending');
    await until('the hold expired', async () => (await f.statusOf(expiring)) === 'expired');
    await until('the external transfer settled', async () => (await f.statusOf(external.id)) === 'posted');
    t.ok(
      f.lines.some((l) => l.msg === 'pending transfers re-armed' && l.reason === 'reconnect'),
      'by the re-arm after the reconnect',
    );
    t.notOk(
      f.lines.some((l) => l.msg === 'overdue hold expired'),
      'not by the sweep',
    );
    t.same(failures(f.lines), []);
  },
);

t.test('two sweeps at once expire each overdue hold once', { timeout: testTimeoutMs }, async (t) => {
  const { database, store, close } = await openTestStore('worker_hold_sweep');
  t.teardown(close);
  // Two ledger contexts (caches, locks): two worker processes, as far as the store can tell.
  const ledgers = [createLedger(store), createLedger(store)] as const;
  const meta = { actorId: 'test' };
  const alice = await fundedAccount(ledgers[0], 1_000_00n, meta);
  const bob = await fundedAccount(ledgers[0], 0n, meta);
  // No worker and no jobs: expired a second ago, and one not due for a minute.
  const overdue: string[] = [];
  for (let i = 0; i < 6; i++) overdue.push(await hold(ledgers[0], alice, bob, -1000));
  const later = await twoPhaseTransfer(
    ledgers[0],
    { from: alice, to: bob, amount: 1_00n, timeoutSeconds: 60, now: new Date() },
    meta,
  );
  if (later.status !== 'accepted') throw new Error(later.status);
  // The rail answers at once: its answer is overdue as soon as it is made.
  const external = await externalTransfer(
    ledgers[0],
    { from: alice, beneficiary: { iban: settleIban, name: 'Dana Payee' }, amount: 1_00n, reference: null },
    meta,
  );
  // The sweep reads $all, where a commit shows once no older transaction of the server is open.
  const written = await store.lastWrittenPosition();
  await until('the transfers are visible in $all', async () => (await store.headPosition()) >= written);
  const dispatched: string[][] = [[], []];
  const sweeps = await Promise.all(
    ledgers.map((ledger, i) =>
      sweepOverdueTransfers({
        db: database.db,
        store,
        ledger,
        clearing: { delayMs: 0, returnIbans: new Set() },
        now: () => new Date(),
        dispatch: async (event) => {
          dispatched[i]!.push(event.streamId);
          return 1;
        },
        stopped: new AbortController().signal,
        logger: createLogger({ level: 'silent', name: 'hold-sweep-test' }),
      }),
    ),
  );
  t.equal(
    sweeps.reduce((sum, s) => sum + s.expired, 0),
    overdue.length,
    'each overdue hold expired by one of the sweeps',
  );
  for (const id of overdue) {
    const events = await store.readStream(transferStreamId(id));
    t.same(
      events.map((e) => e.type),
      ['TransferPending', 'PendingTransferExpired'],
      `${id}: expired once`,
    );
    t.match(events[1]!.metadata, { actorId: holdExpiryActorId, causationId: events[0]!.eventId });
  }
  t.equal(await statusIn(ledgers[1], later.transfer.id), 'pending', 'the hold not yet due stays');
  t.equal(await statusIn(ledgers[1], external.id), 'pending', 'the sweep does not answer for the rail');
  t.same(
    dispatched,
    [[transferStreamId(external.id)], [transferStreamId(external.id)]],
    'the overdue external transfer is dispatched again, by each sweep (the queue dedupes)',
  );
  const { state } = await loadAccount(ledgers[1], alice);
  t.match(
    state,
    { debitsPending: 1_00n + 1_00n },
    'only the later hold and the external one still hold funds',
  );
});

async function statusIn(ledger: Ledger, transferId: string) {
  return (await loadTransfer(ledger, transferId)).state.status;
}
