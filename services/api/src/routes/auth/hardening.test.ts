import {
  bearer,
  json,
  ledgerHarness,
  loginRequest,
  refreshRequest,
  strongPassword,
  totpAt,
} from '@ledger/api/testing';
import { findUserId } from '@ledger/application';
import { userStreamId } from '@ledger/contracts';
import t from 'tap';

// Issue #12 over HTTP: rank, lockout as a weapon, 2FA with the password and recovery codes,
// password change, free text, params before ownership, Cache-Control.

const h = await ledgerHarness(t, 'api_hardening', { roles: ['agent', 'manager', 'auditor'] });
const { app, f, assertProblem, login, customer, staff, post, get } = h;

const patchUser = (token: string, id: string, body: Record<string, unknown>) =>
  app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(token), payload: body });
const chiefId = await findUserId(f, { username: 'chief' });
if (chiefId === null) throw new Error('the first director is missing');

/** A second director, made by the first. */
async function director() {
  const { response, username } = await h.createStaff('director');
  if (response.statusCode !== 201) throw new Error(`director: ${response.body}`);
  return { id: json(response).user.id as string, username, token: await login(username) };
}

t.test('rank: managers lock customers and agents only; directors anyone but themselves', async (t) => {
  const manager = h.roles.manager;
  const [victimCustomer, agent, otherManager, auditor, otherDirector] = [
    await customer(),
    await staff('agent'),
    await staff('manager'),
    await staff('auditor'),
    await director(),
  ];
  t.equal((await patchUser(manager.token, victimCustomer.id, { locked: true })).statusCode, 200);
  t.equal((await patchUser(manager.token, agent.id, { locked: true })).statusCode, 200);
  for (const target of [otherManager, auditor, otherDirector, { id: chiefId }]) {
    assertProblem(t, await patchUser(manager.token, target.id, { locked: true }), 403, 'insufficient_rank');
  }
  const lockedBefore = (await f.store.readStream(userStreamId(otherManager.id))).length;
  assertProblem(
    t,
    await patchUser(manager.token, otherManager.id, { locked: false }),
    403,
    'insufficient_rank',
  );
  t.equal((await f.store.readStream(userStreamId(otherManager.id))).length, lockedBefore, 'nothing written');
  for (const target of [otherManager, auditor, otherDirector]) {
    t.equal(
      (await patchUser(h.director, target.id, { locked: true })).statusCode,
      200,
      'director locks staff',
    );
  }
  assertProblem(t, await patchUser(h.director, chiefId, { locked: true }), 403, 'insufficient_rank');
  // An agent may not lock at all (the route's policy), before any rank question.
  assertProblem(
    t,
    await patchUser(h.roles.agent.token, victimCustomer.id, { locked: true }),
    403,
    'forbidden',
  );
});

t.test('a lock by staff ends every session: access and refresh tokens, also after the unlock', async (t) => {
  const user = await customer();
  const pair = json(await loginRequest(app, user.username, strongPassword));
  t.equal((await patchUser(h.roles.manager.token, user.id, { locked: true })).statusCode, 200);
  t.equal((await patchUser(h.roles.manager.token, user.id, { locked: false })).statusCode, 200);
  for (const token of [user.token, pair.accessToken]) {
    assertProblem(t, await get('/api/auth/me', token), 401, 'unauthorized');
  }
  assertProblem(t, await refreshRequest(app, pair.refreshToken), 401, 'invalid_token');
  t.equal((await get('/api/auth/me', await login(user.username))).statusCode, 200, 'a new login works');
});

t.test('lockout as a weapon: five wrong passwords stop new logins, not open sessions', async (t) => {
  const user = await customer();
  for (let i = 0; i < 5; i++) {
    const wrong = await loginRequest(app, user.username, 'not the password');
    assertProblem(t, wrong, 401, 'invalid_credentials');
  }
  assertProblem(t, await loginRequest(app, user.username, strongPassword), 423, 'account_locked');
  t.equal((await get('/api/auth/me', user.token)).statusCode, 200, 'the open session goes on');
  const account = await h.openAccount(user);
  t.equal((await get(`/api/accounts/${account.id}/balance`, user.token)).statusCode, 200);
});

