import { performance } from 'node:perf_hooks';
import { authFixture, json, strongPassword, testJwtSecret } from '@ledger/api/testing';
import { loadConfig } from '@ledger/platform';
import { testRedisUrl, uniquePrefix } from '@ledger/testkit';
import t from 'tap';
import { buildApp } from '../../app.js';
import { bcryptHasher, PasswordWorkers, passwordChecksPerAddressMax } from '../../auth/passwords.js';

// Over HTTP, at the production cost: wrong logins flooding from one address fill only that
// address's lane of the password threads (its share is bounded: beyond it, 429), and a
// login from another address is checked at the next free thread, not after the flood.
// Ordering, not timing: the pool reports the lane of each check it starts.

const f = await authFixture('api_login_fairness');
t.teardown(f.close);

const lanes: string[] = [];
const pool = new PasswordWorkers({ threads: 2, onStart: (lane) => lanes.push(lane) });
t.teardown(() => pool.close());
const app = await buildApp({
  config: loadConfig({
    DATABASE_URL: f.testDb.url,
    REDIS_URL: testRedisUrl,
    JWT_SECRET: testJwtSecret,
    // The rate limits out of the way: this file is about the password threads.
    RATE_LIMITS: JSON.stringify({ login: '1000/minute', loginPerAddress: '1000/minute' }),
  }),
  database: f.database,
  vault: f.vault,
  store: f.store,
  redis: f.redis,
  logger: f.logger,
  auth: { hasher: bcryptHasher(12, { workers: pool }), keyPrefix: uniquePrefix('api_login_fairness') },
});
t.teardown(() => app.close());

const login = (remoteAddress: string, username: string, password: string) =>
  app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress, payload: { username, password } });

/** Polls (every 5 ms, at most 20 s) until `ready()`; false if it never was. */
async function until(ready: () => boolean): Promise<boolean> {
  const deadline = performance.now() + 20_000;
  while (!ready()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

t.test(
  'a flood of wrong logins from one address: its share is bounded, and another address is served next',
  async (t) => {
    const username = `fair_${Date.now().toString(36)}`;
    const registered = await app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: { username, email: `${username}@example.com`, password: strongPassword },
    });
    t.equal(registered.statusCode, 201);
    lanes.length = 0;

    const flooder = '127.0.0.2';
    // Unknown usernames: each costs a full check (burn), and none gets locked.
    const flood = Array.from({ length: passwordChecksPerAddressMax }, (_, i) =>
      login(flooder, `nobody_${i}_${username}`, 'guess guess guess'),
    );
    t.ok(
      await until(() => pool.stats(flooder).ofClient === passwordChecksPerAddressMax),
      `the flooding address's ${passwordChecksPerAddressMax} checks are queued or running`,
    );
    const beyond = await login(flooder, `nobody_x_${username}`, 'guess guess guess');
    t.equal(beyond.statusCode, 429, 'one more from that address is refused at once');
    t.match(json(beyond), { code: 'rate_limited' });
    t.equal(beyond.headers['retry-after'], '1');

    const floodStarted = lanes.filter((lane) => lane === flooder).length;
    const other = await login('127.0.0.3', username, strongPassword);
    t.equal(other.statusCode, 200, 'the user from another address logs in');
    const before = lanes.slice(0, lanes.indexOf('127.0.0.3'));
    t.not(lanes.indexOf('127.0.0.3'), -1, "the other address's check ran in its own lane");
    // Checks started while the other login was on its way to the threads (a few ms) may
    // precede it; the rest of the flood may not.
    t.ok(
      before.length <= floodStarted + 2 && before.length < passwordChecksPerAddressMax,
      `${before.length} flood checks started before it (${floodStarted} had when it was sent)`,
    );
    t.same(
      (await Promise.all(flood)).map((r) => r.statusCode),
      Array(passwordChecksPerAddressMax).fill(401),
    );
  },
);
