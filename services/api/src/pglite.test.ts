import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureLog } from '@ledger/api/testing';
import { PostgresEventStore } from '@ledger/eventstore';
import { createLogger, loadConfig, openDatabase } from '@ledger/platform';
import t from 'tap';
import { buildApp } from './app.js';

// The embedded default: no DATABASE_URL, no REDIS_URL, PGlite under DATA_DIR.

const dataDir = await mkdtemp(join(tmpdir(), 'api-pglite-'));
const config = loadConfig({ DATA_DIR: dataDir });
const logger = createLogger({ level: 'info', name: 'api-pglite-test' }, captureLog());
const database = await openDatabase({
  databaseUrl: config.databaseUrl,
  dataDir,
  applicationName: 'api-test',
});
const store = await PostgresEventStore.open(database.sql);
const app = await buildApp({ config, database, store, logger });
await app.ready();

t.teardown(async () => {
  await app.close();
  await store.close();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
});

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
