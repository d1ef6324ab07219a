import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureLog, uuidPattern, within } from '@ledger/api/testing';
import { PostgresEventStore } from '@ledger/eventstore';
import { createLogger, loadConfig, openDatabase } from '@ledger/platform';
import { advanceCheckpoint, ensureCheckpoint, migrateCheckpoints } from '@ledger/readmodel';
import { createTestDatabase, testRedisUrl } from '@ledger/testkit';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { bodyLimitBytes, buildApp, requestTimeoutMs } from './app.js';
import { checkTimeoutMs } from './health.js';
import { problem } from './problem.js';
import { closeRedis, connectRedis } from './redis.js';

// The API against real PostgreSQL and real Redis, through app.inject(): no port, no mocks.

const allowedOrigin = 'https://bank.example';
const testDb = await createTestDatabase('api_app');
const dataDir = await mkdtemp(join(tmpdir(), 'api-app-'));
const log = captureLog();
const logger = createLogger({ level: 'info', name: 'api-test' }, log);
const config = loadConfig({
  DATABASE_URL: testDb.url,
  REDIS_URL: testRedisUrl,
  CORS_ORIGINS: allowedOrigin,
  DATA_DIR: dataDir,
});
const database = await openDatabase({ databaseUrl: testDb.url, dataDir, applicationName: 'api-test' });
const store = await PostgresEventStore.open(database.sql);
const redis = await connectRedis(testRedisUrl, logger);
const app = await buildApp({ config, database, store, redis, logger });

// Test-only routes, on the built app, to drive the error handler the way real routes will.
app.get('/test/boom', async () => {
  throw new Error('relation "secret_table" does not exist: SELECT password FROM secret_table');
});
app.get('/test/rejected', async () => {
  throw problem(422, 'insufficient_funds', 'The balance does not cover 10.50 EUR', {
    status: 999, // an extension may not override a standard member
    limit: 'daily',
    position: 42n,
  });
});
app.get('/test/items/:id', async () => ({ ok: true }));
app.post(
  '/test/echo',
  { schema: { body: z.object({ amount: z.string(), nested: z.object({ count: z.number() }) }) } },
  async (request) => request.body,
);
await app.ready();

t.teardown(async () => {
  await app.close();
  await store.close();
  await closeRedis(redis);
  await database.close();
  await testDb.drop();
  await rm(dataDir, { recursive: true, force: true });
});

function json(body: string): Record<string, any> {
  return JSON.parse(body) as Record<string, any>;
}

function assertProblem(
  t: Test,
  response: Awaited<ReturnType<typeof app.inject>>,
  status: number,
  code: string,
) {
  t.equal(response.statusCode, status, `status ${status}`);
  t.match(response.headers['content-type'], /^application\/problem\+json/, 'problem+json');
  const body = json(response.body);
  t.match(body, { type: String, title: String, status, detail: String, code }, 'RFC 9457 members and code');
  return body;
}

t.test('GET /health/live answers ok with a generated request id', async (t) => {
  const response = await app.inject({ url: '/health/live' });
  t.equal(response.statusCode, 200);
  t.same(json(response.body), { status: 'ok' });
  t.match(response.headers['x-request-id'], uuidPattern);
});

t.test('X-Request-Id is kept when it is a UUID and replaced otherwise', async (t) => {
  const given = '0d4f6a3e-8a8b-4f0e-9c43-2b1f3a9e7c11';
  const kept = await app.inject({ url: '/health/live', headers: { 'x-request-id': given } });
  t.equal(kept.headers['x-request-id'], given);
  const replaced = await app.inject({ url: '/health/live', headers: { 'x-request-id': 'x"; DROP TABLE' } });
  t.match(replaced.headers['x-request-id'], uuidPattern);
  t.not(replaced.headers['x-request-id'], 'x"; DROP TABLE');
});

t.test('GET /health/ready: 200 with PostgreSQL and Redis up', async (t) => {
  const response = await app.inject({ url: '/health/ready' });
  t.equal(response.statusCode, 200);
  const body = json(response.body);
  t.equal(body.status, 'ok');
  t.match(body.checks, { postgres: { ok: true, latencyMs: Number }, redis: { ok: true, latencyMs: Number } });
  t.ok(Array.isArray(body.checks.projections), 'projections listed');
});

