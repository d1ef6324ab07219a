import { randomUUID } from 'node:crypto';
import { bankAccountId, loadTransfer, transferIdFor } from '@ledger/application';
import { userStreamId } from '@ledger/contracts';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { runProjection } from '@ledger/readmodel';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';
import { authFixture, bearer, json, strongPassword } from '../../auth/test-app.js';

// API.md Transactions, `type:"external"`: a hold to the bank's clearing account, pending
// until the clearing rail (services/worker) settles or returns it. Real PostgreSQL.

const f = await authFixture('api_external');
t.teardown(f.close);
const directorEnv = {
  BANK_DIRECTOR_USERNAME: 'chief',
  BANK_DIRECTOR_EMAIL: 'chief@bank.example',
  BANK_DIRECTOR_PASSWORD: 'director password 2026',
  RATE_LIMITS: JSON.stringify({ login: '1000/minute', register: '10000/hour', default: '100000/minute' }),
};
const app = await f.newApp({ env: directorEnv });
const runners = [accountsProjection, transactionsProjection].map((projection) =>
  runProjection({ db: f.database.db, store: f.store, projection, logger: f.logger }),
);
t.teardown(() => Promise.all(runners.map((r) => r.stop())));

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

async function customer(kyc = true): Promise<User> {
  n++;
  const username = `ext${n}_${Date.now().toString(36)}`;
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { username, email: `${username}@example.com`, password: strongPassword },
  });
  const id = json(response).user.id as string;
  // What the KYC issue records when a document is verified.
  if (kyc)
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
  return { id, token: await login(username) };
}

