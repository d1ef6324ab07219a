import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { authFixture, json, strongPassword, testJwtSecret } from '@ledger/api/testing';
import { userStreamId } from '@ledger/contracts';
import { loadConfig } from '@ledger/platform';
import { uniquePrefix } from '@ledger/testkit';
import t from 'tap';
import { buildApp } from '../app.js';
import {
  bcryptCostOf,
  bcryptHasher,
  PasswordCheckRefused,
  PasswordWorkers,
  passwordChecksPerAddressMax,
  passwordCostProduction,
  passwordQueueLengthMax,
  sharedPasswordWorkers,
} from './passwords.js';

// Production hashing: bcrypt cost 12 end to end, on worker threads (the event loop never
// runs a hash), one lane per client address served in turn, each lane and the whole queue
// bounded, the threads gone when the app closes.

const f = await authFixture('api_passwords');
t.teardown(f.close);

// First, while no other app of this file holds the process's pool.
t.test('an app holds the shared password threads until it closes; they start again on demand', async (t) => {
  const app = await buildApp({
    config: loadConfig({ DATABASE_URL: f.testDb.url, JWT_SECRET: testJwtSecret }),
    database: f.database,
    vault: f.vault,
    store: f.store,
    logger: f.logger,
    auth: { hasher: bcryptHasher(4), keyPrefix: uniquePrefix('api_passwords') },
  });
  const pool = sharedPasswordWorkers();
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: {
      username: `pool_${Date.now().toString(36)}`,
      email: `pool.${Date.now()}@example.com`,
      password: strongPassword,
    },
  });
  t.equal(response.statusCode, 201);
  t.ok(pool.stats().threads >= 1, 'a thread hashed the password');
  await app.close();
  t.equal(pool.stats().threads, 0, 'no thread left once the app is closed');
  t.equal(bcryptCostOf(await bcryptHasher(4).hash('again')), 4, 'a later hash starts a thread again');
});

t.test(
  'a flood of checks from one address does not hold back others: a free thread, then the next turns',
  async (t) => {
    const lanes: string[] = [];
    const pool = new PasswordWorkers({ threads: 2, onStart: (lane) => lanes.push(lane) });
    t.teardown(() => pool.close());
    t.equal(pool.runningPerLaneMax, 1, 'one address runs on at most all threads but one');
    const hasher = bcryptHasher(4, { workers: pool });
    const hash = await hasher.hash(strongPassword);
    lanes.length = 0;
    const flooder = '192.0.2.1';
    const flood = Array.from({ length: passwordChecksPerAddressMax }, () =>
      hasher.verify('wrong password', hash, { client: flooder }),
    );
    t.same(lanes, [flooder], 'one thread took a flood check; the rest of the flood waits in its lane');
    const b = hasher.verify(strongPassword, hash, { client: '192.0.2.2' });
    t.same(lanes, [flooder, '192.0.2.2'], "another address's check started at once, on the free thread");
    const c = hasher.burn('a guess', { client: '2001:db8::1' });
    const unattributed = hasher.verify(strongPassword, hash);
    t.same(pool.stats(), { threads: 2, running: 2, queued: 9, ofClient: 0 });
    t.same(await Promise.all([b, c, unattributed]), [true, undefined, true]);
    t.same(await Promise.all(flood), Array(passwordChecksPerAddressMax).fill(false));
    t.same(
      lanes.slice(2, 4),
      ['2001:db8::', ''],
      "the checks that had to wait go before the flood's next (IPv6 by /64, then the one without an address)",
    );
    t.same(lanes.slice(4), Array(passwordChecksPerAddressMax - 1).fill(flooder), 'then the flood goes on');
  },
);

