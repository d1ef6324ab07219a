import { randomUUID } from 'node:crypto';
import { bankAccountId, createLedger, openCustomerAccount, runTransferCommand } from '@ledger/application';
import { createTransfer } from '@ledger/application/testing';
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
const ledger = createLedger(store);

const meta = {};
const now = () => new Date();
const create = createTransfer;

t.test('accounts, statements and transactions follow the ledger; a rebuild is identical', async (t) => {
  const owner = randomUUID();
  const a = await openCustomerAccount(
    ledger,
    { ownerId: owner, accountType: 'checking', currency: 'EUR', kycVerified: true, now: now() },
    meta,
  );
  const b = await openCustomerAccount(
    ledger,
    { ownerId: owner, accountType: 'savings', currency: 'EUR', kycVerified: true, now: now() },
    meta,
  );
  if (!a.ok || !b.ok) throw new Error('open failed');
  const cash = bankAccountId('EUR', 'cash');
  await runTransferCommand(
    ledger,
    create(cash, a.account.id, 10_000n, { code: 'deposit', reference: 'desk' }),
    meta,
  );
  await runTransferCommand(ledger, create(a.account.id, b.account.id, 2_550n, { reference: 'rent' }), meta);
  const hold = create(a.account.id, b.account.id, 1_000n, { mode: 'two-phase' });
  await runTransferCommand(ledger, hold, meta);
  const holdVoided = create(a.account.id, b.account.id, 500n, { mode: 'two-phase' });
  await runTransferCommand(ledger, holdVoided, meta);
  await runTransferCommand(
    ledger,
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

t.test(
  'statement lines carry their transfer reference however batches split an append (legs in one batch, the transfer in the next)',
  async (t) => {
    const owner = randomUUID();
    const opened = [];
    for (const accountType of ['checking', 'savings'] as const) {
      const result = await openCustomerAccount(
        ledger,
        { ownerId: owner, accountType, currency: 'EUR', kycVerified: true, now: now() },
        meta,
      );
      if (!result.ok) throw new Error('open failed');
      opened.push(result.account.id);
    }
    const [a, b] = opened as [string, string];
    const cash = bankAccountId('EUR', 'cash');
    const run = async (command: Parameters<typeof runTransferCommand>[1]) => {
      const outcome = await runTransferCommand(ledger, command, meta);
      if (outcome.status !== 'accepted') throw new Error(`${command.type} not accepted`);
    };
    const deposit = create(cash, a, 50_000n, { code: 'deposit', reference: 'split desk' });
    await run(deposit);
    const rent = create(a, b, 1_000n, { reference: 'split rent' });
    await run(rent);
    const hold = create(a, b, 700n, { mode: 'two-phase', reference: 'split hold' });
    await run(hold);
    await run({ type: 'PostPendingTransfer', transferId: hold.transferId, amount: 300n, now: now() });
    const reversal = randomUUID();
    await run({
      type: 'ReverseTransfer',
      transferId: reversal,
      originalTransferId: rent.transferId,
      reason: 'split refund',
      now: now(),
    });
    const unreferenced = create(b, a, 100n);
    await run(unreferenced);
    const references = new Map([
      [deposit.transferId, 'split desk'],
      [rent.transferId, 'split rent'],
      [hold.transferId, 'split hold'],
      [reversal, 'split refund'],
    ]);
    const head = await store.lastWrittenPosition();

    const lines = (schema: string) =>
      sql<{ transaction_id: string; direction: string; reference: string | null }>`
        SELECT transaction_id::text, direction, reference FROM ${sql.table(`${schema}.statement_lines`)}
         WHERE account_id = ANY (${[a, b]}::uuid[]) ORDER BY position`
        .execute(database.db)
        .then((r) => r.rows);
    await rebuildProjection({
      db: database.db,
      store,
      projection: accountsProjection,
      schema: 'accounts_split_whole',
      to: head,
      batchSize: 1000,
    });
    const whole = await lines('accounts_split_whole');
    // The deposit's credit on a (the cash leg is the bank's), then both legs of the rent, the
    // hold's partial post, the reversal and the unreferenced transfer.
    t.equal(whole.length, 9);
    for (const line of whole) {
      t.equal(line.reference, references.get(line.transaction_id) ?? null, `${line.direction} line`);
    }
    // Batches of 1 put every leg in a batch before its transfer's event; 2, 3 and 4 cut
    // appends at every other place (one leg before, one with the event).
    for (const batchSize of [1, 2, 3, 4]) {
      const schema = `accounts_split_${batchSize}`;
      await rebuildProjection({
        db: database.db,
        store,
        projection: accountsProjection,
        schema,
        to: head,
        batchSize,
      });
      t.same(await lines(schema), whole, `batches of ${batchSize}: the same lines and references`);
    }
  },
);

t.test('a refused create (TransferRefused) moves no balance and is not listed', async (t) => {
  t.notOk(
    (transactionsProjection.handles as readonly string[]).includes('TransferRefused'),
    'the transactions model skips it',
  );
  t.notOk((accountsProjection.handles as readonly string[]).includes('TransferRefused'), 'no leg to apply');
  const owner = randomUUID();
  const [a, b] = await Promise.all(
    (['checking', 'savings'] as const).map(async (accountType) => {
      const opened = await openCustomerAccount(
        ledger,
        { ownerId: owner, accountType, currency: 'EUR', kycVerified: true, now: now() },
        meta,
      );
      if (!opened.ok) throw new Error('open failed');
      return opened.account.id;
    }),
  );
  await runTransferCommand(
    ledger,
    create(bankAccountId('EUR', 'cash'), a!, 1_000n, { code: 'deposit' }),
    meta,
  );
  const refused = create(a!, b!, 5_000n, { mode: 'two-phase' });
  t.match(await runTransferCommand(ledger, refused, meta), {
    status: 'rejected',
    rejection: { code: 'insufficient_funds' },
  });
  t.match(await store.readStream(`transfer-${refused.transferId}`), [{ type: 'TransferRefused' }]);
  const head = await store.lastWrittenPosition();
  const runners = [accountsProjection, transactionsProjection].map((projection) =>
    runProjection({ db: database.db, store, projection, logger }),
  );
  t.teardown(() => Promise.all(runners.map((r) => r.stop())));
  for (const r of runners) t.ok(await r.waitFor(head, 10_000));
  t.equal(await getTransaction(database.db, refused.transferId), null);
  t.same(
    (await listTransactions(database.db, { limit: 50, accountIds: [b!] })).items,
    [],
    'the payee sees no attempt',
  );
  t.match(await getAccount(database.db, a!), {
    balance: '10.00',
    availableBalance: '10.00',
    pendingDebits: '0.00',
  });
  t.match(await getAccount(database.db, b!), { balance: '0.00', pendingCredits: '0.00' });
  t.ok((await trialBalance(database.db)).every((row) => row.balanced));
});
