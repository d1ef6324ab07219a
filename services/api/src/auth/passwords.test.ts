import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { userStreamId } from '@ledger/contracts';
import t from 'tap';
import { bcryptCostOf, bcryptHasher, passwordCostProduction } from './passwords.js';
import { authFixture, json, strongPassword } from './test-app.js';

// Production hashing: bcrypt cost 12 end to end, and hashing never holds the event loop
// for as long as a hash takes.

const f = await authFixture('api_passwords');
t.teardown(f.close);

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
  const [registered] = await f.store.readStream(userStreamId(json(response).user.id));
  const hash = (registered!.data as { passwordHash: string }).passwordHash;
  t.equal(bcryptCostOf(hash), 12, 'cost 12 in the event');
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
