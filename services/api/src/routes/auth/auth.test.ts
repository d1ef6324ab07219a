import { createHmac, generateKeyPairSync, sign as rsaSign } from 'node:crypto';
import {
  authFixture,
  bearer,
  json,
  loginRequest,
  refreshRequest,
  strongPassword,
  testJwtSecret,
  totpAt,
} from '@ledger/api/testing';
import { userStreamId } from '@ledger/contracts';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { z } from 'zod';
import { allRoles } from '../../policy.js';

// Every row of API.md's Auth table, success and each error, and the attacks of issue 3,
// through app.inject() against real PostgreSQL and Redis.

const f = await authFixture('api_auth');
t.teardown(f.close);
const app = await f.newApp({
  // Generous limits here: this file tests the routes; rate-limit.test.ts tests the limits.
  env: {
    RATE_LIMITS: JSON.stringify({ login: '100/minute', register: '10000/hour', refresh: '1000/minute' }),
  },
  routes(app) {
    // A resource owned by a user, to exercise the policy's ownership rule until accounts exist.
    app.get(
      '/test/owned/:ownerId',
      {
        config: {
          policy: {
            roles: allRoles,
            owner: { roles: ['customer'], ownerOf: async (r) => (r.params as { ownerId: string }).ownerId },
          },
        },
        schema: { params: z.object({ ownerId: z.string() }) },
      },
      async () => ({ ok: true }),
    );
  },
});

/** Secrets seen during the run: none may appear in the log (checked last). */
const secrets = new Set<string>();
let counter = 0;

function assertProblem(t: Test, response: LightMyRequestResponse, status: number, code: string) {
  t.equal(response.statusCode, status, `status ${status} (${response.body.slice(0, 200)})`);
  t.match(response.headers['content-type'], /^application\/problem\+json/);
  t.match(json(response), { status, code, type: String, title: String, detail: String });
}

async function register(overrides: Record<string, unknown> = {}) {
  counter++;
  const body = {
    username: `user${counter}_${Date.now().toString(36)}`,
    email: `user${counter}.${Date.now().toString(36)}@example.com`,
    password: `${strongPassword} ${counter}`,
    ...overrides,
  };
  secrets.add(body.password as string);
  const response = await app.inject({ method: 'POST', url: '/api/auth/register', payload: body });
  return { response, body };
}

async function login(payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  const response = await app.inject({ method: 'POST', url: '/api/auth/login', payload, headers });
  if (response.statusCode === 200) {
    const body = json(response);
    secrets.add(body.accessToken);
    secrets.add(body.refreshToken);
  }
  return response;
}

async function newUser(overrides: Record<string, unknown> = {}) {
  const { response, body } = await register(overrides);
  if (response.statusCode !== 201) throw new Error(`register: ${response.body}`);
  const logged = json(await login({ username: body.username, password: body.password }));
  return {
    id: json(response).user.id as string,
    ...body,
    accessToken: logged.accessToken as string,
    refreshToken: logged.refreshToken as string,
  };
}

t.test('POST /register: 201 {user}, a customer, no secret in the answer', async (t) => {
  const { response, body } = await register({
    firstName: 'Ada',
    lastName: 'Lovelace',
    dateOfBirth: '1990-12-10',
    phone: '+213 555 12 34 56',
  });
  t.equal(response.statusCode, 201);
  const { user } = json(response);
  t.match(user, {
    id: /^[0-9a-f-]{36}$/,
    username: body.username,
    email: body.email,
    firstName: 'Ada',
    lastName: 'Lovelace',
    dateOfBirth: '1990-12-10',
    phone: '+213 555 12 34 56',
    role: 'customer',
    twoFactorEnabled: false,
    kycStatus: 'none',
    createdAt: String,
  });
  t.same(
    Object.keys(user).sort(),
    [
      'createdAt',
      'dateOfBirth',
      'email',
      'firstName',
      'id',
      'kycStatus',
      'lastName',
      'locale',
      'phone',
      'role',
      'twoFactorEnabled',
      'username',
    ].sort(),
  );
  t.notMatch(response.body, /password|\$2[aby]\$/i);
});

