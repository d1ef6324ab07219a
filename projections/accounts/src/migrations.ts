import { type Kysely, sql } from 'kysely';
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
  /**
   * The fraud review (issue #17): the active rules that fired (the API's riskFlags), and a
   * held transfer's review once a manager decided it. Rows of transfers made before the rules
   * existed keep no flags and no review: their events carry neither.
   */
  '0003_transactions_review': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('transactions')
        .addColumn('risk_flags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
        // An actor id as the metadata holds it (a user id, or a system actor's name).
        .addColumn('reviewed_by', 'text')
        .addColumn('review_decision', 'text')
        .addColumn('review_reason', 'text')
        .addColumn('reviewed_at', 'timestamptz')
        .execute();
      // The held queue, newest first (and its count): a few rows, so a tiny partial index.
      await db.schema
        .createIndex('transactions_held_idx')
        .on('transactions')
        .column('position')
        .where(sql.ref('status'), '=', 'held_for_review')
        .execute();
      // Flagged transfers, newest first: the admin list's riskFlag filter walks only these.
      await db.schema
        .createIndex('transactions_flagged_idx')
        .on('transactions')
        .column('position')
        .where(sql<boolean>`cardinality(risk_flags) > 0`)
        .execute();
      // Time windows (from/to, today's volume): rows arrive in about created_at order, so a
      // BRIN index serves them for a few pages, kept up almost for free.
      await db.schema
        .createIndex('transactions_created_brin')
        .on('transactions')
        .using('brin')
        .column('created_at')
        .execute();
    },
  },
};