async function withTwoFactor() {
  const user = await customer();
  const setup = json(await post('/api/auth/2fa/setup', user.token, undefined, null));
  const enable = (body: Record<string, unknown>) => post('/api/auth/2fa/enable', user.token, body, null);
  assertProblemOutside(await enable({ otp: await totpAt(setup.secret, new Date()) }), 400);
  const ok = await enable({ otp: await totpAt(setup.secret, new Date()), password: strongPassword });
  if (ok.statusCode !== 204) throw new Error(`enable: ${ok.body}`);
  return { ...user, secret: setup.secret as string };
}
function assertProblemOutside(response: { statusCode: number; body: string }, status: number) {
  if (response.statusCode !== status) throw new Error(`expected ${status}: ${response.body}`);
}

t.test('2FA: enable and disable need the password; wrong ones count as failed logins', async (t) => {
  const user = await customer();
  const setup = json(await post('/api/auth/2fa/setup', user.token, undefined, null));
  const code = await totpAt(setup.secret, new Date());
  // A stolen access token alone cannot enroll the thief's authenticator.
  assertProblem(
    t,
    await post('/api/auth/2fa/enable', user.token, { otp: code }, null),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await post('/api/auth/2fa/enable', user.token, { otp: code, password: 'a guessed password' }, null),
    401,
    'invalid_credentials',
  );
  t.equal(
    (await post('/api/auth/2fa/enable', user.token, { otp: code, password: strongPassword }, null))
      .statusCode,
    204,
  );

  // Wrong codes at /2fa/disable: audited, counted; the fifth failure locks; then 423.
  const disable = (otp: string) =>
    post('/api/auth/2fa/disable', user.token, { otp, password: strongPassword }, null);
  // The guessed password at /2fa/enable was the first failure; three wrong codes and a wrong
  // password at /2fa/disable make five.
  for (let i = 0; i < 3; i++) assertProblem(t, await disable('000000'), 400, 'invalid_otp');
  assertProblem(
    t,
    await post('/api/auth/2fa/disable', user.token, { otp: '000000', password: 'wrong password x' }, null),
    401,
    'invalid_credentials',
  );
  const events = await f.store.readStream(userStreamId(user.id));
  const failures = events.filter((e) => e.type === 'LoginFailed').map((e) => e.data);
  t.equal(failures.length, 5);
  t.match(failures[0], { reason: 'invalid_credentials', during: 'two_factor_enable' });
  t.match(failures[1], { reason: 'invalid_otp', during: 'two_factor_disable' });
  t.match(failures[4], { reason: 'invalid_credentials', during: 'two_factor_disable' });
  t.ok(
    events.some((e) => e.type === 'UserLocked'),
    'locked',
  );
  assertProblem(t, await disable(await totpAt(setup.secret, new Date())), 423, 'account_locked');
  assertProblem(
    t,
    await app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: {
        username: user.username,
        password: strongPassword,
        otp: await totpAt(setup.secret, new Date()),
      },
    }),
    423,
    'account_locked',
  );
  t.equal((await get('/api/auth/me', user.token)).statusCode, 200, 'the session itself goes on');
});

