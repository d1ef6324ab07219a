import { randomUUID } from 'node:crypto';
import { json, ledgerHarness } from '@ledger/api/testing';
import { accountStreamId, transferIdFor, transferStreamId } from '@ledger/application';
import { userStreamId } from '@ledger/contracts';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import t from 'tap';

// API.md Conventions: same caller + same Idempotency-Key + same body → the same status and
// body as the first time, also when the first time was a 422 and what refused it has
// changed since; the same key with another body → 409 idempotency_conflict. A create's
// business refusal (422) is recorded on its transfer's stream (TransferRefused); 400s,
// 404s and 409s record nothing. Real PostgreSQL and Redis, through app.inject().

const h = await ledgerHarness(t, 'api_refusals', {
  projections: [accountsProjection, transactionsProjection],
  customerPrefix: 'ref',
  roles: ['agent', 'manager'],
});
const { f, runners, assertProblem, customer, post, get, openAccount, deposit, transfer, balanceOf } = h;
const { manager } = h.roles;

t.test('insufficient_funds, then funded: the same key and body still answer the 422', async (t) => {
  const ann = await customer();
  const from = await openAccount(ann);
  const to = await openAccount(ann);
  await deposit(from.id, '5.00');
  const key = randomUUID();
  const body = { fromAccountId: from.id, toAccountId: to.id, amount: '10.00', reference: 'rent' };
  const first = await transfer(ann, body, key);
  assertProblem(t, first, 422, 'insufficient_funds');

  await deposit(from.id, '100.00');
  const again = await transfer(ann, body, key);
  t.equal(again.statusCode, 422, 'not a 201: the request was decided once');
  t.equal(again.body, first.body, 'the very same answer');
  assertProblem(t, await transfer(ann, { ...body, amount: '9.00' }, key), 409, 'idempotency_conflict');
  assertProblem(t, await transfer(ann, { ...body, reference: 'other' }, key), 409, 'idempotency_conflict');
  t.equal(await balanceOf(ann, from.id), '105.00', 'nothing moved');

  // The record: one TransferRefused naming the request and the rejection; no leg anywhere.
  const events = await f.store.readStream(transferStreamId(transferIdFor(ann.id, key)));
  t.match(events, [
    {
      type: 'TransferRefused',
      data: {
        transferId: transferIdFor(ann.id, key),
        debitAccountId: from.id,
        creditAccountId: to.id,
        amount: '1000',
        currency: 'EUR',
        code: 'transfer',
        reference: 'rent',
        mode: 'single-phase',
        rejection: { code: 'insufficient_funds', accountId: from.id, available: '500' },
      },
    },
  ]);
  t.equal(events.length, 1);
  for (const account of [from.id, to.id]) {
    const legs = (await f.store.readStream(accountStreamId(account))).filter(
      (e) => (e.data as { transferId?: string }).transferId === transferIdFor(ann.id, key),
    );
    t.same(legs, [], 'no leg of the refused transfer');
  }

  // A refused transfer is not listed (see the transactions projection) and is not pending.
  const id = transferIdFor(ann.id, key);
  const head = (await f.store.lastWrittenPosition()).toString();
  assertProblem(t, await get(`/api/transactions/${id}?minPosition=${head}`, ann.token), 404, 'not_found');
  const list = json(await get(`/api/transactions?accountId=${from.id}&minPosition=${head}`, ann.token));
  t.notOk(
    list.items.some((x: { id: string }) => x.id === id),
    'not in the list',
  );
  assertProblem(t, await post(`/api/transactions/${id}/post`, ann.token, {}), 409, 'transfer_not_pending');
  assertProblem(t, await post(`/api/transactions/${id}/void`, manager.token), 409, 'transfer_not_pending');

  const fresh = await transfer(ann, body);
  t.equal(fresh.statusCode, 201, 'a new key is a new request');
});

