import { randomUUID } from 'node:crypto';
import { json, ledgerHarness, type User } from '@ledger/api/testing';
import { bankAccountId, loadTransfer, transferIdFor } from '@ledger/application';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import t from 'tap';

// API.md Transactions, `type:"external"`: a hold to the bank's clearing account, pending
// until the clearing rail (services/worker) settles or returns it. Real PostgreSQL.

const { app, f, assertProblem, customer, post, get, openAccount, deposit, roles, onlyRefusalsSince } =
  await ledgerHarness(t, 'api_external', {
    projections: [accountsProjection, transactionsProjection],
    customerPrefix: 'ext',
    roles: ['agent', 'manager'],
  });
const { agent, manager } = roles;

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
  const { state } = await loadTransfer(f.ledger, transaction.id);
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
    t.match((await loadTransfer(f.ledger, transaction.id)).state, { status: 'pending' });
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
  // insufficient_funds is decided by the ledger and recorded (its key answers it again); the
  // currency mismatches are refused before (the clearing account of a currency is made first).
  await onlyRefusalsSince(t, head, 1);

  // Money leaves the bank only for a customer whose KYC is verified (the settings' rule).
  const unverified = await customer(false);
  const theirs = await openAccount(unverified);
  await deposit(theirs.id, '20.00');
  const head2 = await f.store.lastWrittenPosition();
  assertProblem(t, await external(unverified, { fromAccountId: theirs.id }), 422, 'kyc_required');
  await onlyRefusalsSince(t, head2, 1);

  const all = await external(bea, { ...ok, amount: '50.00' });
  t.equal(all.statusCode, 201, 'the whole balance may go out');
});

t.test('the OpenAPI document describes the external body', async (t) => {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(response.statusCode, 200);
  t.match(response.body, /beneficiary/);
});
