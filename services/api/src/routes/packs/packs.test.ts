import { randomUUID } from 'node:crypto';
import { bearer, json, ledgerHarness, type User } from '@ledger/api/testing';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { packsProjection } from '@ledger/projection-packs';
import t from 'tap';

// Issue #19 through HTTP, against real PostgreSQL: the pack catalog (public, drafts for
// staff), its definition by managers (amounts checked, nothing written for a bad one),
// subscriptions (the first fee debited at once, refusals, Idempotency-Key), the lists read
// from the `packs` read model with ?minPosition=, cancellation and change of pack.

const h = await ledgerHarness(t, 'api_packs', {
  customerPrefix: 'pack',
  roles: ['agent', 'manager'],
  projections: [packsProjection, accountsProjection, transactionsProjection],
});
const { app, f, assertProblem, customer, get, post, openAccount, deposit, balanceOf, roles } = h;
const { manager, agent } = roles;

const definition = (overrides: Record<string, unknown> = {}) => ({
  name: `Pack ${randomUUID().slice(0, 8)}`,
  description: 'A pack for the tests.',
  monthlyFee: '12.90',
  currency: 'EUR',
  benefits: { transferAmountMax: '25000.00', freeExternalTransfers: 20 },
  status: 'active',
  ...overrides,
});

const put = (url: string, token: string, payload: unknown) =>
  app.inject({ method: 'PUT', url, headers: bearer(token), payload: payload as object });
const del = (url: string, token: string) => app.inject({ method: 'DELETE', url, headers: bearer(token) });

/** A pack created by the manager (answered 201, or thrown). */
async function createPack(overrides: Record<string, unknown> = {}) {
  const response = await post('/api/packs', manager.token, definition(overrides), null);
  if (response.statusCode !== 201) throw new Error(`create pack: ${response.body}`);
  const body = json(response);
  return { ...body.pack, position: body.position as string } as { id: string; position: string } & Record<
    string,
    any
  >;
}

async function funded(amount = '100.00') {
  const user = await customer();
  const account = await openAccount(user);
  await deposit(account.id, amount);
  return { user, account };
}

const subscribe = (user: User, packId: string, accountId: string, key: string | null = null) =>
  post(`/api/packs/${packId}/subscribe`, user.token, { accountId }, key);

const active = await createPack({ name: 'Premium', monthlyFee: '12.90' });
const cheap = await createPack({ name: 'Essential', monthlyFee: '2.00', benefits: {} });
const draft = await createPack({ name: 'Coming soon', status: 'draft' });
const retiredCreated = await createPack({ name: 'Legacy' });
const retiredResponse = await put(
  `/api/packs/${retiredCreated.id}`,
  manager.token,
  definition({ name: 'Legacy', status: 'retired' }),
);
const retired = json(retiredResponse);

t.test('the catalog is public: active and retired packs; drafts for staff only', async (t) => {
  t.equal(retiredResponse.statusCode, 200, retiredResponse.body);
  const anonymous = await get(`/api/packs?minPosition=${retired.position}`);
  t.equal(anonymous.statusCode, 200, anonymous.body);
  const ids = json(anonymous).items.map((p: { id: string }) => p.id);
  t.same(ids, [active.id, cheap.id, retiredCreated.id], 'oldest first, no draft');
  const premium = json(anonymous).items[0];
  t.same(premium.benefits, { transferAmountMax: '25000.00', freeExternalTransfers: 20 });
  t.equal(premium.monthlyFee, '12.90', 'a decimal string');
  t.equal(json(anonymous).items[2].status, 'retired');

  const asCustomer = json(await get('/api/packs', (await customer()).token));
  t.notOk(
    asCustomer.items.some((p: { id: string }) => p.id === draft.id),
    'a customer sees no draft',
  );
  for (const who of [agent, manager]) {
    const staffIds = json(await get('/api/packs', who.token)).items.map((p: { id: string }) => p.id);
    t.ok(staffIds.includes(draft.id), 'staff see the draft');
  }
  const drafts = json(await get('/api/packs?status=draft'));
  t.same(drafts.items, [], 'asking for drafts without a token: none');

  t.equal((await get(`/api/packs/${active.id}`)).statusCode, 200, 'one pack, no token');
  t.equal(json(await get(`/api/packs/${active.id}`)).pack.name, 'Premium');
  assertProblem(t, await get(`/api/packs/${draft.id}`), 404, 'not_found');
  t.equal((await get(`/api/packs/${draft.id}`, agent.token)).statusCode, 200, 'staff read a draft');
  assertProblem(t, await get(`/api/packs/${randomUUID()}`), 404, 'not_found');
  assertProblem(t, await get('/api/packs', 'not-a-token'), 401, 'unauthorized');
});

