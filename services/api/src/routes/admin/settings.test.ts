import { randomUUID } from 'node:crypto';
import { loadAccount, settingsStreamId, transferIdFor, transferStreamId } from '@ledger/application';
import { userStreamId } from '@ledger/contracts';
import { defaultLimitsText } from '@ledger/domain/settings';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { authFixture, bearer, json, strongPassword } from '../../auth/test-app.js';

// GET and PUT /api/admin/settings, and the limits they set on POST /api/transactions
// (transfer_amount_max, daily_debit_max, the unverified customer's cap → kyc_required),
// through app.inject() against real PostgreSQL and Redis.

const f = await authFixture('api_settings');
t.teardown(f.close);
const directorEnv = {
  BANK_DIRECTOR_USERNAME: 'chief',
  BANK_DIRECTOR_EMAIL: 'chief@bank.example',
  BANK_DIRECTOR_PASSWORD: 'director password 2026',
  RATE_LIMITS: JSON.stringify({ login: '1000/minute', register: '10000/hour', default: '100000/minute' }),
};
const app = await f.newApp({ env: directorEnv });

function assertProblem(t: Test, response: LightMyRequestResponse, status: number, code: string) {
  t.equal(response.statusCode, status, `status ${status} (${response.body.slice(0, 300)})`);
  t.match(response.headers['content-type'], /^application\/problem\+json/);
  t.match(json(response), { status, code });
}

async function login(username: string, password = strongPassword): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username, password },
  });
  if (response.statusCode !== 200) throw new Error(`login ${username}: ${response.body}`);
  return json(response).accessToken;
}

let n = 0;
interface User {
  id: string;
  token: string;
}

async function customer(kyc: boolean): Promise<User> {
  n++;
  const username = `cust${n}_${Date.now().toString(36)}`;
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { username, email: `${username}@example.com`, password: strongPassword },
  });
  const id = json(response).user.id as string;
  if (kyc) {
    await f.store.append([
      {
        streamId: userStreamId(id),
        expectedVersion: 'exists',
        events: [
          {
            type: 'KycStatusChanged',
            data: { userId: id, at: new Date().toISOString(), status: 'verified' },
          },
        ],
      },
    ]);
  }
  return { id, token: await login(username) };
}

const director = await login('chief', 'director password 2026');
async function staff(role: 'agent' | 'manager' | 'auditor'): Promise<User> {
  n++;
  const username = `${role}${n}_${Date.now().toString(36)}`;
  const response = await app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(director),
    payload: { username, email: `${username}@bank.example`, password: strongPassword, role },
  });
  if (response.statusCode !== 201) throw new Error(`staff: ${response.body}`);
  return { id: json(response).user.id, token: await login(username) };
}
const agent = await staff('agent');
const manager = await staff('manager');
const auditor = await staff('auditor');

const getSettings = (token: string) =>
  app.inject({ method: 'GET', url: '/api/admin/settings', headers: bearer(token) });
const putSettings = (token: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'PUT',
    url: '/api/admin/settings',
    headers: { ...bearer(token), ...headers },
    payload: payload as Record<string, unknown>,
  });
const settingsEvents = () => f.store.readStream(settingsStreamId);

const post = (url: string, token: string, payload: unknown, key: string = randomUUID()) =>
  app.inject({
    method: 'POST',
    url,
    headers: { ...bearer(token), 'idempotency-key': key },
    payload: payload as Record<string, unknown>,
  });

async function openAccount(user: User) {
  const response = await app.inject({
    method: 'POST',
    url: '/api/accounts',
    headers: bearer(user.token),
    payload: { type: 'checking', currency: 'EUR' },
  });
  if (response.statusCode !== 201) throw new Error(`open: ${response.body}`);
  return json(response).account.id as string;
}

async function deposit(accountId: string, amount: string) {
  const response = await post('/api/transactions', agent.token, {
    type: 'deposit',
    accountId,
    amount,
    currency: 'EUR',
  });
  if (response.statusCode !== 201) throw new Error(`deposit: ${response.body}`);
}

/** A funded account of a new customer, and somewhere to send to. */
async function funded(kyc: boolean, amount = '1000.00') {
  const user = await customer(kyc);
  const from = await openAccount(user);
  const to = await openAccount(await customer(true));
  await deposit(from, amount);
  return { user, from, to };
}

const transfer = (
  user: User,
  from: string,
  to: string,
  amount: string,
  extra: object = {},
  key: string = randomUUID(),
) =>
  post(
    '/api/transactions',
    user.token,
    {
      type: 'transfer',
      fromAccountId: from,
      toAccountId: to,
      amount,
      currency: 'EUR',
      ...extra,
    },
    key,
  );

