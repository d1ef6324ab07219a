import { randomUUID } from 'node:crypto';
import {
  bankAccountId,
  createLedger,
  ensureBankAccounts,
  type Ledger,
  loadAccount,
  loadSubscription,
  loadTransfer,
  openCustomerAccount,
  runTransferCommand,
  seededPackId,
  seedPackCatalog,
  subscribeToPack,
} from '@ledger/application';
import { subscriptionStreamId } from '@ledger/contracts';
import { balanceOf } from '@ledger/domain/ledger';
import { nextWork } from '@ledger/domain/packs';
import type { EventStore } from '@ledger/eventstore';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { packsProjection } from '@ledger/projection-packs';
import { runProjection } from '@ledger/readmodel';
import { testRedisUrl, uniquePrefix, until } from '@ledger/testkit';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { startWorker, type Worker } from './index.js';
import { packFeesActorId, settleDueSubscriptions } from './pack-fees.js';

// The packs' fee scheduler end to end, with a clock the test moves: subscriptions in the
// store, the packs read model (the scheduler's queue), workers whose scheduler runs every
// 100 ms (a BullMQ job scheduler on real Redis, or the in-process timer), and what the
// ledger shows. Two schedulers run at once in every scheduled test: two workers, each with
// its own BullMQ prefix (two job schedulers) or its own timer.

const t0 = new Date('2027-01-10T09:00:00.000Z');
const day = 86_400_000;
const hour = 3_600_000;
const at = (ms: number) => new Date(t0.getTime() + ms);
const intervalMs = 100;
const waitMs = 15_000;
const meta = { actorId: 'test' };

interface LogLine {
  level: number;
  msg: string;
  subscriptionId?: string;
  settled?: number;
  failed?: number;
}

