/**
 * Cold start (issue #14, item 2): how fast a restarted API answers a burst on long streams.
 *
 *   pnpm bench:coldstart
 *
 * One fresh database; the API as its own child process (what `pnpm start:api` runs), on the
 * machine's Redis. Seeding: BENCH_ACCOUNTS (16) customers, each with one funded EUR account,
 * through the application layer (as the fault kit seeds), then BENCH_EVENTS (10,000) posted
 * legs on each account written straight into the log, balanced: pairs of accounts pay each
 * other 0.01 EUR back and forth, 1,000 events an append. The API then makes one transfer
 * from each account, folding each whole stream once and writing its snapshot; once every
 * account has one, the API is killed (-9) and started again, and BENCH_TRANSFERS (360)
 * transfers are sent at once (each from account i to account i + 1, 0.01 EUR). Reported:
 * per request latency from its send to its answer, p50 and p99 (nearest rank), the 201s and
 * the 5xx, and the ledger's counters of the restarted API (cold loads, events read).
 *
 * Environment (bounded): BENCH_ACCOUNTS (16, even), BENCH_EVENTS (10000), BENCH_TRANSFERS
 * (360), BENCH_SNAPSHOTS (0: delete the snapshots before the restart, for comparison),
 * BENCH_KEEP_DB (1 keeps the database). Progress on stderr; the last line of stdout is
 * one JSON object. The target is p99 < 2,000 ms.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { accountStreamId, snapshotEveryEvents } from '@ledger/application';
import { PostgresEventStore, pgClient } from '@ledger/eventstore';
import { createTestDatabase, type TestDatabase, testRedisUrl } from '@ledger/testkit';
import pg from 'pg';
import { type Customer, openSeedVault, seedCustomers } from '../faults/kit.js';
import {
  type Child,
  dropDatabase,
  envInt,
  log,
  note,
  sleep,
  spawnApi,
  startWatchdog,
  stopChild,
  waitForApi,
} from './common.js';

const accounts = envInt('BENCH_ACCOUNTS', 16, 2, 256);
const eventsPerStream = envInt('BENCH_EVENTS', 10_000, 1_000, 100_000);
const transfers = envInt('BENCH_TRANSFERS', 360, 1, 5_000);
const keepDb = process.env.BENCH_KEEP_DB === '1';
/** BENCH_SNAPSHOTS=0: the snapshots are deleted before the restart (loads fold whole streams, shared). */
const withSnapshots = process.env.BENCH_SNAPSHOTS !== '0';
/** The whole run's bound. */
const runWaitMs = 15 * 60_000;
/** How long the API may take to write every account's snapshot after the warm-up. */
const snapshotWaitMs = 60_000;
/** Each request of the burst. */
const requestWaitMs = 60_000;
if (accounts % 2 !== 0) throw new RangeError('BENCH_ACCOUNTS must be even');

let db: TestDatabase | undefined;
let api: Child | undefined;
const stopWatchdog = startWatchdog(
  runWaitMs,
  () => db,
  () => api?.process.kill('SIGKILL'),
);

async function seedLongStreams(store: PostgresEventStore, customers: Customer[]): Promise<void> {
  const leg = (
    accountId: string,
    side: 'debit' | 'credit',
    other: string,
    transferId: string,
    at: string,
  ) => ({
    type: 'AccountLegPosted',
    data: {
      accountId,
      transferId,
      side,
      counterpartyAccountId: other,
      code: 'transfer',
      reference: null,
      at,
      amount: '1',
      releasedPending: '0',
    },
    metadata: { actorId: 'system:bench' },
  });
  await Promise.all(
    Array.from({ length: accounts / 2 }, async (_, p) => {
      const a = customers[2 * p]!.accounts[0]!;
      const b = customers[2 * p + 1]!.accounts[0]!;
      for (let done = 0; done < eventsPerStream; done += 500) {
        const at = new Date().toISOString();
        const onA: ReturnType<typeof leg>[] = [];
        const onB: ReturnType<typeof leg>[] = [];
        for (let k = 0; k < Math.min(500, eventsPerStream - done); k += 2) {
          const [t1, t2] = [randomUUID(), randomUUID()];
          onA.push(leg(a, 'debit', b, t1, at), leg(a, 'credit', b, t2, at));
          onB.push(leg(b, 'credit', a, t1, at), leg(b, 'debit', a, t2, at));
        }
        await store.append([
          { streamId: accountStreamId(a), expectedVersion: 'any', events: onA },
          { streamId: accountStreamId(b), expectedVersion: 'any', events: onB },
        ]);
      }
    }),
  );
}