t.test('2FA recovery codes: ten, hashed at rest, each logs in once', async (t) => {
  const user = await withTwoFactor();
  const later = new Date(Date.now() + 30_000);
  const generate = (body: Record<string, unknown>) =>
    post('/api/auth/2fa/recovery-codes', user.token, body, null);
  assertProblem(
    t,
    await generate({ otp: await totpAt(user.secret, later), password: 'wrong one here' }),
    401,
    'invalid_credentials',
  );
  const response = await generate({ otp: await totpAt(user.secret, later), password: strongPassword });
  t.equal(response.statusCode, 200, response.body);
  t.equal(response.headers['cache-control'], 'no-store');
  const codes: string[] = json(response).recoveryCodes;
  t.equal(codes.length, 10);
  t.equal(new Set(codes).size, 10);
  for (const code of codes) t.match(code, /^[a-z2-9]{5}-[a-z2-9]{5}$/);
  const stored = await f.database.db
    .withSchema('auth')
    .selectFrom('recovery_codes')
    .select('code_hash')
    .where('user_id', '=', user.id)
    .execute();
  t.equal(stored.length, 10);
  const storedText = JSON.stringify(stored);
  for (const code of codes) t.notOk(storedText.includes(code.replace('-', '')), 'only hashes are kept');
  const log = JSON.stringify(await f.store.readStream(userStreamId(user.id)), (_k, v) =>
    typeof v === 'bigint' ? v.toString() : v,
  );
  for (const code of codes) t.notOk(log.includes(code), 'no code in the event log');

  const loginWith = (recoveryCode: string, password = strongPassword) =>
    app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: user.username, password, recoveryCode },
    });
  assertProblem(t, await loginWith(codes[0]!, 'wrong password here'), 401, 'invalid_credentials');
  const first = await loginWith(codes[0]!.toUpperCase());
  t.equal(first.statusCode, 200, `a code logs in (any case): ${first.body}`);
  assertProblem(t, await loginWith(codes[0]!), 401, 'invalid_otp');
  assertProblem(t, await loginWith('aaaaa-bbbbb'), 401, 'invalid_otp');
  t.equal((await loginWith(codes[1]!)).statusCode, 200, 'another code still works');
  const events = (await f.store.readStream(userStreamId(user.id))).map((e) => e.type);
  t.ok(events.includes('RecoveryCodesGenerated'));
});

t.test('POST /api/auth/password: current password, policy, and every session ends', async (t) => {
  const user = await customer();
  const pair = json(await loginRequest(app, user.username, strongPassword));
  const change = (body: Record<string, unknown>, token = user.token) =>
    app.inject({ method: 'POST', url: '/api/auth/password', headers: bearer(token), payload: body });
  const newPassword = 'a brand new passphrase';
  assertProblem(
    t,
    await change({ currentPassword: 'not my password', newPassword }),
    401,
    'invalid_credentials',
  );
  assertProblem(
    t,
    await change({ currentPassword: strongPassword, newPassword: 'short' }),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await change({ currentPassword: strongPassword, newPassword: 'é'.repeat(37) }),
    400,
    'validation_failed',
  );
  t.ok(user.username.length >= 12, 'the username alone would pass the length rule');
  assertProblem(
    t,
    await change({ currentPassword: strongPassword, newPassword: user.username.toUpperCase() }),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await change({ currentPassword: strongPassword, newPassword: `${user.username}@example.com` }),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await change({ currentPassword: strongPassword, newPassword }, 'not a token'),
    401,
    'unauthorized',
  );

  const changed = await change({ currentPassword: strongPassword, newPassword });
  t.equal(changed.statusCode, 204, changed.body);
  for (const token of [user.token, pair.accessToken]) {
    assertProblem(t, await get('/api/auth/me', token), 401, 'unauthorized');
  }
  assertProblem(t, await refreshRequest(app, pair.refreshToken), 401, 'invalid_token');
  await t.rejects(login(user.username, strongPassword), 'the old password no longer works');
  t.equal((await get('/api/auth/me', await login(user.username, newPassword))).statusCode, 200);
  const types = (await f.store.readStream(userStreamId(user.id))).map((e) => e.type);
  t.ok(types.includes('PasswordChanged'));
});

