import { randomUUID } from 'node:crypto';
import { parseTransferEvent } from '@ledger/domain/ledger';
import type { StreamWrite } from '@ledger/eventstore';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { rebuildProjection, runProjection } from '@ledger/readmodel';
import { sql } from 'kysely';
import t from 'tap';
import {
  accountsProjection,
  currencyStats,
  getTransaction,
  listTransactions,
  transactionsProjection,
} from './index.js';

// The fraud review in the transactions model (issue #17): risk flags from the event that
// created a transfer, `held_for_review` while a manager has not decided, and the decision
// (TransferReviewed) with what follows it. Events are appended as the ledger writes them,
// without the deciders: the model reads them whether or not the domain's lists name them yet.

const logger = createLogger({ level: 'silent', name: 'transactions-review-test' });
const { store, database } = await openTestStore('transactions_review', t);

const metadata = { actorId: 'test' };
const day = '2026-03-02';
const time = (hhmm: string) => `${day}T${hhmm}:00.000Z`;

type Data = Record<string, unknown>;
const write = (transferId: string, events: { type: string; data: Data }[]): StreamWrite => ({
  streamId: `transfer-${transferId}`,
  expectedVersion: 'any',
  events: events.map((e) => ({ ...e, metadata })),
});
const append = async (...writes: StreamWrite[]) => (await store.append(writes)).position;

const [debit, credit] = [randomUUID(), randomUUID()];
const body = (
  transferId: string,
  amount: string,
  options: { currency?: string; code?: string; at?: string } = {},
): Data => ({
  transferId,
  debitAccountId: debit,
  creditAccountId: credit,
  amount,
  currency: options.currency ?? 'EUR',
  code: options.code ?? 'transfer',
  reference: null,
  reversalOf: null,
  ...(options.code === 'external'
    ? { beneficiary: { iban: 'FR7630006000011234567890189', name: 'Payee' } }
    : {}),
  at: options.at ?? time('10:00'),
});
const risk = (flags: string[], shadow: string[] = []): Data => ({
  settingsVersion: '3',
  outcome: flags.length > 0 ? 'review' : 'allow',
  flags,
  shadow,
  findings: [...flags, ...shadow].map((ruleId) => ({
    ruleId,
    mode: flags.includes(ruleId) ? 'active' : 'shadow',
    outcome: 'review',
    figures: { amount: '1' },
  })),
});
/** A TransferPending held for review by `flags`. */
const held = (
  transferId: string,
  amount: string,
  flags: string[],
  options: Parameters<typeof body>[2] = {},
) => ({
  type: 'TransferPending',
  data: {
    ...body(transferId, amount, options),
    timeoutSeconds: 172_800,
    expiresAt: time('23:00'),
    risk: risk(flags),
    review: { reasons: flags, requestedBy: randomUUID(), requestedMode: 'single-phase' },
  },
});
const reviewerId = randomUUID();
const reviewed = (
  transferId: string,
  decision: 'approved' | 'rejected',
  reason: string,
  code = 'transfer',
) => ({
  type: 'TransferReviewed',
  data: { transferId, code, decision, reviewerId, reason, at: time('11:00') },
});

