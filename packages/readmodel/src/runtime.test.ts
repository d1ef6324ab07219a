import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { type EventStore, PostgresEventStore, pgClient, type RecordedEvent } from '@ledger/eventstore';
import { createTestDatabase } from '@ledger/testkit';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import t, { type Test } from 'tap';
import {
  chunked,
  insertRows,
  insertRowsMax,
  migrateSchema,
  pgLockSessions,
  readCheckpoints,
  retryDelayMs,
  runCheckpointedSubscriber,
  subscriberLimits,
} from './index.js';
import { type Projection, rebuildProjection, runProjection } from './projection.js';

const testTimeoutMs = 60_000;
const waitMs = 10_000;

/** Polls `condition` until it holds; fails after timeoutMs instead of hanging. */
async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = waitMs,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function captureLogger() {
  const lines: { level: number; msg: string; err?: { message: string } }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A "process": its own pool, store and Kysely on the shared test database. */
async function openProcess(url: string) {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // A connection terminated by a test (or the server) must not crash the test process.
  pool.on('error', () => {});
  const sqlClient = pgClient(pool);
  const store = await PostgresEventStore.open(sqlClient);
  const db = sqlClient.kysely();
  return {
    store,
    db,
    close: async () => {
      await store.close();
      await pool.end();
    },
  };
}

async function fixture(t: Test) {
  const database = await createTestDatabase('readmodel_test');
  const processes: Awaited<ReturnType<typeof openProcess>>[] = [];
  const open = async (url = database.url) => {
    const p = await openProcess(url);
    processes.push(p);
    return p;
  };
  const main = await open();
  t.teardown(async () => {
    for (const p of processes) await p.close();
    await database.drop();
  });
  return { ...main, open, url: database.url };
}

async function appendEach(store: EventStore, types: string[]): Promise<bigint[]> {
  const positions: bigint[] = [];
  for (const [i, type] of types.entries()) {
    const result = await store.append([
      { streamId: `account-${i % 3}`, expectedVersion: 'any', events: [{ type, data: { i } }] },
    ]);
    positions.push(result.position);
  }
  return positions;
}

/** A small projection: one row per Deposited/Withdrawn event; fails on events `failOn` picks. */
function linesProjection(
  options: { version?: number; failOn?: (event: RecordedEvent) => boolean } = {},
): Projection {
  return {
    name: 'lines',
    version: options.version ?? 1,
    schema: 'lines',
    handles: ['Deposited', 'Withdrawn'],
    migrate: (db, schema) =>
      migrateSchema(db, schema, {
        '0001': {
          async up(db: Kysely<any>) {
            await db.schema
              .createTable('lines')
              .addColumn('position', 'bigint', (c) => c.primaryKey())
              .addColumn('type', 'text', (c) => c.notNull())
              .execute();
          },
        },
      }),
    async apply(tx, event) {
      await tx
        .insertInto('lines')
        .values({ position: event.globalPosition.toString(), type: event.type })
        .execute();
      if (options.failOn?.(event)) throw new Error(`poison event at ${event.globalPosition}`);
    },
  };
}

async function linePositions(db: Kysely<any>, schema = 'lines'): Promise<bigint[]> {
  const { rows } = await sql<{
    p: string;
  }>`SELECT position::text AS p FROM ${sql.id(schema)}.lines ORDER BY position`.execute(db);
  return rows.map((r) => BigInt(r.p));
}

async function checkpointOf(db: Kysely<any>, name: string): Promise<bigint | undefined> {
  return (await readCheckpoints(db)).find((c) => c.name === name)?.position;
}

t.test('readCheckpoints is [] before any subscriber ran', { timeout: testTimeoutMs }, async (t) => {
  const f = await fixture(t);
  t.same(await readCheckpoints(f.db), []);
});

t.test(
  'runProjection applies handled events once, moves the checkpoint past unhandled ones, resumes without repeats',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger } = captureLogger();
    const types = ['Deposited', 'Opened', 'Withdrawn', 'Deposited', 'Closed'];
    const first = await appendEach(f.store, types);
    const handled = (positions: bigint[], ts: string[]) =>
      positions.filter((_, i) => ts[i] !== 'Opened' && ts[i] !== 'Closed');

    const runner = runProjection({
      db: f.db,
      store: f.store,
      projection: linesProjection(),
      logger,
      batchSize: 2,
    });
    t.ok(await runner.waitFor(first.at(-1)!, waitMs), 'reaches the last position');
    t.same(await linePositions(f.db), handled(first, types), 'one row per handled event');
    // The last event is not handled, yet the checkpoint is at it: nothing is re-read later.
    t.equal(await checkpointOf(f.db, 'lines'), first.at(-1));
    t.equal(runner.position(), first.at(-1));
    t.equal(runner.status(), 'active');
    await runner.stop();
    t.equal(runner.status(), 'stopped');

    const moreTypes = ['Withdrawn', 'Deposited'];
    const more = await appendEach(f.store, moreTypes);
    const again = runProjection({ db: f.db, store: f.store, projection: linesProjection(), logger });
    t.teardown(() => again.stop());
    t.ok(await again.waitFor(more.at(-1)!, waitMs));
    // A repeat would have failed on the primary key and stopped the runner.
    t.equal(again.status(), 'active');
    t.same(
      await linePositions(f.db),
      [...handled(first, types), ...more],
      'resumed from the checkpoint, no repeats',
    );
    t.equal(await checkpointOf(f.db, 'lines'), more.at(-1));

    // Live: an append after catch-up is applied too.
    const [live] = await appendEach(f.store, ['Deposited']);
    t.ok(await again.waitFor(live!, waitMs));
    t.equal((await linePositions(f.db)).at(-1), live);
  },
);

