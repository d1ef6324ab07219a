import { randomUUID } from 'node:crypto';
import { bearer, json, ledgerHarness, type User } from '@ledger/api/testing';
import {
  expirePendingTransfer,
  holdExpiryActorId,
  jobMetadata,
  transferIdFor,
  transferStreamId,
} from '@ledger/application';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { auditProjection } from '@ledger/projection-audit';
import t, { type Test } from 'tap';

// Issue #17 through HTTP, against real PostgreSQL: the fraud and AML rules judge customer
// transfers with the settings in force (defaults: every rule active); a review holds the
// transfer (201 held_for_review, funds reserved) until a manager who is no party to it
// approves (posted) or rejects (voided) it, or its deadline voids it; a watch-list hit is a
// 422 transfer_rejected, recorded. Thresholds, modes and the watch list are settings: a change
// is in the admin audit and applies from the next transfer; a rule in shadow mode records what
// it would have done and changes nothing.

const h = await ledgerHarness(t, 'api_fraud_review', {
  projections: [accountsProjection, transactionsProjection, auditProjection],
  customerPrefix: 'rules',
  roles: ['agent', 'manager', 'auditor'],
});
const { app, f, director, assertProblem, customer, login, post, get, openAccount, deposit, transfer } = h;
const { agent, manager, auditor } = h.roles;

/** POST /api/admin/transactions/:id/approve or /reject as `token`. */
const decide = (token: string, id: string, decision: 'approve' | 'reject', reason = 'called the customer') =>
  post(`/api/admin/transactions/${id}/${decision}`, token, { reason }, null);

/** The transfer's own events, as stored. */
const eventsOf = (id: string) => f.store.readStream(transferStreamId(id));

/** A customer with a funded EUR account (KYC verified: the unverified cap is not what is tested). */
async function payer(amount = '20000.00') {
  const user = await customer();
  const account = await openAccount(user);
  await deposit(account.id, amount);
  return { user, account };
}

const balances = async (user: User, accountId: string) =>
  json(await get(`/api/accounts/${accountId}/balance`, user.token)) as {
    balance: string;
    availableBalance: string;
  };

/** Back to the defaults once a test changed the settings. */
const restoreDefaults = (t: Test) => t.teardown(() => h.putSettings({}));

t.test('a large first payment to a new payee is held; a manager approves it: posted', async (t) => {
  const { user: ann, account: from } = await payer();
  // The payee is a manager's own account: they are party to it.
  const payeeUser = await customer();
  const to = await openAccount(payeeUser);
  const promoted = await app.inject({
    method: 'PATCH',
    url: `/api/admin/users/${payeeUser.id}`,
    headers: bearer(director),
    payload: { role: 'manager' },
  });
  t.equal(promoted.statusCode, 200, promoted.body);
  const partyManager = { ...payeeUser, token: await login(payeeUser.username) };

  const key = randomUUID();
  const held = await transfer(ann, { fromAccountId: from.id, toAccountId: to.id, amount: '3000.00' }, key);
  t.equal(held.statusCode, 201, held.body);
  const transaction = json(held).transaction;
  t.match(transaction, { status: 'held_for_review', riskFlags: ['new_payee_large'], postedAmount: null });
  t.match(await balances(ann, from.id), { balance: '20000.00', availableBalance: '17000.00' });
  const [pending] = await eventsOf(transaction.id);
  t.match(pending, {
    type: 'TransferPending',
    data: {
      risk: {
        settingsVersion: '0',
        outcome: 'review',
        findings: [{ ruleId: 'new_payee_large', figures: { amount: '300000', newPayeeAmountMin: '200000' } }],
      },
      review: { reasons: ['new_payee_large'], requestedBy: ann.id, requestedMode: 'single-phase' },
    },
  });
  // The same request again: the same answer.
  const again = await transfer(ann, { fromAccountId: from.id, toAccountId: to.id, amount: '3000.00' }, key);
  t.equal(again.body, held.body, 'a retry answers the same');

  // The owner neither posts nor voids it; an agent and the auditor do not decide; nor does a
  // manager who owns the payee account.
  for (const action of ['post', 'void']) {
    const response = await post(`/api/transactions/${transaction.id}/${action}`, ann.token, {});
    assertProblem(t, response, 409, 'transfer_not_pending');
  }
  assertProblem(t, await decide(agent.token, transaction.id, 'approve'), 403, 'forbidden');
  assertProblem(t, await decide(auditor.token, transaction.id, 'approve'), 403, 'forbidden');
  assertProblem(t, await decide(ann.token, transaction.id, 'approve'), 403, 'forbidden');
  assertProblem(t, await decide(partyManager.token, transaction.id, 'approve'), 403, 'forbidden');
  assertProblem(t, await decide(partyManager.token, transaction.id, 'reject'), 403, 'forbidden');
  assertProblem(t, await decide(manager.token, randomUUID(), 'approve'), 404, 'not_found');
  const badReason = await post(`/api/admin/transactions/${transaction.id}/approve`, manager.token, {
    reason: 'ok\u202e',
  });
  assertProblem(t, badReason, 400, 'validation_failed');

  const approved = await decide(manager.token, transaction.id, 'approve');
  t.equal(approved.statusCode, 200, approved.body);
  t.match(json(approved).transaction, { status: 'posted', postedAmount: '3000.00' });
  t.match(await balances(ann, from.id), { balance: '17000.00', availableBalance: '17000.00' });
  t.match(await balances(payeeUser, to.id), { balance: '3000.00' });
  t.match(
    (await eventsOf(transaction.id)).map((e) => e.type),
    ['TransferPending', 'TransferReviewed', 'PendingTransferPosted'],
  );
  assertProblem(t, await decide(manager.token, transaction.id, 'reject'), 409, 'transfer_not_pending');
  const shown = json(
    await get(`/api/transactions/${transaction.id}?minPosition=${json(approved).position}`, ann.token),
  );
  t.match(shown.transaction, { status: 'posted', riskFlags: ['new_payee_large'] });

  // Paid once: the payee is known, and the next payment of the same size goes through.
  const second = await transfer(ann, { fromAccountId: from.id, toAccountId: to.id, amount: '3000.00' });
  t.match(json(second).transaction, { status: 'posted', riskFlags: [] });
});

