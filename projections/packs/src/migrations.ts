import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Frozen once landed; scoped to the projection's schema: bare table names only.
export const packsMigrations: Record<string, Migration> = {
  '0001_packs_subscriptions': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('packs')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('state', 'jsonb', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('packs_status_seq_idx').on('packs').columns(['status', 'seq']).execute();
      await db.schema
        .createTable('subscriptions')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull().unique())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('account_id', 'uuid', (c) => c.notNull())
        .addColumn('pack_id', 'uuid', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('next_fee_at', 'timestamptz')
        .addColumn('state', 'jsonb', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('subscriptions_user_seq_idx')
        .on('subscriptions')
        .columns(['user_id', 'seq'])
        .execute();
      await db.schema
        .createIndex('subscriptions_account_seq_idx')
        .on('subscriptions')
        .columns(['account_id', 'seq'])
        .execute();
      await db.schema
        .createIndex('subscriptions_next_fee_idx')
        .on('subscriptions')
        .columns(['next_fee_at', 'id'])
        .where('next_fee_at', 'is not', null)
        .execute();
    },
  },
};
