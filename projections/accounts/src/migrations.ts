import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Frozen once landed; scoped to the projection's schema: bare table names only.
// Money columns are numeric(40,0) minor units: never a JS number (pg returns them as text).

export const accountsMigrations: Record<string, Migration> = {
  '0001_accounts': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull().unique())
        .addColumn('account_number', 'text', (c) => c.unique())
        .addColumn('user_id', 'uuid')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('debits_posted', 'numeric(40, 0)', (c) => c.notNull())
        .addColumn('credits_posted', 'numeric(40, 0)', (c) => c.notNull())
        .addColumn('debits_pending', 'numeric(40, 0)', (c) => c.notNull())
        .addColumn('credits_pending', 'numeric(40, 0)', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('accounts_user_seq_idx')
        .on('accounts')
        .columns(['user_id', 'seq'])
        .execute();
      await db.schema
        .createTable('statement_lines')
        .addColumn('position', 'bigint', (c) => c.primaryKey())
        .addColumn('account_id', 'uuid', (c) => c.notNull())
        .addColumn('transaction_id', 'uuid', (c) => c.notNull())
        .addColumn('posted_at', 'timestamptz', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('amount', 'numeric(40, 0)', (c) => c.notNull())
        .addColumn('balance_after', 'numeric(40, 0)', (c) => c.notNull())
        .addColumn('counterparty', 'uuid', (c) => c.notNull())
        .addColumn('reference', 'text')
        .addColumn('code', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('statement_lines_account_idx')
        .on('statement_lines')
        .columns(['account_id', 'position'])
        .execute();
      await db.schema
        .createIndex('statement_lines_transaction_idx')
        .on('statement_lines')
        .column('transaction_id')
        .execute();
      // The transfer's reference, for lines whose legs come before or after the transfer event.
      await db.schema
        .createTable('transfer_references')
        .addColumn('transfer_id', 'uuid', (c) => c.primaryKey())
        .addColumn('reference', 'text')
        .execute();
    },
  },
  // Legs carry their transfer's reference: the lines no longer look it up here.
  '0002_drop_transfer_references': {
    async up(db: Kysely<any>) {
      await db.schema.dropTable('transfer_references').ifExists().execute();
    },
  },
};

export const transactionsMigrations: Record<string, Migration> = {
  '0001_transactions': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('transactions')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('from_account_id', 'uuid', (c) => c.notNull())
        .addColumn('to_account_id', 'uuid', (c) => c.notNull())
        .addColumn('amount', 'numeric(40, 0)', (c) => c.notNull())
        .addColumn('posted_amount', 'numeric(40, 0)')
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('reference', 'text')
        .addColumn('reversal_of', 'uuid')
        .addColumn('reversed_by', 'uuid')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull().unique())
        .addColumn('updated_position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('transactions_from_idx')
        .on('transactions')
        .columns(['from_account_id', 'position'])
        .execute();
      await db.schema
        .createIndex('transactions_to_idx')
        .on('transactions')
        .columns(['to_account_id', 'position'])
        .execute();
      await db.schema
        .createIndex('transactions_status_idx')
        .on('transactions')
        .columns(['status', 'position'])
        .execute();
    },
  },
  // External transfers name their payee (empty for every other transfer).
  '0002_transactions_beneficiary': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('transactions')
        .addColumn('beneficiary_iban', 'text')
        .addColumn('beneficiary_name', 'text')
        .execute();
    },
  },
};
