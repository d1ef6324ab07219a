import { randomUUID } from 'node:crypto';
import { bearer, json, ledgerHarness, type User } from '@ledger/api/testing';
import { accountStreamId, transferIdFor, transferStreamId } from '@ledger/application';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import t, { type Test } from 'tap';

// API.md Transactions, the cash desk (`type: "deposit" | "withdrawal"`, agent+): never on an
// account the member of staff owns (403 own_account, nothing moves); above the settings'
// cashApprovalMin (strictly above: the amount itself needs no approval) it is held for review,
// funds reserved, until a manager who is no party to it approves (posted) or rejects (voided).

const h = await ledgerHarness(t, 'api_cash_desk', {
  projections: [accountsProjection, transactionsProjection],
  customerPrefix: 'desk',
  roles: ['agent', 'manager'],
});
const { app, f, director, assertProblem, customer, login, post, get, openAccount, deposit } = h;
const { agent, manager } = h.roles;

const cash = (user: User, body: Record<string, unknown>, key: string = randomUUID()) =>
  post('/api/transactions', user.token, { currency: 'EUR', ...body }, key);

/** What an account's stream holds now: its version (how many events, less one). */
const accountEvents = async (accountId: string) =>
  (await f.store.readStream(accountStreamId(accountId))).length;

/** A customer promoted to `role` by the director, logged in again: they own an account. */
async function staffWithAccount(role: 'agent' | 'manager') {
  const user = await customer();
  const account = await openAccount(user);
  await deposit(account.id, '100.00');
  const promoted = await app.inject({
    method: 'PATCH',
    url: `/api/admin/users/${user.id}`,
    headers: bearer(director),
    payload: { role },
  });
  if (promoted.statusCode !== 200) throw new Error(`promote: ${promoted.body}`);
  return { user: { ...user, token: await login(user.username) }, account };
}

/** Nothing but, at most, the refusal's own record (TransferRefused on its transfer) since `head`. */
async function noMoneyMovedSince(t: Test, head: bigint, refusals: number) {
  const written = await h.writtenSince(head, 100);
  t.same(
    written.map((e) => [e.type, e.streamId.split('-')[0]]),
    Array.from({ length: refusals }, () => ['TransferRefused', 'transfer']),
    refusals === 0 ? 'nothing written' : 'only the refusal recorded: no leg, no balance changed',
  );
}

t.test('cash into or out of an account the member of staff owns: 403 own_account', async (t) => {
  for (const role of ['agent', 'manager'] as const) {
    const { user, account } = await staffWithAccount(role);
    const before = await accountEvents(account.id);
    const head = await f.store.lastWrittenPosition();
    for (const type of ['deposit', 'withdrawal']) {
      const response = await cash(user, { type, accountId: account.id, amount: '10.00' });
      assertProblem(t, response, 403, 'own_account');
    }
    await noMoneyMovedSince(t, head, 0);
    t.equal(await accountEvents(account.id), before, `${role}: the account is untouched`);
    // Anyone else at the desk serves them as any customer.
    const served = await cash(agent, { type: 'deposit', accountId: account.id, amount: '10.00' });
    t.equal(served.statusCode, 201, served.body);
    const byManager = await cash(manager, { type: 'withdrawal', accountId: account.id, amount: '5.00' });
    t.equal(byManager.statusCode, 201, byManager.body);
  }
});

/** POST /api/admin/transactions/:id/approve or /reject as `user`. */
const decide = (user: User, id: string, decision: 'approve' | 'reject') =>
  post(`/api/admin/transactions/${id}/${decision}`, user.token, { reason: 'seen the customer' }, null);

t.test('cashApprovalMin: at it posted, above it held_for_review until a manager decides', async (t) => {
  const settings = json(await app.inject({ url: '/api/admin/settings', headers: bearer(director) }));
  t.match(settings.settings.cashApprovalMin, {
    EUR: '10000.00',
    USD: '10000.00',
    GBP: '10000.00',
    CHF: '10000.00',
    JPY: '1500000',
  });
  const ann = await customer();
  const account = await openAccount(ann);
  const at = await cash(agent, { type: 'deposit', accountId: account.id, amount: '10000.00' });
  t.equal(at.statusCode, 201, `the amount itself needs no approval (${at.body})`);
  t.equal(
    (await cash(manager, { type: 'deposit', accountId: account.id, amount: '10000.00' })).statusCode,
    201,
  );

  const balances = async () => json(await get(`/api/accounts/${account.id}/balance`, ann.token));
  const held = new Map<string, string>();
  for (const type of ['deposit', 'withdrawal']) {
    const key = randomUUID();
    const above = await cash(agent, { type, accountId: account.id, amount: '10000.01' }, key);
    t.equal(above.statusCode, 201, above.body);
    t.match(json(above).transaction, { type, status: 'held_for_review', postedAmount: null, riskFlags: [] });
    const [pending] = await f.store.readStream(transferStreamId(transferIdFor(agent.id, key)));
    t.match(pending, {
      type: 'TransferPending',
      data: { code: type, review: { reasons: ['cash_approval_min'], requestedBy: agent.id } },
    });
    held.set(type, json(above).transaction.id);
  }
  // Reserved both ways, moved neither: the deposit is not available, the withdrawal is held.
  t.match(await balances(), { balance: '20000.00', availableBalance: '9999.99' });
  // The agent at the desk does not decide: below manager (and party to it anyway).
  assertProblem(t, await decide(agent, held.get('deposit')!, 'approve'), 403, 'forbidden');
  assertProblem(t, await decide(ann, held.get('deposit')!, 'approve'), 403, 'forbidden');
  const approved = await decide(manager, held.get('deposit')!, 'approve');
  t.equal(approved.statusCode, 200, approved.body);
  t.match(json(approved).transaction, { status: 'posted', postedAmount: '10000.01' });
  assertProblem(t, await decide(manager, held.get('deposit')!, 'approve'), 409, 'transfer_not_pending');
  const rejected = await decide(manager, held.get('withdrawal')!, 'reject');
  t.equal(rejected.statusCode, 200, rejected.body);
  t.match(json(rejected).transaction, { status: 'voided' });
  t.match(await balances(), { balance: '30000.01', availableBalance: '30000.01' });

  // A manager at the desk asked for it: another manager or the director decides.
  const big = await cash(manager, { type: 'withdrawal', accountId: account.id, amount: '20000.00' });
  t.equal(json(big).transaction.status, 'held_for_review');
  assertProblem(t, await decide(manager, json(big).transaction.id, 'approve'), 403, 'forbidden');
  const byDirector = await post(
    `/api/admin/transactions/${json(big).transaction.id}/approve`,
    director,
    { reason: 'second pair of eyes' },
    null,
  );
  t.equal(byDirector.statusCode, 200, byDirector.body);
  t.match(await balances(), { balance: '10000.01' });
  // Cash at the desk is governed by cashApprovalMin, not by the customer transfer limits.
  const out = await cash(manager, { type: 'withdrawal', accountId: account.id, amount: '10000.00' });
  t.equal(out.statusCode, 201, out.body);
});