const director = await login('chief', 'director password 2026');
async function staff(role: 'agent' | 'manager'): Promise<User> {
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

const post = (url: string, token: string, payload?: unknown, key: string | null = randomUUID()) =>
  app.inject({
    method: 'POST',
    url,
    headers: { ...bearer(token), ...(key === null ? {} : { 'idempotency-key': key }) },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: bearer(token) });

async function openAccount(user: User, currency = 'EUR') {
  const response = await post('/api/accounts', user.token, { type: 'checking', currency }, null);
  if (response.statusCode !== 201) throw new Error(`open: ${response.body}`);
  return json(response).account as { id: string; accountNumber: string; currency: string };
}

async function deposit(accountId: string, amount: string, currency = 'EUR') {
  const response = await post('/api/transactions', agent.token, {
    type: 'deposit',
    accountId,
    amount,
    currency,
  });
  if (response.statusCode !== 201) throw new Error(`deposit: ${response.body}`);
}

const payee = { iban: 'GB82 WEST 1234 5698 7654 32', name: 'Dana Payee' };
const external = (user: User, body: Record<string, unknown>, key: string | null = randomUUID()) =>
  post(
    '/api/transactions',
    user.token,
    { type: 'external', currency: 'EUR', beneficiary: payee, amount: '10.00', ...body },
    key,
  );

t.test('201 pending: a hold from the owner’s account to the clearing account', async (t) => {
  const ann = await customer();
  const from = await openAccount(ann);
  await deposit(from.id, '100.00');
  const key = randomUUID();
  const response = await external(
    ann,
    { fromAccountId: from.id, amount: '25.50', reference: 'invoice 7' },
    key,
  );
  t.equal(response.statusCode, 201, response.body);
  const { transaction, position } = json(response);
  t.match(transaction, {
    id: transferIdFor(ann.id, key),
    type: 'external',
    status: 'pending',
    fromAccountId: from.id,
    toAccountId: bankAccountId('EUR', 'clearing'),
    amount: '25.50',
    postedAmount: null,
    currency: 'EUR',
    reference: 'invoice 7',
    beneficiary: { iban: 'GB82WEST12345698765432', name: 'Dana Payee' },
  });
  // The beneficiary is recorded in the transfer's data, IBAN normalised.
  const { state } = await loadTransfer(f.store, transaction.id);
  t.match(state, { status: 'pending', beneficiary: { iban: 'GB82WEST12345698765432', name: 'Dana Payee' } });
  const balance = json(await get(`/api/accounts/${from.id}?minPosition=${position}`, ann.token)).account;
  t.match(balance, { balance: '100.00', availableBalance: '74.50', pendingDebits: '25.50' });
  const read = json(await get(`/api/transactions/${transaction.id}?minPosition=${position}`, ann.token));
  t.match(read.transaction, {
    status: 'pending',
    type: 'external',
    beneficiary: { iban: 'GB82WEST12345698765432', name: 'Dana Payee' },
  });
  const list = json(await get(`/api/transactions?accountId=${from.id}&minPosition=${position}`, ann.token));
  t.match(list.items[0], { id: transaction.id, beneficiary: { name: 'Dana Payee' } });

  t.test('Idempotency-Key: same body, same answer; another body (the payee too) 409', async (t) => {
    const body = { fromAccountId: from.id, amount: '25.50', reference: 'invoice 7' };
    const again = await external(ann, body, key);
    t.equal(again.statusCode, 201);
    t.equal(again.body, response.body, 'the very same answer');
    // The IBAN is compared normalised: the same account written without spaces is the same body.
    const compact = await external(
      ann,
      { ...body, beneficiary: { ...payee, iban: 'GB82WEST12345698765432' } },
      key,
    );
    t.equal(compact.body, response.body);
    const head = await f.store.lastWrittenPosition();
    assertProblem(t, await external(ann, { ...body, amount: '25.51' }, key), 409, 'idempotency_conflict');
    assertProblem(
      t,
      await external(ann, { ...body, beneficiary: { ...payee, name: 'Someone Else' } }, key),
      409,
      'idempotency_conflict',
    );
    assertProblem(
      t,
      await external(ann, { ...body, beneficiary: { ...payee, iban: 'DE89370400440532013000' } }, key),
      409,
      'idempotency_conflict',
    );
    t.equal(await f.store.lastWrittenPosition(), head, 'nothing written');
  });

  t.test('only the clearing rail settles or returns it: post and void by hand are 403', async (t) => {
    const head = await f.store.lastWrittenPosition();
    for (const user of [ann, manager]) {
      assertProblem(
        t,
        await post(`/api/transactions/${transaction.id}/post`, user.token, {}),
        403,
        'forbidden',
      );
      assertProblem(t, await post(`/api/transactions/${transaction.id}/void`, user.token), 403, 'forbidden');
    }
    t.equal(await f.store.lastWrittenPosition(), head, 'nothing written');
    t.match((await loadTransfer(f.store, transaction.id)).state, { status: 'pending' });
  });
});

t.test('bad input: each refused with its code, nothing written', async (t) => {
  const bea = await customer();
  const from = await openAccount(bea);
  const usd = await openAccount(bea, 'USD');
  await deposit(from.id, '50.00');
  const other = await customer();
  const ok = { fromAccountId: from.id };
  const cases: [string, Record<string, unknown>, number, string, (string | null)?][] = [
    [
      'IBAN check digits',
      { ...ok, beneficiary: { ...payee, iban: 'GB82WEST12345698765433' } },
      400,
      'validation_failed',
    ],
    [
      'IBAN swapped digits',
      { ...ok, beneficiary: { ...payee, iban: 'GB82WEST12345698765423' } },
      400,
      'validation_failed',
    ],
    ['IBAN malformed', { ...ok, beneficiary: { ...payee, iban: 'not an iban' } }, 400, 'validation_failed'],
    ['IBAN too short', { ...ok, beneficiary: { ...payee, iban: 'GB82WEST1234' } }, 400, 'validation_failed'],
    ['IBAN missing', { ...ok, beneficiary: { name: 'Dana' } }, 400, 'validation_failed'],
    ['name empty', { ...ok, beneficiary: { ...payee, name: '' } }, 400, 'validation_failed'],
    ['name blank', { ...ok, beneficiary: { ...payee, name: '   ' } }, 400, 'validation_failed'],
    [
      'name of 141 characters',
      { ...ok, beneficiary: { ...payee, name: 'x'.repeat(141) } },
      400,
      'validation_failed',
    ],
    ['beneficiary missing', { ...ok, beneficiary: undefined }, 400, 'validation_failed'],
    ['an unknown field', { ...ok, toAccountId: from.id }, 400, 'validation_failed'],
    ['a JSON number', { ...ok, amount: 10 }, 400, 'validation_failed'],
    ['zero', { ...ok, amount: '0' }, 400, 'validation_failed'],
    ['negative', { ...ok, amount: '-5' }, 400, 'validation_failed'],
    ['too many decimals', { ...ok, amount: '1.234' }, 400, 'validation_failed'],
    ['an exponent', { ...ok, amount: '1e3' }, 400, 'validation_failed'],
    ['unknown currency', { ...ok, currency: 'XXX' }, 400, 'validation_failed'],
    ['missing Idempotency-Key', ok, 400, 'validation_failed', null],
    ['malformed Idempotency-Key', ok, 400, 'validation_failed', 'not-a-uuid'],
    ['unknown account', { fromAccountId: randomUUID() }, 404, 'account_not_found'],
    ['currency mismatch', { ...ok, currency: 'USD' }, 422, 'currency_mismatch'],
    ['currency mismatch (a USD account, EUR)', { fromAccountId: usd.id }, 422, 'currency_mismatch'],
    ['insufficient funds', { ...ok, amount: '50.01' }, 422, 'insufficient_funds'],
  ];
  const head = await f.store.lastWrittenPosition();
  for (const [name, body, status, code, key] of cases) {
    const response = await external(bea, body, key === undefined ? randomUUID() : key);
    t.test(name, async (t) => assertProblem(t, response, status, code));
  }
  // Another's account is "not found", never "forbidden"; staff do not send external transfers.
  assertProblem(t, await external(other, ok), 404, 'account_not_found');
  assertProblem(t, await external(agent, ok), 404, 'account_not_found');
  assertProblem(t, await external(manager, ok), 404, 'account_not_found');
  t.equal(await f.store.lastWrittenPosition(), head, 'the event store head did not move');

  // Money leaves the bank only for a customer whose KYC is verified (the settings' rule).
  const unverified = await customer(false);
  const theirs = await openAccount(unverified);
  await deposit(theirs.id, '20.00');
  const head2 = await f.store.lastWrittenPosition();
  assertProblem(t, await external(unverified, { fromAccountId: theirs.id }), 422, 'kyc_required');
  t.equal(await f.store.lastWrittenPosition(), head2, 'nothing written');

  const all = await external(bea, { ...ok, amount: '50.00' });
  t.equal(all.statusCode, 201, 'the whole balance may go out');
});

t.test('the OpenAPI document describes the external body', async (t) => {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(response.statusCode, 200);
  t.match(response.body, /beneficiary/);
});
