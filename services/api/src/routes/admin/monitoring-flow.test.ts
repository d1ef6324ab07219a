import { bearer, json, ledgerHarness } from '@ledger/api/testing';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { usersProjection } from '@ledger/projection-users';
import t from 'tap';

// The review queue as the ledger fills it (issue #17): a transfer the rules hold and cash
// above cashApprovalMin, created through POST /api/transactions, are in GET
// /api/admin/transactions?status=held_for_review with the riskFlags the command answered,
// and in the stats; once a manager decided them (POST …/approve, /reject), they leave the
// queue with the decision. Real PostgreSQL, app.inject().

const h = await ledgerHarness(t, 'api_admin_queue', {
  roles: ['agent', 'manager', 'auditor'],
  projections: [usersProjection, accountsProjection, transactionsProjection],
});
const { app, director, customer, openAccount, post, transfer, get } = h;
const { agent, manager, auditor } = h.roles;

t.test('held by a rule or by the cash desk: in the queue, flagged as answered, then decided', async (t) => {
  const settings = await app.inject({
    method: 'PUT',
    url: '/api/admin/settings',
    headers: bearer(director),
    payload: {
      limits: {},
      cashApprovalMin: { EUR: '2000.00' },
      ruleThresholds: { reviewAmountMin: { EUR: '500.00' } },
    },
  });
  t.equal(settings.statusCode, 200, settings.body);
  const alice = await customer(true);
  const bob = await customer(true);
  const from = (await openAccount(alice)).id;
  const to = (await openAccount(bob)).id;
  const cash = (amount: string, accountId: string) =>
    post('/api/transactions', agent.token, { type: 'deposit', accountId, amount, currency: 'EUR' });

  const small = await cash('1000.00', from);
  t.equal(small.statusCode, 201, small.body);
  t.equal(json(small).transaction.status, 'posted');
  const sent = await transfer(alice, { fromAccountId: from, toAccountId: to, amount: '600.00' });
  t.equal(sent.statusCode, 201, sent.body);
  const held = json(sent).transaction;
  t.match(held, { status: 'held_for_review' });
  t.ok(held.riskFlags.includes('large_amount'), `flagged large_amount (${held.riskFlags})`);
  const big = await cash('3000.00', to);
  t.equal(big.statusCode, 201, big.body);
  const desk = json(big).transaction;
  t.match(desk, { status: 'held_for_review', riskFlags: [] }, 'cash above cashApprovalMin: held, no rule');

  const position = json(big).position as string;
  const queue = await get(
    `/api/admin/transactions?status=held_for_review&minPosition=${position}`,
    manager.token,
  );
  t.equal(queue.statusCode, 200, queue.body);
  t.same(
    json(queue).items.map((x: { id: string; riskFlags: string[]; status: string }) => [
      x.id,
      x.status,
      x.riskFlags,
    ]),
    [
      [desk.id, 'held_for_review', []],
      [held.id, 'held_for_review', held.riskFlags],
    ],
    'newest first, with the flags the command answered',
  );
  const flagged = await get('/api/admin/transactions?riskFlag=large_amount', auditor.token);
  t.same(
    json(flagged).items.map((x: { id: string }) => x.id),
    [held.id],
  );
  const mine = await get(`/api/transactions/${held.id}?minPosition=${position}`, alice.token);
  t.match(json(mine).transaction, { status: 'held_for_review', riskFlags: held.riskFlags });

  const stats = await get(`/api/admin/stats?minPosition=${position}`, manager.token);
  t.equal(stats.statusCode, 200, stats.body);
  // Only the small deposit moved money; the transfer's 600.00 is reserved, not posted.
  t.same(json(stats).currencies, [
    { currency: 'EUR', deposits: '1000.00', volumeToday: '1000.00', transfersToday: 1, heldForReview: 2 },
  ]);

  // A manager decides both: the transfer approved (posted), the cash rejected (voided).
  const decide = (id: string, decision: 'approve' | 'reject', reason: string) =>
    post(`/api/admin/transactions/${id}/${decision}`, manager.token, { reason });
  const approved = await decide(held.id, 'approve', 'customer called');
  t.equal(approved.statusCode, 200, approved.body);
  const rejected = await decide(desk.id, 'reject', 'no documents');
  t.equal(rejected.statusCode, 200, rejected.body);
  const after = json(rejected).position as string;
  const decided = await get(`/api/admin/transactions?minPosition=${after}&limit=2`, auditor.token);
  t.match(json(decided).items, [
    {
      id: desk.id,
      status: 'voided',
      riskFlags: [],
      review: { decision: 'rejected', reviewerId: manager.id, reason: 'no documents' },
    },
    {
      id: held.id,
      status: 'posted',
      postedAmount: '600.00',
      riskFlags: held.riskFlags,
      review: { decision: 'approved', reviewerId: manager.id, reason: 'customer called' },
    },
  ]);
  const empty = await get(
    `/api/admin/transactions?status=held_for_review&minPosition=${after}`,
    manager.token,
  );
  t.same(json(empty).items, [], 'the queue is empty');
  const later = await get(`/api/admin/stats?minPosition=${after}`, manager.token);
  t.same(json(later).currencies, [
    { currency: 'EUR', deposits: '1000.00', volumeToday: '1600.00', transfersToday: 2, heldForReview: 0 },
  ]);
});