t.test('POST /register: role in the body is ignored, always a customer', async (t) => {
  const { response } = await register({ role: 'director' });
  t.equal(response.statusCode, 201);
  t.equal(json(response).user.role, 'customer');
});

t.test('POST /register: 400 on a bad body, with field errors', async (t) => {
  for (const bad of [
    { password: 'short' },
    { password: 'x'.repeat(129) },
    { email: 'not-an-email' },
    { username: 'ab' },
    { dateOfBirth: '1990-13-45' },
    { password: 12345678901234 },
  ]) {
    const { response } = await register(bad);
    assertProblem(t, response, 400, 'validation_failed');
    t.ok(json(response).errors.length > 0, `errors for ${Object.keys(bad)[0]}`);
  }
});

t.test('POST /register: 409 username_taken / email_taken, case-insensitively', async (t) => {
  const { body } = await register();
  const sameName = await register({ username: body.username.toUpperCase() });
  assertProblem(t, sameName.response, 409, 'username_taken');
  const sameEmail = await register({ email: body.email.toUpperCase() });
  assertProblem(t, sameEmail.response, 409, 'email_taken');
});

t.test('50 concurrent registrations of one username: exactly one 201, 49 × 409', async (t) => {
  const username = `race_${Date.now().toString(36)}`;
  const responses = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      app.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username, email: `race${i}.${username}@example.com`, password: strongPassword },
      }),
    ),
  );
  const statuses = responses.map((r) => r.statusCode);
  t.equal(statuses.filter((s) => s === 201).length, 1, 'one created');
  t.equal(statuses.filter((s) => s === 409).length, 49, 'the rest refused');
  for (const r of responses.filter((r) => r.statusCode === 409)) t.equal(json(r).code, 'username_taken');
});

