import { authFixture, json, strongPassword } from '@ledger/api/testing';
import t from 'tap';

// The default limits of API.md (login 5/minute per IP+username and 30/minute per IP,
// register 10/hour per IP, everything 1000/minute per IP), on Redis, through app.inject()
// (remoteAddress sets the client address). Every app of this file has its own key prefix.

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
  '100 rapid logins: 429 rate_limited with Retry-After; another address and /health still work',
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

    // The address has used up its 30 tries of the minute, whatever the username.
    const sameAddress = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: `bystander_${suffix}`, password: strongPassword },
    });
    t.equal(sameAddress.statusCode, 429, 'another user from the same address waits too');
    const other = await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      remoteAddress: '127.0.0.9',
      payload: { username: `bystander_${suffix}`, password: strongPassword },
    });
    t.equal(other.statusCode, 200, 'another user logs in from another address');
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

/** Wrong logins from `address`, one after another, each with a username of its own. */
async function spray(app: Awaited<ReturnType<typeof f.newApp>>, address: string, count: number) {
  const responses = [];
  for (let i = 0; i < count; i++) {
    responses.push(
      await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: address,
        payload: { username: `sprayed_${i}_${Date.now().toString(36)}`, password: 'guess guess guess' },
      }),
    );
  }
  return responses;
}

for (const withoutRedis of [false, true]) {
  t.test(
    `one address trying many usernames: 429 after 30 in a minute, other addresses unaffected (${withoutRedis ? 'in memory' : 'Redis'})`,
    async (t) => {
      const app = await f.newApp({ withoutRedis });
      const username = `real_${Date.now().toString(36)}_${withoutRedis ? 'm' : 'r'}`;
      await registered(app, username);

      const sprayed = await spray(app, '127.0.0.2', 32);
      t.same(
        sprayed.map((r) => r.statusCode),
        [...Array(30).fill(401), 429, 429],
        'every username its first try, yet the address is stopped at 30',
      );
      const limited = sprayed[31]!;
      t.match(limited.headers['content-type'], /^application\/problem\+json/);
      t.match(json(limited), { status: 429, code: 'rate_limited' });
      t.match(limited.headers['retry-after'], /^[0-9]+$/);
      t.ok(Number(limited.headers['retry-after']) <= 60, 'retry within the minute');

      const elsewhere = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: '127.0.0.3',
        payload: { username, password: strongPassword },
      });
      t.equal(elsewhere.statusCode, 200, 'the user logs in from another address');
      const there = await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress: '127.0.0.2',
        payload: { username, password: strongPassword },
      });
      t.equal(there.statusCode, 429, 'from the flooding address, even the right password waits');
    },
  );
}

t.test('RATE_LIMITS: loginPerAddress by name, or six times login when only login is set', async (t) => {
  const named = await f.newApp({ env: { RATE_LIMITS: JSON.stringify({ loginPerAddress: '3/minute' }) } });
  t.same(
    (await spray(named, '127.0.0.4', 4)).map((r) => r.statusCode),
    [401, 401, 401, 429],
  );
  const following = await f.newApp({ env: { RATE_LIMITS: JSON.stringify({ login: '1/minute' }) } });
  t.same(following.rateLimitOf('loginPerAddress'), { max: 6, timeWindowMs: 60_000, name: 'loginPerAddress' });
  t.same(
    (await spray(following, '127.0.0.4', 7)).map((r) => r.statusCode),
    [401, 401, 401, 401, 401, 401, 429],
  );
});

t.test('the per-address default limit counts routes with a limit of their own too', async (t) => {
  const app = await f.newApp({ env: { RATE_LIMITS: JSON.stringify({ default: '4/minute' }) } });
  const from = (remoteAddress: string) => ({ remoteAddress });
  const statuses: number[] = [];
  // Two requests to a route without a limit of its own, then login, register and refresh.
  for (let i = 0; i < 2; i++)
    statuses.push((await app.inject({ url: '/api/auth/me', ...from('127.0.0.5') })).statusCode);
  statuses.push((await spray(app, '127.0.0.5', 1))[0]!.statusCode);
  statuses.push(
    (await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: {}, ...from('127.0.0.5') }))
      .statusCode,
  );
  t.same(statuses, [401, 401, 401, 400], 'four requests of the minute');
  for (const request of [
    { method: 'POST' as const, url: '/api/auth/login', payload: { username: 'x', password: 'y' } },
    { method: 'POST' as const, url: '/api/auth/register', payload: {} },
    { method: 'POST' as const, url: '/api/auth/refresh', payload: {} },
    { method: 'GET' as const, url: '/api/auth/me' },
  ]) {
    const response = await app.inject({ ...request, ...from('127.0.0.5') });
    t.equal(response.statusCode, 429, `${request.method} ${request.url}: the address's fifth`);
    t.match(json(response), { code: 'rate_limited' });
    t.match(response.headers['retry-after'], /^[0-9]+$/);
  }
  t.equal(
    (await app.inject({ url: '/api/auth/me', ...from('127.0.0.6') })).statusCode,
    401,
    'another address is not counted',
  );
});