/** A refused transfer wrote nothing: no transfer stream, the account stream as it was. */
async function refusedWithNothingWritten(
  t: Test,
  user: User,
  from: string,
  send: (key: string) => Promise<LightMyRequestResponse>,
  code: string,
) {
  const before = await loadAccount(f.store, from);
  const key: string = randomUUID();
  const response = await send(key);
  assertProblem(t, response, 422, code);
  t.same(await f.store.readStream(transferStreamId(transferIdFor(user.id, key))), [], 'no transfer stream');
  t.equal((await loadAccount(f.store, from)).version, before.version, 'the account stream is unchanged');
  return json(response);
}

const eurLimits = { transferAmountMax: '100.00', dailyDebitMax: '300.00', unverifiedDailyDebitMax: '50.00' };

t.test('GET /settings: defaults for the director and the auditor, no one else', async (t) => {
  const response = await getSettings(director);
  t.equal(response.statusCode, 200, response.body);
  t.equal(response.headers.etag, '"0"');
  const body = json(response);
  t.same(body, {
    settings: { limits: defaultLimitsText, fees: {}, ruleThresholds: {} },
    version: '0',
    changedAt: null,
    position: null,
  });
  t.equal((await getSettings(auditor.token)).statusCode, 200);
  assertProblem(t, await getSettings(manager.token), 403, 'forbidden');
  assertProblem(t, await getSettings(agent.token), 403, 'forbidden');
  assertProblem(t, await getSettings((await customer(true)).token), 403, 'forbidden');
  assertProblem(t, await app.inject({ method: 'GET', url: '/api/admin/settings' }), 401, 'unauthorized');
});

t.test('PUT /settings: director only; bad bodies are 400 and write nothing', async (t) => {
  const user = await customer(true);
  for (const [who, token] of [
    ['manager', manager.token],
    ['agent', agent.token],
    ['auditor', auditor.token],
    ['customer', user.token],
  ] as const) {
    assertProblem(t, await putSettings(token, { limits: { EUR: eurLimits } }), 403, 'forbidden');
    t.same(await settingsEvents(), [], `nothing written by the ${who}`);
  }
  const cases: [string, unknown, string][] = [
    ['an unknown currency', { limits: { XYZ: eurLimits } }, 'body.limits'],
    [
      'a negative amount',
      { limits: { EUR: { ...eurLimits, dailyDebitMax: '-5' } } },
      'body.limits.EUR.dailyDebitMax',
    ],
    [
      'a JSON number',
      { limits: { EUR: { ...eurLimits, dailyDebitMax: 300.5 } } },
      'body.limits.EUR.dailyDebitMax',
    ],
    [
      'an exponent',
      { limits: { EUR: { ...eurLimits, transferAmountMax: '1e3' } } },
      'body.limits.EUR.transferAmountMax',
    ],
    [
      'too many decimals',
      { limits: { EUR: { ...eurLimits, transferAmountMax: '1.234' } } },
      'body.limits.EUR.transferAmountMax',
    ],
    [
      'zero per transfer',
      { limits: { EUR: { ...eurLimits, transferAmountMax: '0' } } },
      'body.limits.EUR.transferAmountMax',
    ],
    [
      'over 999999999999999.99',
      { limits: { EUR: { ...eurLimits, dailyDebitMax: '1000000000000000.00' } } },
      'body.limits.EUR.dailyDebitMax',
    ],
    [
      'a missing limit',
      { limits: { EUR: { transferAmountMax: '1.00', dailyDebitMax: '2.00' } } },
      'body.limits.EUR.unverifiedDailyDebitMax',
    ],
    ['an unknown limit', { limits: { EUR: { ...eurLimits, weekly: '1.00' } } }, 'body.limits.EUR'],
    [
      'per transfer above the daily limit',
      { limits: { EUR: { ...eurLimits, transferAmountMax: '300.01' } } },
      'body.limits.EUR.transferAmountMax',
    ],
    [
      'unverified above the daily limit',
      { limits: { EUR: { ...eurLimits, unverifiedDailyDebitMax: '300.01' } } },
      'body.limits.EUR.unverifiedDailyDebitMax',
    ],
    ['a fee that does not exist yet', { limits: {}, fees: { wire: '1.00' } }, 'body.fees'],
    ['no limits', {}, 'body.limits'],
    ['an unknown field', { limits: {}, colour: 'red' }, 'body'],
  ];
  for (const [what, payload, path] of cases) {
    const response = await putSettings(director, payload);
    assertProblem(t, response, 400, 'validation_failed');
    t.ok(
      (json(response).errors as { path: string }[]).some((e) => e.path.startsWith(path)),
      `${what}: an error at ${path} (${response.body.slice(0, 300)})`,
    );
  }
  t.same(await settingsEvents(), [], 'nothing written');
});