t.test(
  'an apply that throws mid-batch leaves neither the batch rows nor its checkpoint; a fixed version resumes',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger, lines } = captureLogger();
    const before = await appendEach(f.store, ['Deposited', 'Withdrawn']);
    const good = runProjection({ db: f.db, store: f.store, projection: linesProjection(), logger });
    t.ok(await good.waitFor(before.at(-1)!, waitMs));
    await good.stop();

    // One batch of four, the third is poison: the two before it were inserted in the same
    // transaction and must be rolled back with it.
    const batch = await appendEach(f.store, ['Deposited', 'Deposited', 'Withdrawn', 'Deposited']);
    // $all is read below the oldest transaction open on the server (other databases' too):
    // wait until all four are readable, or the runner may take them in two batches.
    await until('the batch is readable', async () => (await f.store.headPosition()) >= batch.at(-1)!, waitMs);
    const poison = batch[2]!;
    const broken = runProjection({
      db: f.db,
      store: f.store,
      projection: linesProjection({ failOn: (e) => e.globalPosition === poison }),
      logger,
    });
    await t.rejects(broken.done, /poison event/);
    t.equal(broken.status(), 'failed');
    t.notOk(await broken.waitFor(batch.at(-1)!, 100), 'a failed runner never reaches the position');
    t.ok(
      lines.some(
        (l) => l.level === 50 && l.msg === 'stopped by an error' && /poison/.test(l.err?.message ?? ''),
      ),
      'the failure is logged as an error',
    );
    t.same(await linePositions(f.db), before, 'no row of the failed batch');
    t.equal(await checkpointOf(f.db, 'lines'), before.at(-1), 'checkpoint still at the previous batch');
    await broken.stop();

    const fixed = runProjection({ db: f.db, store: f.store, projection: linesProjection(), logger });
    t.teardown(() => fixed.stop());
    t.ok(await fixed.waitFor(batch.at(-1)!, waitMs));
    t.same(await linePositions(f.db), [...before, ...batch]);
  },
);

t.test(
  'a projection at another version is refused, or rebuilt from 0 with onVersionChange reset',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger } = captureLogger();
    const positions = await appendEach(f.store, ['Deposited', 'Withdrawn', 'Deposited']);
    const v1 = runProjection({ db: f.db, store: f.store, projection: linesProjection(), logger });
    t.ok(await v1.waitFor(positions.at(-1)!, waitMs));
    await v1.stop();

    const refused = runProjection({
      db: f.db,
      store: f.store,
      projection: linesProjection({ version: 2 }),
      logger,
    });
    await t.rejects(refused.done, { name: 'SubscriberVersionMismatch' });
    t.same(await linePositions(f.db), positions, 'v1 rows untouched');

    // Tamper with the v1 rows: a reset must drop them and rebuild from the events.
    await sql`DELETE FROM lines.lines WHERE position = ${positions[0]!.toString()}::bigint`.execute(f.db);
    const v2 = runProjection({
      db: f.db,
      store: f.store,
      projection: linesProjection({ version: 2 }),
      logger,
      onVersionChange: 'reset',
    });
    t.teardown(() => v2.stop());
    await until('v2 active', () => v2.status() === 'active');
    t.ok(await v2.waitFor(positions.at(-1)!, waitMs));
    t.same(await linePositions(f.db), positions, 'rebuilt from position 0');
  },
);

