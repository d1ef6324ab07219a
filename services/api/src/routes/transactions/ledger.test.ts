import { randomUUID } from 'node:crypto';
import { json, ledgerHarness } from '@ledger/api/testing';
import {
  bankAccountId,
  loadAccount,
  loadTransfer,
  parseAccountEvent,
  transferIdFor,
} from '@ledger/application';
import { parseAccountNumber } from '@ledger/domain/ledger';
import { accountsProjection, transactionsProjection, trialBalance } from '@ledger/projection-accounts';
import t, { type Test } from 'tap';

// API.md Accounts and Transactions through app.inject() against real PostgreSQL and Redis:
// the concurrency cases of issue 4, idempotency, two-phase races, and every bad input with
// its error code and nothing written.

const h = await ledgerHarness(t, 'api_ledger', {
  projections: [accountsProjection, transactionsProjection],
  roles: ['agent', 'manager', 'auditor'],
});
const { app, f, runners, assertProblem, customer, post, get, openAccount, deposit } = h;
const { transfer, balanceOf, onlyRefusalsSince } = h;
const { agent, manager, auditor } = h.roles;

/** Per currency Σ debits = Σ credits, from the events themselves (not a read model). */
async function trialBalanceFromEvents(t: Test) {
  const sums = new Map<string, { debits: bigint; credits: bigint }>();
  const currencyOf = new Map<string, string>();
  let after = 0n;
  for (;;) {
    const events = await f.store.readAll({ after, limit: 5000 });
    if (events.length === 0) break;
    for (const e of events) {
      after = e.globalPosition;
      if (!e.streamId.startsWith('account-') || e.streamId.startsWith('account-number-')) continue;
      const event = parseAccountEvent(e);
      if (event.type === 'AccountOpened') currencyOf.set(event.data.accountId, event.data.currency);
      if (event.type !== 'AccountLegPosted') continue;
      const currency = currencyOf.get(event.data.accountId) ?? '?';
      const sum = sums.get(currency) ?? { debits: 0n, credits: 0n };
      if (event.data.side === 'debit') sum.debits += BigInt(event.data.amount);
      else sum.credits += BigInt(event.data.amount);
      sums.set(currency, sum);
    }
  }
  t.ok(sums.size > 0, 'money moved');
  for (const [currency, { debits, credits }] of sums)
    t.equal(debits, credits, `${currency}: Σ debits = Σ credits`);
  const head = await f.store.lastWrittenPosition();
  for (const r of runners) t.ok(await r.waitFor(head, 10_000));
  t.ok(
    (await trialBalance(f.database.db)).every((row) => row.balanced),
    'the read model balances too',
  );
}

