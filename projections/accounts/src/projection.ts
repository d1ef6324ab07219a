import assert from 'node:assert/strict';
import type { AccountEvent, TransferEvent } from '@ledger/domain/ledger';
import type { RecordedEvent } from '@ledger/eventstore';
import { migrateSchema, type Projection } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { accountsMigrations, transactionsMigrations } from './migrations.js';
import type { AccountsDatabase, TransactionsDatabase } from './schema.js';

export const accountsProjectionHandles = [
  'AccountOpened',
  'AccountFrozen',
  'AccountUnfrozen',
  'AccountClosed',
  'AccountLegPending',
  'AccountLegPosted',
  'AccountLegReleased',
  'TransferPosted',
  'TransferPending',
] as const;

export const transactionsProjectionHandles = [
  'TransferPosted',
  'TransferPending',
  'PendingTransferPosted',
  'PendingTransferVoided',
  'PendingTransferExpired',
  'PendingTransferReturned',
  'TransferReversed',
] as const;

/** Events come from the ledger's own writers: the type names the shape. */
function asEvent<E extends { type: string }>(recorded: RecordedEvent): E {
  assert(typeof recorded.data === 'object' && recorded.data !== null, `${recorded.type} without data`);
  return { type: recorded.type, data: recorded.data } as unknown as E;
}

/**
 * Accounts and their statement lines (GET /api/accounts…). Totals are numeric minor units,
 * updated in SQL (numeric arithmetic), never through a JS number. A statement line is one
 * posted leg, with the balance right after it. Commands never read this model.
 */
export const accountsProjection: Projection = {
  name: 'accounts',
  version: 1,
  schema: 'accounts',
  handles: accountsProjectionHandles,
  migrate: (db, schema) => migrateSchema(db, schema, accountsMigrations),
  async apply(tx, recorded) {
    const db = tx as Kysely<AccountsDatabase>;
    const position = recorded.globalPosition.toString();
    if (recorded.type === 'TransferPosted' || recorded.type === 'TransferPending') {
      const event = asEvent<TransferEvent>(recorded);
      assert(event.type === 'TransferPosted' || event.type === 'TransferPending');
      const { transferId, reference } = event.data;
      await db
        .insertInto('transfer_references')
        .values({ transfer_id: transferId, reference })
        .onConflict((c) => c.column('transfer_id').doNothing())
        .execute();
      // The legs of the same append come first in position order: give them the reference.
      await db
        .updateTable('statement_lines')
        .set({ reference })
        .where('transaction_id', '=', transferId)
        .execute();
      return;
    }
    const event = asEvent<AccountEvent>(recorded);
    const update = async (accountId: string, changes: Record<string, unknown>) => {
      const result = await db
        .updateTable('accounts')
        .set({ ...changes, position })
        .where('id', '=', accountId)
        .executeTakeFirst();
      if (result.numUpdatedRows !== 1n) throw new Error(`${recorded.type} for unknown account ${accountId}`);
    };
    switch (event.type) {
      case 'AccountOpened': {
        const d = event.data;
        const accountNumber = (d as { accountNumber?: unknown }).accountNumber;
        await db
          .insertInto('accounts')
          .values({
            id: d.accountId,
            seq: position,
            account_number: typeof accountNumber === 'string' ? accountNumber : null,
            user_id: d.ownerId,
            kind: d.kind,
            type: d.accountType,
            currency: d.currency,
            status: 'active',
            debits_posted: '0',
            credits_posted: '0',
            debits_pending: '0',
            credits_pending: '0',
            created_at: d.openedAt,
            position,
          })
          .execute();
        return;
      }
      case 'AccountFrozen':
        return update(event.data.accountId, { status: 'frozen' });
      case 'AccountUnfrozen':
        return update(event.data.accountId, { status: 'active' });
      case 'AccountClosed':
        return update(event.data.accountId, { status: 'closed' });
      case 'AccountLegPending': {
        const column = event.data.side === 'debit' ? 'debits_pending' : 'credits_pending';
        return update(event.data.accountId, {
          [column]: sql`${sql.ref(column)} + ${event.data.amount}::numeric`,
        });
      }
      case 'AccountLegReleased': {
        const column = event.data.side === 'debit' ? 'debits_pending' : 'credits_pending';
        return update(event.data.accountId, {
          [column]: sql`${sql.ref(column)} - ${event.data.amount}::numeric`,
        });
      }
      case 'AccountLegPosted': {
        const d = event.data;
        const posted = d.side === 'debit' ? 'debits_posted' : 'credits_posted';
        const pending = d.side === 'debit' ? 'debits_pending' : 'credits_pending';
        const row = await db
          .updateTable('accounts')
          .set({
            [posted]: sql`${sql.ref(posted)} + ${d.amount}::numeric`,
            [pending]: sql`${sql.ref(pending)} - ${d.releasedPending}::numeric`,
            position,
          })
          .where('id', '=', d.accountId)
          .returning(sql<string>`(credits_posted - debits_posted)::text`.as('balance'))
          .executeTakeFirst();
        if (row === undefined) throw new Error(`${recorded.type} for unknown account ${d.accountId}`);
        const reference = await db
          .selectFrom('transfer_references')
          .select('reference')
          .where('transfer_id', '=', d.transferId)
          .executeTakeFirst();
        await db
          .insertInto('statement_lines')
          .values({
            position,
            account_id: d.accountId,
            transaction_id: d.transferId,
            posted_at: d.at,
            direction: d.side,
            amount: d.amount,
            balance_after: row.balance,
            counterparty: d.counterpartyAccountId,
            reference: reference?.reference ?? null,
            code: d.code,
          })
          .execute();
        return;
      }
      default:
        throw new Error(`accounts projection does not handle ${recorded.type}`);
    }
  },
};