for (const sessions of ['own pg client', 'pool connection'] as const) {
  t.test(
    `two runners of one projection (lock on ${sessions}): one active, the other on standby takes over when it stops`,
    { timeout: testTimeoutMs },
    async (t) => {
      const f = await fixture(t);
      const lock = sessions === 'own pg client' ? { lockSessions: pgLockSessions(f.url) } : {};
      const other = await f.open();
      const { logger } = captureLogger();
      const first = await appendEach(f.store, ['Deposited', 'Withdrawn', 'Deposited']);

      const a = runProjection({
        db: f.db,
        store: f.store,
        projection: linesProjection(),
        logger,
        lockRetryMs: 50,
        ...lock,
      });
      await until('a active', () => a.status() === 'active');
      const b = runProjection({
        db: other.db,
        store: other.store,
        projection: linesProjection(),
        logger,
        lockRetryMs: 50,
        ...lock,
      });
      t.teardown(async () => {
        await a.stop();
        await b.stop();
      });
      await until('b on standby', () => b.status() === 'standby');
      t.ok(await a.waitFor(first.at(-1)!, waitMs));
      // The standby follows the checkpoint from the table (so its waitFor works too) but writes nothing.
      t.ok(await b.waitFor(first.at(-1)!, waitMs));
      t.equal(b.status(), 'standby', 'still on standby while a holds the lock');

      await a.stop();
      await until('b takes over', () => b.status() === 'active');
      const second = await appendEach(other.store, ['Withdrawn', 'Deposited']);
      t.ok(await b.waitFor(second.at(-1)!, waitMs));
      t.same(
        await linePositions(f.db),
        [...first, ...second],
        'every event applied exactly once across both',
      );
      t.equal(await checkpointOf(f.db, 'lines'), second.at(-1));
    },
  );
}

t.test(
  'rebuildProjection replays into a fresh schema that equals the live one',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger } = captureLogger();
    const positions = await appendEach(f.store, [
      'Deposited',
      'Opened',
      'Withdrawn',
      'Deposited',
      'Withdrawn',
    ]);
    const live = runProjection({ db: f.db, store: f.store, projection: linesProjection(), logger });
    t.teardown(() => live.stop());
    t.ok(await live.waitFor(positions.at(-1)!, waitMs));

    const result = await rebuildProjection({
      db: f.db,
      store: f.store,
      projection: linesProjection(),
      schema: 'lines_rebuild',
      batchSize: 2,
      to: positions.at(-1)!,
    });
    t.equal(result.position, positions.at(-1));
    t.equal(result.eventsApplied, 4);
    t.same(await linePositions(f.db, 'lines_rebuild'), await linePositions(f.db, 'lines'));
    await t.rejects(
      rebuildProjection({ db: f.db, store: f.store, projection: linesProjection(), schema: 'lines_rebuild' }),
      /exists/,
      'refuses a schema that exists',
    );
    await t.rejects(
      rebuildProjection({ db: f.db, store: f.store, projection: linesProjection(), schema: 'lines' }),
      /live schema/,
    );

    // `to` bounds the replay, for a comparison at the live checkpoint.
    const partial = await rebuildProjection({
      db: f.db,
      store: f.store,
      projection: linesProjection(),
      schema: 'lines_upto',
      to: positions[2]!,
    });
    t.equal(partial.position, positions[2]);
    t.same(await linePositions(f.db, 'lines_upto'), [positions[0], positions[2]]);
  },
);