t.test('PUT /settings by the director: 200 with the settings and position; If-Match', async (t) => {
  const before = json(await getSettings(director));
  const response = await putSettings(
    director,
    { limits: { EUR: eurLimits } },
    { 'if-match': `"${before.version}"` },
  );
  t.equal(response.statusCode, 200, response.body);
  const body = json(response);
  t.match(body, { settings: { limits: { EUR: eurLimits, USD: defaultLimitsText.USD } }, version: '1' });
  t.equal(response.headers.etag, '"1"');
  const events = await settingsEvents();
  t.equal(events.length, 1);
  t.equal(body.position, events[0]!.globalPosition.toString());
  const data = events[0]!.data as { settings: { limits: Record<string, unknown> }; at: string };
  t.same(
    data.settings.limits.EUR,
    { transferAmountMax: '10000', dailyDebitMax: '30000', unverifiedDailyDebitMax: '5000' },
    'minor units in the event',
  );
  t.same(Object.keys(data.settings.limits).sort(), Object.keys(defaultLimitsText).sort(), 'every currency');
  t.equal(data.at, body.changedAt);
  t.equal(
    events[0]!.metadata.actorId,
    json(await app.inject({ url: '/api/auth/me', headers: bearer(director) })).user.id,
  );
  t.same(json(await getSettings(auditor.token)), body, 'GET reads what PUT wrote');
  // The same again: nothing new recorded, the same position.
  const again = await putSettings(director, { limits: { EUR: eurLimits } });
  t.same(json(again), body);
  t.equal((await settingsEvents()).length, 1);
  // A stale If-Match (another director changed them since) is 412, and writes nothing.
  assertProblem(
    t,
    await putSettings(director, { limits: {} }, { 'if-match': '"0"' }),
    412,
    'precondition_failed',
  );
  assertProblem(
    t,
    await putSettings(director, { limits: {} }, { 'if-match': 'W/"1"' }),
    400,
    'validation_failed',
  );
  t.equal((await settingsEvents()).length, 1);
});

t.test(
  'a transfer above transferAmountMax: 422 limit_exceeded naming the limit, nothing written',
  async (t) => {
    const { user, from, to } = await funded(true);
    const problem = await refusedWithNothingWritten(
      t,
      user,
      from,
      (key) => transfer(user, from, to, '100.01', {}, key),
      'limit_exceeded',
    );
    t.match(problem, { limit: 'transfer_amount_max', max: '100.00', currency: 'EUR' });
    t.equal((await transfer(user, from, to, '100.00')).statusCode, 201, 'the limit itself is allowed');
  },
);

t.test('the daily limit counts what left today, holds included', async (t) => {
  const { user, from, to } = await funded(true);
  t.equal((await transfer(user, from, to, '100.00')).statusCode, 201);
  t.equal((await transfer(user, from, to, '100.00', { mode: 'pending' })).statusCode, 201);
  t.equal((await transfer(user, from, to, '99.99')).statusCode, 201);
  const problem = await refusedWithNothingWritten(
    t,
    user,
    from,
    (key) => transfer(user, from, to, '0.02', {}, key),
    'limit_exceeded',
  );
  t.match(problem, { limit: 'daily_debit_max', max: '300.00', currency: 'EUR' });
  t.equal((await transfer(user, from, to, '0.01')).statusCode, 201, 'up to the limit exactly');
  // Cash at the desk is not a customer transfer: not limited.
  const withdrawal = await post('/api/transactions', agent.token, {
    type: 'withdrawal',
    accountId: from,
    amount: '150.00',
    currency: 'EUR',
  });
  t.equal(withdrawal.statusCode, 201, withdrawal.body);
});

t.test('KYC: an unverified customer is held to unverifiedDailyDebitMax (422 kyc_required)', async (t) => {
  const { user, from, to } = await funded(false);
  t.equal((await transfer(user, from, to, '30.00')).statusCode, 201);
  const problem = await refusedWithNothingWritten(
    t,
    user,
    from,
    (key) => transfer(user, from, to, '20.01', {}, key),
    'kyc_required',
  );
  t.match(problem, { limit: 'unverified_daily_debit_max', max: '50.00', currency: 'EUR' });
  t.equal((await transfer(user, from, to, '20.00')).statusCode, 201, 'up to the cap');
  // Over the per-transfer limit, verifying would not help: that one is named instead.
  await refusedWithNothingWritten(
    t,
    user,
    from,
    (key) => transfer(user, from, to, '100.01', {}, key),
    'limit_exceeded',
  );

  // A verified customer is held to dailyDebitMax only.
  const verified = await funded(true);
  const ok = await transfer(verified.user, verified.from, verified.to, '100.00');
  t.equal(ok.statusCode, 201, ok.body);
  t.equal((await transfer(verified.user, verified.from, verified.to, '60.00')).statusCode, 201);
});