t.test('accounts: open, KYC for the second, ownership, freeze/unfreeze, close', async (t) => {
  const alice = await customer(false);
  const bob = await customer();
  const opened = await post('/api/accounts', alice.token, { type: 'checking', currency: 'EUR' }, null);
  t.equal(opened.statusCode, 201, opened.body);
  const account = json(opened).account;
  t.match(account, {
    userId: alice.id,
    type: 'checking',
    currency: 'EUR',
    status: 'active',
    balance: '0.00',
  });
  t.ok(parseAccountNumber(account.accountNumber).ok, 'the number carries valid check digits');
  assertProblem(
    t,
    await post('/api/accounts', alice.token, { type: 'savings', currency: 'EUR' }, null),
    422,
    'kyc_required',
  );
  assertProblem(
    t,
    await post('/api/accounts', alice.token, { type: 'savings', currency: 'XXX' }, null),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await post('/api/accounts', alice.token, { type: 'checking', currency: 'EUR', userId: bob.id }, null),
    403,
    'forbidden',
  );
  const byAgent = await post(
    '/api/accounts',
    agent.token,
    { type: 'savings', currency: 'USD', userId: bob.id },
    null,
  );
  t.equal(byAgent.statusCode, 201, 'an agent opens for a customer');
  const position = json(opened).position;

  const mine = await get(`/api/accounts/${account.id}?minPosition=${position}`, alice.token);
  t.equal(mine.statusCode, 200);
  t.match(json(mine).account, { id: account.id, accountNumber: account.accountNumber, balance: '0.00' });
  assertProblem(t, await get(`/api/accounts/${account.id}`, bob.token), 404, 'not_found');
  assertProblem(t, await get(`/api/accounts/${account.id}/transactions`, bob.token), 404, 'not_found');
  assertProblem(t, await get(`/api/accounts/${account.id}/balance`, bob.token), 404, 'not_found');
  assertProblem(t, await get(`/api/accounts/${randomUUID()}`, agent.token), 404, 'not_found');
  t.equal((await get(`/api/accounts/${account.id}`, auditor.token)).statusCode, 200);
  const list = json(await get(`/api/accounts?minPosition=${json(byAgent).position}`, bob.token));
  t.same(
    list.items.map((a: { userId: string }) => a.userId),
    [bob.id],
  );
  t.equal(json(await get(`/api/accounts?userId=${alice.id}`, agent.token)).items.length, 1);

  assertProblem(
    t,
    await post(`/api/accounts/${account.id}/freeze`, agent.token, { reason: 'x' }, null),
    403,
    'forbidden',
  );
  const frozen = await post(
    `/api/accounts/${account.id}/freeze`,
    manager.token,
    { reason: 'fraud check' },
    null,
  );
  t.equal(frozen.statusCode, 200);
  t.equal(json(frozen).account.status, 'frozen');
  const bobs = await openAccount(bob);
  await deposit(bobs.id, '5.00');
  const head = await f.store.lastWrittenPosition();
  assertProblem(
    t,
    await transfer(bob, { fromAccountId: bobs.id, toAccountId: account.id, amount: '1.00' }),
    422,
    'account_frozen',
  );
  await onlyRefusalsSince(t, head, 1);
  const unfrozen = await post(
    `/api/accounts/${account.id}/unfreeze`,
    manager.token,
    { reason: 'cleared' },
    null,
  );
  t.equal(json(unfrozen).account.status, 'active');

  assertProblem(
    t,
    await post(`/api/accounts/${bobs.id}/close`, bob.token, undefined, null),
    422,
    'balance_not_zero',
  );
  assertProblem(
    t,
    await post(`/api/accounts/${bobs.id}/close`, alice.token, undefined, null),
    404,
    'not_found',
  );
  const closed = await post(`/api/accounts/${account.id}/close`, alice.token, undefined, null);
  t.equal(closed.statusCode, 200, closed.body);
  t.equal(json(closed).account.status, 'closed');
  assertProblem(
    t,
    await transfer(bob, { fromAccountId: bobs.id, toAccountId: account.id, amount: '1.00' }),
    422,
    'account_closed',
  );
});