t.test(
  'an active runner whose lock session dies starts over on standby; the standby takes over; never two active',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const other = await f.open();
    const { logger, lines } = captureLogger();
    const first = await appendEach(f.store, ['Deposited', 'Withdrawn']);
    const a = runProjection({
      db: f.db,
      store: f.store,
      projection: linesProjection(),
      logger,
      lockRetryMs: 50,
      lockSessions: pgLockSessions(f.url),
    });
    await until('a active', () => a.status() === 'active');
    const b = runProjection({
      db: other.db,
      store: other.store,
      projection: linesProjection(),
      logger,
      lockRetryMs: 50,
      lockSessions: pgLockSessions(f.url),
    });
    t.teardown(async () => {
      await a.stop();
      await b.stop();
    });
    // Sampled all along: two instances active at once would each apply batches.
    let bothActive = 0;
    const sampler = setInterval(() => {
      if (a.status() === 'active' && b.status() === 'active') bothActive++;
    }, 1);
    t.teardown(() => clearInterval(sampler));
    await until('b on standby', () => b.status() === 'standby');
    t.ok(await a.waitFor(first.at(-1)!, waitMs));

    // The server ends a's lock session (a failover, an admin, a network cut): a must notice.
    const { rows } = await sql<{ pid: number }>`
      SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database =
        (SELECT oid FROM pg_database WHERE datname = current_database())`.execute(f.db);
    t.equal(rows.length, 1, 'one advisory lock held: the active runner');
    await sql`SELECT pg_terminate_backend(${rows[0]!.pid})`.execute(f.db);
    await until('a notices and starts over', () =>
      lines.some((l) => l.level === 40 && l.msg === 'transient failure; starting over after a backoff'),
    );
    await until('one of them active again', () => a.status() === 'active' || b.status() === 'active');
    await until('the other on standby', () => a.status() === 'standby' || b.status() === 'standby');
    t.notOk(
      lines.some((l) => l.level >= 50),
      'nothing logged as an error',
    );

    const second = await appendEach(other.store, ['Deposited']);
    const active = a.status() === 'active' ? a : b;
    t.ok(await active.waitFor(second.at(-1)!, waitMs));
    t.same(await linePositions(f.db), [...first, ...second], 'still exactly once');
    clearInterval(sampler);
    t.equal(bothActive, 0, 'never both active');
    await a.stop();
    await b.stop();
    await t.resolves(a.done, 'a ends by stop(), not by the lost session');
    await t.resolves(b.done);
  },
);

/**
 * A TCP proxy in front of the test's PostgreSQL, the network between a process and its
 * database: cut() drops every connection and refuses new ones, resume() lets them in again.
 */
