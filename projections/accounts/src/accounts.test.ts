import { randomUUID } from 'node:crypto';
import { bankAccountId, openCustomerAccount, runTransferCommand } from '@ledger/application';
import { createTransfer } from '@ledger/application/fixtures/ledger';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { rebuildProjection, runProjection } from '@ledger/readmodel';
import { sql } from 'kysely';
import t from 'tap';
import {
  accountsProjection,
  getAccount,
  getTransaction,
  listAccounts,
  listStatement,
  listTransactions,
  transactionsProjection,
  trialBalance,
} from './index.js';

const logger = createLogger({ level: 'silent', name: 'accounts-test' });
const { store, database } = await openTestStore('accounts_projection', t);

const meta = {};
const now = () => new Date();
const create = createTransfer;

t.test('accounts, statements and transactions follow the ledger; a rebuild is identical', async (t) => {
  const owner = randomUUID();
  const a = await openCustomerAccount(
    store,
    { ownerId: owner, accountType: 'checking', currency: 'EUR', kycVerified: true, now: now() },
    meta,
  );
  const b = await openCustomerAccount(
    store,
    { ownerId: owner, accountType: 'savings', currency: 'EUR', kycVerified: true, now: now() },
    meta,
  );
  if (!a.ok || !b.ok) throw new Error('open failed');
  const cash = bankAccountId('EUR', 'cash');
  await runTransferCommand(
    store,
    create(cash, a.account.id, 10_000n, { code: 'deposit', reference: 'desk' }),
    meta,
  );
  await runTransferCommand(store, create(a.account.id, b.account.id, 2_550n, { reference: 'rent' }), meta);
  const hold = create(a.account.id, b.account.id, 1_000n, { mode: 'two-phase' });
  await runTransferCommand(store, hold, meta);
  const holdVoided = create(a.account.id, b.account.id, 500n, { mode: 'two-phase' });
  await runTransferCommand(store, holdVoided, meta);
  await runTransferCommand(
    store,
    { type: 'VoidPendingTransfer', transferId: holdVoided.transferId, now: now() },
    meta,
  );
  const head = await store.lastWrittenPosition();

  const runners = [accountsProjection, transactionsProjection].map((projection) =>
    runProjection({ db: database.db, store, projection, logger }),
  );
  t.teardown(() => Promise.all(runners.map((r) => r.stop())));
  for (const r of runners) t.ok(await r.waitFor(head, 10_000));

  t.match(await getAccount(database.db, a.account.id), {
    accountNumber: a.accountNumber,
    userId: owner,
    status: 'active',
    balance: '74.50',
    availableBalance: '64.50',
    pendingDebits: '10.00',
  });
  t.match(await getAccount(database.db, b.account.id), { balance: '25.50', availableBalance: '25.50' });
  const page = await listAccounts(database.db, { limit: 50, userId: owner });
  t.same(
    page.items.map((x) => x.id),
    [a.account.id, b.account.id],
  );

  const statement = await listStatement(database.db, { accountId: a.account.id, currency: 'EUR', limit: 1 });
  t.match(statement.items, [
    {
      direction: 'debit',
      amount: '25.50',
      balanceAfter: '74.50',
      reference: 'rent',
      counterparty: b.account.id,
    },
  ]);
  t.not(statement.nextCursor, null);
  const next = await listStatement(database.db, {
    accountId: a.account.id,
    currency: 'EUR',
    limit: 50,
    cursor: statement.nextCursor!,
  });
  t.match(next.items, [
    { direction: 'credit', amount: '100.00', balanceAfter: '100.00', code: 'deposit', reference: 'desk' },
  ]);
  t.equal(next.nextCursor, null);

  t.match(await getTransaction(database.db, hold.transferId), {
    status: 'pending',
    amount: '10.00',
    postedAmount: null,
  });
  t.match(await getTransaction(database.db, holdVoided.transferId), { status: 'voided' });
  const txs = await listTransactions(database.db, { limit: 50, accountIds: [b.account.id] });
  t.equal(txs.items.length, 3);
  t.same(
    (await listTransactions(database.db, { limit: 50, status: 'pending' })).items.map((x) => x.id),
    [hold.transferId],
  );

  t.ok((await trialBalance(database.db)).every((row) => row.balanced));

  for (const projection of [accountsProjection, transactionsProjection]) {
    const schema = `${projection.schema}_rebuild`;
    await rebuildProjection({ db: database.db, store, projection, schema, to: head });
    for (const table of projection === accountsProjection
      ? ['accounts', 'statement_lines']
      : ['transactions']) {
      const diff = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM (
          (TABLE ${sql.table(`${projection.schema}.${table}`)} EXCEPT TABLE ${sql.table(`${schema}.${table}`)})
          UNION ALL
          (TABLE ${sql.table(`${schema}.${table}`)} EXCEPT TABLE ${sql.table(`${projection.schema}.${table}`)})
        ) d`.execute(database.db);
      t.equal(diff.rows[0]?.n, 0, `${table} rebuilt identically`);
    }
  }
});