t.test('bad input: each refused with its code, nothing written', async (t) => {
  const carol = await customer();
  const from = await openAccount(carol);
  const to = await openAccount(carol);
  const usd = await openAccount(carol, 'USD');
  const jpy = await openAccount(carol, 'JPY');
  await deposit(from.id, '100.00');
  const ok = { fromAccountId: from.id, toAccountId: to.id, amount: '1.00' };
  const mistyped = `${to.accountNumber.slice(0, 6)}${(Number(to.accountNumber[6]) + 1) % 10}${to.accountNumber.slice(7)}`;
  const cases: [string, Record<string, unknown>, number, string, (string | null)?][] = [
    ['a JSON number', { ...ok, amount: 1 }, 400, 'validation_failed'],
    ['a float number', { ...ok, amount: 1.5 }, 400, 'validation_failed'],
    ['an exponent', { ...ok, amount: '1e3' }, 400, 'validation_failed'],
    ['negative', { ...ok, amount: '-5' }, 400, 'validation_failed'],
    ['zero', { ...ok, amount: '0' }, 400, 'validation_failed'],
    ['too many decimals (EUR)', { ...ok, amount: '1.234' }, 400, 'validation_failed'],
    ['10^20', { ...ok, amount: '100000000000000000000' }, 400, 'validation_failed'],
    ['above 999999999999999.99', { ...ok, amount: '1000000000000000.00' }, 400, 'validation_failed'],
    ['unknown currency', { ...ok, currency: 'XXX' }, 400, 'validation_failed'],
    [
      'decimals on JPY',
      { fromAccountId: jpy.id, toAccountId: to.id, amount: '1.5', currency: 'JPY' },
      400,
      'validation_failed',
    ],
    [
      'currency mismatch',
      { fromAccountId: from.id, toAccountId: usd.id, amount: '1.00' },
      422,
      'currency_mismatch',
    ],
    ['same account', { ...ok, toAccountId: from.id }, 422, 'same_account'],
    ['unknown target account', { ...ok, toAccountId: randomUUID() }, 404, 'account_not_found'],
    ['unknown source account', { ...ok, fromAccountId: randomUUID() }, 404, 'account_not_found'],
    [
      'mistyped account number',
      { fromAccountId: from.id, toAccountNumber: mistyped, amount: '1.00' },
      400,
      'validation_failed',
    ],
    [
      'malformed account number',
      { fromAccountId: from.id, toAccountNumber: 'FR76 3000', amount: '1.00' },
      400,
      'validation_failed',
    ],
    ['both targets', { ...ok, toAccountNumber: to.accountNumber }, 400, 'validation_failed'],
    ['missing Idempotency-Key', ok, 400, 'validation_failed', null],
    ['malformed Idempotency-Key', ok, 400, 'validation_failed', 'not-a-uuid'],
    ['insufficient funds', { ...ok, amount: '100.01' }, 422, 'insufficient_funds'],
  ];
  const dave = await customer();
  const head = await f.store.lastWrittenPosition();
  for (const [name, body, status, code, key] of cases) {
    const response = await transfer(carol, body, key === undefined ? randomUUID() : key);
    t.test(name, async (t) => assertProblem(t, response, status, code));
  }
  assertProblem(t, await transfer(dave, ok), 404, 'account_not_found');
  assertProblem(t, await transfer(agent, ok), 404, 'account_not_found');
  assertProblem(
    t,
    await post('/api/transactions', carol.token, {
      type: 'deposit',
      accountId: to.id,
      amount: '1.00',
      currency: 'EUR',
    }),
    403,
    'forbidden',
  );
  // currency_mismatch, same_account, insufficient_funds: the 422s are recorded (see refusals.test.ts).
  await onlyRefusalsSince(t, head, 3);

  const byNumber = await transfer(carol, {
    fromAccountId: from.id,
    toAccountNumber: to.accountNumber,
    amount: '2.50',
  });
  t.equal(byNumber.statusCode, 201, byNumber.body);
  t.match(json(byNumber).transaction, {
    toAccountId: to.id,
    amount: '2.50',
    status: 'posted',
    type: 'transfer',
  });
});

t.test('200 concurrent transfers of 1.00 from 50.00: 50 posted, 150 insufficient_funds', async (t) => {
  // About the funds check under concurrency: the rules (velocity) would hold most of them.
  await h.rulesOff();
  const erin = await customer();
  const from = await openAccount(erin);
  const to = await openAccount(erin);
  await deposit(from.id, '50.00');
  const responses = await Promise.all(
    Array.from({ length: 200 }, () =>
      transfer(erin, { fromAccountId: from.id, toAccountId: to.id, amount: '1.00' }),
    ),
  );
  const count = (status: number, code?: string) =>
    responses.filter((r) => r.statusCode === status && (code === undefined || json(r).code === code)).length;
  t.equal(count(201), 50, 'exactly 50 posted');
  t.equal(count(422, 'insufficient_funds'), 150, '150 insufficient_funds');
  t.equal(await balanceOf(erin, from.id), '0.00');
  t.equal(await balanceOf(erin, to.id), '50.00');
  await trialBalanceFromEvents(t);
  const head = await f.store.lastWrittenPosition();
  const row = json(await get(`/api/accounts/${from.id}?minPosition=${head}`, erin.token)).account;
  t.match(row, { balance: '0.00', availableBalance: '0.00' });
  const statement = json(
    await get(`/api/accounts/${to.id}/transactions?limit=200&minPosition=${head}`, erin.token),
  );
  t.equal(statement.items.length, 50);
  t.equal(statement.items[0].balanceAfter, '50.00', 'newest first');
  t.equal(statement.items[49].balanceAfter, '1.00');
});

