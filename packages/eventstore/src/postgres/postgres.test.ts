import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '@ledger/testkit';
import pg from 'pg';
import t, { type Test } from 'tap';
import { eventStoreContract } from '../contract.js';
import type { EventStore } from '../types.js';
import { int4Array, textArray, uuidArray } from './binary-array.js';
import { pgClient } from './sql-client.js';
import { PostgresEventStore } from './store.js';

async function openFixture() {
  const database = await createTestDatabase('es_test');
  const pools: pg.Pool[] = [];
  const stores: EventStore[] = [];
  const openStore = async (options: Parameters<typeof PostgresEventStore.open>[1] = {}) => {
    const pool = new pg.Pool({ connectionString: database.url, max: 8 });
    pools.push(pool);
    const store = await PostgresEventStore.open(pgClient(pool), options);
    stores.push(store);
    return { store, pool };
  };
  const { store, pool } = await openStore();
  return {
    store,
    pool,
    database,
    lastWrittenPosition: () => store.lastWrittenPosition(),
    // Another process's handle: its own pool, one append per transaction, so concurrent
    // appends really meet in PostgreSQL.
    openAnother: async () => (await openStore({ migrate: false, batchAppendsMax: 1 })).store,
    openStore,
    tamper: async (streamId: string, version: bigint) => {
      await pool.query('ALTER TABLE es.events DISABLE TRIGGER events_append_only');
      await pool.query(
        `UPDATE es.events SET data = jsonb_set(data, '{amount}', '"999.00"') WHERE stream_id = $1 AND stream_version = $2`,
        [streamId, version.toString()],
      );
      await pool.query('ALTER TABLE es.events ENABLE TRIGGER events_append_only');
    },
    cleanup: async () => {
      for (const s of stores) await s.close();
      for (const p of pools) await p.end();
      await database.drop();
    },
  };
}

/**
 * es.append_batch_v2 called by hand, as the store would, with one write per stream (write k
 * writes streams[k]) and events of type E with empty data and metadata. `ids` need not agree
 * with `eventCounts`: the function's own checks are under test.
 */
function callAppendBatchV2(
  db: Pick<pg.Pool, 'query'> | Pick<pg.Client, 'query'>,
  batch: { streams: string[]; appendOf: number[]; expected: string[]; eventCounts: number[]; ids: string[] },
) {
  const { streams, ids } = batch;
  return db.query(
    `SELECT * FROM es.append_batch_v2($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::int[],
     $7::uuid[], $8::text[], $9::text[], $10::int[], $11::text[], $12::text[])`,
    [
      streams,
      streams.map((id) => JSON.stringify(id)),
      batch.appendOf,
      streams.map((_, i) => i + 1),
      batch.expected,
      batch.eventCounts,
      ids,
      ids.map(() => 'E'),
      ids.map(() => '"E"'),
      ids.map(() => 1),
      ids.map(() => '{}'),
      ids.map(() => '{}'),
    ],
  );
}

eventStoreContract(t, 'postgres', openFixture);

t.test('postgres: the log refuses UPDATE, DELETE and TRUNCATE', async (t) => {
  const f = await openFixture();
  t.teardown(f.cleanup);
  await f.store.append([{ streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: { a: 1 } }] }]);
  for (const statement of [
    `UPDATE es.events SET data = '{}'`,
    'DELETE FROM es.events',
    'TRUNCATE es.events',
  ]) {
    await t.rejects(f.pool.query(statement), /append-only/, statement);
  }
  t.equal((await f.store.readStream('s')).length, 1);
});