async function post(url: string, customer: Customer, to: Customer): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  try {
    const response = await fetch(`${url}/api/transactions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${customer.token}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({
        type: 'transfer',
        fromAccountId: customer.accounts[0],
        toAccountId: to.accounts[0],
        amount: '0.01',
        currency: 'EUR',
      }),
      signal: AbortSignal.timeout(requestWaitMs),
    });
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - t0 };
  } catch {
    return { status: 0, ms: performance.now() - t0 };
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);

let pool: pg.Pool | undefined;
let store: PostgresEventStore | undefined;
let exitCode = 0;
try {
  db = await createTestDatabase('bench_coldstart');
  note(`database ${db.name}`);
  const jwtSecret = randomBytes(36).toString('base64url');
  const dataKey = randomBytes(36).toString('base64url');
  const env = {
    DATA_KEY: dataKey,
    DATABASE_URL: db.url,
    REDIS_URL: testRedisUrl,
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: 'warn',
    RATE_LIMITS: JSON.stringify({ default: '9999999/second', login: '1000/minute' }),
  };
  let started = await spawnApi(env);
  api = started.child;
  await waitForApi(started);
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  store = await PostgresEventStore.open(pgClient(pool), { migrate: false });

  note(`seeding ${accounts} accounts`);
  const vault = await openSeedVault(db.url, dataKey);
  const customers = await seedCustomers(
    { store, jwtSecret, vault },
    {
      customers: accounts,
      depositEach: 1_000_000_00n,
    },
  );
  let t0 = performance.now();
  await seedLongStreams(store, customers);
  note(`seeded ${accounts} × ${eventsPerStream} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // The API folds every stream once and snapshots it.
  for (let i = 0; i < accounts; i++) {
    const warm = await post(started.url, customers[i]!, customers[(i + 1) % accounts]!);
    if (warm.status !== 201) throw new Error(`warm-up transfer ${i}: ${warm.status}`);
  }
  const streamIds = customers.map((c) => accountStreamId(c.accounts[0]!));
  const deadline = Date.now() + snapshotWaitMs;
  for (;;) {
    const { rows } = await pool.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM es.snapshots WHERE stream_id = ANY($1)',
      [streamIds],
    );
    if (Number(rows[0]!.n) === accounts) break;
    if (Date.now() > deadline) throw new Error(`snapshots: ${rows[0]!.n} of ${accounts}`);
    await sleep(200);
  }
  if (!withSnapshots) await pool.query('DELETE FROM es.snapshots');
  note(
    `every account has its snapshot${withSnapshots ? '' : ' (deleted)'}: killing the API (-9) and starting it again`,
  );
  api.process.kill('SIGKILL');
  await api.exit;
  started = await spawnApi(env);
  api = started.child;
  await waitForApi(started);

  note(`${transfers} transfers at once`);
  t0 = performance.now();
  const answers = await Promise.all(
    Array.from({ length: transfers }, (_, i) =>
      post(started.url, customers[i % accounts]!, customers[(i + 1) % accounts]!),
    ),
  );
  const wallMs = performance.now() - t0;
  const sorted = answers.map((a) => a.ms).sort((x, y) => x - y);
  const metrics = await (await fetch(`${started.url}/metrics`)).text();
  const result = {
    coldStartP99Ms: Math.round(percentile(sorted, 99)),
    p50Ms: Math.round(percentile(sorted, 50)),
    maxMs: Math.round(sorted.at(-1)!),
    wallMs: Math.round(wallMs),
    transfers,
    ok201: answers.filter((a) => a.status === 201).length,
    errors5xx: answers.filter((a) => a.status >= 500).length,
    otherStatus: answers.filter((a) => a.status !== 201 && a.status < 500).length,
    accounts,
    eventsPerStream,
    snapshotEvery: snapshotEveryEvents,
    snapshotsKept: withSnapshots,
    coldLoads: metric(metrics, 'ledger_account_cold_loads_total'),
    snapshotsUsed: metric(metrics, 'ledger_account_snapshots_used_total'),
    loadEventsRead: metric(metrics, 'ledger_account_load_events_total'),
  };
  if (result.errors5xx > 0 || result.ok201 !== transfers) exitCode = 1;
  log(JSON.stringify(result));
} catch (error) {
  note(String(error instanceof Error ? error.stack : error));
  if (api) note(api.output().slice(-4_000));
  exitCode = 1;
} finally {
  await stopChild(api);
  await store?.close();
  await pool?.end();
  await dropDatabase(db, keepDb);
  stopWatchdog();
}
process.exit(exitCode);
