import { randomUUID } from 'node:crypto';
import {
  bankAccountId,
  createLedger,
  loadAccount,
  openCustomerAccount,
  runTransferCommand,
} from '@ledger/application';
import { availableBalanceOf, type TransferCommand } from '@ledger/domain/ledger';
import { PostgresEventStore } from '@ledger/eventstore';
import { createLogger, openDatabase } from '@ledger/platform';
import { rebuildProjection, runProjection } from '@ledger/readmodel';
import { createTestDatabase } from '@ledger/testkit';
import fc from 'fast-check';
import { sql } from 'kysely';
import t from 'tap';
import { accountsProjection, transactionsProjection, trialBalance } from './index.js';

// Issue 4's property: random sequences of deposits, transfers, holds, posts, voids and
// reversals, run through the real command handlers and event store, keep DESIGN.md §4's
// invariants, and rebuilding the projections from position 0 gives identical read models.

const logger = createLogger({ level: 'silent', name: 'ledger-property' });
const testDb = await createTestDatabase('ledger_property');
const database = await openDatabase({
  databaseUrl: testDb.url,
  dataDir: '/nonexistent',
  applicationName: 'test',
});
const store = await PostgresEventStore.open(database.sql);
const ledger = createLedger(store);
const runners = [accountsProjection, transactionsProjection].map((projection) =>
  runProjection({ db: database.db, store, projection, logger }),
);
t.teardown(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  await store.close();
  await database.close();
  await testDb.drop();
});

const accountsPerRun = 3;
type Op =
  | { kind: 'deposit'; to: number; amount: number }
  | { kind: 'transfer'; from: number; to: number; amount: number; hold: boolean }
  | { kind: 'post' | 'void' | 'reverse'; which: number; partial: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('deposit' as const),
    to: fc.nat(accountsPerRun - 1),
    amount: fc.integer({ min: 1, max: 5000 }),
  }),
  fc.record({
    kind: fc.constant('transfer' as const),
    from: fc.nat(accountsPerRun - 1),
    to: fc.nat(accountsPerRun - 1),
    amount: fc.integer({ min: 1, max: 3000 }),
    hold: fc.boolean(),
  }),
  fc.record({
    kind: fc.constantFrom('post' as const, 'void' as const, 'reverse' as const),
    which: fc.nat(20),
    partial: fc.boolean(),
  }),
);

let run = 0;
t.test('random ledger histories keep the invariants; projections rebuild identically', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
      run++;
      const owner = randomUUID();
      const ids: string[] = [];
      for (let i = 0; i < accountsPerRun; i++) {
        const opened = await openCustomerAccount(
          ledger,
          { ownerId: owner, accountType: 'checking', currency: 'EUR', kycVerified: true, now: new Date() },
          {},
        );
        if (!opened.ok) throw new Error('open failed');
        ids.push(opened.account.id);
      }
      const transfers: string[] = [];
      for (const op of ops) {
        let command: TransferCommand;
        const now = new Date();
        if (op.kind === 'deposit' || op.kind === 'transfer') {
          command = {
            type: 'CreateTransfer',
            transferId: randomUUID(),
            debitAccountId: op.kind === 'deposit' ? bankAccountId('EUR', 'cash') : ids[op.from]!,
            creditAccountId: ids[op.to]!,
            amount: BigInt(op.amount),
            currency: 'EUR',
            ...(op.kind === 'transfer' ? { code: op.kind, limits: {} } : { code: op.kind }),
            mode: op.kind === 'transfer' && op.hold ? 'two-phase' : 'single-phase',
            now,
          };
        } else {
          const target = transfers[op.which % Math.max(transfers.length, 1)];
          if (target === undefined) continue;
          command =
            op.kind === 'reverse'
              ? {
                  type: 'ReverseTransfer',
                  transferId: randomUUID(),
                  originalTransferId: target,
                  reason: 'p',
                  now,
                }
              : op.kind === 'post'
                ? {
                    type: 'PostPendingTransfer',
                    transferId: target,
                    ...(op.partial ? { amount: 1n } : {}),
                    now,
                  }
                : { type: 'VoidPendingTransfer', transferId: target, now };
        }
        const outcome = await runTransferCommand(ledger, command, {});
        if (outcome.status === 'accepted' && command.type === 'CreateTransfer')
          transfers.push(command.transferId);
      }
      for (const id of ids) {
        const { state } = await loadAccount(ledger, id);
        if (state.status === 'none' || availableBalanceOf(state) < 0n) throw new Error(`overdrawn ${id}`);
      }
      const head = await store.lastWrittenPosition();
      for (const r of runners) if (!(await r.waitFor(head, 10_000))) throw new Error('projection lag');
      if (!(await trialBalance(database.db)).every((row) => row.balanced)) throw new Error('unbalanced');
      // Rebuilds are slower: check them every few runs, and always on the last.
      if (run % 5 !== 0) return true;
      for (const projection of [accountsProjection, transactionsProjection]) {
        const schema = `${projection.schema}_rebuild_${run}`;
        await rebuildProjection({ db: database.db, store, projection, schema, to: head });
        const tables = projection === accountsProjection ? ['accounts', 'statement_lines'] : ['transactions'];
        for (const table of tables) {
          const live = sql.table(`${projection.schema}.${table}`);
          const rebuilt = sql.table(`${schema}.${table}`);
          const diff = await sql<{ n: number }>`SELECT count(*)::int AS n FROM (
              (TABLE ${live} EXCEPT TABLE ${rebuilt}) UNION ALL (TABLE ${rebuilt} EXCEPT TABLE ${live})) d`.execute(
            database.db,
          );
          if (diff.rows[0]?.n !== 0) {
            const a = await sql`(TABLE ${live} EXCEPT TABLE ${rebuilt})`.execute(database.db);
            const b = await sql`(TABLE ${rebuilt} EXCEPT TABLE ${live})`.execute(database.db);
            throw new Error(`${table} differs after a rebuild ${JSON.stringify([a.rows, b.rows])}`);
          }
        }
      }
      return true;
    }),
    // Every run writes to the shared database: report the first failure rather than shrink it.
    { numRuns: 15, endOnFailure: true },
  );
  t.pass('15 random histories');
});