t.test('100 concurrent requests with one Idempotency-Key: one transfer, 100 identical answers', async (t) => {
  const frank = await customer();
  const from = await openAccount(frank);
  const to = await openAccount(frank);
  await deposit(from.id, '10.00');
  const key = randomUUID();
  const body = { fromAccountId: from.id, toAccountId: to.id, amount: '3.00', reference: 'once' };
  const responses = await Promise.all(Array.from({ length: 100 }, () => transfer(frank, body, key)));
  t.same(new Set(responses.map((r) => r.statusCode)), new Set([201]));
  t.equal(new Set(responses.map((r) => r.body)).size, 1, 'identical bodies');
  t.equal(await balanceOf(frank, from.id), '7.00', 'moved once');
  assertProblem(t, await transfer(frank, { ...body, amount: '4.00' }, key), 409, 'idempotency_conflict');
  // The key is scoped to its caller: another customer's same key is another transfer.
  const gina = await customer();
  const ginas = await openAccount(gina);
  assertProblem(
    t,
    await transfer(gina, { fromAccountId: ginas.id, toAccountId: to.id, amount: '3.00' }, key),
    422,
    'insufficient_funds',
  );
  await trialBalanceFromEvents(t);
});

t.test('one Idempotency-Key, one request: reused on another endpoint it is 409', async (t) => {
  const jo = await customer();
  const from = await openAccount(jo);
  const to = await openAccount(jo);
  await deposit(from.id, '5.00');
  const hold = json(
    await transfer(jo, { fromAccountId: from.id, toAccountId: to.id, amount: '2.00', mode: 'pending' }),
  ).transaction.id as string;
  const postKey = randomUUID();
  const posted = await post(`/api/transactions/${hold}/post`, jo.token, {}, postKey);
  t.equal(posted.statusCode, 200, posted.body);

  // A key used to create a transfer is not a post's key too, and a post's key does not
  // create a transfer: 409 either way, nothing written.
  const createKey = randomUUID();
  const created = json(
    await transfer(jo, { fromAccountId: from.id, toAccountId: to.id, amount: '1.00' }, createKey),
  ).transaction.id as string;
  const beforeReuse = await f.store.lastWrittenPosition();
  assertProblem(
    t,
    await post(`/api/transactions/${created}/post`, jo.token, {}, createKey),
    409,
    'idempotency_conflict',
  );
  assertProblem(
    t,
    await transfer(jo, { fromAccountId: from.id, toAccountId: to.id, amount: '1.00' }, postKey),
    409,
    'idempotency_conflict',
  );
  t.equal(await f.store.lastWrittenPosition(), beforeReuse, 'nothing written by either');
  t.same(
    await f.store.readStream(`transfer-${transferIdFor(jo.id, postKey)}`),
    [],
    'no transfer under the post’s key',
  );
});

