/**
 * Append throughput of our PostgreSQL event store, side by side with Emmett
 * (@event-driven-io/emmett-postgresql) on the same PostgreSQL server and database.
 *
 *   pnpm bench:eventstore
 *
 * Workloads, each at 1, 8 and 32 concurrent writers (async loops in this process, each
 * awaiting its own append before the next):
 *   single  — 1 event per append, writer w appends to `bench-<cell>-<w>-<k % 50>` with 'any';
 *   atomic  — 3 streams per append (a transfer: `transfer-<uuid>` with 'no_stream', plus a
 *             debit and a credit on two accounts of the writer's own pool, with 'any').
 * Emmett has no multi-stream atomic append: that cell is "n/a". Emmett gets a pg pool of the
 * same size as ours, and runs after our checks (it sets process-wide pg type parsers).
 *
 * Every cell runs a warm-up, then a fixed measured window; appends completed inside the
 * window count. After our workloads the store's hash chains are verified and readAll is
 * paged to check that exactly the events we were told were appended are there (plus a
 * readStream order check and an SQL count); a failed check makes the exit code 1. CPU is
 * reported per cell (this process + the pool's PostgreSQL backends, and the whole machine),
 * since on a shared 2-core machine the absolute numbers move with other load.
 *
 * Environment (all bounded): BENCH_WARMUP_MS (default 1000), BENCH_MEASURE_MS (5000),
 * BENCH_POOL_MAX (16), BENCH_APPEND_CONCURRENCY and BENCH_BATCH_APPENDS_MAX (store
 * options; unset = the store's defaults), BENCH_PEER (0 skips the peer).
 *
 * The last line of stdout is one JSON object with the headline numbers.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import {
  PostgresEventStore,
  type PostgresEventStoreOptions,
  pgClient,
  WrongExpectedVersion,
} from '@ledger/eventstore';
import { createTestDatabase, type TestDatabase } from '@ledger/testkit';
import pg from 'pg';
import {
  dropDatabase,
  envInt,
  log,
  note,
  sleep,
  startCpuMeter,
  startWatchdog,
  withTimeout,
} from './common.js';

// ---- bounds -----------------------------------------------------------------------------

const warmupMs = envInt('BENCH_WARMUP_MS', 1000, 0, 10_000);
const measureMs = envInt('BENCH_MEASURE_MS', 5000, 500, 20_000);
const poolMax = envInt('BENCH_POOL_MAX', 16, 1, 64);
const appendConcurrency = process.env.BENCH_APPEND_CONCURRENCY
  ? envInt('BENCH_APPEND_CONCURRENCY', 8, 1, 64)
  : undefined;
const batchAppendsMax = process.env.BENCH_BATCH_APPENDS_MAX
  ? envInt('BENCH_BATCH_APPENDS_MAX', 64, 1, 1000)
  : undefined;
const runPeer = process.env.BENCH_PEER !== '0';

const writerCounts = [1, 8, 32] as const;
const streamsPerWriter = 50;
const accountsPerWriter = 1000;
/** A writer stops after this many appends in one cell, whatever the clock says. */
const appendsPerWriterMax = 2_000_000;
/** Latency samples kept per cell (enough for p50/p99, bounded in memory). */
const latencySamplesMax = 500_000;
/** Waiting for writers to finish their last append after the window closed. */
const drainTimeoutMs = 15_000;
const verifyTimeoutMs = 80_000;
const readBackTimeoutMs = 30_000;
const readPageSize = 10_000;
const visibilityWaitMs = 10_000;
const readPagesMax = 1000;
/** The whole run, peer included; beyond it the database is dropped and the process exits. */
const runTimeoutMs = 170_000;

// ---- helpers ----------------------------------------------------------------------------

const currencies = ['EUR', 'USD', 'GBP', 'CHF'] as const;

