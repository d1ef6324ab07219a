import { createServer } from 'node:net';
import { testServerUrl } from '@ledger/testkit';
import type { FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import t, { type Test } from 'tap';
import { toProblem, unavailableRetryAfterSeconds } from './problems.js';

// toProblem on the errors real clients throw: a dependency outage is a 503 `unavailable`
// with Retry-After, anything else unexpected a 500 that says nothing of its cause.

const request = { id: 'req-1' } as FastifyRequest;

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

function isUnavailable(t: Test, error: unknown, what: string) {
  const p = toProblem(error, request);
  t.equal(p.status, 503, `${what}: 503 (${String((error as Error)?.message)})`);
  t.equal(p.code, 'unavailable', `${what}: unavailable`);
  t.equal(p.retryAfterSeconds, unavailableRetryAfterSeconds, `${what}: Retry-After`);
}

t.test('PostgreSQL refused, a session ended, a statement past its time-out: 503 unavailable', async (t) => {
  const port = await deadPort();
  const refused = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    connectionTimeoutMillis: 2_000,
  });
  isUnavailable(t, await errorOf(() => refused.connect()), 'connection refused');

  const client = new pg.Client({ connectionString: testServerUrl });
  client.on('error', () => {});
  await client.connect();
  t.teardown(() => client.end().catch(() => {}));
  await client.query('SET statement_timeout = 20');
  isUnavailable(t, await errorOf(() => client.query('SELECT pg_sleep(1)')), 'statement timeout (57014)');
  isUnavailable(
    t,
    await errorOf(() => client.query('SELECT pg_terminate_backend(pg_backend_pid())')),
    'session terminated (57P01)',
  );
});

t.test('Redis unreachable with the offline queue off: 503 unavailable', async (t) => {
  const port = await deadPort();
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    enableOfflineQueue: false,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  t.teardown(() => redis.disconnect());
  isUnavailable(t, await errorOf(() => redis.get('k')), 'not connected');
});

t.test('a wrong query stays a 500 that says nothing of its cause', async (t) => {
  const client = new pg.Client({ connectionString: testServerUrl });
  await client.connect();
  t.teardown(() => client.end());
  const p = toProblem(await errorOf(() => client.query('SELECT * FROM no_such_table')), request);
  t.equal(p.status, 500);
  t.equal(p.code, 'internal_error');
  t.notMatch(p.detail, /no_such_table/);
  t.equal(p.retryAfterSeconds, undefined);
});