t.test('POST /login: by username or email; 200 with a token pair and the user', async (t) => {
  const { response, body } = await register();
  const id = json(response).user.id;
  for (const by of [{ username: body.username.toUpperCase() }, { email: body.email }]) {
    const res = await login({ ...by, password: body.password });
    t.equal(res.statusCode, 200, res.body);
    const out = json(res);
    t.match(out, { accessToken: String, refreshToken: String, tokenType: 'Bearer', expiresIn: 3600 });
    t.equal(out.user.id, id);
    const [header, payload] = out.accessToken
      .split('.')
      .slice(0, 2)
      .map((p: string) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    t.match(header, { alg: 'HS256' });
    t.match(payload, { sub: id, role: 'customer', jti: String, iss: 'ledger', aud: 'ledger-api' });
    t.equal(payload.exp - payload.iat, 3600, 'one hour');
  }
});

t.test(
  'POST /login: 401 invalid_credentials for a wrong password and for an unknown user; 400 without a name',
  async (t) => {
    const { body } = await register();
    assertProblem(
      t,
      await login({ username: body.username, password: 'wrong password 123' }),
      401,
      'invalid_credentials',
    );
    assertProblem(
      t,
      await login({ username: 'nobody_here', password: 'wrong password 123' }),
      401,
      'invalid_credentials',
    );
    assertProblem(t, await login({ password: 'whatever whatever' }), 400, 'validation_failed');
  },
);

t.test('security events carry actor, IP and user agent', async (t) => {
  const { response, body } = await register();
  const id = json(response).user.id;
  await login({ username: body.username, password: 'wrong password 123' }, { 'user-agent': 'evil-bot/1.0' });
  await login({ username: body.username, password: body.password }, { 'user-agent': 'good-app/2.0' });
  const events = await f.store.readStream(userStreamId(id));
  const failed = events.find((e) => e.type === 'LoginFailed');
  const ok = events.find((e) => e.type === 'LoginSucceeded');
  t.match(failed?.metadata, { actorId: id, ip: '127.0.0.1', userAgent: 'evil-bot/1.0', requestId: String });
  t.match(failed?.data, { reason: 'invalid_credentials' });
  t.match(ok?.metadata, { actorId: id, ip: '127.0.0.1', userAgent: 'good-app/2.0' });
});

t.test(
  'five failed logins in 15 minutes: 423 account_locked for 15 minutes; open sessions go on',
  async (t) => {
    const user = await newUser();
    for (let i = 0; i < 5; i++) {
      assertProblem(
        t,
        await login(
          { username: user.username, password: 'wrong password 123' },
          { 'user-agent': 'attacker' },
        ),
        401,
        'invalid_credentials',
      );
    }
    const verifiesBefore = f.counts.verify;
    assertProblem(
      t,
      await login({ username: user.username, password: user.password }),
      423,
      'account_locked',
    );
    t.equal(f.counts.verify, verifiesBefore, "a locked user's password is not even checked");
    // Issue #12: five wrong passwords typed by anyone must not log the victim out.
    t.equal(
      (await app.inject({ url: '/api/auth/me', headers: bearer(user.accessToken) })).statusCode,
      200,
      'the victim’s access token still works',
    );
    const refreshed = await refreshRequest(app, user.refreshToken);
    t.equal(refreshed.statusCode, 200, 'and the session refreshes');
    secrets.add(json(refreshed).refreshToken);
    secrets.add(json(refreshed).accessToken);
    const types = (await f.store.readStream(userStreamId(user.id))).map((e) => e.type);
    t.ok(types.includes('UserLocked'), 'UserLocked recorded');

    f.clock.offsetMs = 16 * 60_000;
    t.teardown(() => {
      f.clock.offsetMs = 0;
    });
    t.equal(
      (await login({ username: user.username, password: user.password })).statusCode,
      200,
      'unlocked after 15 min',
    );
  },
);

t.test('GET /me: 200 {user}; 401 without or with a garbage token', async (t) => {
  const user = await newUser();
  const me = await app.inject({ url: '/api/auth/me', headers: bearer(user.accessToken) });
  t.equal(me.statusCode, 200);
  t.match(json(me).user, { id: user.id, username: user.username, role: 'customer' });
  assertProblem(t, await app.inject({ url: '/api/auth/me' }), 401, 'unauthorized');
  assertProblem(
    t,
    await app.inject({ url: '/api/auth/me', headers: bearer('abc.def.ghi') }),
    401,
    'unauthorized',
  );
});

t.test(
  'PATCH /me: 200 {user}; 422 profile_locked for name and birth date once KYC verified; 401',
  async (t) => {
    const user = await newUser({ firstName: 'Ada', lastName: 'Lovelace' });
    const patch = (payload: Record<string, unknown>, headers = bearer(user.accessToken)) =>
      app.inject({ method: 'PATCH', url: '/api/auth/me', payload, headers });
    const ok = await patch({ lastName: 'Byron', phone: '+1 555 0100' });
    t.equal(ok.statusCode, 200);
    t.match(json(ok).user, { firstName: 'Ada', lastName: 'Byron', phone: '+1 555 0100' });
    assertProblem(t, await patch({ dateOfBirth: 'yesterday' }), 400, 'validation_failed');
    assertProblem(t, await patch({ lastName: 'X' }, {} as never), 401, 'unauthorized');

    // What the KYC issue will record when a document is verified.
    await f.store.append([
      {
        streamId: userStreamId(user.id),
        expectedVersion: 'exists',
        events: [
          {
            type: 'KycStatusChanged',
            data: { userId: user.id, at: new Date().toISOString(), status: 'verified' },
          },
        ],
      },
    ]);
    assertProblem(t, await patch({ lastName: 'Somebody' }), 422, 'profile_locked');
    assertProblem(t, await patch({ dateOfBirth: '1999-01-01' }), 422, 'profile_locked');
    const phone = await patch({ phone: '+1 555 0199' });
    t.equal(phone.statusCode, 200, 'the phone stays editable');
    t.equal(json(phone).user.kycStatus, 'verified');
  },
);

t.test('POST /refresh: new pair, old spent; reuse revokes the family; 401 invalid_token', async (t) => {
  const user = await newUser();
  const refresh = (refreshToken: string) => refreshRequest(app, refreshToken);
  const first = await refresh(user.refreshToken);
  t.equal(first.statusCode, 200, first.body);
  const pair = json(first);
  secrets.add(pair.accessToken);
  secrets.add(pair.refreshToken);
  t.match(pair, { accessToken: String, refreshToken: String, tokenType: 'Bearer', expiresIn: 3600 });
  t.not(pair.refreshToken, user.refreshToken);
  t.equal((await app.inject({ url: '/api/auth/me', headers: bearer(pair.accessToken) })).statusCode, 200);

  // The spent token again: an attacker (or the victim) replaying it. The family dies.
  assertProblem(t, await refresh(user.refreshToken), 401, 'invalid_token');
  assertProblem(t, await refresh(pair.refreshToken), 401, 'invalid_token');
  assertProblem(
    t,
    await app.inject({ url: '/api/auth/me', headers: bearer(pair.accessToken) }),
    401,
    'unauthorized',
  );
  const types = (await f.store.readStream(userStreamId(user.id))).map((e) => e.type);
  t.ok(types.includes('RefreshTokenReused'), 'reuse recorded');

  assertProblem(t, await refresh('rt_not-a-real-token-at-all-000000000000000000'), 401, 'invalid_token');
  assertProblem(t, await refresh('x'), 401, 'invalid_token');
  assertProblem(
    t,
    await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: {} }),
    400,
    'validation_failed',
  );
});

