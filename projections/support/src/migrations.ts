import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Frozen once landed; scoped to the projection's schema: bare table names only.
export const supportMigrations: Record<string, Migration> = {
  '0001_tickets': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tickets')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull().unique())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('session_id', 'uuid', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('intents', 'jsonb', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tickets_user_seq_idx').on('tickets').columns(['user_id', 'seq']).execute();
    },
  },
};
