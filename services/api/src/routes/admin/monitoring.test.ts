import { randomUUID } from 'node:crypto';
import { bearer, json, ledgerHarness } from '@ledger/api/testing';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { auditProjection } from '@ledger/projection-audit';
import { usersProjection } from '@ledger/projection-users';
import t, { type Test } from 'tap';

// The admin monitoring read side (issue #17): GET /api/admin/transactions (the review queue
// and its filters), /stats and /audit, through app.inject() against real PostgreSQL, with the
// read models they read running. Transfers held for review (and reviewed) are appended as the
// ledger writes them: these routes read the model, whoever holds the transfers.

const h = await ledgerHarness(t, 'api_admin_monitoring', {
  roles: ['agent', 'manager', 'auditor'],
  projections: [usersProjection, accountsProjection, transactionsProjection, auditProjection],
});
const { app, f, director, assertProblem, customer, openAccount, deposit, transfer, get } = h;
const { agent, manager, auditor } = h.roles;

interface Transaction {
  id: string;
  type: string;
  status: string;
  fromAccountId: string;
  toAccountId: string;
  amount: string;
  currency: string;
  riskFlags: string[];
  review: { decision: string; reviewerId: string; reason: string; at: string } | null;
  createdAt: string;
  position: string;
}
interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

// The bank's day: three customers (two KYC verified), accounts in EUR and JPY, deposits, a
// transfer, a pending hold, and two transfers held by the rules (one rejected since).
const alice = await customer(true);
const bob = await customer(true);
const carol = await customer(false);
const aliceEur = (await openAccount(alice)).id;
const bobEur = (await openAccount(bob)).id;
const aliceJpy = (await openAccount(alice, 'JPY')).id;
await deposit(aliceEur, '1000.00');
await deposit(bobEur, '250.50');
await deposit(aliceJpy, '5000', 'JPY');
const created = async (body: Record<string, unknown>) => {
  const response = await transfer(alice, body);
  if (response.statusCode !== 201) throw new Error(`transfer: ${response.body}`);
  return json(response).transaction as Transaction;
};
const paid = await created({ fromAccountId: aliceEur, toAccountId: bobEur, amount: '100.25' });
const pending = await created({
  fromAccountId: aliceEur,
  toAccountId: bobEur,
  amount: '50.00',
  mode: 'pending',
});

const heldId = randomUUID();
const rejectedId = randomUUID();
const reviewerId = manager.id;
const transferBody = (transferId: string, from: string, to: string, amount: string) => ({
  transferId,
  debitAccountId: from,
  creditAccountId: to,
  amount,
  currency: 'EUR',
  code: 'transfer',
  reference: null,
  reversalOf: null,
});
const heldEvent = (transferId: string, from: string, to: string, amount: string, flag: string) => ({
  type: 'TransferPending',
  data: {
    ...transferBody(transferId, from, to, amount),
    timeoutSeconds: 172_800,
    expiresAt: new Date(Date.now() + 172_800_000).toISOString(),
    risk: {
      settingsVersion: '0',
      outcome: 'review',
      flags: [flag],
      shadow: [],
      findings: [{ ruleId: flag, mode: 'active', outcome: 'review', figures: {} }],
    },
    review: { reasons: [flag], requestedBy: alice.id, requestedMode: 'single-phase' },
    at: new Date().toISOString(),
  },
  metadata: { actorId: alice.id },
});
await f.store.append([
  {
    streamId: `transfer-${heldId}`,
    expectedVersion: 'no_stream',
    events: [heldEvent(heldId, aliceEur, bobEur, '30000', 'large_amount')],
  },
]);
await f.store.append([
  {
    streamId: `transfer-${rejectedId}`,
    expectedVersion: 'no_stream',
    events: [heldEvent(rejectedId, bobEur, aliceEur, '2000', 'velocity')],
  },
]);
const at = new Date().toISOString();
await f.store.append([
  {
    streamId: `transfer-${rejectedId}`,
    expectedVersion: 'any',
    events: [
      {
        type: 'TransferReviewed',
        data: {
          transferId: rejectedId,
          code: 'transfer',
          decision: 'rejected',
          reviewerId,
          reason: 'not the customer',
          at,
        },
        metadata: { actorId: reviewerId },
      },
      {
        type: 'PendingTransferVoided',
        data: { transferId: rejectedId, reason: 'not the customer', at },
        metadata: { actorId: reviewerId },
      },
    ],
  },
]);
/** Every GET below waits for the read models to reach what was written so far. */
let minPosition = (await f.store.lastWrittenPosition()).toString();

