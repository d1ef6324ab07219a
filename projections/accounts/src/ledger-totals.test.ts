import { type LedgerTotalsReadModel, trialBalance } from '@ledger/application';
import { openRawAccount, rawTransfer } from '@ledger/application/testing';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { runProjection } from '@ledger/readmodel';
import t from 'tap';
import { accountsProjection, ledgerTotalsReadModel } from './index.js';

// The accounts read model behind the application's LedgerTotalsReadModel port: the totals
// and the checkpoint they stand at, read by the application's trial balance.

const logger = createLogger({ level: 'silent', name: 'ledger-totals-test' });
const { store, database } = await openTestStore('accounts_ledger_totals', t);

t.test('the totals per currency at the projection’s checkpoint, through the port', async (t) => {
  // The application's port, met structurally: no adapter in between.
  const readModel: LedgerTotalsReadModel = ledgerTotalsReadModel(database.db);
  const [a, b, c, d] = [
    await openRawAccount(store, 'EUR'),
    await openRawAccount(store, 'EUR'),
    await openRawAccount(store, 'USD'),
    await openRawAccount(store, 'USD'),
  ];
  await rawTransfer(store, { debit: a, credit: b, amount: 1250n, leg: { kind: 'posted' } });
  const head = (await rawTransfer(store, { debit: c, credit: d, amount: 1250n, leg: { kind: 'pending' } }))
    .position;

  const runner = runProjection({ db: database.db, store, projection: accountsProjection, logger });
  t.teardown(() => runner.stop());
  t.ok(await runner.waitFor(head, 10_000), 'the read model caught up');

  const snapshot = await readModel.snapshot();
  t.ok(snapshot.position >= head, 'the checkpoint: at or past the last event');
  t.same(snapshot.totals, [
    { currency: 'EUR', debitsPosted: 1250n, creditsPosted: 1250n, debitsPending: 0n, creditsPending: 0n },
    { currency: 'USD', debitsPosted: 0n, creditsPosted: 0n, debitsPending: 1250n, creditsPending: 1250n },
  ]);
  t.match(await trialBalance({ readModel }), {
    source: 'read_model',
    position: snapshot.position,
    balanced: true,
    currencies: [
      { currency: 'EUR', debits: 1250n, credits: 1250n, balanced: true },
      { currency: 'USD', pendingDebits: 1250n, pendingCredits: 1250n, balanced: true },
    ],
  });
});