/** Subscribes with `subscriber`, appends one event through `writer`, returns what arrived within 10 s. */
async function deliveredTo(
  subscriber: EventStore,
  writer: EventStore,
): Promise<{ sent: string; seen: string[] }> {
  const seen: string[] = [];
  const subscription = subscriber.subscribe({
    after: 0n,
    onEvents: async (events) => {
      seen.push(...events.map((e) => e.eventId));
    },
  });
  await subscription.caughtUp;
  const sent = randomUUID();
  await writer.append([
    { streamId: 's', expectedVersion: 'any', events: [{ eventId: sent, type: 'E', data: {} }] },
  ]);
  const deadline = Date.now() + 10_000;
  while (!seen.includes(sent) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await subscription.stop();
  return { sent, seen };
}

t.test('postgres: a subscription in another process is woken by NOTIFY, not only by polling', async (t) => {
  const f = await openFixture();
  t.teardown(f.cleanup);
  // Polling every minute: only a NOTIFY can deliver within the deadline.
  const { store: listener } = await f.openStore({ migrate: false, pollIntervalMs: 60_000 });
  const { sent, seen } = await deliveredTo(listener, f.store);
  t.same(seen, [sent]);
});

t.test('postgres: without NOTIFY, the polling fallback still delivers', async (t) => {
  const f = await openFixture();
  t.teardown(f.cleanup);
  const pool = new pg.Pool({ connectionString: f.database.url, max: 2 });
  const { listen: _listen, ...noListen } = pgClient(pool);
  const quiet = await PostgresEventStore.open(noListen, { migrate: false, pollIntervalMs: 50 });
  const { sent, seen } = await deliveredTo(quiet, f.store);
  t.same(seen, [sent]);
  await quiet.close();
  await pool.end();
});

t.test(
  'postgres: a subscriber killed with SIGKILL and restarted from its checkpoint misses and repeats nothing',
  async (t) => {
    const f = await openFixture();
    t.teardown(f.cleanup);
    const subscriber = fileURLToPath(new URL('./fixtures/subscriber.ts', import.meta.url));
    const children: ChildProcess[] = [];
    t.teardown(() => {
      for (const child of children) child.kill('SIGKILL');
    });
    const start = () => {
      const child = spawn(process.execPath, ['--import', 'tsx', subscriber], {
        env: { ...process.env, DATABASE_URL: f.database.url },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      return child;
    };
    const seenCount = async () =>
      Number(
        (
          await f.pool
            .query('SELECT count(*)::int AS n FROM sub_test.seen')
            .catch(() => ({ rows: [{ n: 0 }] }))
        ).rows[0].n,
      );
    const waitFor = async (what: string, condition: () => Promise<boolean>, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await condition())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    const total = 3000;
    let appended = 0;
    const appending = (async () => {
      for (let i = 0; i < total; i += 10) {
        await f.store.append([
          {
            streamId: `s-${i % 13}`,
            expectedVersion: 'any',
            events: Array.from({ length: 10 }, (_, k) => ({ type: 'E', data: { i: i + k } })),
          },
        ]);
        appended += 10;
      }
    })();

    const first = start();
    await waitFor('the first subscriber to handle some events', async () => (await seenCount()) >= 300);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const atKill = await seenCount();
    t.ok(atKill >= 300 && appended > 0, `killed after ${atKill} events`);

    start();
    await appending;
    await waitFor('the restarted subscriber to reach the head', async () => (await seenCount()) >= total);
    // Let it run a little past the head: a repeat would show up as an extra row.
    const head = (await f.store.lastWrittenPosition()).toString();
    await waitFor('its checkpoint to reach the head', async () => {
      const r = await f.pool.query('SELECT position::text AS p FROM sub_test.checkpoint');
      return r.rows[0]?.p === head;
    });
    const { rows } = await f.pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d,
            (SELECT count(*)::int FROM es.events) AS total,
            (SELECT count(*)::int FROM es.events e WHERE NOT EXISTS
               (SELECT 1 FROM sub_test.seen s WHERE s.event_id = e.event_id)) AS missing
       FROM sub_test.seen`,
    );
    t.same(rows[0], { n: total, d: total, total, missing: 0 }, 'each event handled exactly once');
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    }
  },
);

/**
 * A store on a database of its own whose SQL client shows `watch` each query it answered
 * (statement name, parameters, rows): the real client, watched, to count round trips.
 */
async function openWatchedStore(
  t: Test,
  watch: (name: string | undefined, params: readonly unknown[] | undefined, rows: unknown[]) => void,
  options: Parameters<typeof PostgresEventStore.open>[1] = {},
): Promise<PostgresEventStore> {
  const database = await createTestDatabase('es_test');
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  const client = pgClient(pool);
  const store = await PostgresEventStore.open(
    {
      ...client,
      async query<R>(text: string, params?: readonly unknown[], name?: string): Promise<R[]> {
        const rows = await client.query<R>(text, params, name);
        watch(name, params, rows);
        return rows;
      },
    },
    options,
  );
  t.teardown(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });
  return store;
}

t.test('postgres: subscriptions of one store share the pages of $all they read', async (t) => {
  let pagesRead = 0;
  const store = await openWatchedStore(t, (name, _, rows) => {
    if (name === 'es_read_all' && rows.length > 0) pagesRead++;
  });
  for (let i = 0; i < 10; i++) {
    await store.append([
      {
        streamId: `shared-${i}`,
        expectedVersion: 'no_stream',
        events: Array.from({ length: 10 }, (_, n) => ({ type: 'E', data: { i, n } })),
      },
    ]);
  }
  const head = await store.lastWrittenPosition();
  const seen: bigint[][] = [[], [], [], []];
  const subscriptions = seen.map((positions, s) =>
    store.subscribe({
      after: 0n,
      batchSize: 10,
      onEvents: async (events) => {
        // Handlers of different speeds: the readers drift apart and still share.
        await new Promise((resolve) => setTimeout(resolve, s * 3));
        positions.push(...events.map((e) => e.globalPosition));
      },
    }),
  );
  await Promise.all(subscriptions.map((s) => s.caughtUp));
  await Promise.all(subscriptions.map((s) => s.stop()));
  const all = seen[0]!;
  t.equal(all.length, 100, 'every event once');
  t.equal(all.at(-1), head);
  t.ok(
    all.every((p, i) => i === 0 || p > all[i - 1]!),
    'in position order',
  );
  for (const positions of seen.slice(1)) t.same(positions, all, 'each subscription saw the same events');
  t.equal(pagesRead, 10, '10 pages of 10 events, each read from the database once');
});

t.test('postgres: a shared page cut for a smaller batch still ends on an append', async (t) => {
  let pagesRead = 0;
  const store = await openWatchedStore(t, (name, _, rows) => {
    if (name === 'es_read_all' && rows.length > 0) pagesRead++;
  });
  const ends = new Set<bigint>();
  for (let i = 0; i < 12; i++) {
    // A transfer's shape: a leg on each of two accounts and the transfer's event.
    const result = await store.append(
      ['debit', 'credit', 'transfer'].map((role) => ({
        streamId: `${role}-${i}`,
        expectedVersion: 'no_stream' as const,
        events: [{ type: 'E', data: { i, role } }],
      })),
    );
    ends.add(result.position);
  }
  const batchesOf = async (batchSize: number) => {
    const batches: bigint[][] = [];
    const subscription = store.subscribe({
      after: 0n,
      batchSize,
      onEvents: async (events) => {
        batches.push(events.map((e) => e.globalPosition));
      },
    });
    await subscription.caughtUp;
    await subscription.stop();
    return batches;
  };
  // Pages of 8 (+1: the rest of the third append) from 0, then batches of 2 over the same
  // positions: those starting where a page of the first did are cut from that page.
  const large = await batchesOf(8);
  const readForLarge = pagesRead;
  const small = await batchesOf(2);
  t.same(
    large.map((b) => b.length),
    [9, 9, 9, 9],
  );
  t.same(
    small.map((b) => b.length),
    Array(12).fill(3),
    'every small batch is one whole append',
  );
  for (const batch of [...large, ...small]) t.ok(ends.has(batch[batch.length - 1]!), 'ends on an append');
  t.same(small.flat(), large.flat(), 'the same events once each');
  t.ok(pagesRead - readForLarge < small.length, 'some small batches were cut from shared pages');
});

t.test(
  'postgres: readStream calls made together share one query; calls while reads are in flight share the next',
  async (t) => {
    const queries: number[] = [];
    const store = await openWatchedStore(
      t,
      (name, params) => {
        if (name === 'es_read_stream') queries.push(1);
        if (name === 'es_read_streams') queries.push((params![0] as string[]).length);
      },
      { readConcurrency: 1 },
    );
    for (let i = 0; i < 40; i++) {
      await store.append([
        { streamId: `acc-${i}`, expectedVersion: 'no_stream', events: [{ type: 'E', data: { i } }] },
      ]);
    }
    const read = (i: number) => store.readStream(`acc-${i}`);
    // A command loading both its accounts: one query.
    const pair = await Promise.all([read(0), read(1)]);
    t.same(
      pair.map((page) => page.map((e) => e.data)),
      [[{ i: 0 }], [{ i: 1 }]],
    );
    t.same(queries, [2], 'two reads, one query');
    // 40 reads on separate ticks while one is in flight (readConcurrency 1): the first goes
    // alone, the ones that arrive meanwhile wait and go together.
    queries.length = 0;
    const pages = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        await new Promise((resolve) => setImmediate(resolve));
        return read(i);
      }),
    );
    t.same(
      pages.map((page) => page[0]?.data),
      Array.from({ length: 40 }, (_, i) => ({ i })),
      'each read its own stream',
    );
    t.equal(
      queries.reduce((a, b) => a + b, 0),
      40,
      'every read answered once',
    );
    t.ok(queries.length < 40, `40 reads in ${queries.length} queries (${queries.join(', ')})`);
    t.same(
      store.stats(),
      { appends: 40, appendTransactions: 40, streamReads: 42, streamReadQueries: 1 + queries.length },
      'stats: 40 appends one at a time, 42 reads in the queries counted above',
    );
    // 20 appends in one turn of the event loop: two transactions (appendConcurrency 2).
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.append([
          { streamId: `more-${i}`, expectedVersion: 'no_stream', events: [{ type: 'E', data: {} }] },
        ]),
      ),
    );
    t.match(store.stats(), { appends: 60, appendTransactions: 42 }, 'stats: 20 appends, 2 transactions');
    // A read PostgreSQL refuses (a NUL in the stream id) fails alone, not the reads beside it.
    const [good, bad, other] = await Promise.allSettled([read(3), store.readStream('bad\u0000id'), read(4)]);
    t.same(good.status === 'fulfilled' && good.value.map((e) => e.data), [{ i: 3 }]);
    t.equal(bad.status, 'rejected');
    t.same(other.status === 'fulfilled' && other.value.map((e) => e.data), [{ i: 4 }]);
  },
);

t.test('postgres: checks without events and failed appends leave no stream rows behind', async (t) => {
  const f = await openFixture();
  t.teardown(f.cleanup);
  const event = { type: 'E', data: { a: 1 } };
  await f.store.append([{ streamId: 'taken', expectedVersion: 'no_stream', events: [event] }]);
  await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) =>
      f.store.append([
        { streamId: `check-${i}`, expectedVersion: 'no_stream', events: [] },
        // Every other append fails on its second stream.
        { streamId: i % 2 === 0 ? `new-${i}` : 'taken', expectedVersion: 'no_stream', events: [event] },
        { streamId: `more-${i}`, expectedVersion: 'no_stream', events: [event] },
      ]),
    ),
  );
  const { rows } = await f.pool.query<{ stream_id: string; version: string }>(
    'SELECT stream_id, version::text FROM es.streams ORDER BY stream_id',
  );
  const expected = [
    'taken',
    ...Array.from({ length: 10 }, (_, k) => [`more-${2 * k}`, `new-${2 * k}`]).flat(),
  ];
  t.same(rows.map((r) => r.stream_id).sort(), expected.sort(), 'only streams that hold events');
  t.ok(
    rows.every((r) => r.version === '0'),
    'no placeholder (version -1) left',
  );
  t.equal((await f.store.verify()).ok, true);
});

t.test(
  'postgres: es.append_batch_v2 refuses a batch whose arrays disagree, and writes nothing',
  async (t) => {
    const f = await openFixture();
    t.teardown(f.cleanup);
    const call = (eventCounts: number[], ids: string[]) =>
      callAppendBatchV2(f.pool, {
        streams: ['a', 'b'],
        appendOf: [1, 2],
        expected: ['any', 'any'],
        eventCounts,
        ids,
      });
    const two = [randomUUID(), randomUUID()];
    await t.rejects(call([1, 2], two), { code: '22023' }, 'more events counted than sent');
    await t.rejects(call([1, 0], two), { code: '22023' }, 'fewer events counted than sent');
    const { rows } = await f.pool.query<{ n: string }>(
      'SELECT (SELECT count(*) FROM es.events) + (SELECT count(*) FROM es.streams) AS n',
    );
    t.equal(rows[0]!.n, '0', 'no event and no stream row');
    const [ok] = (await call([1, 1], two)).rows;
    t.same(
      ok,
      { o_bad: [0, 0], o_position: ok.o_position, o_version: ['0', '0'] },
      'the same batch, consistent, is stored',
    );
  },
);

t.test(
  'postgres: es.append_batch_v2 reads the stream heads and the log by key, even with plans made on a table without statistics',
  async (t) => {
    // The function's plans are generic, made once per connection. On a fresh database
    // es.streams has no statistics, and the planner once chose a sequential scan of it for
    // the DELETE of a batch's placeholders: a scan of every stream per batch, until
    // autovacuum's ANALYZE happened to replan it.
    const f = await openFixture();
    t.teardown(f.cleanup);
    // A connection of its own: the statistics of a transaction also hold what its backend
    // did before and has not reported yet (the migrations, on a pooled connection).
    const client = new pg.Client({ connectionString: f.database.url });
    await client.connect();
    t.teardown(() => client.end());
    // One append writing each stream.
    const call = (streams: string[], expected: string[], eventCounts: number[]) =>
      callAppendBatchV2(client, {
        streams,
        appendOf: streams.map(() => 1),
        expected,
        eventCounts,
        ids: eventCounts.flatMap((n) => Array.from({ length: n }, () => randomUUID())),
      });
    await client.query('BEGIN');
    // A new stream, a check-only write (its placeholder is deleted again), then both again:
    // every statement of the function runs, on heads that exist and on heads that do not.
    await call(['check-1', 'new'], ['no_stream', 'no_stream'], [0, 1]);
    await call(['check-2', 'new'], ['no_stream', '0'], [0, 1]);
    const { rows } = await client.query<{ relname: string; seq_scan: string }>(
      `SELECT relname, seq_scan::text FROM pg_stat_xact_user_tables WHERE schemaname = 'es' AND relname IN ('streams', 'events')
        ORDER BY relname`,
    );
    await client.query('COMMIT');
    t.same(
      rows.map((r) => [r.relname, r.seq_scan]),
      [
        ['events', '0'],
        ['streams', '0'],
      ],
      'no sequential scan of es.events or es.streams',
    );
    const { rows: heads } = await f.pool.query('SELECT stream_id, version::text FROM es.streams');
    t.same(heads, [{ stream_id: 'new', version: '1' }], 'the calls did their work: no placeholder is left');
  },
);

t.test('postgres: arrays sent in binary form arrive as sent', async (t) => {
  const database = await createTestDatabase('es_binary');
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  t.teardown(async () => {
    await pool.end();
    await database.drop();
  });
  const texts = ['', 'plain', 'é "quoted" \\ back\\slash', '\u{1F600}', 'x'.repeat(70_000)];
  const ints = [0, 1, -1, 2_147_483_647, -2_147_483_648];
  const uuids = ['00000000-0000-0000-0000-000000000000', 'ABCDEF01-2345-6789-ABCD-EF0123456789'];
  const { rows } = await pool.query<{ t: string[]; i: number[]; u: string[]; e: string[]; n: number }>(
    'SELECT $1::text[] AS t, $2::int4[] AS i, $3::uuid[]::text[] AS u, $4::text[] AS e, cardinality($4::text[]) AS n',
    [textArray(texts), int4Array(ints), uuidArray(uuids), textArray([])],
  );
  t.same(rows[0], { t: texts, i: ints, u: uuids.map((u) => u.toLowerCase()), e: [], n: 0 });
  t.throws(() => uuidArray(['not-a-uuid']), TypeError);
});