t.test('per address and in all, checks queued or running are bounded: 429 then 503', async (t) => {
  t.equal(passwordChecksPerAddressMax, 8);
  t.equal(passwordQueueLengthMax, 128);
  const pool = new PasswordWorkers({ threads: 1, perAddressMax: 3, queueLengthMax: 5 });
  t.teardown(() => pool.close());
  const hasher = bcryptHasher(4, { workers: pool });
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => 'accepted',
      (error: unknown) =>
        error instanceof PasswordCheckRefused
          ? `${error.status} ${error.code} ${error.retryAfterSeconds}`
          : error,
    );
  const a = Array.from({ length: 4 }, () => refusal(hasher.hash('a', { client: '192.0.2.1' })));
  t.same(pool.stats('192.0.2.1'), { threads: 1, running: 1, queued: 2, ofClient: 3 });
  const b = Array.from({ length: 2 }, () => refusal(hasher.hash('b', { client: '192.0.2.2' })));
  const more = [refusal(hasher.hash('c', { client: '192.0.2.3' })), refusal(hasher.hash('d'))];
  t.same(await Promise.all(a), ['accepted', 'accepted', 'accepted', '429 rate_limited 1']);
  t.same(await Promise.all(b), ['accepted', 'accepted']);
  t.same(await Promise.all(more), ['503 overloaded 1', '503 overloaded 1']);
  t.same(pool.stats(), { threads: 1, running: 0, queued: 0, ofClient: 0 });
  t.equal(await refusal(hasher.hash('a', { client: '192.0.2.1' })), 'accepted', 'room again once done');
});

t.test('close() stops the threads and fails what waits with 503; the pool can start again', async (t) => {
  const pool = new PasswordWorkers({ threads: 1 });
  const hasher = bcryptHasher(10, { workers: pool });
  const waiting = [hasher.hash('x', { client: '192.0.2.1' }), hasher.hash('y', { client: '192.0.2.2' })];
  const settled = Promise.allSettled(waiting);
  await pool.close();
  for (const result of await settled) {
    t.match(result, { status: 'rejected', reason: { status: 503, code: 'overloaded' } });
  }
  t.same(pool.stats(), { threads: 0, running: 0, queued: 0, ofClient: 0 });
  t.equal(bcryptCostOf(await bcryptHasher(4, { workers: pool }).hash('z')), 4);
  await pool.close();
});

t.test('an app built with the defaults stores bcrypt hashes of cost 12, and logs in with them', async (t) => {
  t.equal(passwordCostProduction, 12);
  t.equal(bcryptHasher().cost, 12);
  t.throws(() => bcryptHasher(3), RangeError);
  // No hasher override: what production runs.
  const app = await f.newApp({ hasher: bcryptHasher() });
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: {
      username: `prod_${Date.now().toString(36)}`,
      email: `prod.${Date.now()}@example.com`,
      password: strongPassword,
    },
  });
  t.equal(response.statusCode, 201);
  const userId = json(response).user.id as string;
  const [registered] = await f.store.readStream(userStreamId(userId));
  const { passwordId } = registered!.data as { passwordId: string };
  t.notMatch(JSON.stringify(registered!.data), /\$2[aby]\$/, 'no hash in the event: only its id');
  const hash = (await f.vault.credentials.get(userId, passwordId))!;
  t.equal(bcryptCostOf(hash), 12, 'cost 12 in the vault');
  t.notOk(hash.includes(strongPassword), 'the hash does not contain the password');
  const login = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: json(response).user.username, password: strongPassword },
  });
  t.equal(login.statusCode, 200);
});

t.test('hashing at cost 12 leaves the event loop free: delay stays below one hash duration', async (t) => {
  const hasher = bcryptHasher();
  const started = performance.now();
  await hasher.hash(strongPassword);
  const oneHashMs = performance.now() - started;

  const app = await f.newApp({ hasher });
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  const hashing = Promise.all(Array.from({ length: 4 }, (_, i) => hasher.hash(`${strongPassword} ${i}`)));
  // A request arriving while four hashes run is answered between their slices.
  const probeStarted = performance.now();
  const probe = await app.inject({ url: '/health/live' });
  const probeMs = performance.now() - probeStarted;
  await hashing;
  histogram.disable();
  const maxDelayMs = histogram.max / 1e6;
  t.equal(probe.statusCode, 200);
  t.ok(
    maxDelayMs < oneHashMs,
    `max event-loop delay ${maxDelayMs.toFixed(1)} ms < one hash ${oneHashMs.toFixed(1)} ms`,
  );
  t.ok(
    probeMs < oneHashMs,
    `a concurrent request took ${probeMs.toFixed(1)} ms < one hash ${oneHashMs.toFixed(1)} ms`,
  );
});