t.test('cashApprovalMin comes from the settings, per currency, for decisions after a change', async (t) => {
  const bob = await customer();
  const eur = await openAccount(bob);
  const usd = await openAccount(bob, 'USD');
  const key = randomUUID();
  const body = { type: 'deposit', accountId: eur.id, amount: '600.00' };
  t.equal((await cash(agent, body, key)).statusCode, 201, 'under the default');

  const current = json(await app.inject({ url: '/api/admin/settings', headers: bearer(director) }));
  const changed = await app.inject({
    method: 'PUT',
    url: '/api/admin/settings',
    headers: { ...bearer(director), 'if-match': `"${current.version}"` },
    payload: { limits: {}, cashApprovalMin: { EUR: '500.00' } },
  });
  t.equal(changed.statusCode, 200, changed.body);
  t.match(json(changed).settings.cashApprovalMin, { EUR: '500.00', USD: '10000.00' });
  t.teardown(async () => {
    await app.inject({
      method: 'PUT',
      url: '/api/admin/settings',
      headers: bearer(director),
      payload: { limits: {} },
    });
  });

  const replay = await cash(agent, body, key);
  t.match(json(replay).transaction, { status: 'posted' }, 'a replay is answered as it was decided');
  t.match(json(await cash(agent, body)).transaction, { status: 'held_for_review' }, 'above the new one');
  t.equal((await cash(agent, { ...body, amount: '500.00' })).statusCode, 201, 'the new amount itself');
  const dollars = await cash(agent, {
    type: 'deposit',
    accountId: usd.id,
    amount: '600.00',
    currency: 'USD',
  });
  t.equal(dollars.statusCode, 201, 'USD keeps its default');

  assertProblem(
    t,
    await app.inject({
      method: 'PUT',
      url: '/api/admin/settings',
      headers: bearer(director),
      payload: { limits: {}, cashApprovalMin: { EUR: '-1' } },
    }),
    400,
    'validation_failed',
  );
});

t.test('a held cash operation retried with its key answers the same, whatever changed', async (t) => {
  const cy = await customer();
  const account = await openAccount(cy);
  const key = randomUUID();
  const body = { type: 'deposit', accountId: account.id, amount: '20000.00' };
  const first = await cash(agent, body, key);
  t.match(json(first).transaction, { status: 'held_for_review' });
  // The director raises the threshold: a new request would pass, the same one answers the same.
  const raised = await app.inject({
    method: 'PUT',
    url: '/api/admin/settings',
    headers: bearer(director),
    payload: { limits: {}, cashApprovalMin: { EUR: '50000.00' } },
  });
  t.equal(raised.statusCode, 200, raised.body);
  t.teardown(async () => {
    await app.inject({
      method: 'PUT',
      url: '/api/admin/settings',
      headers: bearer(director),
      payload: { limits: {} },
    });
  });
  const again = await cash(agent, body, key);
  t.equal(again.statusCode, 201);
  t.equal(again.body, first.body, 'the very same answer');
  assertProblem(t, await cash(agent, { ...body, amount: '1.00' }, key), 409, 'idempotency_conflict');
  t.equal((await cash(agent, body)).statusCode, 201, 'a new key is a new request');
});

t.test('a customer is no cashier; an unknown or bank-owned account is 404', async (t) => {
  const dee = await customer();
  const account = await openAccount(dee);
  assertProblem(
    t,
    await cash(dee, { type: 'deposit', accountId: account.id, amount: '1.00' }),
    403,
    'forbidden',
  );
  const head = await f.store.lastWrittenPosition();
  assertProblem(
    t,
    await cash(agent, { type: 'deposit', accountId: randomUUID(), amount: '1.00' }),
    404,
    'account_not_found',
  );
  await noMoneyMovedSince(t, head, 0);
});