t.test('post and void replay by Idempotency-Key: same answer, other request 409', async (t) => {
  const ivy = await customer();
  const from = await openAccount(ivy);
  const to = await openAccount(ivy);
  await deposit(from.id, '20.00');
  const hold = async (amount: string) =>
    json(await transfer(ivy, { fromAccountId: from.id, toAccountId: to.id, amount, mode: 'pending' }))
      .transaction.id as string;

  // 20 concurrent posts with one key: one post, 20 identical answers.
  const first = await hold('4.00');
  const key = randomUUID();
  const posts = await Promise.all(
    Array.from({ length: 20 }, () =>
      post(`/api/transactions/${first}/post`, ivy.token, { amount: '3.00' }, key),
    ),
  );
  t.same(new Set(posts.map((r) => r.statusCode)), new Set([200]), posts[0]!.body);
  t.equal(new Set(posts.map((r) => r.body)).size, 1, 'identical bodies');
  t.match(json(posts[0]!).transaction, { status: 'posted', postedAmount: '3.00' });
  const postedEvents = (await f.store.readStream(`transfer-${first}`)).filter(
    (e) => e.type === 'PendingTransferPosted',
  );
  t.equal(postedEvents.length, 1, 'posted once');
  t.equal(json(posts[0]!).position, postedEvents[0]!.globalPosition.toString(), 'the post’s position');

  // Same key, another request (other amount, other transfer): 409, nothing written.
  const second = await hold('2.00');
  const before = await f.store.lastWrittenPosition();
  assertProblem(
    t,
    await post(`/api/transactions/${first}/post`, ivy.token, { amount: '2.00' }, key),
    409,
    'idempotency_conflict',
  );
  assertProblem(
    t,
    await post(`/api/transactions/${second}/void`, ivy.token, undefined, key),
    409,
    'idempotency_conflict',
  );
  t.equal(await f.store.lastWrittenPosition(), before, 'nothing written');
  t.equal((await f.store.readStream(`transfer-${second}`)).length, 1, 'the second hold is untouched');

  // A new key on a settled transfer: the rule answers (409 transfer_not_pending).
  assertProblem(t, await post(`/api/transactions/${first}/post`, ivy.token, {}), 409, 'transfer_not_pending');

  // Void replays the same way; the key is the caller's, so another caller's same key is its own.
  const voidKey = randomUUID();
  const voids = await Promise.all(
    [1, 2, 3].map(() => post(`/api/transactions/${second}/void`, ivy.token, undefined, voidKey)),
  );
  t.same(
    voids.map((r) => r.statusCode),
    [200, 200, 200],
  );
  t.equal(new Set(voids.map((r) => r.body)).size, 1, 'identical void answers');
  t.match(json(voids[0]!).transaction, { status: 'voided' });
  const third = await hold('1.00');
  const byManager = await post(`/api/transactions/${third}/void`, manager.token, undefined, voidKey);
  t.equal(byManager.statusCode, 200, 'another caller’s same key is another request');
  const account = json(await get(`/api/accounts/${from.id}/balance`, ivy.token));
  t.equal(account.balance, '17.00', 'only the 3.00 post moved money');
  t.equal(account.availableBalance, '17.00', 'no hold left');
  await trialBalanceFromEvents(t);
});

t.test('two-phase: concurrent post and void, exactly one wins; partial post; reverse', async (t) => {
  const hank = await customer();
  const other = await customer();
  const from = await openAccount(hank);
  const to = await openAccount(other);
  await deposit(from.id, '20.00');
  for (let round = 0; round < 5; round++) {
    const held = await transfer(hank, {
      fromAccountId: from.id,
      toAccountId: to.id,
      amount: '2.00',
      mode: 'pending',
    });
    t.equal(held.statusCode, 201, held.body);
    const id = json(held).transaction.id;
    t.equal(json(held).transaction.status, 'pending');
    const [posted, voided] = await Promise.all([
      post(`/api/transactions/${id}/post`, hank.token, {}),
      post(`/api/transactions/${id}/void`, hank.token),
    ]);
    t.same([posted, voided].map((r) => r.statusCode).sort(), [200, 409], 'one wins');
    const loser = [posted, voided].find((r) => r.statusCode === 409)!;
    t.equal(json(loser).code, 'transfer_not_pending');
  }
  const account = json(await get(`/api/accounts/${from.id}/balance`, hank.token));
  t.equal(account.availableBalance, account.balance, 'no hold left');

  const partial = json(
    await transfer(hank, { fromAccountId: from.id, toAccountId: to.id, amount: '5.00', mode: 'pending' }),
  );
  assertProblem(
    t,
    await post(`/api/transactions/${partial.transaction.id}/post`, other.token, {}),
    404,
    'not_found',
  );
  assertProblem(
    t,
    await post(`/api/transactions/${partial.transaction.id}/post`, hank.token, { amount: '6.00' }),
    422,
    'amount_exceeds_pending',
  );
  const before = await f.store.lastWrittenPosition();
  for (const action of ['post', 'void']) {
    const url = `/api/transactions/${partial.transaction.id}/${action}`;
    assertProblem(t, await post(url, hank.token, undefined, null), 400, 'validation_failed');
  }
  const reverseUrl = `/api/transactions/${partial.transaction.id}/reverse`;
  assertProblem(t, await post(reverseUrl, manager.token, { reason: 'r' }, null), 400, 'validation_failed');
  t.equal(await f.store.lastWrittenPosition(), before, 'no Idempotency-Key: nothing written');
  const done = await post(`/api/transactions/${partial.transaction.id}/post`, hank.token, { amount: '1.50' });
  t.equal(done.statusCode, 200, done.body);
  t.match(json(done).transaction, { status: 'posted', amount: '5.00', postedAmount: '1.50' });

  const reversed = await post(`/api/transactions/${partial.transaction.id}/reverse`, manager.token, {
    reason: 'customer dispute',
  });
  t.equal(reversed.statusCode, 201, reversed.body);
  t.match(json(reversed).transaction, {
    type: 'reversal',
    amount: '1.50',
    fromAccountId: to.id,
    toAccountId: from.id,
  });
  assertProblem(
    t,
    await post(`/api/transactions/${partial.transaction.id}/reverse`, agent.token, { reason: 'x' }),
    403,
    'forbidden',
  );

  const head = await f.store.lastWrittenPosition();
  const mine = json(await get(`/api/transactions?minPosition=${head}&accountId=${from.id}`, hank.token));
  t.ok(mine.items.length >= 7);
  t.ok(
    mine.items.every((x: { fromAccountId: string; toAccountId: string }) =>
      [x.fromAccountId, x.toAccountId].includes(from.id),
    ),
  );
  assertProblem(t, await get(`/api/transactions?accountId=${from.id}`, other.token), 404, 'not_found');
  const one = await get(`/api/transactions/${partial.transaction.id}?minPosition=${head}`, other.token);
  t.equal(one.statusCode, 200, 'the credited party sees it');
  const stranger = await customer();
  assertProblem(
    t,
    await get(`/api/transactions/${partial.transaction.id}`, stranger.token),
    404,
    'not_found',
  );
  t.equal(json(await get(`/api/transactions?status=pending`, auditor.token)).items.length, 0);
  await trialBalanceFromEvents(t);
});

