import { openRawAccount, rawTransfer } from '@ledger/application/testing';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { accountStreamId } from '../ledger/index.js';
import {
  FoldAborted,
  type LedgerTotals,
  type LedgerTotalsReadModel,
  trialBalance,
  trialBalanceView,
} from './trial-balance.js';

// The trial balance query: folded from a real PostgreSQL event store up to a cut (by
// position, inside an append, by time), and from the read model through a fake of its port
// (the retries of an unbalanced snapshot). The API's route is tested in services/api.

const { store } = await openTestStore('application_trial_balance', t);

/**
 * The fold, once everything this test wrote is readable: $all is read only below the oldest
 * transaction open on the server (other test files' too), so a fold right after an append
 * may end before it. A client compares the answer's position; the test waits (bounded).
 */
async function folded(query: Parameters<typeof trialBalance>[0]) {
  const written = await store.lastWrittenPosition();
  const deadline = Date.now() + 10_000;
  while ((await store.headPosition()) < written) {
    if (Date.now() > deadline) throw new Error(`position ${written} not readable after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return trialBalance(query);
}

const totals = (currency: LedgerTotals['currency'], posted: bigint, pending = 0n): LedgerTotals => ({
  currency,
  debitsPosted: posted,
  creditsPosted: posted,
  debitsPending: pending,
  creditsPending: pending,
});

t.test('an empty log: balanced, no currencies, position 0', async (t) => {
  const answer = await folded({ store, cut: { asOf: new Date(Date.now() + 3600_000) } });
  t.same(answer, { source: 'events', asOf: answer.asOf, position: 0n, balanced: true, currencies: [] });
  t.same(await folded({ store, cut: { atPosition: 10n } }), {
    source: 'events',
    asOf: null,
    position: 0n,
    balanced: true,
    currencies: [],
  });
});

t.test('folded up to a position, inside an append, by time; holds pending then released', async (t) => {
  // JPY first: the lines come in currency order, not in the order of the log.
  const [jpyCash, jpyIncome] = [await openRawAccount(store, 'JPY'), await openRawAccount(store, 'JPY')];
  const [eurCash, eurIncome] = [await openRawAccount(store, 'EUR'), await openRawAccount(store, 'EUR')];
  const posted = { kind: 'posted' } as const;
  const first = await rawTransfer(store, { debit: eurCash, credit: eurIncome, amount: 100_00n, leg: posted });
  const yen = await rawTransfer(store, { debit: jpyCash, credit: jpyIncome, amount: 1200n, leg: posted });
  // Recording times have millisecond precision: the hold comes in a later one.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const hold = await rawTransfer(store, {
    debit: eurIncome,
    credit: eurCash,
    amount: 10_00n,
    leg: { kind: 'pending' },
  });
  const future = new Date(Date.now() + 3600_000);

  const atFirst = await folded({ store, cut: { atPosition: first.position } });
  t.same(atFirst.currencies, [
    {
      currency: 'EUR',
      debits: 100_00n,
      credits: 100_00n,
      pendingDebits: 0n,
      pendingCredits: 0n,
      balanced: true,
    },
  ]);
  t.equal(atFirst.position, first.position, 'the last event of the cut');
  // The first leg of the first transfer: the cut runs on to the end of its append.
  const [firstLeg] = await store.readStream(accountStreamId(eurCash), { fromVersion: 1n });
  t.ok(firstLeg!.globalPosition < first.position, 'the debit leg comes first in the append');
  const midAppend = await folded({ store, cut: { atPosition: firstLeg!.globalPosition } });
  t.same(midAppend.currencies, atFirst.currencies, 'never one leg of a transfer');
  t.equal(midAppend.position, first.position);

  const now = await folded({ store, cut: { asOf: future } });
  t.match(now, { source: 'events', asOf: future, position: hold.position, balanced: true });
  t.same(
    now.currencies.map((l) => [l.currency, l.debits, l.credits, l.pendingDebits, l.pendingCredits]),
    [
      ['EUR', 100_00n, 100_00n, 10_00n, 10_00n],
      ['JPY', 1200n, 1200n, 0n, 0n],
    ],
  );
  // By time: the recording time of the yen transfer's last leg.
  const yenLegs = await store.readAll({ after: yen.position - 1n, limit: 1 });
  const asOfYen = await folded({ store, cut: { asOf: new Date(yenLegs[0]!.recordedAt) } });
  t.same(
    asOfYen.currencies.map((l) => [l.currency, l.pendingDebits]),
    [
      ['EUR', 0n],
      ['JPY', 0n],
    ],
    'the hold came later',
  );
  t.equal(asOfYen.position, yen.position);
  t.same((await folded({ store, cut: { asOf: new Date('2000-01-01T00:00:00Z') } })).currencies, []);

  await rawTransfer(store, {
    debit: eurIncome,
    credit: eurCash,
    amount: 10_00n,
    leg: { kind: 'released', reason: 'voided' },
  });
  const released = await folded({ store, cut: { asOf: future } });
  t.match(released.currencies[0], {
    currency: 'EUR',
    debits: 100_00n,
    pendingDebits: 0n,
    pendingCredits: 0n,
  });
  t.same(
    (await folded({ store, cut: { atPosition: hold.position } })).currencies,
    now.currencies,
    'at the position of the hold: still held',
  );
});

t.test('an aborted signal stops the fold', async (t) => {
  const controller = new AbortController();
  controller.abort();
  await t.rejects(trialBalance({ store, cut: { asOf: new Date() }, signal: controller.signal }), FoldAborted);
});

t.test('the read model: its snapshot as lines in currency order, at its position', async (t) => {
  const readModel: LedgerTotalsReadModel = {
    snapshot: async () => ({ totals: [totals('JPY', 1200n), totals('EUR', 5_00n, 1_00n)], position: 42n }),
  };
  const answer = await trialBalance({ readModel });
  t.same(answer, {
    source: 'read_model',
    asOf: null,
    position: 42n,
    balanced: true,
    currencies: [
      {
        currency: 'EUR',
        debits: 5_00n,
        credits: 5_00n,
        pendingDebits: 1_00n,
        pendingCredits: 1_00n,
        balanced: true,
      },
      {
        currency: 'JPY',
        debits: 1200n,
        credits: 1200n,
        pendingDebits: 0n,
        pendingCredits: 0n,
        balanced: true,
      },
    ],
  });
});

t.test('the read model: one snapshot, and an imbalance in it is reported as it is', async (t) => {
  // The projector's batches end on append boundaries: a snapshot never holds half a
  // transfer, so nothing is read again (checkpoints.test.ts in the accounts projection).
  const halfway = { ...totals('EUR', 5_00n), creditsPosted: 0n };
  let reads = 0;
  const broken: LedgerTotalsReadModel = {
    snapshot: async () => {
      reads++;
      return { totals: [halfway, totals('JPY', 1n)], position: 7n };
    },
  };
  const reported = await trialBalance({ readModel: broken });
  t.equal(reads, 1, 'one snapshot');
  t.match(reported, { balanced: false, position: 7n });
  t.same(
    reported.currencies.map((l) => [l.currency, l.balanced]),
    [
      ['EUR', false],
      ['JPY', true],
    ],
  );
});

t.test('the view: decimals in each currency’s minor unit, positions as text, UTC times', async (t) => {
  const readModel: LedgerTotalsReadModel = {
    snapshot: async () => ({ totals: [totals('EUR', 150_25n, 10_00n), totals('JPY', 1200n)], position: 9n }),
  };
  t.same(trialBalanceView(await trialBalance({ readModel })), {
    source: 'read_model',
    asOf: null,
    position: '9',
    balanced: true,
    currencies: [
      {
        currency: 'EUR',
        debits: '150.25',
        credits: '150.25',
        pendingDebits: '10.00',
        pendingCredits: '10.00',
        balanced: true,
      },
      {
        currency: 'JPY',
        debits: '1200',
        credits: '1200',
        pendingDebits: '0',
        pendingCredits: '0',
        balanced: true,
      },
    ],
  });
  const old = await folded({ store, cut: { asOf: new Date('2000-01-01T01:00:00+01:00') } });
  t.match(trialBalanceView(old), { source: 'events', asOf: '2000-01-01T00:00:00.000Z', position: '0' });
});

// Last: it leaves the log unbalanced.
t.test('a leg without its other side: that currency is unbalanced', async (t) => {
  const [a, b] = [await openRawAccount(store, 'GBP'), await openRawAccount(store, 'GBP')];
  await rawTransfer(store, { debit: a, credit: b, amount: 7_00n, leg: { kind: 'posted' }, only: 'debit' });
  const answer = await folded({ store, cut: { asOf: new Date(Date.now() + 3600_000) } });
  t.equal(answer.balanced, false);
  t.match(
    answer.currencies.find((l) => l.currency === 'GBP'),
    { debits: 7_00n, credits: 0n, balanced: false },
  );
  t.ok(
    answer.currencies.filter((l) => l.currency !== 'GBP').every((l) => l.balanced),
    'the other currencies still balance',
  );
});