/** ~200 bytes of JSON, shaped like a banking event. */
function bankingData(writer: number, k: number, accountId: string) {
  return {
    accountId,
    amount: `${(k % 10_000) + 1}.${String(k % 100).padStart(2, '0')}`,
    currency: currencies[k % currencies.length]!,
    reference: `INV-${writer.toString().padStart(3, '0')}-${k.toString().padStart(9, '0')} monthly settlement`,
    bookedAt: '2024-05-17T10:21:33.123Z',
    channel: 'sepa-credit-transfer',
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// ---- CPU accounting (Linux /proc; absent elsewhere) ---------------------------------------

/**
 * Measures, over a window: this process's CPU, the CPU of the PostgreSQL backends serving
 * the benchmarked pool (other sessions on the server excluded), and how busy the machine was.
 */
async function startCpuWindow(pool: pg.Pool) {
  const { rows } = await pool.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  );
  const pids = rows.map((r) => r.pid);
  const meter = startCpuMeter(pids);
  return () => {
    const cpu = meter();
    return { nodeCpuPct: cpu.selfPct, pgCpuPct: cpu.pctOf(pids), machineBusyPct: cpu.machineBusyPct };
  };
}

interface CellResult {
  appendsPerSecond: number;
  eventsPerSecond: number;
  /** Successful appends in the whole cell (warm-up and drain included). */
  appendsOk: number;
  /** Events of those appends. */
  eventsOk: number;
  wrongExpectedVersion: number;
  otherErrors: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of this process, of the PostgreSQL backends of the pool, and of the whole machine. */
  nodeCpuPct: number;
  pgCpuPct: number;
  machineBusyPct: number;
}

/**
 * Runs `writers` loops of `appendOnce` for warm-up + measured window. `appendOnce`
 * returns the number of events it wrote; a thrown WrongExpectedVersion (or, for the peer,
 * its conflict error) counts as a conflict, anything else as an error — neither stops the run.
 */
async function runCell(
  pool: pg.Pool,
  writers: number,
  appendOnce: (writer: number, k: number) => Promise<number>,
  isConflict: (error: unknown) => boolean,
): Promise<CellResult> {
  let appendsOk = 0;
  let eventsOk = 0;
  let conflicts = 0;
  let errors = 0;
  let firstError: unknown;
  let measuring = false;
  let stop = false;
  const latencies = new Float64Array(latencySamplesMax);
  let latencyCount = 0;

  const loop = async (writer: number) => {
    for (let k = 0; !stop && k < appendsPerWriterMax; k++) {
      const started = performance.now();
      try {
        const events = await appendOnce(writer, k);
        appendsOk++;
        eventsOk += events;
        if (measuring && latencyCount < latencySamplesMax)
          latencies[latencyCount++] = performance.now() - started;
      } catch (error) {
        if (isConflict(error)) conflicts++;
        else {
          errors++;
          firstError ??= error;
          // A failing store must not turn into a hot loop.
          await sleep(10);
        }
      }
    }
  };

  const loops = Array.from({ length: writers }, (_, w) => loop(w));
  await sleep(warmupMs);
  measuring = true;
  const appendsAtStart = appendsOk;
  const eventsAtStart = eventsOk;
  const startedAt = performance.now();
  const cpuWindow = await startCpuWindow(pool);
  await sleep(measureMs);
  const cpu = cpuWindow();
  const elapsedS = (performance.now() - startedAt) / 1000;
  const appendsInWindow = appendsOk - appendsAtStart;
  const eventsInWindow = eventsOk - eventsAtStart;
  measuring = false;
  stop = true;
  await withTimeout('draining the writers', Promise.all(loops), drainTimeoutMs);
  if (firstError !== undefined) note(`  first error (${errors} in all): ${String(firstError)}`);

  const sorted = latencies.slice(0, latencyCount).sort();
  return {
    appendsPerSecond: appendsInWindow / elapsedS,
    eventsPerSecond: eventsInWindow / elapsedS,
    appendsOk,
    eventsOk,
    wrongExpectedVersion: conflicts,
    otherErrors: errors,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    ...cpu,
  };
}

function describe(label: string, r: CellResult): void {
  note(
    `  ${label}: ${Math.round(r.appendsPerSecond)} appends/s, ${Math.round(r.eventsPerSecond)} events/s, ` +
      `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ` +
      `CPU node ${Math.round(r.nodeCpuPct)}% + postgres ${Math.round(r.pgCpuPct)}% (machine ${Math.round(r.machineBusyPct)}% busy), ` +
      `conflicts ${r.wrongExpectedVersion}, errors ${r.otherErrors}`,
  );
}

// ---- correctness checks -----------------------------------------------------------------

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const jsonText = (value: unknown) =>
  JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));

async function timed<T>(what: string, ms: number, run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await withTimeout(what, run(), ms);
  return { value, ms: Math.round(performance.now() - started) };
}