t.test('balance at a position and a time comes from the events; statement range and cursor', async (t) => {
  const ivy = await customer();
  const acc = await openAccount(ivy);
  const first = await deposit(acc.id, '10.00');
  await deposit(acc.id, '5.00');
  await deposit(acc.id, '1.00');
  t.equal(
    json(await get(`/api/accounts/${acc.id}/balance?atPosition=${first.position}`, ivy.token)).balance,
    '10.00',
  );
  t.equal(
    json(await get(`/api/accounts/${acc.id}/balance?asOf=2000-01-01T00:00:00Z`, ivy.token)).balance,
    '0.00',
  );
  t.equal(await balanceOf(ivy, acc.id), '16.00');
  const head = await f.store.lastWrittenPosition();
  const page1 = json(
    await get(`/api/accounts/${acc.id}/transactions?limit=2&minPosition=${head}`, ivy.token),
  );
  t.same(
    page1.items.map((l: { amount: string }) => l.amount),
    ['1.00', '5.00'],
  );
  const page2 = json(
    await get(`/api/accounts/${acc.id}/transactions?limit=2&cursor=${page1.nextCursor}`, ivy.token),
  );
  t.same(
    page2.items.map((l: { amount: string; balanceAfter: string }) => [l.amount, l.balanceAfter]),
    [['10.00', '10.00']],
  );
  t.equal(page2.nextCursor, null);
  const none = json(await get(`/api/accounts/${acc.id}/transactions?to=2000-01-01T00:00:00Z`, ivy.token));
  t.same(none.items, []);
  assertProblem(
    t,
    await get(`/api/accounts/${acc.id}/transactions?limit=0`, ivy.token),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await get(`/api/accounts/${acc.id}/transactions?limit=201`, ivy.token),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await get(`/api/accounts/${acc.id}/transactions?cursor=bogus`, ivy.token),
    400,
    'validation_failed',
  );
});

