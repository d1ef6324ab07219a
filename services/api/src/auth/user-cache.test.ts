import { randomUUID } from 'node:crypto';
import { authFixture, bearer, json, strongPassword, testJwtSecret } from '@ledger/api/testing';
import { PostgresEventStore } from '@ledger/eventstore';
import { loadConfig } from '@ledger/platform';
import { uniquePrefix } from '@ledger/testkit';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { buildApp } from '../app.js';
import { bcryptHasher } from './passwords.js';

// The cached users of authenticate(): a lock or a role change made in this process or in
// another API process (its own event store object, the same database and Redis) takes
// effect on the very next request; a change appended straight to the store too.

const f = await authFixture('api_user_cache');
t.teardown(f.close);
const env = {
  DATABASE_URL: f.testDb.url,
  REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  JWT_SECRET: testJwtSecret,
  BANK_DIRECTOR_USERNAME: 'chief',
  BANK_DIRECTOR_EMAIL: 'chief@bank.example',
  BANK_DIRECTOR_PASSWORD: 'director password 2026',
  RATE_LIMITS: JSON.stringify({ login: '1000/minute', register: '1000/hour' }),
};
const keyPrefix = uniquePrefix('api_user_cache');
// A second "process": its own store object, so appends through A's store are not seen by B's
// watcher; only the Redis marks tell B.
const otherStore = await PostgresEventStore.open(f.database.sql);
t.teardown(() => otherStore.close());
const apps: FastifyInstance[] = [];
t.teardown(async () => {
  for (const app of apps) await app.close();
});
async function newApp(store: PostgresEventStore, withRedis = true): Promise<FastifyInstance> {
  const app = await buildApp({
    config: loadConfig(withRedis ? env : { ...env, REDIS_URL: '' }),
    database: f.database,
    vault: f.vault,
    store,
    ...(withRedis ? { redis: f.redis } : {}),
    logger: f.logger,
    auth: { hasher: bcryptHasher(4), keyPrefix },
  });
  await app.ready();
  apps.push(app);
  return app;
}
const a = await newApp(f.store);
const b = await newApp(otherStore);

async function login(app: FastifyInstance, username: string, password = strongPassword) {
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username, password },
  });
  if (response.statusCode !== 200) throw new Error(`login ${username}: ${response.body}`);
  return json(response).accessToken as string;
}
/**
 * A token's `iat` is in whole seconds, and one issued in the same second as a staff lock
 * outlives the lock (sessionMayContinue): waits (under a second) until the lock to come is
 * later than the token, as it is when a session is older than its lock.
 */
async function afterTheSecondOf(token: string): Promise<void> {
  const { iat } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number };
  const waitMs = (iat + 1) * 1000 - Date.now();
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
}
const me = (app: FastifyInstance, token: string) =>
  app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });

const director = await login(a, 'chief', 'director password 2026');
const registered = await a.inject({
  method: 'POST',
  url: '/api/auth/register',
  payload: { username: 'cached', email: 'cached@example.com', password: strongPassword },
});
const userId = json(registered).user.id as string;
let token = await login(a, 'cached');
const patch = (payload: Record<string, unknown>) =>
  a.inject({ method: 'PATCH', url: `/api/admin/users/${userId}`, headers: bearer(director), payload });

t.test('a lock in another process takes effect on the next request here', async (t) => {
  t.equal((await me(b, token)).statusCode, 200, 'B caches the user');
  t.equal((await me(b, token)).statusCode, 200);
  t.equal((await patch({ locked: true })).statusCode, 200, 'A locks the user');
  t.equal((await me(b, token)).statusCode, 401, 'B refuses at once');
  t.equal((await me(a, token)).statusCode, 401, 'A too');
  t.equal((await patch({ locked: false })).statusCode, 200, 'A unlocks');
  // A lock by staff ends the sessions of before it for good (issue #12); a new login works,
  // in B at once: B no longer holds the locked copy of the user.
  t.equal((await me(b, token)).statusCode, 401, 'B: the old session stays ended');
  token = await login(a, 'cached');
  t.equal((await me(b, token)).statusCode, 200, 'B accepts a new login at once');
  t.equal((await me(a, token)).statusCode, 200);
});

t.test('a role change is used on the next request, here and there', async (t) => {
  // A cash deposit is for staff: a customer gets 403, an agent gets on to "no such account".
  const staffOnly = (app: FastifyInstance) =>
    app.inject({
      method: 'POST',
      url: '/api/transactions',
      headers: { ...bearer(token), 'idempotency-key': randomUUID() },
      payload: { type: 'deposit', accountId: randomUUID(), amount: '1.00', currency: 'EUR' },
    });
  t.equal((await staffOnly(a)).statusCode, 403, 'a customer is refused');
  t.equal((await staffOnly(b)).statusCode, 403);
  t.equal((await patch({ role: 'agent' })).statusCode, 200, 'made an agent');
  t.equal((await staffOnly(a)).statusCode, 404, 'A: the new role');
  t.equal((await staffOnly(b)).statusCode, 404, 'B: the new role');
  t.equal((await patch({ role: 'customer' })).statusCode, 200);
  t.equal((await staffOnly(b)).statusCode, 403, 'B: back to customer');
});

t.test('without Redis: an append to the user stream through the same store is seen at once', async (t) => {
  const c = await newApp(f.store, false);
  t.equal((await me(c, token)).statusCode, 200, 'C caches the user');
  await afterTheSecondOf(token);
  t.equal((await patch({ locked: true })).statusCode, 200, 'A (same store object) locks the user');
  t.equal((await me(c, token)).statusCode, 401, 'C refuses at once');
  t.equal((await patch({ locked: false })).statusCode, 200);
  t.equal((await me(c, token)).statusCode, 401, 'the old session stays ended');
  token = await login(a, 'cached');
  t.equal((await me(c, token)).statusCode, 200, 'C accepts a new login at once');
});
