import { embeddedApp } from '@ledger/api/testing';
import t from 'tap';

// The embedded default: no DATABASE_URL, no REDIS_URL, PGlite under DATA_DIR.

const { config, database, store, app, close } = await embeddedApp('api-pglite');
t.teardown(close);

t.test('runs on PGlite under DATA_DIR', async (t) => {
  t.equal(database.kind, 'pglite');
  t.equal(config.databaseUrl, undefined);
});

t.test('live and ready answer 200, with no Redis check when REDIS_URL is unset', async (t) => {
  const live = await app.inject({ url: '/health/live' });
  t.equal(live.statusCode, 200);
  const ready = await app.inject({ url: '/health/ready' });
  t.equal(ready.statusCode, 200);
  const body = JSON.parse(ready.body);
  t.equal(body.status, 'ok');
  t.equal(body.checks.postgres.ok, true);
  t.notOk('redis' in body.checks);
  t.same(body.checks.projections, [], 'no projection has run: no checkpoints table yet, and no error');
});

t.test('the head position gauge follows appends', async (t) => {
  const before = await app.inject({ url: '/metrics' });
  t.match(before.body, /^ledger_eventstore_head_position 0$/m, 'empty store');
  await store.append([
    { streamId: 'pglite-probe', expectedVersion: 'no_stream', events: [{ type: 'Probed', data: {} }] },
  ]);
  const head = await store.headPosition();
  t.ok(head > 0n);
  const after = await app.inject({ url: '/metrics' });
  t.match(after.body, new RegExp(`^ledger_eventstore_head_position ${head}$`, 'm'));
  t.match(after.body, /^ledger_metrics_refresh_failures_total 0$/m);
});

t.test('errors are problems here too', async (t) => {
  const response = await app.inject({ url: '/nowhere' });
  t.equal(response.statusCode, 404);
  t.match(JSON.parse(response.body), { code: 'not_found', status: 404 });
});
