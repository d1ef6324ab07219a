import { Redis } from 'ioredis';
import t from 'tap';
import { apiRequest, checkLedger, postTransfer, seedCustomers, startStack, waitFor } from './kit.js';

// Issue #14, item 1: Redis is killed and started empty while the worker keeps running, so
// the delayed hold-expiry and clearing jobs it held are gone. Every hold must still end
// `voided` (API.md shows an expired hold so) and the external transfer settle, within a
// bounded wait and without restarting the worker: the worker re-arms when Redis comes back,
// and sweeps for overdue holds every HOLD_SWEEP_INTERVAL_MS. The API, projector and worker
// are real processes on a fresh PostgreSQL database and a Redis of the test's own.

/** Holds made, each reserving `holdAmount` for `holdSeconds`. */
const holds = 4;
const holdAmount = '5.00';
/** Long enough for the dispatcher to put every job in Redis before the kill. */
const holdSeconds = 8;
/** The clearing rail answers this long after the external transfer was made. */
const clearingDelayMs = 8_000;
/** The worker's sweep interval here (the default is 30 s). */
const sweepIntervalMs = 1_000;
/** How long the jobs may take to reach Redis, and the transfers to end after the loss. */
const dispatchWithinMs = 20_000;
const endWithinMs = 30_000;

t.test(
  'Redis comes back empty under a running worker: holds expire, the clearing settles',
  { timeout: 120_000 },
  async (t) => {
    const stack = await startStack(t, {
      workerEnv: {
        HOLD_SWEEP_INTERVAL_MS: String(sweepIntervalMs),
        CLEARING_DELAY_MS: String(clearingDelayMs),
      },
    });
    const [alice] = await seedCustomers(stack, {
      customers: 1,
      accountsPerCustomer: 2,
      depositEach: 1_000_00n,
    });
    const customer = alice!;
    const [from, to] = customer.accounts as [string, string];
    const acknowledged: string[] = [];
    const send = async (body: Record<string, unknown>) => {
      const sent = await postTransfer(stack, customer, body);
      t.equal(sent.status, 201, `${body.type}: 201`, sent.status === 201 ? {} : { body: sent.body });
      t.equal(sent.body.transaction.status, 'pending');
      acknowledged.push(sent.body.transaction.id);
      return sent.body.transaction.id as string;
    };
    const held: string[] = [];
    for (let i = 0; i < holds; i++) {
      held.push(
        await send({
          type: 'transfer',
          fromAccountId: from,
          toAccountId: to,
          amount: holdAmount,
          currency: 'EUR',
          mode: 'pending',
          timeoutSeconds: holdSeconds,
        }),
      );
    }
    const external = await send({
      type: 'external',
      fromAccountId: from,
      beneficiary: { iban: 'GB82WEST12345698765432', name: 'Dana Payee' },
      amount: '20.00',
      currency: 'EUR',
    });

    // Every job waits in Redis (BullMQ's delayed sets, prefix 'ledger'); then Redis loses them.
    const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: 1 });
    try {
      await waitFor(
        'the expiry and clearing jobs are in Redis',
        async () =>
          (await redis.zcard('ledger:holds:delayed')) === holds &&
          (await redis.zcard('ledger:clearing:delayed')) === 1,
        dispatchWithinMs,
      );
    } finally {
      redis.disconnect();
    }
    const workerPid = stack.worker.pid();
    await stack.redis.kill();
    await stack.redis.start();

    const statusOf = async (id: string) => {
      const read = await apiRequest(stack, customer, 'GET', `/api/transactions/${id}`);
      return read.status === 200 ? (read.body.transaction.status as string) : `HTTP ${read.status}`;
    };
    await waitFor(
      'every hold voided (expired) and the external transfer posted',
      async () => {
        const statuses = await Promise.all([...held, external].map(statusOf));
        return statuses.slice(0, holds).every((s) => s === 'voided') && statuses[holds] === 'posted';
      },
      endWithinMs,
      250,
    );
    for (const id of held) t.equal(await statusOf(id), 'voided', `hold ${id}: expired`);
    t.equal(await statusOf(external), 'posted', 'the external transfer settled');
    t.ok(stack.worker.running, 'the worker kept running');
    t.equal(stack.worker.pid(), workerPid, 'and was not restarted');

    // checkLedger waits for the read models to reach the head: then the account shows it.
    await checkLedger(t, stack, acknowledged);
    const account = await apiRequest(stack, customer, 'GET', `/api/accounts/${from}`);
    t.match(account.body, { account: { pendingDebits: '0.00' } }, 'no funds reserved any more');
  },
);