async function startProxy(t: Test, databaseUrl: string) {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const listening = createServer((client) => {
        const upstream = connect(Number(target.port || 5432), target.hostname);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('error', () => {});
          socket.on('close', () => {
            sockets.delete(socket);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      listening.once('error', reject);
      listening.listen(port, '127.0.0.1', () => {
        server = listening;
        resolve((listening.address() as AddressInfo).port);
      });
    });
  const port = await listen(0);
  const cut = async () => {
    const closing = server;
    server = undefined;
    if (!closing) return;
    const closed = new Promise((resolve) => closing.close(resolve));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  t.teardown(cut);
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    cut,
    async resume() {
      await listen(port);
    },
  };
}

t.test('retryDelayMs doubles from the first delay up to the cap', async (t) => {
  t.equal(retryDelayMs(1), subscriberLimits.retryDelayMsFirst);
  t.equal(retryDelayMs(2), subscriberLimits.retryDelayMsFirst * 2);
  t.equal(retryDelayMs(3), subscriberLimits.retryDelayMsFirst * 4);
  t.equal(retryDelayMs(1000), subscriberLimits.retryDelayMsMax);
  for (let failures = 1; failures < 100; failures++) {
    t.ok(retryDelayMs(failures + 1) >= retryDelayMs(failures), 'never shorter');
  }
});

t.test(
  'a runner that loses its database retries with backoff, logs each failure at warn, and resumes from its checkpoint',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const proxy = await startProxy(t, f.url);
    const viaProxy = await f.open(proxy.url);
    const { logger, lines } = captureLogger();
    const first = await appendEach(f.store, ['Deposited', 'Opened', 'Withdrawn']);
    const runner = runProjection({
      db: viaProxy.db,
      store: viaProxy.store,
      projection: linesProjection(),
      logger,
      lockRetryMs: 50,
      lockSessions: pgLockSessions(proxy.url),
    });
    t.teardown(() => runner.stop());
    t.ok(await runner.waitFor(first.at(-1)!, waitMs), 'caught up before the cut');

    await proxy.cut();
    // Written meanwhile by another process (the API, on a database it still reaches).
    const during = await appendEach(f.store, ['Deposited', 'Withdrawn']);
    const retries = () => lines.filter((l) => l.msg === 'transient failure; starting over after a backoff');
    await until('four failures in a row', () => retries().length >= 4);
    t.equal(runner.status(), 'retrying');
    const failures = retries() as unknown as { level: number; failures: number; delayMs: number }[];
    t.ok(
      failures.every((l) => l.level === 40),
      'each logged at warn',
    );
    t.same(
      failures.slice(0, 4).map((l) => [l.failures, l.delayMs]),
      [1, 2, 3, 4].map((n) => [n, retryDelayMs(n)]),
      'the delay doubles per failure in a row',
    );
    t.equal(await checkpointOf(f.db, 'lines'), first.at(-1), 'nothing moved while away');

    await proxy.resume();
    const after = await appendEach(f.store, ['Deposited']);
    t.ok(await runner.waitFor(after.at(-1)!, waitMs), 'caught up after the database came back');
    t.equal(runner.status(), 'active');
    t.same(
      await linePositions(f.db),
      [first[0], first[2], ...during, ...after],
      'each handled event exactly once, across the cut',
    );
    t.notOk(
      lines.some((l) => l.level >= 50),
      'nothing logged as an error',
    );
    await runner.stop();
    await t.resolves(runner.done, 'ends by stop(), not by the outage');
  },
);

/**
 * linesProjection with applyBatch: one multi-row INSERT per batch. `batches` records what
 * each call received; `apply` fails, so a test sees it if the runtime ever calls it.
 */
function batchLinesProjection(options: { failOn?: (event: RecordedEvent) => boolean } = {}) {
  const batches: bigint[][] = [];
  const projection: Projection = {
    ...linesProjection(),
    async apply() {
      throw new Error('apply called on a projection with applyBatch');
    },
    async applyBatch(tx, events) {
      batches.push(events.map((e) => e.globalPosition));
      await tx
        .insertInto('lines')
        .values(events.map((e) => ({ position: e.globalPosition.toString(), type: e.type })))
        .execute();
      const poison = events.find((e) => options.failOn?.(e));
      if (poison) throw new Error(`poison event at ${poison.globalPosition}`);
    },
  };
  return { projection, batches };
}

t.test(
  'runProjection hands applyBatch the handled events of each batch, in order, and never an empty batch',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger } = captureLogger();
    const types = ['Deposited', 'Opened', 'Withdrawn', 'Opened', 'Closed', 'Deposited', 'Deposited'];
    const positions = await appendEach(f.store, types);
    const handled = positions.filter((_, i) => types[i] === 'Deposited' || types[i] === 'Withdrawn');
    const { projection, batches } = batchLinesProjection();
    const runner = runProjection({ db: f.db, store: f.store, projection, logger, batchSize: 3 });
    t.teardown(() => runner.stop());
    t.ok(await runner.waitFor(positions.at(-1)!, waitMs));
    t.equal(runner.status(), 'active', 'apply was never called');
    // Batches of 3: [D, O, W], [O, C, D], [D]; filtered to the handled ones.
    t.same(batches, [[positions[0], positions[2]], [positions[5]], [positions[6]]]);
    t.same(await linePositions(f.db), handled);
    t.equal(await checkpointOf(f.db, 'lines'), positions.at(-1));

    // A batch of unhandled events only moves the checkpoint: no call at all.
    const unhandled = await appendEach(f.store, ['Opened', 'Closed']);
    t.ok(await runner.waitFor(unhandled.at(-1)!, waitMs));
    t.equal(batches.length, 3, 'no applyBatch call for a batch with nothing handled');
    t.equal(await checkpointOf(f.db, 'lines'), unhandled.at(-1));
  },
);

