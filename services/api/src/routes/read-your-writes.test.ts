import { bearer, json, ledgerHarness } from '@ledger/api/testing';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { usersProjection } from '@ledger/projection-users';
import { type RunningProjection, runProjection } from '@ledger/readmodel';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';

// API.md, Conventions (issue #14, item 5), through app.inject() against real PostgreSQL and
// Redis: a GET given `?minPosition=` (or X-Min-Position) answers from a read model that has
// reached the position; when it has not within the wait, 503 read_model_behind with a
// Retry-After, never a 404 for the client's own new transfer or its stale balance.

const projections = [accountsProjection, transactionsProjection, usersProjection];
const h = await ledgerHarness(t, 'api_read_your_writes', {
  projections,
  waitForProjections: true,
  roles: ['agent', 'auditor'],
  noStackTrace: true,
});
const { f, runners, director, assertProblem, customer, get, openAccount, deposit, transfer } = h;
const { auditor } = h.roles;

const alice = await customer();
const from = await openAccount(alice);
const to = await openAccount(alice);
await deposit(from.id, '100.00');

/** The 503 a GET past the wait answers: problem details, with a Retry-After. */
function assertBehind(t: Test, response: LightMyRequestResponse, what: string) {
  t.equal(response.statusCode, 503, `${what}: 503 (${response.body.slice(0, 300)})`);
  t.match(response.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`);
  t.match(json(response), { status: 503, code: 'read_model_behind' }, `${what}: read_model_behind`);
  t.match(response.headers['retry-after'], /^[1-9][0-9]*$/, `${what}: Retry-After in whole seconds`);
}

t.test('within the wait: the read models reached the position, 200 with the write in it', async (t) => {
  const sent = await transfer(alice, { fromAccountId: from.id, toAccountId: to.id, amount: '10.00' });
  t.equal(sent.statusCode, 201, sent.body);
  const { transaction, position } = json(sent);
  const one = await get(`/api/transactions/${transaction.id}?minPosition=${position}`, alice.token);
  t.equal(one.statusCode, 200, one.body);
  t.match(json(one).transaction, { id: transaction.id, status: 'posted', amount: '10.00' });
  const account = await get(`/api/accounts/${from.id}?minPosition=${position}`, alice.token);
  t.equal(account.statusCode, 200, account.body);
  t.equal(json(account).account.balance, '90.00');
  const balance = await get(`/api/accounts/${from.id}/balance?minPosition=${position}`, alice.token);
  t.equal(balance.statusCode, 200, balance.body);
  t.equal(json(balance).balance, '90.00');
});

t.test('past the wait: 503 read_model_behind with Retry-After, never a 404 or a stale 200', async (t) => {
  // The read models stop where they are; the log goes on.
  await Promise.all(runners.map((r) => r.stop()));
  const sent = await transfer(alice, { fromAccountId: from.id, toAccountId: to.id, amount: '25.00' });
  t.equal(sent.statusCode, 201, sent.body);
  const { transaction, position } = json(sent);
  const id = transaction.id as string;
  const mine = alice.token;

  // Concurrent, so the file waits about one wait rather than one per GET.
  const [one, byHeader, list, account, accounts, statement, users, trialBalance] = await Promise.all([
    get(`/api/transactions/${id}?minPosition=${position}`, mine),
    h.app.inject({
      method: 'GET',
      url: `/api/transactions/${id}`,
      headers: { ...bearer(mine), 'x-min-position': String(position) },
    }),
    get(`/api/transactions?accountId=${from.id}&minPosition=${position}`, mine),
    get(`/api/accounts/${from.id}?minPosition=${position}`, mine),
    get(`/api/accounts?minPosition=${position}`, mine),
    get(`/api/accounts/${from.id}/transactions?minPosition=${position}`, mine),
    get(`/api/admin/users?minPosition=${position}`, director),
    get(`/api/audit/trial-balance?minPosition=${position}`, auditor.token),
  ]);
  assertBehind(t, one, 'GET /api/transactions/:id');
  assertBehind(t, byHeader, 'GET /api/transactions/:id with X-Min-Position');
  assertBehind(t, list, 'GET /api/transactions');
  assertBehind(t, account, 'GET /api/accounts/:id (its balance would be stale)');
  assertBehind(t, accounts, 'GET /api/accounts');
  assertBehind(t, statement, 'GET /api/accounts/:id/transactions');
  assertBehind(t, users, 'GET /api/admin/users');
  assertBehind(t, trialBalance, 'GET /api/audit/trial-balance');

  // The balance is folded from the account's events, not from a read model: it has the
  // transfer at once, whatever the projections do.
  const balance = await get(`/api/accounts/${from.id}/balance?minPosition=${position}`, mine);
  t.equal(balance.statusCode, 200, balance.body);
  t.equal(json(balance).balance, '65.00', 'the balance has the transfer: not stale');

  // Someone else's transaction is still a 404, and so is one that does not exist: the
  // wait never reveals what a caller may not read.
  const bob = await customer();
  assertProblem(t, await get(`/api/transactions/${id}?minPosition=${position}`, bob.token), 404, 'not_found');

  // The read models come back: the same GETs answer 200 with the write in them.
  const restarted: RunningProjection[] = projections.map((projection) =>
    runProjection({ db: f.database.db, store: f.store, projection, logger: f.logger }),
  );
  t.teardown(() => Promise.all(restarted.map((r) => r.stop())));
  const again = await get(`/api/transactions/${id}?minPosition=${position}`, mine);
  t.equal(again.statusCode, 200, again.body);
  t.match(json(again).transaction, { id, status: 'posted', amount: '25.00' });
  const accountAgain = await get(`/api/accounts/${from.id}?minPosition=${position}`, mine);
  t.equal(accountAgain.statusCode, 200, accountAgain.body);
  t.equal(json(accountAgain).account.balance, '65.00');
});

t.test('the OpenAPI document names minPosition and the 503 on each of these GETs', async (t) => {
  const document = json(await get('/openapi.json'));
  const paths = [
    '/api/transactions/{id}',
    '/api/transactions',
    '/api/accounts/{id}',
    '/api/accounts',
    '/api/accounts/{id}/transactions',
    '/api/admin/users',
    '/api/audit/trial-balance',
  ];
  for (const path of paths) {
    const operation = document.paths[path]?.get;
    t.ok(operation, `GET ${path} is documented`);
    const parameter = (operation?.parameters ?? []).find(
      (p: { name: string; in: string }) => p.name === 'minPosition' && p.in === 'query',
    );
    t.ok(parameter, `GET ${path} documents ?minPosition=`);
    t.ok(operation?.responses?.['503'], `GET ${path} documents its 503`);
  }
  // The balance is folded from the log, which holds every position a command answered:
  // it takes minPosition (any GET does) and never waits for it.
  const balance = document.paths['/api/accounts/{id}/balance']?.get;
  t.ok((balance?.parameters ?? []).some((p: { name: string }) => p.name === 'minPosition'));
});