async function fixture(t: Test, mode: 'bullmq' | 'in-process' | 'none') {
  const { database, store, close } = await openTestStore('worker_pack_fees');
  const ledger = createLedger(store);
  await seedPackCatalog(store, t0);
  await ensureBankAccounts(ledger, 'EUR', t0, meta);
  const modelErrors: string[] = [];
  const projection = runProjection({
    db: database.db,
    store,
    projection: packsProjection,
    logger: createLogger(
      { level: 'error', name: 'pack-fees-test' },
      { write: (l: string) => modelErrors.push(l) },
    ),
  });
  const lines: LogLine[] = [];
  const logger = createLogger(
    { level: 'info', name: 'pack-fees-test' },
    { write: (line: string) => lines.push(JSON.parse(line)) },
  );
  let clock = t0;
  const now = () => clock;
  const prefixes: string[] = [];
  const workers: Worker[] = [];
  t.teardown(async () => {
    for (const w of workers) await w.stop();
    await projection.stop();
    await close();
    if (prefixes.length > 0) {
      const redis = new Redis(testRedisUrl);
      for (const prefix of prefixes) {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      await redis.quit();
    }
  });
  if (mode !== 'none') {
    for (let i = 0; i < 2; i++) {
      const prefix = uniquePrefix(`pack-fees-test-${i}`);
      if (mode === 'bullmq') prefixes.push(prefix);
      workers.push(
        await startWorker({
          db: database.db,
          store,
          // Each worker a process of its own: its own ledger context.
          ledger: createLedger(store),
          logger,
          ...(mode === 'bullmq' ? { redisUrl: testRedisUrl, redisPrefix: prefix } : {}),
          packFeesIntervalMs: intervalMs,
          retry: { attempts: 3, backoffDelayMs: 20 },
          now,
        }),
      );
    }
  }

  /** A customer account holding `balance` (minor units) of EUR, subscribed to `pack` at t0. */
  const subscribed = async (pack: string, balance: bigint) => {
    const ownerId = randomUUID();
    const opened = await openCustomerAccount(
      ledger,
      { ownerId, accountType: 'checking', currency: 'EUR', kycVerified: true, now: t0 },
      meta,
    );
    if (!opened.ok) throw new Error(opened.code);
    const accountId = opened.account.id;
    const deposit = await runTransferCommand(
      ledger,
      {
        type: 'CreateTransfer',
        transferId: randomUUID(),
        debitAccountId: bankAccountId('EUR', 'cash'),
        creditAccountId: accountId,
        amount: balance,
        currency: 'EUR',
        code: 'deposit',
        mode: 'single-phase',
        now: t0,
      },
      meta,
    );
    if (deposit.status !== 'accepted') throw new Error(deposit.status);
    const started = await subscribeToPack(
      ledger,
      { userId: ownerId, role: 'customer', metadata: meta, now: t0 },
      { packId: seededPackId(pack), accountId },
    );
    if (!started.ok) throw new Error(started.rejection);
    return { accountId, subscriptionId: started.subscription.id };
  };

  /** Whether nothing is due on these subscriptions at the clock (what a run leaves). */
  const settled = async (ids: readonly string[]) => {
    for (const id of ids) {
      const { state } = await loadSubscription(store, id);
      if (state.status !== 'exists' || nextWork(state.subscription, clock) !== null) return false;
    }
    return true;
  };
  /** The clock moves to `to`; the schedulers do what is due by then. */
  const advance = async (to: Date, ids: readonly string[]) => {
    clock = to;
    await until(`the schedulers settle at ${to.toISOString()}`, () => settled(ids), waitMs);
  };
  /** The read model has what the store has (the schedulers' queue is up to date). */
  const projected = async () => {
    const caughtUp = await projection.waitFor(await store.lastWrittenPosition(), waitMs);
    t.ok(caughtUp, 'the packs read model caught up', caughtUp ? {} : { errors: modelErrors });
  };
  /** A few runs of each scheduler with nothing due: what would be doubled shows. */
  const idle = async () => {
    await projected();
    await new Promise((resolve) => setTimeout(resolve, 4 * intervalMs));
  };
  return {
    store,
    db: database.db,
    ledger,
    lines,
    logger,
    subscribed,
    advance,
    idle,
    projected,
    setClock: (to: Date) => {
      clock = to;
    },
  };
}

/** The subscription's events of these types, in order. */
async function eventsOf(store: EventStore, subscriptionId: string, ...types: string[]) {
  const events = await store.readStream(subscriptionStreamId(subscriptionId));
  return events.filter((e) => types.includes(e.type));
}

/** The fee transfers of the paid charges, as the ledger holds them. */
async function paidFees(store: EventStore, ledger: Ledger, subscriptionId: string) {
  const paid = await eventsOf(store, subscriptionId, 'SubscriptionChargePaid');
  return Promise.all(
    paid.map(async (e) => {
      const { key, transferId } = e.data as { key: string; transferId: string };
      const { state } = await loadTransfer(ledger, transferId);
      if (state.status === 'none' || state.status === 'rejected') throw new Error(`fee ${key} not posted`);
      return { key, status: state.status, amount: state.amount, code: state.code };
    }),
  );
}

async function balance(store: EventStore, accountId: string) {
  // A fresh context: what the store holds, no cache.
  const { state } = await loadAccount(createLedger(store), accountId);
  if (state.status === 'none') throw new Error('no account');
  return balanceOf(state);
}

for (const mode of ['bullmq', 'in-process'] as const) {
  t.test(
    `${mode}: three months pass, two schedulers: exactly three fees each, fee income credited`,
    async (t) => {
      const f = await fixture(t, mode);
      const premium = await f.subscribed('Premium', 1_000_00n);
      const business = await f.subscribed('Business', 1_000_00n);
      const ids = [premium.subscriptionId, business.subscriptionId];
      // Day by day would be 90 steps; the days something happens, and some when nothing does.
      for (const to of [at(day), at(31 * day + hour), at(45 * day), at(59 * day + hour), at(89 * day)]) {
        await f.advance(to, ids);
      }
      await f.idle();
      for (const [{ subscriptionId, accountId }, fee] of [
        [premium, 12_90n],
        [business, 25_00n],
      ] as const) {
        t.same(
          (await paidFees(f.store, f.ledger, subscriptionId)).map((p) => [p.key, p.status, p.amount, p.code]),
          [
            ['p0', 'posted', fee, 'fee'],
            ['p1', 'posted', fee, 'fee'],
            ['p2', 'posted', fee, 'fee'],
          ],
          'periods 0, 1 and 2 charged, once each',
        );
        t.equal(await balance(f.store, accountId), 1_000_00n - 3n * fee, 'the account paid three fees');
        const periods = await eventsOf(f.store, subscriptionId, 'SubscriptionPeriodStarted');
        t.same(
          periods.map((e) => [(e.data as { period: number }).period, e.metadata.actorId]),
          [
            [1, packFeesActorId],
            [2, packFeesActorId],
          ],
          'periods 1 and 2 begun by the scheduler',
        );
      }
      t.equal(
        await balance(f.store, bankAccountId('EUR', 'fee-income')),
        3n * (12_90n + 25_00n),
        'fee income credited with the six fees',
      );
      t.notOk(
        f.lines.some((l) => l.level >= 40),
        'no warning or error logged',
        { found: f.lines.filter((l) => l.level >= 40) },
      );
    },
  );
}

t.test('bullmq: a fee that cannot be paid is retried after 1, 3 and 7 days, then suspended', async (t) => {
  const f = await fixture(t, 'bullmq');
  // 15.00 pays Premium's first 12.90; 2.10 is left for the second.
  const { subscriptionId, accountId } = await f.subscribed('Premium', 15_00n);
  const ids = [subscriptionId];
  const first = at(31 * day + hour);
  await f.advance(first, ids);
  const failures = () => eventsOf(f.store, subscriptionId, 'SubscriptionChargeFailed');
  t.equal((await failures()).length, 1, 'period 1 fee failed once');
  // Not due yet: a day after the failure less an hour, nothing more is tried.
  f.setClock(new Date(first.getTime() + day - hour));
  await f.idle();
  t.equal((await failures()).length, 1, 'no retry before its day');
  for (const days of [1, 3, 7]) await f.advance(new Date(first.getTime() + days * day), ids);
  const failed = (await failures()).map((e) => e.data as Record<string, unknown>);
  const iso = (days: number) => new Date(first.getTime() + days * day).toISOString();
  t.same(
    failed.map((d) => [d.key, d.attempt, d.at, d.nextAttemptAt, d.reason]),
    [
      ['p1', 0, iso(0), iso(1), 'insufficient_funds'],
      ['p1', 1, iso(1), iso(3), 'insufficient_funds'],
      ['p1', 2, iso(3), iso(7), 'insufficient_funds'],
      ['p1', 3, iso(7), null, 'insufficient_funds'],
    ],
    'four attempts on the dunning schedule',
  );
  const suspended = await eventsOf(f.store, subscriptionId, 'SubscriptionSuspended');
  t.same(
    suspended.map((e) => (e.data as { key: string; at: string }).at),
    [iso(7)],
    'suspended after the last',
  );
  const { state } = await loadSubscription(f.store, subscriptionId);
  t.equal(state.status === 'exists' && state.subscription.status, 'suspended');
  // Two months on: a suspended subscription begins no period and owes nothing.
  await f.advance(at(75 * day), ids);
  await f.idle();
  t.equal((await eventsOf(f.store, subscriptionId, 'SubscriptionPeriodStarted')).length, 1, 'no period 2');
  t.same(
    (await paidFees(f.store, f.ledger, subscriptionId)).map((p) => p.key),
    ['p0'],
    'only the first fee was paid',
  );
  t.equal(await balance(f.store, accountId), 2_10n, 'the account kept what it had');
  t.equal(await balance(f.store, bankAccountId('EUR', 'fee-income')), 12_90n, 'fee income: the first fee');
});

t.test('settleDueSubscriptions: runs at once, a broken subscription, the bound, paging', async (t) => {
  const f = await fixture(t, 'none');
  const subs = await Promise.all(['Essential', 'Premium', 'Business'].map((p) => f.subscribed(p, 100_00n)));
  const ids = subs.map((s) => s.subscriptionId);
  await f.projected();
  const now = () => at(31 * day + hour);

  // One subscription's stream cannot be read: its settling throws, the others go on. All
  // three are due at the same time: the queue takes them by id, the broken one first.
  const broken = [...ids].sort()[0]!;
  const faulty = new Proxy(f.store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'readStream') {
        return (streamId: string, options?: unknown) =>
          streamId === subscriptionStreamId(broken)
            ? Promise.reject(new Error('disk on fire'))
            : (value as EventStore['readStream']).call(target, streamId, options as never);
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const bounded = await settleDueSubscriptions({
    db: f.db,
    ledger: createLedger(faulty),
    logger: f.logger,
    now,
    max: 1,
  });
  t.same(bounded, { settled: 0, failed: 1 }, 'at most max per run: the first due, which throws');
  const withError = await settleDueSubscriptions({
    db: f.db,
    ledger: createLedger(faulty),
    logger: f.logger,
    now,
    batchSize: 1,
  });
  t.same(withError, { settled: 2, failed: 1 }, 'the batch goes on past the error, a page of one at a time');
  t.ok(
    f.lines.some(
      (l) => l.msg === 'subscription not settled; next run retries' && l.subscriptionId === broken,
    ),
    'the error is logged with its subscription',
  );
  for (const id of ids) {
    t.equal(
      (await eventsOf(f.store, id, 'SubscriptionPeriodStarted')).length,
      id === broken ? 0 : 1,
      id === broken ? 'the broken one: nothing done' : 'another began period 1',
    );
  }

  // Two runs at once, each its own process (ledger), with the broken one readable again.
  const runs = await Promise.all(
    [createLedger(f.store), createLedger(f.store)].map((ledger) =>
      settleDueSubscriptions({ db: f.db, ledger, logger: f.logger, now }),
    ),
  );
  t.same(
    runs.map((r) => r.failed),
    [0, 0],
  );
  for (const { subscriptionId } of subs) {
    t.same(
      (await paidFees(f.store, f.ledger, subscriptionId)).map((p) => p.key),
      ['p0', 'p1'],
      'two fees, once each',
    );
  }
  await f.projected();
  t.same(
    await settleDueSubscriptions({ db: f.db, ledger: f.ledger, logger: f.logger, now }),
    { settled: 0, failed: 0 },
    'nothing due once the read model has caught up',
  );
});