async function checkOurs(
  store: PostgresEventStore,
  pool: pg.Pool,
  appendsOk: number,
  eventsOk: number,
  maxPosition: bigint,
): Promise<Check[]> {
  const checks: Check[] = [];

  // readAll shows positions below the oldest transaction still running anywhere on the
  // server: a long transaction of another session can hold our last events back a while.
  const visibleBy = performance.now() + visibilityWaitMs;
  let head = await store.headPosition();
  while (head < maxPosition && performance.now() < visibleBy) {
    await sleep(50);
    head = await store.headPosition();
  }
  if (head < maxPosition) note(`readAll: head ${head} still below our last position ${maxPosition}`);

  const verified = await timed('store.verify()', verifyTimeoutMs, () => store.verify());
  log(`verify: ${jsonText(verified.value)} (${verified.ms} ms)`);
  checks.push({
    name: 'store.verify() is ok and checks every appended event',
    ok: verified.value.ok && verified.value.checkedEvents === eventsOk,
    detail: `ok ${verified.value.ok}, checkedEvents ${verified.value.checkedEvents}, appended ${eventsOk}`,
  });

  const readBack = await timed('reading back with readAll', readBackTimeoutMs, async () => {
    let after = 0n;
    let count = 0;
    let outOfOrder = 0;
    let previous = 0n;
    for (let page = 0; page < readPagesMax; page++) {
      const events = await store.readAll({ after, limit: readPageSize });
      for (const event of events) {
        if (event.globalPosition <= previous) outOfOrder++;
        previous = event.globalPosition;
        if (event.globalPosition > after) after = event.globalPosition;
      }
      count += events.length;
      if (events.length < readPageSize) return { count, outOfOrder, complete: true };
    }
    return { count, outOfOrder, complete: false };
  });
  const rb = readBack.value;
  log(
    `readAll: ${rb.count} events read back in position order (${rb.outOfOrder} out of order), ` +
      `${eventsOk} appended by ${appendsOk} appends (${readBack.ms} ms)`,
  );
  checks.push({
    name: 'readAll pages back exactly the appended events, in position order',
    ok: rb.complete && rb.count === eventsOk && rb.outOfOrder === 0,
    detail: `read ${rb.count}, out of order ${rb.outOfOrder}, appended ${eventsOk}`,
  });

  // One busy stream, read back whole: versions must come 0, 1, 2, ...
  const stream = await store.readStream(`bench-single-1-0-0`, { limit: readPageSize });
  const inOrder = stream.every((e, i) => e.streamVersion === BigInt(i));
  checks.push({
    name: 'readStream returns a stream in version order',
    ok: stream.length > 0 && inOrder,
    detail: `bench-single-1-0-0: ${stream.length} events, first versions ${stream
      .slice(0, 12)
      .map((e) => e.streamVersion)
      .join(',')}`,
  });

  // Ground truth in SQL, independent of the store's readers.
  const [truth] = (
    await pool.query<{ events: number; streams: number; bad_streams: number; bad_heads: number }>(
      `WITH per_stream AS (
         SELECT stream_id, count(*) AS n, min(stream_version) AS lo, max(stream_version) AS hi
           FROM es.events GROUP BY stream_id)
       SELECT (SELECT count(*) FROM es.events)::int AS events,
              (SELECT count(*) FROM per_stream)::int AS streams,
              (SELECT count(*) FROM per_stream WHERE lo <> 0 OR hi <> n - 1)::int AS bad_streams,
              (SELECT count(*) FROM es.streams s FULL JOIN per_stream p USING (stream_id)
                WHERE s.version IS DISTINCT FROM p.hi)::int AS bad_heads`,
    )
  ).rows;
  log(`SQL: ${jsonText(truth)}`);
  checks.push({
    name: 'SQL: es.events holds the appended events, versions contiguous, stream heads match',
    ok: truth?.events === eventsOk && truth.bad_streams === 0 && truth.bad_heads === 0,
    detail: jsonText({ ...truth, appended: eventsOk }),
  });
  return checks;
}

// ---- the workloads ----------------------------------------------------------------------

type Workload = 'single' | 'atomic';