t.test(
  'POST /logout: 204; the access token and the refresh family stop at once; 401 without a token',
  async (t) => {
    const user = await newUser();
    const other = json(await login({ username: user.username, password: user.password }));
    const out = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: bearer(user.accessToken),
      payload: { refreshToken: other.refreshToken },
    });
    t.equal(out.statusCode, 204, out.body);
    assertProblem(
      t,
      await app.inject({ url: '/api/auth/me', headers: bearer(user.accessToken) }),
      401,
      'unauthorized',
    );
    for (const token of [user.refreshToken, other.refreshToken]) {
      assertProblem(t, await refreshRequest(app, token), 401, 'invalid_token');
    }
    assertProblem(
      t,
      await app.inject({ url: '/api/auth/me', headers: bearer(other.accessToken) }),
      401,
      'unauthorized',
    );
    assertProblem(t, await app.inject({ method: 'POST', url: '/api/auth/logout' }), 401, 'unauthorized');
    const fresh = await newUser();
    const bodiless = await app.inject({
      method: 'POST',
      url: '/api/auth/logout',
      headers: bearer(fresh.accessToken),
    });
    t.equal(bodiless.statusCode, 204, `no body is fine (${bodiless.body.slice(0, 300)})`);
  },
);

t.test('2FA: setup, enable, login needs the code, codes are single-use, disable', async (t) => {
  const user = await newUser();
  const auth = bearer(user.accessToken);
  assertProblem(t, await app.inject({ method: 'POST', url: '/api/auth/2fa/setup' }), 401, 'unauthorized');
  const setup = await app.inject({ method: 'POST', url: '/api/auth/2fa/setup', headers: auth });
  t.equal(setup.statusCode, 200, setup.body);
  const { secret, otpauthUrl } = json(setup);
  secrets.add(secret);
  t.match(otpauthUrl, /^otpauth:\/\/totp\//);
  t.match(otpauthUrl, `secret=${secret}`);

  const stored = JSON.stringify(await f.store.readStream(userStreamId(user.id)), (_k, v) =>
    typeof v === 'bigint' ? v.toString() : v,
  );
  t.notOk(stored.includes(secret), 'the event log does not hold the secret');
  t.match(stored, /"factorId":"[0-9a-f-]{36}"/, 'only its id in the vault');
  t.notMatch(stored, /"alg":"A256GCM"/, 'not even sealed');
  const factorId = /"factorId":"([0-9a-f-]{36})"/.exec(stored)![1]!;
  const kept = (await f.vault.credentials.get(user.id, factorId))!;
  t.notOk(kept.includes(secret), 'the vault keeps it sealed');
  t.match(kept, /"alg":"A256GCM"/);

  const at = (periods: number) => new Date(f.clock.now().getTime() + periods * 30_000);
  const wrong = async (now: Date) =>
    ((Number(await totpAt(secret, now)) + 1) % 1_000_000).toString().padStart(6, '0');
  const enable = (otp: string) =>
    app.inject({
      method: 'POST',
      url: '/api/auth/2fa/enable',
      headers: auth,
      payload: { otp, password: user.password },
    });
  assertProblem(t, await enable(await wrong(at(0))), 400, 'invalid_otp');
  assertProblem(t, await enable('12ab56'), 400, 'validation_failed');
  t.equal((await enable(await totpAt(secret, at(0)))).statusCode, 204);
  const me = json(await app.inject({ url: '/api/auth/me', headers: auth }));
  t.equal(me.user.twoFactorEnabled, true);

  const creds = { username: user.username, password: user.password };
  assertProblem(t, await login(creds), 401, 'otp_required');
  assertProblem(t, await login({ ...creds, otp: await wrong(at(0)) }), 401, 'invalid_otp');
  assertProblem(t, await login({ ...creds, otp: await totpAt(secret, at(0)) }), 401, 'invalid_otp');

  // The next period's code (a clock one step ahead is tolerated) works once.
  const next = await totpAt(secret, at(1));
  t.equal((await login({ ...creds, otp: next })).statusCode, 200);
  assertProblem(t, await login({ ...creds, otp: next }), 401, 'invalid_otp');
  assertProblem(
    t,
    await login({ username: user.username, password: 'wrong password 12', otp: next }),
    401,
    'invalid_credentials',
  );

  f.clock.offsetMs = 90_000;
  t.teardown(() => {
    f.clock.offsetMs = 0;
  });
  const disable = (otp: string) =>
    app.inject({
      method: 'POST',
      url: '/api/auth/2fa/disable',
      headers: auth,
      payload: { otp, password: user.password },
    });
  assertProblem(t, await disable(await wrong(f.clock.now())), 400, 'invalid_otp');
  t.equal((await disable(await totpAt(secret, f.clock.now()))).statusCode, 204);
  t.equal((await login(creds)).statusCode, 200, 'no code needed any more');
  const types = (await f.store.readStream(userStreamId(user.id))).map((e) => e.type);
  t.ok(types.includes('TwoFactorEnabled') && types.includes('TwoFactorDisabled'), '2FA changes recorded');
});

t.test('without Redis, logout revokes through the database just the same', async (t) => {
  const local = await f.newApp({ withoutRedis: true });
  const user = await newUser();
  const pair = json(await loginRequest(local, user.username, user.password));
  secrets.add(pair.accessToken);
  secrets.add(pair.refreshToken);
  t.equal((await local.inject({ url: '/api/auth/me', headers: bearer(pair.accessToken) })).statusCode, 200);
  t.equal(
    (await local.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(pair.accessToken) }))
      .statusCode,
    204,
  );
  assertProblem(
    t,
    await local.inject({ url: '/api/auth/me', headers: bearer(pair.accessToken) }),
    401,
    'unauthorized',
  );
  assertProblem(t, await refreshRequest(local, pair.refreshToken), 401, 'invalid_token');
  const [{ n }] = (await f.database.sql
    .kysely()
    .selectFrom('auth.revocations')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .execute()) as [{ n: string }];
  t.ok(Number(n) >= 2, 'jti and family recorded in auth.revocations');
});