t.test(
  'an applyBatch that throws leaves neither the batch rows nor its checkpoint; a fixed version resumes',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger } = captureLogger();
    const before = await appendEach(f.store, ['Deposited', 'Withdrawn']);
    const good = runProjection({
      db: f.db,
      store: f.store,
      projection: batchLinesProjection().projection,
      logger,
    });
    t.ok(await good.waitFor(before.at(-1)!, waitMs));
    await good.stop();

    // The whole batch is inserted, then the call throws: the insert must roll back with it.
    const batch = await appendEach(f.store, ['Deposited', 'Deposited', 'Withdrawn', 'Deposited']);
    // $all is read below the oldest transaction open on the server (other databases' too):
    // wait until all four are readable, or the runner may take them in two batches.
    await until('the batch is readable', async () => (await f.store.headPosition()) >= batch.at(-1)!, waitMs);
    const poison = batch[2]!;
    const broken = batchLinesProjection({ failOn: (e) => e.globalPosition === poison });
    const runner = runProjection({ db: f.db, store: f.store, projection: broken.projection, logger });
    await t.rejects(runner.done, /poison event/);
    t.equal(runner.status(), 'failed');
    t.same(broken.batches, [batch], 'the batch was applied in one call');
    t.same(await linePositions(f.db), before, 'no row of the failed batch');
    t.equal(await checkpointOf(f.db, 'lines'), before.at(-1), 'checkpoint still at the previous batch');
    await runner.stop();

    const fixed = runProjection({
      db: f.db,
      store: f.store,
      projection: batchLinesProjection().projection,
      logger,
    });
    t.teardown(() => fixed.stop());
    t.ok(await fixed.waitFor(batch.at(-1)!, waitMs));
    t.same(await linePositions(f.db), [...before, ...batch]);
  },
);

t.test(
  'rebuildProjection uses applyBatch too and counts the events it applied',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger } = captureLogger();
    const positions = await appendEach(f.store, [
      'Deposited',
      'Opened',
      'Withdrawn',
      'Deposited',
      'Withdrawn',
    ]);
    const live = runProjection({
      db: f.db,
      store: f.store,
      projection: batchLinesProjection().projection,
      logger,
    });
    t.teardown(() => live.stop());
    t.ok(await live.waitFor(positions.at(-1)!, waitMs));

    const rebuild = batchLinesProjection();
    const result = await rebuildProjection({
      db: f.db,
      store: f.store,
      projection: rebuild.projection,
      schema: 'lines_rebuild',
      batchSize: 2,
      to: positions.at(-1)!,
    });
    t.equal(result.eventsApplied, 4);
    t.same(rebuild.batches, [[positions[0]], [positions[2], positions[3]], [positions[4]]]);
    t.same(await linePositions(f.db, 'lines_rebuild'), await linePositions(f.db, 'lines'));
  },
);