const list = async (query: string, token = manager.token): Promise<Page<Transaction>> => {
  const response = await get(`/api/admin/transactions?minPosition=${minPosition}&${query}`, token);
  if (response.statusCode !== 200) throw new Error(`list ${query}: ${response.body}`);
  return json(response) as Page<Transaction>;
};
const ids = async (query: string) => (await list(`limit=200&${query}`)).items.map((x) => x.id);

/** Every item of a list, following nextCursor pages of `limit`: each must come once, in order. */
async function walk<T extends { position: string }>(
  t: Test,
  url: (cursor: string | null) => string,
  token: string,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const response = await get(url(cursor), token);
    t.equal(response.statusCode, 200, response.body.slice(0, 200));
    const page = json(response) as Page<T>;
    items.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === null) break;
  }
  t.equal(cursor, null, 'the last page says so');
  const positions = items.map((x) => BigInt(x.position));
  t.ok(
    positions.every((p, i) => i === 0 || p < positions[i - 1]!),
    'newest first, no item twice',
  );
  return items;
}

t.test('GET /api/admin/transactions: the transaction object, newest first', async (t) => {
  const page = await list('limit=200');
  t.equal(page.nextCursor, null);
  t.equal(page.items.length, 7, '3 deposits, a transfer, a hold, 2 held by the rules');
  t.same(
    page.items.slice(0, 4).map((x) => x.id),
    [rejectedId, heldId, pending.id, paid.id],
  );
  t.match(page.items[1], {
    id: heldId,
    type: 'transfer',
    status: 'held_for_review',
    fromAccountId: aliceEur,
    toAccountId: bobEur,
    amount: '300.00',
    postedAmount: null,
    currency: 'EUR',
    riskFlags: ['large_amount'],
    review: null,
  });
  t.match(page.items[0], {
    status: 'voided',
    riskFlags: ['velocity'],
    review: { decision: 'rejected', reviewerId, reason: 'not the customer', at },
  });
  t.match(page.items[3], { id: paid.id, status: 'posted', riskFlags: [], review: null, amount: '100.25' });
  for (const token of [agent.token, auditor.token, director]) {
    t.equal((await list('limit=200', token)).items.length, 7, 'staff and the auditor read it');
  }
});

t.test('GET /api/admin/transactions: each filter narrows the list', async (t) => {
  t.same(await ids('status=held_for_review'), [heldId], 'the review queue');
  t.same(await ids('status=voided'), [rejectedId]);
  t.same(await ids('status=pending'), [pending.id]);
  t.same(await ids('status=returned'), []);
  t.same(await ids('riskFlag=large_amount'), [heldId]);
  t.same(await ids('riskFlag=velocity'), [rejectedId]);
  t.same(await ids('riskFlag=sanctioned_payee'), []);
  t.same(await ids('riskFlag=large_amount&status=held_for_review'), [heldId], 'filters combine');
  t.same(await ids('riskFlag=large_amount&status=posted'), []);
  t.same(
    await ids(`accountId=${aliceJpy}`),
    (await list(`accountId=${aliceJpy}`)).items.map((x) => x.id),
  );
  t.equal((await ids(`accountId=${aliceJpy}`)).length, 1, 'the JPY deposit only');
  t.equal((await ids(`accountId=${bobEur}`)).length, 5, 'either side: deposit, transfer, hold, both held');
  t.equal((await ids(`accountId=${randomUUID()}`)).length, 0);

  // 300.00 EUR: the held one and the 1000.00 deposit, and 5000 JPY (each in its own currency).
  const bigOnes = await ids('minAmount=300');
  t.equal(bigOnes.length, 3);
  t.ok(bigOnes.includes(heldId));
  const yen = await ids('currency=JPY');
  t.equal(yen.length, 1);
  t.same(
    await ids('minAmount=300.00&currency=EUR'),
    bigOnes.filter((id) => id !== yen[0]),
  );
  t.equal((await ids('minAmount=300.01&currency=EUR')).length, 1, 'only the 1000.00 deposit');
  t.equal((await ids('minAmount=5000&currency=JPY')).length, 1);
  t.equal((await ids('minAmount=5001&currency=JPY')).length, 0);
  t.equal(
    (await ids('minAmount=100.25&currency=EUR')).length,
    4,
    'inclusive: 1000.00, 250.50, 300.00, 100.25',
  );

  // from inclusive, to exclusive, on createdAt: the list cut at an item's own time.
  const all = (await list('limit=200')).items;
  const cut = all[3]!.createdAt;
  const expectFrom = all.filter((x) => x.createdAt >= cut).map((x) => x.id);
  const expectTo = all.filter((x) => x.createdAt < cut).map((x) => x.id);
  t.same(await ids(`from=${encodeURIComponent(cut)}`), expectFrom);
  t.same(await ids(`to=${encodeURIComponent(cut)}`), expectTo);
  t.ok(expectFrom.includes(all[3]!.id) && !expectTo.includes(all[3]!.id), 'from inclusive, to exclusive');
  t.same(await ids(`from=${encodeURIComponent(cut)}&to=${encodeURIComponent(cut)}`), []);
  t.same(await ids(`from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00%2B01:00`), []);
});