t.test(
  'structuring: the third payment just below the threshold in 24 h is held; rejected: voided',
  async (t) => {
    const { user: bea, account: from } = await payer();
    const payee = await openAccount(await customer());
    const pay = (amount: string) => transfer(bea, { fromAccountId: from.id, toAccountId: payee.id, amount });
    // Default structuringThreshold 1000.00 EUR: the band is [900.00, 1000.00); count 3.
    t.match(json(await pay('950.00')).transaction, { status: 'posted' });
    t.match(json(await pay('1000.00')).transaction, { status: 'posted' }, 'at the threshold: not below it');
    t.match(json(await pay('899.99')).transaction, { status: 'posted' }, 'below the band');
    const third = json(await pay('900.00')).transaction;
    t.match(third, { status: 'posted' }, 'the second in the band');
    const held = json(await pay('999.99')).transaction;
    t.match(held, { status: 'held_for_review', riskFlags: ['structuring'] });
    t.match(await balances(bea, from.id), { availableBalance: '15250.02' });
    const rejected = await decide(manager.token, held.id, 'reject', 'structuring pattern');
    t.equal(rejected.statusCode, 200, rejected.body);
    t.match(json(rejected).transaction, { status: 'voided', postedAmount: null });
    t.match(await balances(bea, from.id), { balance: '16250.01', availableBalance: '16250.01' });
    t.match((await eventsOf(held.id)).at(1), {
      type: 'TransferReviewed',
      data: { decision: 'rejected', reviewerId: manager.id, reason: 'structuring pattern' },
    });
    // Attempts count: the pattern is still there, so the next one in the band is held too.
    t.match(json(await pay('950.00')).transaction, { status: 'held_for_review', riskFlags: ['structuring'] });
  },
);

t.test('a held transfer nobody decides is voided at its deadline (the expiry job)', async (t) => {
  const { user: cal, account: from } = await payer();
  const to = await openAccount(await customer());
  const held = json(
    await transfer(cal, { fromAccountId: from.id, toAccountId: to.id, amount: '6000.00' }),
  ).transaction;
  t.match(held, { status: 'held_for_review', riskFlags: ['large_amount', 'new_payee_large'] });
  const [pending] = await eventsOf(held.id);
  if (pending === undefined) throw new Error('no TransferPending');
  const { expiresAt } = pending.data as { expiresAt: string };
  t.equal(Date.parse(expiresAt) - Date.parse(held.createdAt), 72 * 3_600_000, 'reviewTimeoutHours: 72');
  // What the worker's job runs (services/worker ledger-jobs), at the deadline's moment.
  const metadata = jobMetadata(holdExpiryActorId, { eventId: pending.eventId, jobId: 'test' });
  t.match(
    await expirePendingTransfer(
      app.ledger,
      { transferId: held.id, now: new Date(Date.parse(expiresAt) - 1) },
      metadata,
    ),
    { result: 'not_due' },
  );
  const expired = await expirePendingTransfer(
    app.ledger,
    { transferId: held.id, now: new Date(expiresAt) },
    metadata,
  );
  if (expired.result !== 'expired') throw new Error(`not expired: ${expired.result}`);
  const shown = json(await get(`/api/transactions/${held.id}?minPosition=${expired.position}`, cal.token));
  t.match(shown.transaction, { status: 'voided' });
  t.match(await balances(cal, from.id), { balance: '20000.00', availableBalance: '20000.00' });
  assertProblem(t, await decide(manager.token, held.id, 'approve'), 409, 'transfer_not_pending');
});