t.test('chunked splits rows into runs of at most the size, in order', async (t) => {
  t.same(chunked([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  t.same(chunked([1, 2], 5), [[1, 2]]);
  t.same(chunked([], 3), []);
  t.throws(() => chunked([1], 0), RangeError);
});

/**
 * Records, at each commit of a transaction that wrote to `schema.probe`, the
 * synchronous_commit in force then: a deferred constraint trigger runs at COMMIT, after
 * every statement of the batch (the checkpoint move included).
 */
async function createCommitModeProbe(db: Kysely<any>, schema: string): Promise<void> {
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
  await sql`CREATE TABLE ${sql.id(schema)}.probe (position bigint PRIMARY KEY)`.execute(db);
  await sql`CREATE TABLE IF NOT EXISTS public.commit_modes (tag text NOT NULL, mode text NOT NULL)`.execute(
    db,
  );
  await sql
    .raw(`CREATE FUNCTION ${schema}.record_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO public.commit_modes VALUES (TG_TABLE_SCHEMA, current_setting('synchronous_commit'));
        RETURN NULL;
      END $$`)
    .execute(db);
  await sql
    .raw(`CREATE CONSTRAINT TRIGGER record_commit_mode AFTER INSERT ON ${schema}.probe
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${schema}.record_commit_mode()`)
    .execute(db);
}

t.test(
  'projection batches commit without waiting for the WAL flush; other subscribers (the job dispatcher) wait for it',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger } = captureLogger();
    const positions = await appendEach(f.store, ['Deposited', 'Withdrawn', 'Deposited']);
    const projection: Projection = {
      name: 'probe_projection',
      version: 1,
      schema: 'probe_projection',
      handles: ['Deposited', 'Withdrawn'],
      // Made below, before the runner starts.
      migrate: async () => {},
      async apply(tx, event) {
        await tx.insertInto('probe').values({ position: event.globalPosition.toString() }).execute();
      },
    };
    await createCommitModeProbe(f.db, 'probe_projection');
    await createCommitModeProbe(f.db, 'probe_subscriber');
    const runner = runProjection({ db: f.db, store: f.store, projection, logger, batchSize: 2 });
    t.teardown(() => runner.stop());

    const subscriber = runCheckpointedSubscriber({
      db: f.db,
      store: f.store,
      name: 'probe_subscriber',
      version: 1,
      logger,
      batchSize: 2,
      handleBatch: async (tx, events) => {
        for (const event of events) {
          await tx
            .withSchema('probe_subscriber')
            .insertInto('probe')
            .values({ position: event.globalPosition.toString() })
            .execute();
        }
      },
    });
    t.teardown(() => subscriber.stop());

    t.ok(await runner.waitFor(positions.at(-1)!, waitMs));
    t.ok(await subscriber.waitFor(positions.at(-1)!, waitMs));
    const { rows } = await sql<{ tag: string; mode: string; n: number }>`
      SELECT tag, mode, count(*)::int AS n FROM public.commit_modes GROUP BY tag, mode ORDER BY tag, mode`.execute(
      f.db,
    );
    // Three events in batches of two: two batch transactions each, one row per event.
    t.same(rows, [
      { tag: 'probe_projection', mode: 'off', n: 3 },
      { tag: 'probe_subscriber', mode: 'on', n: 3 },
    ]);
  },
);

t.test(
  'a batch the projection handles nothing of moves the checkpoint by one statement, with no transaction around it',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const { logger } = captureLogger();
    // The projection's own connections, each query seen as it goes to the server.
    const statements: string[] = [];
    const pool = new pg.Pool({ connectionString: f.url, max: 2 });
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string })?.text;
        statements.push((text ?? '').trim().split(/\s+/)[0]!.toLowerCase());
        return query(...args);
      };
    });
    t.teardown(() => pool.end());
    const db = pgClient(pool).kysely();
    const runner = runProjection({ db, store: f.store, projection: linesProjection(), logger, batchSize: 2 });
    t.teardown(() => runner.stop());
    // Active, migrations done (they use transactions of their own): count from here.
    await until('the projection is active', () => runner.status() === 'active');
    statements.length = 0;
    const ignored = await appendEach(f.store, ['Opened', 'Closed', 'Opened', 'Closed']);
    t.ok(await runner.waitFor(ignored.at(-1)!, waitMs));
    t.equal(await checkpointOf(f.db, 'lines'), ignored.at(-1), 'the checkpoint is past the ignored events');
    t.notOk(statements.includes('begin'), 'no transaction for batches of ignored events');
    const updates = statements.filter((s) => s === 'update').length;
    t.ok(
      updates >= 1 && updates <= 4,
      `one checkpoint UPDATE per batch (${updates} for 4 events in batches of ≤ 2)`,
    );

    const handled = await appendEach(f.store, ['Deposited']);
    t.ok(await runner.waitFor(handled.at(-1)!, waitMs));
    t.ok(statements.includes('begin'), 'a batch with a handled event is one transaction');
    t.same(await linePositions(f.db), handled);
  },
);