t.test('GET /api/admin/transactions: following nextCursor yields each item once', async (t) => {
  const all = (await list('limit=200')).items.map((x) => x.id);
  for (const limit of [1, 2, 3]) {
    const walked = await walk<Transaction>(
      t,
      (cursor) =>
        `/api/admin/transactions?limit=${limit}&minPosition=${minPosition}${cursor === null ? '' : `&cursor=${cursor}`}`,
      auditor.token,
    );
    t.same(
      walked.map((x) => x.id),
      all,
      `pages of ${limit}: every item once, in order`,
    );
  }
  const bobs = await walk<Transaction>(
    t,
    (cursor) =>
      `/api/admin/transactions?limit=2&accountId=${bobEur}${cursor === null ? '' : `&cursor=${cursor}`}`,
    manager.token,
  );
  t.same(
    bobs.map((x) => x.id),
    await ids(`accountId=${bobEur}`),
    'a filtered list pages the same',
  );
});

t.test('GET /api/admin/transactions: customers 403, no token 401, bad filters 400', async (t) => {
  assertProblem(t, await get('/api/admin/transactions', alice.token), 403, 'forbidden');
  assertProblem(t, await get('/api/admin/transactions', carol.token), 403, 'forbidden');
  assertProblem(t, await get('/api/admin/transactions'), 401, 'unauthorized');
  for (const query of [
    'status=nope',
    'status=expired',
    'riskFlag=nope',
    'riskFlag=cash_approval_min',
    'limit=0',
    'limit=201',
    'limit=ten',
    'minAmount=1e3',
    'minAmount=-5',
    'minAmount=10.5.0',
    'minAmount=12.3456',
    'minAmount=1234567890123456',
    'minAmount=300.001&currency=EUR',
    'minAmount=1.5&currency=JPY',
    'currency=XXX',
    'currency=eur',
    'from=yesterday',
    'to=2026-13-01T00:00:00Z',
    'from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z',
    'accountId=not-a-uuid',
    'cursor=garbage',
    `cursor=${Buffer.from('a1:5').toString('base64url')}`,
    'minPosition=-1',
  ]) {
    const response = await get(`/api/admin/transactions?${query}`, manager.token);
    assertProblem(t, response, 400, 'validation_failed');
    t.ok(Array.isArray(json(response).errors), `${query}: errors listed`);
  }
});

t.test('GET /api/admin/stats: the figures of a known day, as exact strings', async (t) => {
  const response = await get(`/api/admin/stats?minPosition=${minPosition}`, auditor.token);
  t.equal(response.statusCode, 200, response.body);
  const stats = json(response);
  // Deposits: alice 1000.00 − 100.25 = 899.75, bob 250.50 + 100.25 = 350.75 (the hold is not
  // posted). Today: the two deposits, the transfer and the hold (posted or pending); the held
  // ones are not volume, one is held still.
  t.same(stats.currencies, [
    { currency: 'EUR', deposits: '1250.50', volumeToday: '1400.75', transfersToday: 4, heldForReview: 1 },
    { currency: 'JPY', deposits: '5000', volumeToday: '5000', transfersToday: 1, heldForReview: 0 },
  ]);
  t.same(stats.users, {
    total: 7,
    byRole: { customer: 3, agent: 1, manager: 1, director: 1, auditor: 1 },
    kycVerified: 2,
  });
  const names = (stats.projections as { name: string; lagPositions: number }[]).map((p) => p.name);
  for (const name of ['accounts', 'audit', 'transactions', 'users']) t.ok(names.includes(name), name);
  for (const p of stats.projections) t.ok(Number.isInteger(p.lagPositions) && p.lagPositions >= 0, p.name);
  t.same(names, [...names].sort(), 'by name');
  t.equal((await get('/api/admin/stats', agent.token)).statusCode, 200, 'staff read it too');
  assertProblem(t, await get('/api/admin/stats', alice.token), 403, 'forbidden');
  assertProblem(t, await get('/api/admin/stats?minPosition=x', manager.token), 400, 'validation_failed');
});