// A history of every path, each transfer's events in the appends the ledger would make.
const ids = {
  plain: randomUUID(),
  shadowed: randomUUID(),
  heldOpen: randomUUID(),
  approved: randomUUID(),
  approvedExternal: randomUUID(),
  rejected: randomUUID(),
  expired: randomUUID(),
  yen: randomUUID(),
  dinar: randomUUID(),
};
await append(write(ids.plain, [{ type: 'TransferPosted', data: body(ids.plain, '5000') }]));
await append(
  write(ids.shadowed, [
    { type: 'TransferPosted', data: { ...body(ids.shadowed, '7000'), risk: risk([], ['velocity']) } },
  ]),
);
await append(write(ids.heldOpen, [held(ids.heldOpen, '900000', ['large_amount', 'new_payee_large'])]));
await append(write(ids.approved, [held(ids.approved, '800000', ['large_amount'])]));
await append(
  write(ids.approved, [
    reviewed(ids.approved, 'approved', 'known customer'),
    {
      type: 'PendingTransferPosted',
      data: { transferId: ids.approved, amount: '800000', at: time('11:00') },
    },
  ]),
);
await append(
  write(ids.approvedExternal, [
    held(ids.approvedExternal, '300000', ['dormant_account'], { code: 'external' }),
  ]),
);
await append(
  write(ids.approvedExternal, [reviewed(ids.approvedExternal, 'approved', 'called the owner', 'external')]),
);
await append(write(ids.rejected, [held(ids.rejected, '450000', ['velocity', 'structuring'])]));
await append(
  write(ids.rejected, [
    reviewed(ids.rejected, 'rejected', 'fraud pattern'),
    {
      type: 'PendingTransferVoided',
      data: { transferId: ids.rejected, reason: 'fraud pattern', at: time('11:00') },
    },
  ]),
);
await append(write(ids.expired, [held(ids.expired, '600000', ['amount_outlier'])]));
await append(
  write(ids.expired, [
    { type: 'PendingTransferExpired', data: { transferId: ids.expired, at: time('23:00') } },
  ]),
);
// Same figure, other exponents: 5000 JPY (no decimals) and 5.000 KWD (three).
await append(
  write(ids.yen, [
    { type: 'TransferPosted', data: body(ids.yen, '5000', { currency: 'JPY', at: time('09:00') }) },
  ]),
);
await append(
  write(ids.dinar, [
    { type: 'TransferPosted', data: body(ids.dinar, '5000', { currency: 'KWD', at: time('09:30') }) },
  ]),
);
const head = await store.lastWrittenPosition();

const runner = runProjection({ db: database.db, store, projection: transactionsProjection, logger });
// The accounts model too (no account events here: its tables only), which the stats read.
const accounts = runProjection({ db: database.db, store, projection: accountsProjection, logger });
t.teardown(() => Promise.all([runner.stop(), accounts.stop()]));
// Both waited for before any assertion: tap ends a top-level test idle after one.
const caughtUp = await Promise.all([runner.waitFor(head, 10_000), accounts.waitFor(head, 10_000)]);
t.same(caughtUp, [true, true], 'the models caught up');

t.test('the events appended here are the ledger’s, as its parser reads them', async (t) => {
  const events = await store.readAll({ after: 0n, limit: 1000 });
  t.equal(events.length, 15);
  for (const event of events) t.doesNotThrow(() => parseTransferEvent(event), event.type);
});

t.test('TransferReviewed is handled, once, by name', async (t) => {
  const handles = transactionsProjection.handles;
  t.equal(handles.filter((type) => type === 'TransferReviewed').length, 1);
  t.notOk(handles.includes('TransferRefused'));
});

t.test('held, reviewed, expired: status, risk flags and review of each', async (t) => {
  const view = (id: string) => getTransaction(database.db, id);
  t.match(await view(ids.plain), { status: 'posted', riskFlags: [], review: null });
  t.match(
    await view(ids.shadowed),
    { status: 'posted', riskFlags: [], review: null },
    'shadow rules flag nothing',
  );
  t.match(await view(ids.heldOpen), {
    status: 'held_for_review',
    amount: '9000.00',
    postedAmount: null,
    riskFlags: ['large_amount', 'new_payee_large'],
    review: null,
  });
  t.match(await view(ids.approved), {
    status: 'posted',
    postedAmount: '8000.00',
    riskFlags: ['large_amount'],
    review: { decision: 'approved', reviewerId, reason: 'known customer', at: time('11:00') },
  });
  t.match(
    await view(ids.approvedExternal),
    { status: 'pending', type: 'external', riskFlags: ['dormant_account'], review: { decision: 'approved' } },
    'an approved external transfer waits for the clearing rail',
  );
  t.match(await view(ids.rejected), {
    status: 'voided',
    riskFlags: ['velocity', 'structuring'],
    review: { decision: 'rejected', reviewerId, reason: 'fraud pattern' },
  });
  t.match(await view(ids.expired), { status: 'voided', riskFlags: ['amount_outlier'], review: null });
});

t.test('the clearing rail settles an approved external transfer later', async (t) => {
  const position = await append(
    write(ids.approvedExternal, [
      {
        type: 'PendingTransferPosted',
        data: { transferId: ids.approvedExternal, amount: '300000', at: time('12:00') },
      },
    ]),
  );
  t.ok(await runner.waitFor(position, 10_000));
  t.match(await getTransaction(database.db, ids.approvedExternal), {
    status: 'posted',
    postedAmount: '3000.00',
    review: { decision: 'approved', reason: 'called the owner' },
  });
});

