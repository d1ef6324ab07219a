import { PGlite } from '@electric-sql/pglite';
import { createTestDatabase } from '@ledger/testkit';
import pg from 'pg';
import t, { type Test } from 'tap';
import { snapshotsOf } from '../snapshots.js';
import type { EventStore } from '../types.js';
import { pgClient, pgliteClient, type SqlClient } from './sql-client.js';
import { PostgresEventStore } from './store.js';

// es.snapshots through the store's `snapshots`, on PostgreSQL and on PGlite (the same code).

interface Fixture {
  store: EventStore;
  sql: SqlClient;
}

async function onPostgres(t: Test): Promise<Fixture> {
  const database = await createTestDatabase('es_snapshots');
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  const sql = pgClient(pool);
  const store = await PostgresEventStore.open(sql);
  t.teardown(async () => {
    await store.close();
    await pool.end();
    await database.drop();
  });
  return { store, sql };
}

// A PGlite start and the migrations cost seconds of WebAssembly each: done once, and each
// case runs on a clone of that migrated, empty database (as pglite.test.ts does).
let template: Promise<PGlite> | undefined;
const migratedTemplate = () => {
  template ??= (async () => {
    const pglite = await PGlite.create();
    await (await PostgresEventStore.open(pgliteClient(pglite))).close();
    t.teardown(() => pglite.close());
    return pglite;
  })();
  return template;
};

async function onPglite(t: Test): Promise<Fixture> {
  const pglite = (await (await migratedTemplate()).clone()) as PGlite;
  const sql = pgliteClient(pglite);
  const store = await PostgresEventStore.open(sql);
  t.teardown(async () => {
    await store.close();
    await pglite.close();
  });
  return { store, sql };
}

const events = (n: number) => Array.from({ length: n }, (_, i) => ({ type: 'E', data: { i } }));

for (const [name, open] of [
  ['postgres', onPostgres],
  ['pglite', onPglite],
] as const) {
  t.test(`${name}: a snapshot names the hash of the event it was folded to`, async (t) => {
    const { store } = await open(t);
    const snapshots = snapshotsOf(store);
    if (snapshots === undefined) return t.fail('the PostgreSQL store keeps snapshots');
    await store.append([{ streamId: 's', expectedVersion: 'no_stream', events: events(3) }]);
    t.equal(await snapshots.readSnapshot('s'), null, 'none before one is written');
    // Amounts beyond 2^53 stay exact: the state is JSON, with bigints as strings.
    const state = { total: '9007199254740993', holds: [['t', '1']] };
    t.equal(await snapshots.writeSnapshot({ streamId: 's', streamVersion: 1n, schema: 'x/1', state }), true);
    const [, second] = await store.readStream('s');
    t.same(await snapshots.readSnapshot('s'), {
      streamId: 's',
      streamVersion: 1n,
      hash: second!.hash,
      schema: 'x/1',
      state,
    });
  });

  t.test(`${name}: snapshots only move forward, and a new schema replaces an old one`, async (t) => {
    const { store } = await open(t);
    const snapshots = snapshotsOf(store)!;
    await store.append([{ streamId: 's', expectedVersion: 'no_stream', events: events(5) }]);
    const write = (streamVersion: bigint, schema = 'x/1') =>
      snapshots.writeSnapshot({ streamId: 's', streamVersion, schema, state: { at: String(streamVersion) } });
    t.equal(await write(3n), true);
    t.equal(await write(2n), false, 'an older version is not written');
    t.equal(await write(3n), false, 'nor the same one again');
    t.equal((await snapshots.readSnapshot('s'))?.streamVersion, 3n);
    t.equal(await write(4n), true, 'a later one is');
    t.equal(await write(1n, 'x/2'), true, 'another schema replaces it, whatever its version');
    t.match(await snapshots.readSnapshot('s'), { streamVersion: 1n, schema: 'x/2', state: { at: '1' } });
  });

  t.test(`${name}: no snapshot of an event that is not stored`, async (t) => {
    const { store } = await open(t);
    const snapshots = snapshotsOf(store)!;
    await store.append([{ streamId: 's', expectedVersion: 'no_stream', events: events(2) }]);
    t.equal(
      await snapshots.writeSnapshot({ streamId: 's', streamVersion: 2n, schema: 'x/1', state: {} }),
      false,
    );
    t.equal(
      await snapshots.writeSnapshot({ streamId: 'n', streamVersion: 0n, schema: 'x/1', state: {} }),
      false,
    );
    t.equal(await snapshots.readSnapshot('s'), null);
    t.equal(await snapshots.readSnapshot('n'), null);
    await t.rejects(
      snapshots.writeSnapshot({ streamId: 's', streamVersion: -1n, schema: 'x/1', state: {} }),
      RangeError,
    );
    await t.rejects(
      snapshots.writeSnapshot({
        streamId: 's',
        streamVersion: 0n,
        schema: 'x/1',
        state: 'x'.repeat(300_000),
      }),
      RangeError,
      'a state past snapshotStateBytesMax',
    );
  });

  t.test(`${name}: snapshots are outside the log: verify ignores them, and they may change`, async (t) => {
    const { store, sql } = await open(t);
    const snapshots = snapshotsOf(store)!;
    await store.append([{ streamId: 's', expectedVersion: 'no_stream', events: events(2) }]);
    await snapshots.writeSnapshot({ streamId: 's', streamVersion: 1n, schema: 'x/1', state: {} });
    await sql.query(`UPDATE es.snapshots SET state = '{"changed": true}'`);
    t.match(await snapshots.readSnapshot('s'), { state: { changed: true } });
    await sql.query('DELETE FROM es.snapshots');
    t.equal(await snapshots.readSnapshot('s'), null);
    t.match(await store.verify(), { ok: true, checkedEvents: 2 });
  });
}