t.test('GET /api/admin/audit: a settings change, with the director as its actor', async (t) => {
  const me = json(await get('/api/auth/me', director)).user as { id: string };
  const put = await app.inject({
    method: 'PUT',
    url: '/api/admin/settings',
    headers: bearer(director),
    payload: { limits: {} },
  });
  t.equal(put.statusCode, 200, put.body);
  minPosition = json(put).position as string;
  interface Entry {
    position: string;
    type: string;
    actorId: string | null;
    streamId: string;
    recordedAt: string;
  }
  const audit = async (query: string, token = auditor.token) => {
    const response = await get(`/api/admin/audit?minPosition=${minPosition}&${query}`, token);
    t.equal(response.statusCode, 200, response.body.slice(0, 300));
    return json(response) as Page<Entry>;
  };
  const mine = await audit(`actorId=${me.id}&limit=200`);
  t.match(mine.items[0], { type: 'SettingsChanged', actorId: me.id, position: minPosition });
  t.ok(mine.items.length >= 2, 'and what the director did before (staff created)');
  t.ok(
    mine.items.every((e) => e.actorId === me.id),
    'only the director’s',
  );
  t.same(
    (await audit(`actorId=${reviewerId}&limit=200`)).items.slice(0, 2).map((e) => e.type),
    ['PendingTransferVoided', 'TransferReviewed'],
    'the manager’s review, newest first',
  );
  const everyone = await audit('limit=200');
  t.equal(everyone.items[0]?.position, minPosition, 'newest first');
  t.ok(new Set(everyone.items.map((e) => e.actorId)).size > 2, 'several actors');

  // from inclusive, to exclusive, on the recording time.
  const settingsAt = mine.items[0]!.recordedAt;
  t.equal(
    (await audit(`actorId=${me.id}&from=${encodeURIComponent(settingsAt)}`)).items[0]?.type,
    'SettingsChanged',
  );
  t.notOk(
    (await audit(`actorId=${me.id}&to=${encodeURIComponent(settingsAt)}&limit=200`)).items.some(
      (e) => e.type === 'SettingsChanged',
    ),
  );

  const walked = await walk<Entry>(
    t,
    (cursor) => `/api/admin/audit?limit=2&actorId=${me.id}${cursor === null ? '' : `&cursor=${cursor}`}`,
    manager.token,
  );
  t.same(
    walked.map((e) => e.position),
    mine.items.map((e) => e.position),
    'pages of 2: every entry once, in order',
  );

  t.equal((await get('/api/admin/audit', director)).statusCode, 200);
  assertProblem(t, await get('/api/admin/audit', agent.token), 403, 'forbidden');
  assertProblem(t, await get('/api/admin/audit', alice.token), 403, 'forbidden');
  for (const query of [
    'actorId=a%20b',
    'from=soon',
    'limit=500',
    'cursor=garbage',
    'from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z',
  ]) {
    assertProblem(t, await get(`/api/admin/audit?${query}`, auditor.token), 400, 'validation_failed');
  }
});

t.test('GET /openapi.json documents the monitoring routes with their schemas', async (t) => {
  const doc = json(await get('/openapi.json'));
  for (const path of ['/api/admin/transactions', '/api/admin/stats', '/api/admin/audit']) {
    t.ok(doc.paths?.[path]?.get?.responses?.['200'], `GET ${path}`);
    t.ok(doc.paths?.[path]?.get?.responses?.['403'], `GET ${path}: 403`);
  }
  t.ok(
    (doc.paths['/api/admin/transactions'].get.parameters as { name: string }[]).some(
      (p) => p.name === 'riskFlag',
    ),
    'the filters are parameters',
  );
});

t.test('past the wait: 503 read_model_behind, never a stale page', async (t) => {
  // The read models stop where they are; the log goes on.
  await Promise.all(h.runners.map((r) => r.stop()));
  const late = randomUUID();
  const { position } = await f.store.append([
    {
      streamId: `transfer-${late}`,
      expectedVersion: 'no_stream',
      events: [heldEvent(late, aliceEur, bobEur, '40000', 'large_amount')],
    },
  ]);
  const answers = await Promise.all(
    ['transactions?status=held_for_review', 'stats', 'audit'].map((path) =>
      get(`/api/admin/${path}${path.includes('?') ? '&' : '?'}minPosition=${position}`, manager.token),
    ),
  );
  for (const response of answers) {
    assertProblem(t, response, 503, 'read_model_behind');
    t.match(response.headers['retry-after'], /^[1-9][0-9]*$/);
  }
});