async function benchOurs(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: poolMax });
  pool.on('error', (error) => note(`pool error: ${String(error)}`));
  const options: PostgresEventStoreOptions = {};
  if (appendConcurrency !== undefined) options.appendConcurrency = appendConcurrency;
  if (batchAppendsMax !== undefined) options.batchAppendsMax = batchAppendsMax;
  const store = await PostgresEventStore.open(pgClient(pool), options);
  const results = new Map<string, CellResult>();
  const checks: Check[] = [];
  let appendsOk = 0;
  let eventsOk = 0;
  let maxPosition = 0n;
  const notePosition = (result: { position: bigint }) => {
    if (result.position > maxPosition) maxPosition = result.position;
  };
  try {
    for (const workload of ['single', 'atomic'] as const satisfies readonly Workload[]) {
      for (const writers of writerCounts) {
        const cell = `${workload}-${writers}`;
        const accountPools = Array.from({ length: writers }, (_, w) =>
          Array.from({ length: accountsPerWriter }, (_, i) => `account-${cell}-${w}-${i}`),
        );
        const appendOnce =
          workload === 'single'
            ? async (w: number, k: number) => {
                const streamId = `bench-${cell}-${w}-${k % streamsPerWriter}`;
                notePosition(
                  await store.append([
                    {
                      streamId,
                      expectedVersion: 'any',
                      events: [{ type: 'FundsDeposited', data: bankingData(w, k, streamId) }],
                    },
                  ]),
                );
                return 1;
              }
            : async (w: number, k: number) => {
                const accounts = accountPools[w]!;
                const from = randomInt(accountsPerWriter);
                const to = (from + 1 + randomInt(accountsPerWriter - 1)) % accountsPerWriter;
                const debit = accounts[from]!;
                const credit = accounts[to]!;
                const transferId = randomUUID();
                const data = bankingData(w, k, debit);
                notePosition(
                  await store.append([
                    {
                      streamId: `transfer-${transferId}`,
                      expectedVersion: 'no_stream',
                      events: [{ type: 'TransferInitiated', data: { ...data, toAccountId: credit } }],
                    },
                    {
                      streamId: debit,
                      expectedVersion: 'any',
                      events: [{ type: 'AccountDebited', data: { ...data, transferId } }],
                    },
                    {
                      streamId: credit,
                      expectedVersion: 'any',
                      events: [{ type: 'AccountCredited', data: { ...data, accountId: credit, transferId } }],
                    },
                  ]),
                );
                return 3;
              };
        const r = await runCell(pool, writers, appendOnce, (e) => e instanceof WrongExpectedVersion);
        describe(`ours ${workload} × ${writers}`, r);
        results.set(cell, r);
        appendsOk += r.appendsOk;
        eventsOk += r.eventsOk;
      }
    }

    // Correctness of what was benchmarked: every chain verifies, and readAll gives back
    // exactly the events whose appends succeeded. A failed check is reported (and fails
    // the run) after the numbers are printed.
    try {
      checks.push(...(await checkOurs(store, pool, appendsOk, eventsOk, maxPosition)));
    } catch (error) {
      checks.push({
        name: 'correctness checks of our store ran to the end',
        ok: false,
        detail: String(error),
      });
    }
  } finally {
    await withTimeout('closing our store', store.close(), 10_000).catch((e) => note(String(e)));
    await pool.end();
  }
  return { results, checks };
}

