import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Frozen once landed; scoped to the projection's schema: bare table names only.
export const kycMigrations: Record<string, Migration> = {
  '0001_cases': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('cases')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull().unique())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('document_type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('extracted', 'jsonb')
        .addColumn('mrz_valid', 'boolean')
        .addColumn('face_match', 'jsonb')
        .addColumn('reasons', 'jsonb', (c) => c.notNull())
        .addColumn('has_selfie', 'boolean', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('decided_at', 'timestamptz')
        .addColumn('decided_by', 'text')
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('cases_status_seq_idx').on('cases').columns(['status', 'seq']).execute();
      await db.schema.createIndex('cases_user_seq_idx').on('cases').columns(['user_id', 'seq']).execute();
    },
  },
};