t.test('a threshold change is in the admin audit and applies from the next transfer', async (t) => {
  restoreDefaults(t);
  const { user: dan, account: from } = await payer();
  const to = await openAccount(await customer());
  const pay = (amount: string) => transfer(dan, { fromAccountId: from.id, toAccountId: to.id, amount });
  const before = json(await pay('150.00')).transaction;
  t.match(before, { status: 'posted' });

  const changed = await h.putSettings({ ruleThresholds: { reviewAmountMin: { EUR: '100.00' } } });
  const version = changed.version as string;
  const after = json(await pay('150.00')).transaction;
  t.match(after, { status: 'held_for_review', riskFlags: ['large_amount'] });
  t.match((await eventsOf(after.id))[0]?.data, { risk: { settingsVersion: version } });
  const [earlier] = await eventsOf(before.id);
  t.match(earlier?.data, { risk: { outcome: 'allow', settingsVersion: /^\d+$/ } }, 'the earlier one stays');
  const earlierRisk = (earlier?.data as { risk?: { settingsVersion: string } } | undefined)?.risk;
  t.not(earlierRisk?.settingsVersion, version, 'decided under the version before');

  const audit = json(
    await get(
      `/api/admin/audit?actorId=${await directorId()}&minPosition=${changed.position}&limit=20`,
      auditor.token,
    ),
  );
  t.match(audit.items[0], { type: 'SettingsChanged', actorId: await directorId() });
});

t.test('shadow mode: recorded, no outcome changed', async (t) => {
  restoreDefaults(t);
  const { user: eve, account: from } = await payer();
  const to = await openAccount(await customer());
  await h.putSettings({
    ruleThresholds: { reviewAmountMin: { EUR: '100.00' } },
    rules: { large_amount: 'shadow' },
  });
  const posted = json(
    await transfer(eve, { fromAccountId: from.id, toAccountId: to.id, amount: '150.00' }),
  ).transaction;
  t.match(posted, { status: 'posted', riskFlags: [] });
  t.match((await eventsOf(posted.id))[0], {
    type: 'TransferPosted',
    data: { risk: { outcome: 'allow', flags: [], shadow: ['large_amount'] } },
  });
  t.match(await balances(eve, from.id), { balance: '19850.00' });
});

t.test('a watch-list payee: 422 transfer_rejected, the attempt recorded, answered again', async (t) => {
  restoreDefaults(t);
  const { user: fay, account: from } = await payer();
  await h.putSettings({ watchList: [{ name: 'Ivan  Sanctioned' }, { iban: 'GB33BUKB20201555555555' }] });
  const key = randomUUID();
  const body = {
    type: 'external',
    fromAccountId: from.id,
    beneficiary: { iban: 'DE89370400440532013000', name: 'ivan sanctioned' },
    amount: '10.00',
    currency: 'EUR',
  };
  const refused = await post('/api/transactions', fay.token, body, key);
  assertProblem(t, refused, 422, 'transfer_rejected');
  t.match(json(refused), { rules: ['sanctioned_payee'] });
  const [record] = await eventsOf(transferIdFor(fay.id, key));
  t.match(record, {
    type: 'TransferRefused',
    data: {
      rejection: { code: 'transfer_rejected', rules: ['sanctioned_payee'] },
      risk: {
        findings: [{ ruleId: 'sanctioned_payee', figures: { matchedOn: 'name', watchListEntry: '0' } }],
      },
    },
  });
  t.equal((await post('/api/transactions', fay.token, body, key)).body, refused.body, 'the same answer');
  const byIban = await post('/api/transactions', fay.token, {
    ...body,
    beneficiary: { iban: 'GB33 BUKB 2020 1555 5555 55', name: 'Someone' },
  });
  assertProblem(t, byIban, 422, 'transfer_rejected');
  t.match(await balances(fay, from.id), { balance: '20000.00', availableBalance: '20000.00' });
});

/** The director's user id, from their own profile. */
async function directorId(): Promise<string> {
  return json(await get('/api/auth/me', director)).user.id;
}
