import { PostgresEventStore } from '@ledger/eventstore';
import { openDatabase } from '@ledger/platform';
import { advanceCheckpoint, ensureCheckpoint, migrateCheckpoints } from '@ledger/readmodel';
import { createTestDatabase } from '@ledger/testkit';
import { sql } from 'kysely';
import t from 'tap';
import { CheckTimeout, judgeLag, type ProjectionLag, projectionLags } from './health.js';

const lag = (name: string, lagSeconds: number): ProjectionLag => ({
  name,
  position: 10n,
  lagPositions: lagSeconds > 0 ? 3n : 0n,
  lagSeconds,
});

t.test('judgeLag: ready up to the bound, unready past it or when the lag is unknown', async (t) => {
  t.same(
    judgeLag({ projections: [] }, 30),
    { ok: true, lagSeconds: 0, lagSecondsMax: 30 },
    'no read model yet',
  );
  t.same(judgeLag({ projections: [lag('accounts', 0), lag('audit', 30)] }, 30), {
    ok: true,
    lagSeconds: 30,
    lagSecondsMax: 30,
  });
  t.same(judgeLag({ projections: [lag('accounts', 0.5), lag('audit', 30.1)] }, 30), {
    ok: false,
    lagSeconds: 30.1,
    lagSecondsMax: 30,
  });
  t.same(judgeLag({ error: new CheckTimeout('checkpoints did not answer') }, 30), {
    ok: false,
    lagSeconds: 0,
    lagSecondsMax: 30,
    error: 'timeout',
  });
  t.same(judgeLag({ error: new Error('connect ECONNREFUSED') }, 30), {
    ok: false,
    lagSeconds: 0,
    lagSecondsMax: 30,
    error: 'unreachable',
  });
});

t.test('projectionLags: after an idle hour, a new event is seconds behind, not an hour', async (t) => {
  const testDb = await createTestDatabase('api_health');
  const database = await openDatabase({
    databaseUrl: testDb.url,
    dataDir: '.',
    applicationName: 'health-test',
  });
  const store = await PostgresEventStore.open(database.sql);
  t.teardown(async () => {
    await store.close();
    await database.close();
    await testDb.drop();
  });
  const first = await store.append([
    { streamId: 'idle-probe', expectedVersion: 'no_stream', events: [{ type: 'Probed', data: { n: 1 } }] },
  ]);
  await migrateCheckpoints(database.db);
  await ensureCheckpoint(database.db, 'idle_probe', 1);
  await advanceCheckpoint(database.db, { name: 'idle_probe', from: 0n, to: first.position });
  // Caught up an hour ago, nothing since.
  await sql`UPDATE readmodel.checkpoints SET updated_at = now() - interval '1 hour'`.execute(database.db);
  const next = await store.append([
    { streamId: 'idle-probe', expectedVersion: 0n, events: [{ type: 'Probed', data: { n: 2 } }] },
  ]);
  const deadline = Date.now() + 10_000;
  while ((await store.headPosition()) < next.position && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const { projections } = await projectionLags(store, database.db);
  const probe = projections.find((p) => p.name === 'idle_probe');
  t.ok(probe && probe.lagPositions > 0n, 'behind by the new event');
  t.ok(probe && probe.lagSeconds < 60, `seconds behind, not an hour (${probe?.lagSeconds})`);
});