t.test('a rebuild in batches of any size is the live model', async (t) => {
  const to = await store.lastWrittenPosition();
  for (const batchSize of [1, 2, 3, 1000]) {
    const schema = `transactions_review_${batchSize}`;
    await rebuildProjection({
      db: database.db,
      store,
      projection: transactionsProjection,
      schema,
      to,
      batchSize,
    });
    const diff = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM (
        (TABLE transactions.transactions EXCEPT TABLE ${sql.table(`${schema}.transactions`)})
        UNION ALL
        (TABLE ${sql.table(`${schema}.transactions`)} EXCEPT TABLE transactions.transactions)
      ) d`.execute(database.db);
    t.equal(diff.rows[0]?.n, 0, `batches of ${batchSize}: the same rows`);
  }
});

t.test('listTransactions: the review filters', async (t) => {
  const list = async (filters: Omit<Parameters<typeof listTransactions>[1], 'limit'>) =>
    (await listTransactions(database.db, { limit: 200, ...filters })).items.map((x) => x.id);
  t.same(await list({ status: 'held_for_review' }), [ids.heldOpen]);
  t.same(await list({ riskFlag: 'large_amount' }), [ids.approved, ids.heldOpen], 'newest first');
  t.same(await list({ riskFlag: 'velocity' }), [ids.rejected], 'shadow flags are not risk flags');
  t.same(await list({ riskFlag: 'sanctioned_payee' }), []);
  t.same(
    await list({ from: new Date(time('09:00')), to: new Date(time('10:00')) }),
    [ids.dinar, ids.yen],
    'from inclusive, to exclusive',
  );
  // 5000 minor units: 50.00 EUR, 5000 JPY, 5.000 KWD.
  t.same(await list({ minAmount: '5000', currency: 'JPY' }), [ids.yen]);
  t.same(await list({ minAmount: '5', currency: 'KWD' }), [ids.dinar]);
  t.same(await list({ minAmount: '5.001', currency: 'KWD' }), []);
  t.same(
    (await list({ minAmount: '50' })).sort(),
    [
      ids.plain,
      ids.shadowed,
      ids.heldOpen,
      ids.approved,
      ids.approvedExternal,
      ids.rejected,
      ids.expired,
      ids.yen,
    ].sort(),
    'each amount in its own currency: 5.000 KWD is below 50',
  );
  t.same(await list({ minAmount: '9000.00', currency: 'EUR' }), [ids.heldOpen]);
  t.same(await list({ minAmount: '9000.01', currency: 'EUR' }), []);
  t.same(await list({ minAmount: '999999999999999.999' }), [], 'the largest bound compares exactly');
  await t.rejects(list({ minAmount: '1e3' }), RangeError);
  t.same(await list({ accountIds: [randomUUID()] }), []);
  t.same(await list({ riskFlag: 'large_amount', status: 'posted' }), [ids.approved], 'filters combine');
});

t.test('currencyStats: today’s volume and count, held for review, per currency', async (t) => {
  const stats = await currencyStats(database.db, { dayStart: new Date(`${day}T00:00:00.000Z`) });
  // EUR today, posted or pending: plain 50.00 + shadowed 70.00 + approved 8000.00 + the
  // external one 3000.00 (posted since); held, voided and expired ones are not volume.
  // No customer account in this model's history: deposits are 0.
  t.same(stats, [
    { currency: 'EUR', deposits: '0.00', volumeToday: '11120.00', transfersToday: 4, heldForReview: 1 },
    { currency: 'JPY', deposits: '0', volumeToday: '5000', transfersToday: 1, heldForReview: 0 },
    { currency: 'KWD', deposits: '0.000', volumeToday: '5.000', transfersToday: 1, heldForReview: 0 },
  ]);
  const tomorrow = await currencyStats(database.db, { dayStart: new Date('2026-03-03T00:00:00.000Z') });
  t.same(
    tomorrow.map((c) => [c.currency, c.volumeToday, c.transfersToday, c.heldForReview]),
    [['EUR', '0.00', 0, 1]],
    'another day: nothing moved, the held one is still held',
  );
});
