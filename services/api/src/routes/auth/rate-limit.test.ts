import t from 'tap';
import { authFixture, json, strongPassword } from '../../auth/test-app.js';

// The default limits of API.md (login 5/minute per IP+username, register 10/hour per IP),
// on Redis, through app.inject(). Every app of this file has its own key prefix.

const f = await authFixture('api_rate_limit');
t.teardown(f.close);

async function registered(app: Awaited<ReturnType<typeof f.newApp>>, username: string) {
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { username, email: `${username}@example.com`, password: strongPassword },
  });
  if (response.statusCode !== 201) throw new Error(response.body);
}

t.test(
  '100 rapid logins: 429 rate_limited with Retry-After; another user and /health still work',
  async (t) => {
    // Registration is limited too: this app raises it so the file can set up its users.
    const app = await f.newApp({ env: { RATE_LIMITS: JSON.stringify({ register: '100/hour' }) } });
    const suffix = Date.now().toString(36);
    await registered(app, `victim_${suffix}`);
    await registered(app, `bystander_${suffix}`);

    const attempts = await Promise.all(
      Array.from({ length: 100 }, () =>
        app.inject({
          method: 'POST',
          url: '/api/auth/login',
          payload: { username: `victim_${suffix}`, password: 'guess guess guess' },
        }),
      ),
    );
    const statuses = attempts.map((r) => r.statusCode);
    const tally: Record<number, number> = {};
    for (const s of statuses) tally[s] = (tally[s] ?? 0) + 1;
    t.comment(JSON.stringify(tally));
    t.equal(statuses.filter((s) => s === 401).length, 5, 'five tries reach the password check');
    t.equal(statuses.filter((s) => s === 429).length, 95, 'the rest are refused');
    const limited = attempts.find((r) => r.statusCode === 429)!;
    t.match(limited.headers['content-type'], /^application\/problem\+json/);
    t.match(json(limited), { status: 429, code: 'rate_limited' });
    t.match(limited.headers['retry-after'], /^[0-9]+$/);
    t.ok(Number(limited.headers['retry-after']) <= 60, 'retry within the minute');

    const other = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: `bystander_${suffix}`, password: strongPassword },
    });
    t.equal(other.statusCode, 200, 'another user logs in from the same IP');
    t.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'liveness unaffected');
    t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'readiness unaffected');
  },
);

t.test('register: 10 per hour per IP by default', async (t) => {
  const app = await f.newApp();
  const statuses: number[] = [];
  for (let i = 0; i < 11; i++) {
    // Invalid bodies: counted like any attempt, and no user is created.
    const response = await app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: { username: 'x' },
    });
    statuses.push(response.statusCode);
  }
  t.same(statuses.slice(0, 10), Array(10).fill(400));
  t.equal(statuses[10], 429);
  t.ok(
    Number(
      (await app.inject({ method: 'POST', url: '/api/auth/register', payload: {} })).headers['retry-after'],
    ) > 60,
  );
});

t.test('RATE_LIMITS overrides a named limit', async (t) => {
  const app = await f.newApp({ env: { RATE_LIMITS: JSON.stringify({ register: '2/hour' }) } });
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    statuses.push((await app.inject({ method: 'POST', url: '/api/auth/register', payload: {} })).statusCode);
  }
  t.same(statuses, [400, 400, 429]);
});