t.test('passwords over 72 bytes or equal to the username or email: 400 at registration', async (t) => {
  const register = (payload: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/api/auth/register', payload });
  // 37 two-byte letters: 37 characters (under 128) but 74 bytes, which bcrypt would cut to 72.
  assertProblem(
    t,
    await register({ username: 'long_pw_user', email: 'long@example.com', password: 'é'.repeat(37) }),
    400,
    'validation_failed',
  );
  t.equal(
    (await register({ username: 'pw72_user', email: 'pw72@example.com', password: 'é'.repeat(36) }))
      .statusCode,
    201,
    '72 bytes is fine',
  );
  assertProblem(
    t,
    await register({ username: 'same_as_name_1', email: 'same@example.com', password: 'SAME_AS_NAME_1' }),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await register({
      username: 'same_as_mail',
      email: 'same.as.mail@example.com',
      password: 'same.as.mail@example.com',
    }),
    400,
    'validation_failed',
  );
});

t.test('free text: NUL, lone surrogates, controls and bidi overrides are 400, never 500', async (t) => {
  const user = await customer(false); // KYC not verified: the name may still change
  const account = await h.openAccount(user);
  await h.deposit(account.id, '100.00');
  const other = await h.openAccount(await customer());
  const bad = ['a\u0000b', 'a\u0007b', 'line\nbreak', 'abc\u202Egnp.exe', 'x\u2066y', 'c1\u0085here'];
  for (const text of bad) {
    const label = JSON.stringify(text);
    assertProblem(
      t,
      await app.inject({
        method: 'PATCH',
        url: '/api/auth/me',
        headers: bearer(user.token),
        payload: { firstName: text },
      }),
      400,
      'validation_failed',
    );
    assertProblem(
      t,
      await post('/api/transactions', user.token, {
        type: 'transfer',
        fromAccountId: account.id,
        toAccountId: other.id,
        amount: '1.00',
        currency: 'EUR',
        reference: text,
      }),
      400,
      'validation_failed',
    );
    assertProblem(
      t,
      await post(`/api/accounts/${other.id}/freeze`, h.roles.manager.token, { reason: text }, null),
      400,
      'validation_failed',
    );
    t.pass(`refused ${label}`);
  }
  // A lone surrogate arrives as a JSON escape: JSON.parse makes it, PostgreSQL would refuse it.
  const lone = await app.inject({
    method: 'PATCH',
    url: '/api/auth/me',
    headers: { ...bearer(user.token), 'content-type': 'application/json' },
    payload: '{"lastName":"abc\\ud800def"}',
  });
  assertProblem(t, lone, 400, 'validation_failed');
  const balance = json(await get(`/api/accounts/${account.id}/balance`, user.token));
  t.equal(balance.balance, '100.00', 'no transfer was made by a refused request');
  const me = json(await get('/api/auth/me', user.token));
  t.equal(me.user.firstName, null, 'no name was stored');
  // Ordinary text in any script is fine.
  const fine = await app.inject({
    method: 'PATCH',
    url: '/api/auth/me',
    headers: bearer(user.token),
    payload: { firstName: 'Zoë', lastName: 'بن علي' },
  });
  t.equal(fine.statusCode, 200, fine.body);
});

t.test('route params are validated before any ownership lookup', async (t) => {
  const user = await customer();
  for (const url of [
    '/api/accounts/%00/balance',
    '/api/accounts/%00',
    '/api/accounts/not-a-uuid/transactions',
    '/api/transactions/%00',
  ]) {
    const response = await get(url, user.token);
    t.not(response.statusCode, 500, url);
    assertProblem(t, response, 400, 'validation_failed');
  }
  assertProblem(t, await post('/api/transactions/%00/void', user.token, undefined), 400, 'validation_failed');
});

t.test('Cache-Control: no-store on tokens, balances, statements and personal data', async (t) => {
  const user = await customer();
  const account = await h.openAccount(user);
  const loginResponse = await loginRequest(app, user.username, strongPassword);
  const refreshResponse = await refreshRequest(app, json(loginResponse).refreshToken);
  for (const [what, response] of [
    ['login', loginResponse],
    ['refresh', refreshResponse],
    ['me', await get('/api/auth/me', user.token)],
    ['balance', await get(`/api/accounts/${account.id}/balance`, user.token)],
    ['statement', await get(`/api/accounts/${account.id}/transactions`, user.token)],
    ['account', await get(`/api/accounts/${account.id}`, user.token)],
    ['a 404', await get(`/api/accounts/${crypto.randomUUID()}`, user.token)],
  ] as const) {
    t.equal(response.headers['cache-control'], 'no-store', what);
  }
});