/** Transfers and their current status (GET /api/transactions). */
export const transactionsProjection: Projection = {
  name: 'transactions',
  version: 1,
  schema: 'transactions',
  handles: transactionsProjectionHandles,
  migrate: (db, schema) => migrateSchema(db, schema, transactionsMigrations),
  async apply(tx, recorded) {
    const db = tx as Kysely<TransactionsDatabase>;
    const position = recorded.globalPosition.toString();
    const event = asEvent<TransferEvent>(recorded);
    const update = async (transferId: string, changes: Record<string, unknown>) => {
      const result = await db
        .updateTable('transactions')
        .set({ ...changes, updated_position: position })
        .where('id', '=', transferId)
        .executeTakeFirst();
      if (result.numUpdatedRows !== 1n)
        throw new Error(`${recorded.type} for unknown transfer ${transferId}`);
    };
    switch (event.type) {
      case 'TransferPosted':
      case 'TransferPending': {
        const d = event.data;
        await db
          .insertInto('transactions')
          .values({
            id: d.transferId,
            type: d.code,
            status: event.type === 'TransferPosted' ? 'posted' : 'pending',
            from_account_id: d.debitAccountId,
            to_account_id: d.creditAccountId,
            amount: d.amount,
            posted_amount: event.type === 'TransferPosted' ? d.amount : null,
            currency: d.currency,
            reference: d.reference,
            reversal_of: d.reversalOf,
            reversed_by: null,
            beneficiary_iban: d.beneficiary?.iban ?? null,
            beneficiary_name: d.beneficiary?.name ?? null,
            created_at: d.at,
            position,
            updated_position: position,
          })
          .execute();
        return;
      }
      case 'PendingTransferPosted':
        return update(event.data.transferId, { status: 'posted', posted_amount: event.data.amount });
      case 'PendingTransferVoided':
        return update(event.data.transferId, { status: 'voided' });
      // API.md has no "expired": an expired hold is a voided one, by the clock.
      case 'PendingTransferExpired':
        return update(event.data.transferId, { status: 'voided' });
      // The clearing rail sent an external transfer back: API.md's "returned".
      case 'PendingTransferReturned':
        return update(event.data.transferId, { status: 'returned' });
      case 'TransferReversed':
        return update(event.data.transferId, { reversed_by: event.data.reversalTransferId });
      default:
        throw new Error(`transactions projection does not handle ${recorded.type}`);
    }
  },
};