t.test('the catalog pages with cursor and limit, each pack once', async (t) => {
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = `limit=1${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const response = await get(`/api/packs?${query}`, manager.token);
    t.equal(response.statusCode, 200, response.body);
    const page = json(response);
    seen.push(...page.items.map((p: { id: string }) => p.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== null && pages < 20);
  t.same(seen, [active.id, cheap.id, draft.id, retiredCreated.id]);
  assertProblem(t, await get('/api/packs?cursor=bogus'), 400, 'validation_failed');
  assertProblem(t, await get('/api/packs?limit=201'), 400, 'validation_failed');
  assertProblem(t, await get('/api/packs?limit=0'), 400, 'validation_failed');
});

t.test('managers define and edit packs; others get 403', async (t) => {
  const someone = await customer();
  assertProblem(t, await post('/api/packs', someone.token, definition(), null), 403, 'forbidden');
  assertProblem(t, await post('/api/packs', agent.token, definition(), null), 403, 'forbidden');
  assertProblem(t, await post('/api/packs', '', definition(), null), 401, 'unauthorized');
  const created = await createPack({ name: 'Editable', status: 'draft' });
  t.equal(created.version, 1);
  t.equal(created.status, 'draft');
  assertProblem(t, await put(`/api/packs/${created.id}`, someone.token, definition()), 403, 'forbidden');

  const changed = await put(
    `/api/packs/${created.id}`,
    manager.token,
    definition({ name: 'Editable', monthlyFee: '3.50', currency: 'USD', status: 'active' }),
  );
  t.equal(changed.statusCode, 200, changed.body);
  t.match(json(changed).pack, { version: 2, monthlyFee: '3.50', currency: 'USD', status: 'active' });
  t.match(json(changed).position, /^[0-9]+$/);
  const read = await get(`/api/packs/${created.id}?minPosition=${json(changed).position}`);
  t.equal(json(read).pack.monthlyFee, '3.50', 'read your write');

  assertProblem(
    t,
    await put(`/api/packs/${created.id}`, manager.token, definition({ currency: 'EUR' })),
    422,
    'pack_currency_fixed',
  );
  assertProblem(
    t,
    await put(`/api/packs/${retiredCreated.id}`, manager.token, definition({ name: 'Legacy' })),
    422,
    'pack_retired',
  );
  assertProblem(t, await put(`/api/packs/${randomUUID()}`, h.director, definition()), 404, 'pack_not_found');

  // An Idempotency-Key: the same body again is the same pack; another body a conflict.
  const key = randomUUID();
  const body = definition({ name: 'Keyed' });
  const first = await post('/api/packs', manager.token, body, key);
  const again = await post('/api/packs', manager.token, body, key);
  t.equal(first.statusCode, 201, first.body);
  t.equal(again.statusCode, 201, again.body);
  t.equal(json(again).pack.id, json(first).pack.id, 'one pack for one key');
  assertProblem(
    t,
    await post('/api/packs', manager.token, { ...body, monthlyFee: '9.99' }, key),
    409,
    'idempotency_conflict',
  );
});

t.test('a fee that is not an amount string: 400 validation_failed, nothing written', async (t) => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['a JSON number', { monthlyFee: 12.9 }, 'body.monthlyFee'],
    ['negative', { monthlyFee: '-1.00' }, 'body.monthlyFee'],
    ['too many decimals', { monthlyFee: '1.001' }, 'body.monthlyFee'],
    ['exponent', { monthlyFee: '1e3' }, 'body.monthlyFee'],
    ['too many decimals for JPY', { monthlyFee: '100.5', currency: 'JPY' }, 'body.monthlyFee'],
    ['unknown currency', { currency: 'XYZ' }, 'body.currency'],
    ['a lower-case currency', { currency: 'eur' }, 'body.currency'],
    ['a benefit limit of 0', { benefits: { dailyDebitMax: '0' } }, 'body.benefits.dailyDebitMax'],
    ['an unknown field', { color: 'gold' }, 'body'],
  ];
  const head = await f.store.lastWrittenPosition();
  for (const [what, overrides, path] of cases) {
    for (const response of [
      await post('/api/packs', manager.token, definition(overrides), null),
      await put(`/api/packs/${active.id}`, manager.token, definition({ name: 'Premium', ...overrides })),
    ]) {
      assertProblem(t, response, 400, 'validation_failed');
      const errors = json(response).errors as { path: string }[];
      t.ok(
        errors.some((e) => e.path === path),
        `${what}: ${path} named (${JSON.stringify(errors)})`,
      );
    }
  }
  t.equal(await f.store.lastWrittenPosition(), head, 'nothing written');
  t.equal(json(await get(`/api/packs/${active.id}`)).pack.monthlyFee, '12.90', 'the pack is as it was');
});

t.test('subscribe: 201, the first fee debited at once; the refusals', async (t) => {
  const { user, account } = await funded('100.00');
  const response = await subscribe(user, active.id, account.id);
  t.equal(response.statusCode, 201, response.body);
  const { subscription, position } = json(response);
  t.match(subscription, {
    packId: active.id,
    accountId: account.id,
    userId: user.id,
    status: 'active',
    endsAt: null,
  });
  t.equal(subscription.nextFeeAt, subscription.currentPeriodEnd, 'the next fee at the next period');
  t.ok(Date.parse(subscription.currentPeriodEnd) > Date.parse(subscription.startedAt));
  t.match(position, /^[0-9]+$/);
  t.match(response.headers['cache-control'] ?? '', /no-store/);
  t.equal(await balanceOf(user, account.id), '87.10', 'the fee of 12.90 debited');
  const statement = await get(`/api/accounts/${account.id}/transactions?minPosition=${position}`, user.token);
  t.equal(statement.statusCode, 200, statement.body);
  const feeLines = json(statement).items.filter((line: { code: string }) => line.code === 'fee');
  t.match(
    feeLines,
    [{ direction: 'debit', amount: '12.90', balanceAfter: '87.10' }],
    'the statement shows the fee',
  );
  t.equal(feeLines.length, 1, 'one fee line');

  const stranger = await customer();
  assertProblem(t, await subscribe(stranger, cheap.id, account.id), 404, 'not_found');
  assertProblem(t, await subscribe(user, active.id, account.id), 409, 'already_subscribed');
  assertProblem(t, await subscribe(user, cheap.id, account.id), 409, 'already_subscribed');
  const second = await openAccount(user);
  assertProblem(t, await subscribe(user, retiredCreated.id, second.id), 422, 'pack_retired');
  assertProblem(t, await subscribe(user, draft.id, second.id), 404, 'pack_not_found');
  assertProblem(t, await subscribe(user, randomUUID(), second.id), 404, 'pack_not_found');
  const dollars = await openAccount(user, 'USD');
  assertProblem(t, await subscribe(user, active.id, dollars.id), 422, 'currency_mismatch');
  assertProblem(t, await subscribe(user, active.id, randomUUID()), 404, 'not_found');
  t.equal(await balanceOf(user, account.id), '87.10', 'no refusal moved money');
});

t.test('subscribe with an Idempotency-Key: the same request once; the key elsewhere 409', async (t) => {
  const { user, account } = await funded('50.00');
  const key = randomUUID();
  const first = await subscribe(user, cheap.id, account.id, key);
  const again = await subscribe(user, cheap.id, account.id, key);
  t.equal(first.statusCode, 201, first.body);
  t.equal(again.statusCode, 201, again.body);
  t.equal(json(again).subscription.id, json(first).subscription.id, 'the same subscription');
  t.equal(await balanceOf(user, account.id), '48.00', 'one fee of 2.00');
  const other = await openAccount(user);
  assertProblem(t, await subscribe(user, cheap.id, other.id, key), 409, 'idempotency_conflict');
  assertProblem(t, await subscribe(user, active.id, account.id, key), 409, 'idempotency_conflict');
  const id = json(first).subscription.id;
  const changed = await post(`/api/subscriptions/${id}/change`, user.token, { packId: active.id }, null);
  t.equal(changed.statusCode, 200, changed.body);
  const later = await subscribe(user, cheap.id, account.id, key);
  t.equal(later.statusCode, 201, 'the key still asks what it asked, after a change of pack');
  t.match(json(later).subscription, { id, packId: active.id });
  assertProblem(
    t,
    await post(`/api/packs/${cheap.id}/subscribe`, user.token, { accountId: account.id }, 'not-a-uuid'),
    400,
    'validation_failed',
  );
});

t.test('subscriptions: my own; staff all or ?userId=; another customer’s is 404', async (t) => {
  const ann = await funded();
  const bob = await funded();
  const annSub = json(await subscribe(ann.user, cheap.id, ann.account.id));
  const bobSub = json(await subscribe(bob.user, cheap.id, bob.account.id));
  // Bob's is the later write: the read model at its position has Ann's too.
  const mine = await get(`/api/subscriptions?minPosition=${bobSub.position}`, ann.user.token);
  t.equal(mine.statusCode, 200, mine.body);
  t.same(
    json(mine).items.map((s: { id: string }) => s.id),
    [annSub.subscription.id],
  );
  t.match(mine.headers['cache-control'] ?? '', /no-store/);
  const annAsked = json(await get(`/api/subscriptions?userId=${bob.user.id}`, ann.user.token));
  t.same(
    annAsked.items.map((s: { id: string }) => s.id),
    [annSub.subscription.id],
    'a customer’s ?userId= is ignored: still their own',
  );
  const bobs = json(await get(`/api/subscriptions?userId=${bob.user.id}`, agent.token));
  t.same(
    bobs.items.map((s: { id: string }) => s.id),
    [bobSub.subscription.id],
  );
  const all = json(await get('/api/subscriptions?limit=200', manager.token));
  const allIds = all.items.map((s: { id: string }) => s.id);
  t.ok(allIds.includes(annSub.subscription.id) && allIds.includes(bobSub.subscription.id), 'staff: all');
  t.equal(allIds[0], bobSub.subscription.id, 'newest first');
  const byAccount = json(await get(`/api/subscriptions?accountId=${ann.account.id}`, agent.token));
  t.same(
    byAccount.items.map((s: { id: string }) => s.id),
    [annSub.subscription.id],
  );

  const one = await get(`/api/subscriptions/${annSub.subscription.id}`, ann.user.token);
  t.equal(one.statusCode, 200, one.body);
  t.same(json(one).subscription, annSub.subscription, 'the read model agrees with the command');
  assertProblem(
    t,
    await get(`/api/subscriptions/${annSub.subscription.id}`, bob.user.token),
    404,
    'not_found',
  );
  t.equal((await get(`/api/subscriptions/${annSub.subscription.id}`, agent.token)).statusCode, 200);
  assertProblem(t, await get(`/api/subscriptions/${randomUUID()}`, agent.token), 404, 'not_found');
  assertProblem(t, await get('/api/subscriptions'), 401, 'unauthorized');
  assertProblem(t, await get('/api/subscriptions?cursor=bogus', agent.token), 400, 'validation_failed');
});

t.test('cancel: 200, benefits to the end of the period, no fee after; the slot is free', async (t) => {
  const { user, account } = await funded();
  const started = json(await subscribe(user, active.id, account.id)).subscription;
  assertProblem(t, await del(`/api/subscriptions/${started.id}`, (await customer()).token), 404, 'not_found');

  const response = await del(`/api/subscriptions/${started.id}`, user.token);
  t.equal(response.statusCode, 200, response.body);
  const { subscription, position } = json(response);
  t.equal(subscription.status, 'cancelled', 'as the use case answers');
  t.equal(subscription.endsAt, started.currentPeriodEnd, 'effective at the end of the period');
  t.equal(subscription.nextFeeAt, null, 'no fee from now on');
  const read = await get(`/api/subscriptions/${started.id}?minPosition=${position}`, user.token);
  t.match(json(read).subscription, { status: 'cancelled', endsAt: started.currentPeriodEnd });

  const again = await del(`/api/subscriptions/${started.id}`, user.token);
  t.equal(again.statusCode, 200, 'cancelling again: as it is');
  t.equal(json(again).subscription.endsAt, started.currentPeriodEnd);
  assertProblem(
    t,
    await post(`/api/subscriptions/${started.id}/change`, user.token, { packId: cheap.id }, null),
    422,
    'subscription_inactive',
  );
  t.equal(await balanceOf(user, account.id), '87.10', 'only the first fee');
  const next = await subscribe(user, cheap.id, account.id);
  t.equal(next.statusCode, 201, `the account takes a pack again (${next.body})`);
});

t.test('change of pack: 200, the difference for the days left charged at once', async (t) => {
  const { user, account } = await funded();
  const started = json(await subscribe(user, cheap.id, account.id)).subscription;
  t.equal(await balanceOf(user, account.id), '98.00');
  const response = await post(
    `/api/subscriptions/${started.id}/change`,
    user.token,
    { packId: active.id },
    null,
  );
  t.equal(response.statusCode, 200, response.body);
  t.match(json(response).subscription, { id: started.id, packId: active.id, status: 'active' });
  // Changed on the day it started: every day of the period is left, the whole difference.
  t.equal(await balanceOf(user, account.id), '87.10', '12.90 − 2.00 = 10.90 charged');
  const read = await get(
    `/api/subscriptions/${started.id}?minPosition=${json(response).position}`,
    user.token,
  );
  t.equal(json(read).subscription.packId, active.id);

  const change = (packId: string, who = user) =>
    post(`/api/subscriptions/${started.id}/change`, who.token, { packId }, null);
  assertProblem(t, await change(active.id), 409, 'already_subscribed');
  assertProblem(t, await change(retiredCreated.id), 422, 'pack_retired');
  assertProblem(t, await change(draft.id), 404, 'pack_not_found');
  assertProblem(t, await change(cheap.id, await customer()), 404, 'not_found');
  assertProblem(t, await change(cheap.id, agent), 404, 'not_found');
});

t.test('OpenAPI documents the packs routes with their schemas', async (t) => {
  const doc = json(await get('/openapi.json'));
  t.ok(doc.paths['/api/packs']?.get && doc.paths['/api/packs']?.post);
  t.ok(doc.paths['/api/packs/{id}']?.get && doc.paths['/api/packs/{id}']?.put);
  t.ok(doc.paths['/api/packs/{id}/subscribe']?.post?.responses?.['201']);
  t.ok(doc.paths['/api/subscriptions']?.get);
  t.ok(doc.paths['/api/subscriptions/{id}']?.get && doc.paths['/api/subscriptions/{id}']?.delete);
  t.ok(doc.paths['/api/subscriptions/{id}/change']?.post);
  t.same(doc.paths['/api/packs'].get.security, [{}, { bearerAuth: [] }], 'the catalog: token optional');
  t.ok(doc.components?.schemas?.Pack && doc.components?.schemas?.Subscription, 'Pack and Subscription');
});