t.test(
  'a checkpoint moved behind an active projection rolls its batch back (CheckpointConflict) and it starts over from there, on both paths',
  { timeout: testTimeoutMs },
  async (t) => {
    for (const path of [
      'a batch it handles (a transaction)',
      'a batch it ignores (one statement)',
    ] as const) {
      await t.test(path, async (t) => {
        const f = await fixture(t);
        const { logger, lines } = captureLogger();
        const before = await appendEach(f.store, ['Deposited']);
        const runner = runProjection({
          db: f.db,
          store: f.store,
          projection: linesProjection(),
          logger,
          batchSize: 10,
        });
        t.teardown(() => runner.stop());
        t.ok(await runner.waitFor(before.at(-1)!, waitMs), 'caught up');
        // "Another instance" advances the checkpoint (as if the advisory lock had been lost).
        const elsewhere = before.at(-1)! + 1n;
        await sql`UPDATE readmodel.checkpoints SET position = ${elsewhere.toString()}::bigint WHERE name = 'lines'`.execute(
          f.db,
        );
        const next = await appendEach(
          f.store,
          path.startsWith('a batch it handles') ? ['Withdrawn'] : ['Opened'],
        );
        // Bounded: without the compare-and-set the projection would go on (and this would time out here).
        await until('the projection refuses the batch', () =>
          lines.some((l) => l.level === 40 && l.err?.message.includes(`is no longer at ${before.at(-1)}`)),
        );
        t.ok(next.at(-1)! > elsewhere, 'the refused batch was past the moved checkpoint');
        // Another instance took over: the runner starts over from the checkpoint as it now
        // stands (the refused batch rolled back: applied again, it would break the key).
        t.ok(await runner.waitFor(next.at(-1)!, waitMs), 'on from the moved checkpoint');
        t.equal(runner.status(), 'active');
        t.equal(await checkpointOf(f.db, 'lines'), next.at(-1));
        t.same(
          await linePositions(f.db),
          path.startsWith('a batch it handles') ? [...before, ...next] : before,
          'the refused batch applied once, after the start-over',
        );
      });
    }
  },
);

t.test(
  'insertRows writes every row and column through arrays, in chunks, and refuses a type that is not a name',
  async (t) => {
    const f = await fixture(t);
    await sql`CREATE TABLE public.rows_probe (id bigint PRIMARY KEY, label text, amount numeric(40, 0) NOT NULL, at timestamptz)`.execute(
      f.db,
    );
    const rows = Array.from({ length: insertRowsMax + 1 }, (_, i) => ({
      id: String(i),
      label: i % 3 === 0 ? null : `row "${i}" \\ é,{}`,
      amount: `${10n ** 30n + BigInt(i)}`,
      at: i % 2 === 0 ? '2024-05-17T10:21:33.123Z' : null,
    }));
    const columns = { id: 'bigint', label: 'text', amount: 'numeric', at: 'timestamptz' } as const;
    await insertRows(f.db.withSchema('public'), 'rows_probe', columns, rows);
    const { rows: stored } = await sql<{
      id: string;
      label: string | null;
      amount: string;
      at: string | null;
    }>`
    SELECT id::text, label, amount::text,
           to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
      FROM public.rows_probe ORDER BY id::bigint`.execute(f.db);
    t.equal(stored.length, rows.length, `${rows.length} rows, over two statements`);
    t.same(stored, rows, 'every value as given, nulls included');
    await t.rejects(
      insertRows(f.db, 'rows_probe', { id: 'bigint; DROP TABLE rows_probe' }, [{ id: '1' }]),
      /not a SQL type name/,
    );
  },
);

t.test(
  'migrateSchema succeeds while another read model schema is dropped and created beside it',
  { timeout: testTimeoutMs },
  async (t) => {
    const { db } = await fixture(t);
    // A rebuild or reset elsewhere in the database: a schema with a serial column comes and
    // goes while these migrations introspect the catalog (Kysely's Migrator reads every schema).
    let churning = true;
    let churned = 0;
    const churn = (async () => {
      while (churning) {
        await sql`CREATE SCHEMA IF NOT EXISTS churn`.execute(db);
        await sql`CREATE TABLE IF NOT EXISTS churn.t (id serial PRIMARY KEY, v text)`.execute(db);
        await sql`DROP SCHEMA churn CASCADE`.execute(db);
        churned++;
      }
    })();
    const schemas = Array.from({ length: 24 }, (_, i) => `migrate_race_${i}`);
    const outcomes = await Promise.allSettled(
      schemas.map((schema) =>
        migrateSchema(db, schema, {
          '0001': {
            async up(db: Kysely<any>) {
              await db.schema
                .createTable('rows')
                .addColumn('id', 'serial', (c) => c.primaryKey())
                .execute();
            },
          },
        }),
      ),
    );
    churning = false;
    await churn;
    t.ok(churned > 0, 'the other schema was dropped and created during the migrations');
    t.same(
      outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
      [],
      'every migration succeeded',
    );
    for (const schema of schemas) {
      const { rows } = await sql<{
        n: string;
      }>`SELECT count(*)::text AS n FROM ${sql.id(schema)}.rows`.execute(db);
      t.equal(rows[0]?.n, '0', `${schema}.rows exists`);
    }
  },
);