t.test('kyc_required, account_frozen, currency_mismatch, same_account: each answered again', async (t) => {
  const bo = await customer(false);
  const from = await openAccount(bo);
  await deposit(from.id, '500.00');
  const payee = await customer();
  const to = await openAccount(payee);
  const usd = await openAccount(payee, 'USD');
  const mine = { fromAccountId: from.id };

  // Unverified: at most the settings' unverified cap (250.00 EUR by default) a day.
  const kycKey = randomUUID();
  const kycBody = { ...mine, toAccountId: to.id, amount: '300.00' };
  const kyc = await transfer(bo, kycBody, kycKey);
  assertProblem(t, kyc, 422, 'kyc_required');

  // Frozen payee.
  const freeze = await post(`/api/accounts/${to.id}/freeze`, manager.token, { reason: 'check' }, null);
  t.equal(freeze.statusCode, 200, freeze.body);
  const frozenKey = randomUUID();
  const frozenBody = { ...mine, toAccountId: to.id, amount: '1.00' };
  const frozen = await transfer(bo, frozenBody, frozenKey);
  assertProblem(t, frozen, 422, 'account_frozen');
  const mismatchKey = randomUUID();
  const mismatchBody = { ...mine, toAccountId: usd.id, amount: '1.00' };
  const mismatch = await transfer(bo, mismatchBody, mismatchKey);
  assertProblem(t, mismatch, 422, 'currency_mismatch');
  const sameKey = randomUUID();
  const sameBody = { ...mine, toAccountId: from.id, amount: '1.00' };
  const same = await transfer(bo, sameBody, sameKey);
  assertProblem(t, same, 422, 'same_account');

  // What refused them changes: KYC verified, the payee unfrozen.
  await f.store.append([
    {
      streamId: userStreamId(bo.id),
      expectedVersion: 'exists',
      events: [
        {
          type: 'KycStatusChanged',
          data: { userId: bo.id, at: new Date().toISOString(), status: 'verified' },
        },
      ],
    },
  ]);
  const unfreeze = await post(`/api/accounts/${to.id}/unfreeze`, manager.token, { reason: 'ok' }, null);
  t.equal(unfreeze.statusCode, 200, unfreeze.body);
  const verified = { ...bo, token: await h.login(bo.username) };

  for (const [what, key, body, first] of [
    ['kyc_required', kycKey, kycBody, kyc],
    ['account_frozen', frozenKey, frozenBody, frozen],
    ['currency_mismatch', mismatchKey, mismatchBody, mismatch],
    ['same_account', sameKey, sameBody, same],
  ] as const) {
    const again = await transfer(verified, body, key);
    t.equal(again.statusCode, 422, `${what}: still 422`);
    t.equal(again.body, first.body, `${what}: the same body`);
    assertProblem(t, await transfer(verified, { ...body, amount: '2.00' }, key), 409, 'idempotency_conflict');
  }
  t.equal((await transfer(verified, kycBody)).statusCode, 201, 'a new key: verified now, it passes');
  t.equal((await transfer(verified, frozenBody)).statusCode, 201, 'a new key: unfrozen now, it passes');
});

t.test('400s and 404s record nothing: the key then serves a valid request', async (t) => {
  const cy = await customer();
  const from = await openAccount(cy);
  const to = await openAccount(cy);
  await deposit(from.id, '10.00');
  const key = randomUUID();
  const head = await f.store.lastWrittenPosition();
  assertProblem(
    t,
    await transfer(cy, { fromAccountId: from.id, toAccountId: to.id, amount: '0' }, key),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await transfer(cy, { fromAccountId: from.id, toAccountId: randomUUID(), amount: '1.00' }, key),
    404,
    'account_not_found',
  );
  t.equal(await f.store.lastWrittenPosition(), head, 'nothing written');
  const ok = await transfer(cy, { fromAccountId: from.id, toAccountId: to.id, amount: '1.00' }, key);
  t.equal(ok.statusCode, 201, ok.body);
});

t.test('identical requests racing a deposit that funds them: one outcome, one answer', async (t) => {
  for (let round = 0; round < 6; round++) {
    const dan = await customer();
    const from = await openAccount(dan);
    const to = await openAccount(dan);
    await deposit(from.id, '1.00');
    const key = randomUUID();
    const body = { fromAccountId: from.id, toAccountId: to.id, amount: '5.00' };
    const [responses] = await Promise.all([
      Promise.all(Array.from({ length: 12 }, () => transfer(dan, body, key))),
      deposit(from.id, '10.00'),
    ]);
    t.equal(new Set(responses.map((r) => `${r.statusCode} ${r.body}`)).size, 1, `round ${round}: one answer`);
    const status = responses[0]!.statusCode;
    t.ok(status === 201 || status === 422, `round ${round}: ${status}`);
    const events = await f.store.readStream(transferStreamId(transferIdFor(dan.id, key)));
    t.same(
      events.map((e) => e.type),
      [status === 201 ? 'TransferPosted' : 'TransferRefused'],
      'one record of the one outcome',
    );
    t.equal(await balanceOf(dan, from.id), status === 201 ? '6.00' : '11.00');
  }
  const head = await f.store.lastWrittenPosition();
  for (const r of runners) t.ok(await r.waitFor(head, 10_000), 'the read models took every event');
});