// ------------------------------------------------------------------ attacks

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
function jwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  sign: (input: string) => string,
) {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign(input)}`;
}
const hmac = (secret: string) => (input: string) =>
  createHmac('sha256', secret).update(input).digest('base64url');

t.test('forged and stale access tokens are refused (401)', async (t) => {
  const user = await newUser();
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: user.id,
    role: 'director',
    jti: 'forged',
    iss: 'ledger',
    aud: 'ledger-api',
    iat: now,
    exp: now + 600,
  };
  const me = (token: string) => app.inject({ url: '/api/auth/me', headers: bearer(token) });

  t.equal(
    (await me(jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac(testJwtSecret)))).statusCode,
    200,
    'control: a well-signed token works',
  );
  const cases: Record<string, string> = {
    'alg none': jwt({ alg: 'none', typ: 'JWT' }, claims, () => ''),
    'alg None, signature kept': jwt({ alg: 'None', typ: 'JWT' }, claims, hmac(testJwtSecret)),
    // HS/RS confusion: RS256 in the header, "signed" with the HMAC secret used as a public key.
    'RS256 header, HMAC signature': jwt({ alg: 'RS256', typ: 'JWT' }, claims, hmac(testJwtSecret)),
    'HS512 with the right secret': jwt({ alg: 'HS512', typ: 'JWT' }, claims, (i) =>
      createHmac('sha512', testJwtSecret).update(i).digest('base64url'),
    ),
    'another secret': jwt(
      { alg: 'HS256', typ: 'JWT' },
      claims,
      hmac('another-secret-of-at-least-32-characters!!'),
    ),
    expired: jwt(
      { alg: 'HS256', typ: 'JWT' },
      { ...claims, iat: now - 7200, exp: now - 3600 },
      hmac(testJwtSecret),
    ),
    'wrong issuer': jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, iss: 'evil' }, hmac(testJwtSecret)),
    'wrong audience': jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, aud: 'other-api' }, hmac(testJwtSecret)),
    'no jti': jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, jti: undefined }, hmac(testJwtSecret)),
    'unknown user': jwt(
      { alg: 'HS256', typ: 'JWT' },
      { ...claims, sub: '00000000-0000-4000-8000-000000000000' },
      hmac(testJwtSecret),
    ),
    'tampered payload': (() => {
      const [h, , s] = user.accessToken.split('.');
      return `${h}.${b64({ ...claims, role: 'director' })}.${s}`;
    })(),
  };
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  cases['RS256 with a real RSA key'] = jwt({ alg: 'RS256', typ: 'JWT' }, claims, (i) =>
    rsaSign('sha256', Buffer.from(i), privateKey).toString('base64url'),
  );
  for (const [name, token] of Object.entries(cases)) {
    const response = await me(token);
    t.equal(response.statusCode, 401, name);
    t.equal(json(response).code, 'unauthorized', name);
  }
});

t.test('the role comes from the user, not from the token', async (t) => {
  const user = await newUser();
  const now = Math.floor(Date.now() / 1000);
  const token = jwt(
    { alg: 'HS256', typ: 'JWT' },
    { sub: user.id, role: 'director', jti: 'x1', iss: 'ledger', aud: 'ledger-api', iat: now, exp: now + 600 },
    hmac(testJwtSecret),
  );
  assertProblem(t, await app.inject({ url: '/api/admin/users', headers: bearer(token) }), 403, 'forbidden');
});

t.test(
  'a customer: 403 on admin routes, 403 PATCHing its own role, 404 for another customer’s resource',
  async (t) => {
    const user = await newUser();
    const other = await newUser();
    const auth = bearer(user.accessToken);
    assertProblem(t, await app.inject({ url: '/api/admin/users', headers: auth }), 403, 'forbidden');
    assertProblem(
      t,
      await app.inject({ method: 'POST', url: '/api/admin/users', headers: auth, payload: {} }),
      403,
      'forbidden',
    );
    assertProblem(
      t,
      await app.inject({
        method: 'PATCH',
        url: `/api/admin/users/${user.id}`,
        headers: auth,
        payload: { role: 'director' },
      }),
      403,
      'forbidden',
    );
    assertProblem(
      t,
      await app.inject({
        method: 'PATCH',
        url: '/api/auth/me',
        headers: auth,
        payload: { role: 'director' },
      }),
      403,
      'forbidden',
    );
    t.equal(json(await app.inject({ url: '/api/auth/me', headers: auth })).user.role, 'customer');

    t.equal(
      (await app.inject({ url: `/test/owned/${user.id}`, headers: auth })).statusCode,
      200,
      'own resource',
    );
    assertProblem(t, await app.inject({ url: `/test/owned/${other.id}`, headers: auth }), 404, 'not_found');
    assertProblem(t, await app.inject({ url: `/test/owned/${other.id}` }), 401, 'unauthorized');
  },
);

t.test('SQL and script injection in username/email: 400, or stored inert', async (t) => {
  const attacks = [
    "robert'); DROP TABLE es.events;--",
    "' OR '1'='1",
    '<script>alert(1)</script>',
    '"><img src=x onerror=alert(1)>',
  ];
  for (const attack of attacks) {
    assertProblem(t, (await register({ username: attack })).response, 400, 'validation_failed');
    assertProblem(t, (await register({ email: `${attack}@example.com` })).response, 400, 'validation_failed');
    for (const by of [{ username: attack }, { email: attack }]) {
      const response = await login({ ...by, password: 'whatever 123456' });
      t.ok([400, 401].includes(response.statusCode), `login refused (${response.statusCode})`);
    }
  }
  // Characters PostgreSQL refuses (NUL) and stream ids too long for the store: a 400, never a 500.
  assertProblem(
    t,
    await login({ username: 'a\u0000b', password: 'whatever 123456' }),
    400,
    'validation_failed',
  );
  assertProblem(t, (await register({ firstName: 'a\u0000b' })).response, 400, 'validation_failed');
  assertProblem(
    t,
    (
      await register({
        email: `${'a'.repeat(60)}@${'b'.repeat(50)}.${'c'.repeat(50)}.${'d'.repeat(50)}.${'e'.repeat(50)}.com`,
      })
    ).response,
    400,
    'validation_failed',
  );
  // Free-text fields take anything printable and give it back as data, unchanged.
  const { response } = await register({ firstName: attacks[0], lastName: attacks[2] });
  t.equal(response.statusCode, 201);
  t.match(json(response).user, { firstName: attacks[0], lastName: attacks[2] });
  t.match(response.headers['content-type'], /^application\/json/, 'served as JSON, never as HTML');
  t.ok((await f.store.headPosition()) > 0n, 'the event store is still there');
});

t.test('a 1 MB password: 400 without hashing; a body over the limit: 413', async (t) => {
  const hashes = f.counts.hash;
  const verifies = f.counts.verify;
  const huge = 'p'.repeat(1_000_000);
  const started = Date.now();
  const res = await register({ password: huge });
  assertProblem(t, res.response, 400, 'validation_failed');
  assertProblem(t, await login({ username: 'someone', password: huge }), 400, 'validation_failed');
  t.equal(f.counts.hash, hashes, 'nothing hashed');
  t.equal(f.counts.verify, verifies, 'nothing verified');
  t.ok(Date.now() - started < 5000, 'answered quickly');
  secrets.delete(huge);
  assertProblem(t, (await register({ password: 'p'.repeat(1_100_000) })).response, 413, 'payload_too_large');
});

t.test('GET /openapi.json documents every auth and admin route with its schemas', async (t) => {
  const doc = json(await app.inject({ url: '/openapi.json' }));
  for (const [path, method] of [
    ['/api/auth/register', 'post'],
    ['/api/auth/login', 'post'],
    ['/api/auth/refresh', 'post'],
    ['/api/auth/logout', 'post'],
    ['/api/auth/me', 'get'],
    ['/api/auth/me', 'patch'],
    ['/api/auth/2fa/setup', 'post'],
    ['/api/auth/2fa/enable', 'post'],
    ['/api/auth/2fa/disable', 'post'],
    ['/api/admin/users', 'get'],
    ['/api/admin/users', 'post'],
    ['/api/admin/users/{id}', 'patch'],
  ] as const) {
    t.ok(doc.paths?.[path]?.[method], `${method} ${path}`);
  }
  t.ok(doc.paths['/api/auth/register'].post.requestBody, 'register body documented');
});

t.test('no password, hash, token or OTP secret in the log', async (t) => {
  const text = f.log.text();
  t.ok(text.length > 1000, 'the log was captured');
  t.ok(secrets.size > 20, `${secrets.size} secrets collected`);
  for (const secret of secrets) {
    if (text.includes(secret)) t.fail(`a secret leaked into the log: ${secret.slice(0, 6)}…`);
  }
  t.notMatch(text, /\$2[aby]\$\d\d\$/, 'no bcrypt hash');
  t.notMatch(text, /rt_[A-Za-z0-9_-]{43}/, 'no refresh token');
  t.notMatch(text, /eyJ[A-Za-z0-9_-]+\.eyJ/, 'no JWT');
});