async function benchPeer(url: string) {
  // The peer gets a pool of the same size as ours (its default would be pg's 10).
  const pool = new pg.Pool({ connectionString: url, max: poolMax });
  pool.on('error', (error) => note(`peer pool error: ${String(error)}`));
  const peer = getPostgreSQLEventStore(url, { connectionOptions: { pool } });
  const results = new Map<string, CellResult>();
  const checks: Check[] = [];
  try {
    // Create Emmett's emt_* tables before anything is timed.
    await withTimeout('migrating the peer', peer.schema.migrate(), 30_000);
    let appendsOk = 0;
    for (const writers of writerCounts) {
      const cell = `single-${writers}`;
      const r = await runCell(
        pool,
        writers,
        async (w, k) => {
          const streamName = `bench-${cell}-${w}-${k % streamsPerWriter}`;
          await peer.appendToStream(streamName, [
            { type: 'FundsDeposited', data: bankingData(w, k, streamName) },
          ]);
          return 1;
        },
        (e) => e instanceof Error && e.name === 'ExpectedVersionConflictError',
      );
      describe(`peer single × ${writers}`, r);
      results.set(cell, r);
      appendsOk += r.appendsOk;
    }
    const [row] = (await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM emt_messages')).rows;
    log(`peer: ${row?.n} rows in emt_messages, ${appendsOk} appends succeeded`);
    checks.push({
      name: 'peer: emt_messages holds the appended events',
      ok: Number(row?.n) === appendsOk,
      detail: `${row?.n} rows, ${appendsOk} appended`,
    });
  } finally {
    await withTimeout('closing the peer', peer.close(), 10_000).catch((e) => note(String(e)));
    await pool.end();
  }
  return { results, checks };
}

// ---- main -------------------------------------------------------------------------------

function fmt(n: number | undefined): string {
  return n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US');
}

function cpu(r: CellResult | undefined): string {
  return r ? `${Math.round(r.nodeCpuPct)}+${Math.round(r.pgCpuPct)}%` : 'n/a';
}

function printTable(ours: Map<string, CellResult>, peer: Map<string, CellResult>): void {
  const rows: string[][] = [
    [
      'workload',
      'writers',
      'ours appends/s',
      'ours events/s',
      'ours p99 ms',
      'ours CPU node+pg',
      'peer events/s',
      'peer p99 ms',
      'peer CPU node+pg',
      'ours/peer',
    ],
  ];
  for (const workload of ['single', 'atomic'] as const) {
    for (const writers of writerCounts) {
      const o = ours.get(`${workload}-${writers}`);
      const p = workload === 'single' ? peer.get(`${workload}-${writers}`) : undefined;
      rows.push([
        workload === 'single' ? 'single-event' : '3-stream atomic',
        String(writers),
        fmt(o?.appendsPerSecond),
        fmt(o?.eventsPerSecond),
        o ? o.p99Ms.toFixed(1) : 'n/a',
        cpu(o),
        fmt(p?.eventsPerSecond),
        p ? p.p99Ms.toFixed(1) : 'n/a',
        cpu(p),
        o && p ? (o.eventsPerSecond / p.eventsPerSecond).toFixed(2) : 'n/a',
      ]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ');
  log(line(rows[0]!));
  log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows.slice(1)) log(line(r));
  const busy = [...ours.values(), ...peer.values()].map((r) => r.machineBusyPct).filter(Number.isFinite);
  if (busy.length > 0) {
    log(
      `CPU: % of one core, this process + the PostgreSQL backends of the pool; the machine (${availableParallelism()} cores) was ${Math.round(Math.min(...busy))}–${Math.round(Math.max(...busy))}% busy in the measured windows ` +
        `(load average now ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')})`,
    );
  }
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  note(
    `event store append benchmark: warm-up ${warmupMs} ms + ${measureMs} ms per cell, pool ${poolMax}, ` +
      `appendConcurrency ${appendConcurrency ?? 'default'}, batchAppendsMax ${batchAppendsMax ?? 'default'}`,
  );
  let db: TestDatabase | undefined;
  const stopWatchdog = startWatchdog(runTimeoutMs, () => db);
  let ours: Map<string, CellResult>;
  let peer = new Map<string, CellResult>();
  const checks: Check[] = [];
  try {
    db = await createTestDatabase('ledger_bench');
    note(`database ${db.name}`);
    const o = await benchOurs(db.url);
    ours = o.results;
    checks.push(...o.checks);
    // The peer runs last: Emmett sets process-wide pg type parsers (int8, json, jsonb).
    if (runPeer) {
      const p = await benchPeer(db.url);
      peer = p.results;
      checks.push(...p.checks);
    }
  } finally {
    await dropDatabase(db);
    stopWatchdog();
  }

  log();
  printTable(ours, peer);
  const totalS = (performance.now() - startedAt) / 1000;
  log();
  for (const check of checks) log(`${check.ok ? 'PASS' : 'FAIL'} ${check.name}: ${check.detail}`);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    note(`${failed.length} correctness check(s) failed: ${failed.map((c) => c.name).join('; ')}`);
    process.exitCode = 1;
  }
  log(`total run time: ${totalS.toFixed(1)} s`);
  const o = ours.get('single-32')!;
  const a = ours.get('atomic-32')!;
  const p = peer.get('single-32');
  log(
    JSON.stringify({
      eventsPerSecond: Math.round(o.eventsPerSecond),
      atomicAppendsPerSecond: Math.round(a.appendsPerSecond),
      peerEventsPerSecond: p ? Math.round(p.eventsPerSecond) : null,
      ratio: p ? Math.round((o.eventsPerSecond / p.eventsPerSecond) * 100) / 100 : null,
    }),
  );
}

main().catch((error: unknown) => {
  note(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});