t.test('projection lag in /health/ready and /metrics follows the checkpoints', async (t) => {
  await migrateCheckpoints(database.db);
  await ensureCheckpoint(database.db, 'lag_probe', 1);
  const appended = await store.append([
    {
      streamId: `lag-probe-${Date.now()}`,
      expectedVersion: 'no_stream',
      events: [
        { type: 'Probed', data: { n: 1 } },
        { type: 'Probed', data: { n: 2 } },
      ],
    },
  ]);
  // Visible to readers once every older transaction on the server has ended.
  const deadline = Date.now() + 10_000;
  while ((await store.headPosition()) < appended.position && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const head = await store.headPosition();
  t.ok(head >= appended.position, 'the append is visible');

  const behind = json((await app.inject({ url: '/health/ready' })).body);
  const probe = behind.checks.projections.find((p: { name: string }) => p.name === 'lag_probe');
  t.match(probe, { name: 'lag_probe', position: '0', lagPositions: Number(head) });
  t.ok(
    probe.lagSeconds >= 0 && probe.lagSeconds < 60,
    `lagSeconds ${probe.lagSeconds} is the time since the checkpoint moved`,
  );

  const metricsBehind = (await app.inject({ url: '/metrics' })).body;
  t.match(metricsBehind, new RegExp(`^ledger_eventstore_head_position ${head}$`, 'm'));
  t.match(
    metricsBehind,
    new RegExp(`^ledger_projection_lag_positions\\{projection="lag_probe"\\} ${head}$`, 'm'),
  );
  t.match(metricsBehind, /^ledger_projection_lag_seconds\{projection="lag_probe"\} [0-9.e-]+$/m);

  await advanceCheckpoint(database.db, { name: 'lag_probe', from: 0n, to: head });
  const caughtUp = json((await app.inject({ url: '/health/ready' })).body);
  t.match(
    caughtUp.checks.projections.find((p: { name: string }) => p.name === 'lag_probe'),
    { position: String(head), lagPositions: 0, lagSeconds: 0 },
  );
  const metricsCaughtUp = (await app.inject({ url: '/metrics' })).body;
  t.match(metricsCaughtUp, /^ledger_projection_lag_positions\{projection="lag_probe"\} 0$/m);
  t.match(metricsCaughtUp, /^ledger_projection_lag_seconds\{projection="lag_probe"\} 0$/m);
});

t.test('GET /health/ready: 503 when the configured Redis refuses connections', async (t) => {
  const deadRedis = new Redis('redis://127.0.0.1:1', {
    lazyConnect: true,
    retryStrategy: () => null, // no retries: one refused connection ends it
    maxRetriesPerRequest: 0,
  });
  deadRedis.on('error', () => {});
  await deadRedis.connect().catch(() => {});
  const other = await buildApp({
    config: loadConfig({ DATABASE_URL: testDb.url, REDIS_URL: 'redis://127.0.0.1:1', DATA_DIR: dataDir }),
    database,
    store,
    redis: deadRedis,
    logger,
  });
  t.teardown(async () => {
    await other.close();
    deadRedis.disconnect();
  });
  const started = performance.now();
  const response = await within(checkTimeoutMs + 2_000, other.inject({ url: '/health/ready' }), 'ready');
  t.ok(performance.now() - started < checkTimeoutMs + 1_000, 'answered within the check time-out');
  t.equal(response.statusCode, 503);
  const body = json(response.body);
  t.equal(body.status, 'unavailable');
  t.match(body.checks, { postgres: { ok: true }, redis: { ok: false, error: 'unreachable' } });
  t.ok(Array.isArray(body.checks.projections), 'same shape as the 200');
  t.notMatch(response.body, /ECONNREFUSED|127\.0\.0\.1/, 'no internals in the answer');
});

t.test('GET /health/ready: 503 within the time-out when Redis accepts but never answers', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const hungRedis = new Redis({
    host: '127.0.0.1',
    port: address.port,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  hungRedis.on('error', () => {});
  hungRedis.connect().catch(() => {});
  const other = await buildApp({ config, database, store, redis: hungRedis, logger });
  t.teardown(async () => {
    await other.close();
    hungRedis.disconnect();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });
  const started = performance.now();
  const response = await within(checkTimeoutMs + 3_000, other.inject({ url: '/health/ready' }), 'ready');
  const elapsed = performance.now() - started;
  t.ok(
    elapsed >= checkTimeoutMs - 100 && elapsed < checkTimeoutMs + 1_500,
    `gave up after ${Math.round(elapsed)} ms`,
  );
  t.equal(response.statusCode, 503);
  t.match(json(response.body).checks, { postgres: { ok: true }, redis: { ok: false, error: 'timeout' } });
});

t.test('GET /health/ready: 503 when PostgreSQL is unreachable', async (t) => {
  const deadDatabase = await openDatabase({
    databaseUrl: 'postgres://postgres@127.0.0.1:1/nothing',
    dataDir,
    applicationName: 'api-test-dead',
  });
  const other = await buildApp({ config, database: deadDatabase, store, redis, logger });
  t.teardown(async () => {
    await other.close();
    await deadDatabase.close();
  });
  const response = await within(checkTimeoutMs + 3_000, other.inject({ url: '/health/ready' }), 'ready');
  t.equal(response.statusCode, 503);
  t.match(json(response.body), {
    status: 'unavailable',
    checks: { postgres: { ok: false }, redis: { ok: true } },
  });
});

t.test('GET /metrics: Prometheus text with the request histogram and default metrics', async (t) => {
  await app.inject({ url: '/test/items/12345' });
  await app.inject({ url: '/no/such/route' });
  const response = await app.inject({ url: '/metrics' });
  t.equal(response.statusCode, 200);
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const text = response.body;
  t.match(text, /^# TYPE http_request_duration_seconds histogram$/m);
  t.match(
    text,
    /^http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_code="200"\} \d+$/m,
  );
  t.match(text, /route="\/test\/items\/:id"/, 'labelled by route pattern');
  t.notMatch(text, /12345/, 'never by raw URL');
  t.match(text, /route="unmatched",status_code="404"/, 'unknown routes share one label');
  t.match(text, /^process_cpu_user_seconds_total /m, 'default process metrics');
  t.match(text, /^nodejs_heap_size_total_bytes /m, 'default Node.js metrics');
  t.match(text, /^ledger_eventstore_head_position \d+$/m);
  t.match(text, /^# TYPE ledger_projection_lag_positions gauge$/m);
  t.match(text, /^# TYPE ledger_projection_lag_seconds gauge$/m);
});

t.test('GET /metrics: the event store counters of this process, as counters that only grow', async (t) => {
  const counter = (text: string, name: string) => {
    const found = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    return found ? Number(found[1]) : undefined;
  };
  const scrape = async () => (await app.inject({ url: '/metrics' })).body;
  const before = await scrape();
  t.match(before, /^# TYPE ledger_eventstore_appends_total counter$/m);
  t.match(before, /^# TYPE ledger_eventstore_append_transactions_total counter$/m);
  const names = {
    appends: 'ledger_eventstore_appends_total',
    appendTransactions: 'ledger_eventstore_append_transactions_total',
    streamReads: 'ledger_eventstore_stream_reads_total',
    streamReadQueries: 'ledger_eventstore_stream_read_queries_total',
  } as const;
  const first = store.stats();
  for (const [key, name] of Object.entries(names)) {
    t.equal(counter(before, name), first[key as keyof typeof names], `${name} is the store's count`);
  }
  // Five appends made together (one or two transactions), then two reads made together.
  await Promise.all(
    Array.from({ length: 5 }, (_, i) =>
      store.append([
        {
          streamId: `metrics-${i}-${Date.now()}`,
          expectedVersion: 'no_stream',
          events: [{ type: 'E', data: {} }],
        },
      ]),
    ),
  );
  await Promise.all([store.readStream('metrics-a'), store.readStream('metrics-b')]);
  const after = await scrape();
  t.equal(counter(after, names.appends), counter(before, names.appends)! + 5);
  const transactions = counter(after, names.appendTransactions)! - counter(before, names.appendTransactions)!;
  t.ok(transactions >= 1 && transactions <= 2, `5 appends in ${transactions} transactions`);
  t.equal(counter(after, names.streamReads), counter(before, names.streamReads)! + 2);
  t.equal(counter(after, names.streamReadQueries), counter(before, names.streamReadQueries)! + 1);
});

t.test('GET /openapi.json: OpenAPI 3.1 with the operations routes and bearer auth', async (t) => {
  const response = await app.inject({ url: '/openapi.json' });
  t.equal(response.statusCode, 200);
  t.match(response.headers['content-type'], /^application\/json/);
  const doc = json(response.body);
  t.match(doc.openapi, /^3\.1\./);
  t.equal(doc.info.title, 'Ledger API');
  t.ok(doc.paths['/health/live']?.get, '/health/live listed');
  t.ok(doc.paths['/health/ready']?.get?.responses?.['503'], 'the 503 of /health/ready documented');
  t.ok(doc.paths['/metrics']?.get, '/metrics listed');
  t.equal(doc.paths['/docs'], undefined, 'Swagger UI routes hidden');
  t.equal(doc.paths['/openapi.json'], undefined, 'and the document itself');
  t.same(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
});

t.test('GET /openapi.json: the contract’s paths exactly, none with a trailing slash', async (t) => {
  const doc = json((await app.inject({ url: '/openapi.json' })).body);
  const paths = Object.keys(doc.paths as Record<string, unknown>);
  t.same(
    paths.filter((path) => path.length > 1 && path.endsWith('/')),
    [],
    'a generated client calls /api/accounts, not /api/accounts/',
  );
  t.ok(doc.paths['/api/accounts']?.post && doc.paths['/api/accounts']?.get, 'POST and GET /api/accounts');
  t.ok(
    doc.paths['/api/transactions']?.post && doc.paths['/api/transactions']?.get,
    'POST and GET /api/transactions',
  );
  t.ok(doc.paths['/api/accounts/{id}/balance']?.get, 'parameters in the OpenAPI form');
  for (const url of ['/api/accounts', '/api/accounts/']) {
    const answer = await app.inject({ url });
    t.equal(answer.statusCode, 401, `${url} reaches the route (no token: 401)`);
  }
});

t.test('GET /docs: Swagger UI, under a CSP that allows its own scripts', async (t) => {
  const response = await app.inject({ url: '/docs' });
  t.equal(response.statusCode, 200);
  t.match(response.headers['content-type'], /^text\/html/);
  t.match(response.body, /swagger-ui-bundle\.js/);
  const csp = String(response.headers['content-security-policy']);
  t.match(csp, /script-src 'self'/);
  t.notMatch(csp, /upgrade-insecure-requests/, 'works on plain http://127.0.0.1');
  const bundle = await app.inject({ url: '/docs/static/swagger-ui-bundle.js' });
  t.equal(bundle.statusCode, 200, 'its script is served from this origin');
  const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js' });
  t.equal(initializer.statusCode, 200);
  const spec = await app.inject({ url: '/docs/json' });
  t.equal(json(spec.body).info.title, 'Ledger API', 'the UI reads the same document');
});

t.test('unknown route: 404 problem+json not_found', async (t) => {
  const response = await app.inject({ url: '/api/nothing-here?x=1' });
  const body = assertProblem(t, response, 404, 'not_found');
  t.equal(body.type, 'urn:ledger:problem:not_found');
  t.match(response.headers['x-request-id'], uuidPattern, 'request id on errors too');
});

t.test('a malformed URL, rejected before routing, is a problem with a request id too', async (t) => {
  const response = await app.inject({ url: '/test/items/%zz' });
  assertProblem(t, response, 400, 'bad_request');
  t.match(response.headers['x-request-id'], uuidPattern);
  const tooLong = await app.inject({ url: `/test/items/${'x'.repeat(1000)}` });
  assertProblem(t, tooLong, 414, 'uri_too_long');
});

t.test('a body over the limit: 413 problem+json payload_too_large', async (t) => {
  const response = await app.inject({
    method: 'POST',
    url: '/test/echo',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ amount: 'x'.repeat(bodyLimitBytes), nested: { count: 1 } }),
  });
  assertProblem(t, response, 413, 'payload_too_large');
});

t.test('malformed JSON: 400 validation_failed', async (t) => {
  const response = await app.inject({
    method: 'POST',
    url: '/test/echo',
    headers: { 'content-type': 'application/json' },
    payload: '{"amount": "10.50",',
  });
  const body = assertProblem(t, response, 400, 'validation_failed');
  t.match(body.errors, [{ path: 'body', message: String }]);
});

t.test('a body against the schema: 400 validation_failed naming each field', async (t) => {
  const response = await app.inject({
    method: 'POST',
    url: '/test/echo',
    payload: { amount: 10.5, nested: {} },
  });
  const body = assertProblem(t, response, 400, 'validation_failed');
  t.same(
    body.errors.map((e: { path: string }) => e.path).sort(),
    ['body.amount', 'body.nested.count'],
    'paths name the request part and the field',
  );
  for (const error of body.errors) t.type(error.message, 'string');
});

t.test('prototype poisoning in JSON: 400, never merged', async (t) => {
  const response = await app.inject({
    method: 'POST',
    url: '/test/echo',
    headers: { 'content-type': 'application/json' },
    payload: '{"amount":"1","nested":{"count":1},"__proto__":{"admin":true}}',
  });
  assertProblem(t, response, 400, 'validation_failed');
});

t.test('an unsupported content type: 415 unsupported_media_type', async (t) => {
  const response = await app.inject({
    method: 'POST',
    url: '/test/echo',
    headers: { 'content-type': 'application/xml' },
    payload: '<amount>1</amount>',
  });
  assertProblem(t, response, 415, 'unsupported_media_type');
});

t.test('an unexpected error: 500 internal_error, generic, logged with its cause', async (t) => {
  const response = await app.inject({ url: '/test/boom' });
  const body = assertProblem(t, response, 500, 'internal_error');
  t.notMatch(response.body, /secret_table|SELECT|password|stack|\bat \//, 'no SQL, message or stack');
  t.same(Object.keys(body).sort(), ['code', 'detail', 'status', 'title', 'type']);
  const requestId = response.headers['x-request-id'];
  const logged = log.lines().find((l) => l.reqId === requestId && l.level === 50);
  t.ok(logged, 'logged at error level under the request id');
  t.match(logged, { err: { message: /secret_table/, stack: /Error/ } }, 'the log keeps the cause');
});

t.test('a thrown problem keeps its status, code, detail and extensions', async (t) => {
  const response = await app.inject({ url: '/test/rejected' });
  const body = assertProblem(t, response, 422, 'insufficient_funds');
  t.equal(body.detail, 'The balance does not cover 10.50 EUR');
  t.equal(body.limit, 'daily');
  t.equal(body.position, '42', 'bigint extensions as strings');
  t.equal(body.title, 'Insufficient funds');
});

t.test('CORS: the allow-listed origin gets the header, another does not', async (t) => {
  const allowed = await app.inject({ url: '/health/live', headers: { origin: allowedOrigin } });
  t.equal(allowed.headers['access-control-allow-origin'], allowedOrigin);
  t.match(allowed.headers['access-control-expose-headers'], /X-Request-Id/);
  const other = await app.inject({ url: '/health/live', headers: { origin: 'https://evil.example' } });
  t.equal(other.headers['access-control-allow-origin'], undefined);

  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/transactions',
    headers: { origin: allowedOrigin, 'access-control-request-method': 'POST' },
  });
  t.equal(preflight.statusCode, 204);
  t.equal(preflight.headers['access-control-allow-origin'], allowedOrigin);
  t.match(preflight.headers['access-control-allow-headers'], /Idempotency-Key/);
  const otherPreflight = await app.inject({
    method: 'OPTIONS',
    url: '/api/transactions',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  });
  t.equal(otherPreflight.headers['access-control-allow-origin'], undefined);
});

t.test('CORS: an empty allow-list allows no origin', async (t) => {
  const closed = await buildApp({ config: loadConfig({ DATA_DIR: dataDir }), database, store, logger });
  t.teardown(() => closed.close());
  for (const origin of [allowedOrigin, 'https://evil.example', 'null']) {
    const response = await closed.inject({ url: '/health/live', headers: { origin } });
    t.equal(response.statusCode, 200);
    t.equal(response.headers['access-control-allow-origin'], undefined, origin);
  }
  const ready = json((await closed.inject({ url: '/health/ready' })).body);
  t.notOk('redis' in ready.checks, 'no Redis check without REDIS_URL');
});

t.test('security headers and time-outs', async (t) => {
  const response = await app.inject({ url: '/health/live' });
  t.equal(response.headers['x-content-type-options'], 'nosniff');
  t.match(response.headers['content-security-policy'], /frame-ancestors 'none'/);
  t.match(response.headers['strict-transport-security'], /^max-age=\d+/);
  t.equal(response.headers['x-frame-options'], 'SAMEORIGIN');
  const missing = await app.inject({ url: '/no/such/route' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.headers['x-content-type-options'], 'nosniff', 'on error answers too');
  t.match(missing.headers['content-security-policy'], /default-src 'self'/);
  t.equal(app.initialConfig.bodyLimit, bodyLimitBytes);
  t.equal(app.server.requestTimeout, requestTimeoutMs, 'request time-out on the HTTP server');
  t.ok((app.initialConfig.connectionTimeout ?? 0) > 0, 'connection time-out set');
});

t.test("GET /metrics: the ledger's account loads and snapshots, as counters", async (t) => {
  const text = (await app.inject({ url: '/metrics' })).body;
  const { stats } = app.ledger.accounts;
  for (const [name, value] of [
    ['ledger_account_cold_loads_total', stats.coldLoads],
    ['ledger_account_load_events_total', stats.eventsRead],
    ['ledger_account_snapshots_used_total', stats.snapshotsUsed],
    ['ledger_account_snapshots_rejected_total', stats.snapshotsRejected],
  ] as const) {
    t.match(text, new RegExp(`^# TYPE ${name} counter$`, 'm'));
    t.match(text, new RegExp(`^${name} ${value}$`, 'm'), `${name} is the ledger's count`);
  }
  t.match(text, /^# TYPE ledger_account_snapshots_written_total counter$/m);
});