t.test('bank-owned accounts are no customer’s payee: 404 account_not_found, as if absent', async (t) => {
  const kim = await customer();
  const from = await openAccount(kim);
  await deposit(from.id, '50.00');
  const send = (toAccountId: string, extra: Record<string, unknown> = {}) =>
    transfer(kim, { fromAccountId: from.id, toAccountId, amount: '1.00', ...extra });
  const absent = await send(randomUUID());
  assertProblem(t, absent, 404, 'account_not_found');
  const head = await f.store.lastWrittenPosition();
  for (const type of ['cash', 'clearing', 'fee-income', 'suspense'] as const) {
    for (const currency of ['EUR', 'USD'] as const) {
      const bank = bankAccountId(currency, type);
      t.equal((await loadAccount(f.ledger, bank)).state.status, 'active', `${currency} ${type} exists`);
      for (const mode of ['immediate', 'pending']) {
        const response = await send(bank, { mode, currency });
        assertProblem(t, response, 404, 'account_not_found');
        const { type: problemType, title, status, detail, code } = json(response);
        t.same(
          { problemType, title, status, detail, code },
          {
            problemType: json(absent).type,
            title: json(absent).title,
            status: 404,
            detail: json(absent).detail,
            code: 'account_not_found',
          },
          `${currency} ${type} (${mode}): the same answer as an account that does not exist`,
        );
      }
    }
  }
  t.equal(await f.store.lastWrittenPosition(), head, 'nothing written');
  t.equal(await balanceOf(kim, from.id), '50.00');
});

t.test('a pending transfer without timeoutSeconds expires after 7 days; at most 30 days', async (t) => {
  const lee = await customer();
  const from = await openAccount(lee);
  const to = await openAccount(lee);
  await deposit(from.id, '50.00');
  const hold = (extra: Record<string, unknown>, key?: string) =>
    transfer(
      lee,
      { fromAccountId: from.id, toAccountId: to.id, amount: '1.00', mode: 'pending', ...extra },
      key,
    );
  const expiryOf = async (response: Parameters<typeof json>[0]) => {
    const { transaction } = json(response);
    const { state } = await loadTransfer(f.ledger, transaction.id);
    if (state.status !== 'pending') throw new Error(`not pending: ${state.status}`);
    return { state, afterMs: Date.parse(state.expiresAt ?? '') - Date.parse(transaction.createdAt) };
  };
  const day = 24 * 60 * 60;
  const key = randomUUID();
  const defaulted = await hold({}, key);
  t.equal(defaulted.statusCode, 201, defaulted.body);
  const { state, afterMs } = await expiryOf(defaulted);
  t.equal(afterMs, 7 * day * 1000, 'expires 7 days after it was made');
  t.equal(state.timeoutSeconds, 7 * day);
  const replay = await hold({}, key);
  t.equal(replay.body, defaulted.body, 'a retry without timeoutSeconds is the same request');

  const explicit = await hold({ timeoutSeconds: 60 });
  t.equal((await expiryOf(explicit)).afterMs, 60_000);
  const longest = await hold({ timeoutSeconds: 30 * day });
  t.equal(longest.statusCode, 201, longest.body);
  t.equal((await expiryOf(longest)).afterMs, 30 * day * 1000);

  const head = await f.store.lastWrittenPosition();
  assertProblem(t, await hold({ timeoutSeconds: 30 * day + 1 }), 400, 'validation_failed');
  assertProblem(t, await hold({ timeoutSeconds: 0 }), 400, 'validation_failed');
  assertProblem(t, await hold({ timeoutSeconds: -1 }), 400, 'validation_failed');
  assertProblem(t, await hold({ timeoutSeconds: 1.5 }), 400, 'validation_failed');
  assertProblem(t, await hold({ mode: 'immediate', timeoutSeconds: 60 }), 400, 'validation_failed');
  t.equal(await f.store.lastWrittenPosition(), head, 'nothing written');
});

t.test('the OpenAPI document lists the ledger routes', async (t) => {
  const doc = json(await app.inject({ url: '/openapi.json' }));
  const paths = Object.keys(doc.paths).map((p) => p.replace(/\/$/, ''));
  for (const path of [
    '/api/accounts',
    '/api/accounts/{id}',
    '/api/accounts/{id}/transactions',
    '/api/accounts/{id}/balance',
    '/api/accounts/{id}/freeze',
    '/api/accounts/{id}/close',
    '/api/transactions',
    '/api/transactions/{id}',
    '/api/transactions/{id}/post',
    '/api/transactions/{id}/void',
    '/api/transactions/{id}/reverse',
  ]) {
    t.ok(paths.includes(path), path);
  }
});
