import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Frozen once landed; scoped to the projection's schema: bare table names only.
export const usersMigrations: Record<string, Migration> = {
  '0001_users': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull().unique())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('first_name', 'text')
        .addColumn('last_name', 'text')
        .addColumn('date_of_birth', 'text')
        .addColumn('phone', 'text')
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('two_factor_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('kyc_status', 'text', (c) => c.notNull().defaultTo('none'))
        .addColumn('locked', 'boolean', (c) => c.notNull().defaultTo(false))
        .addColumn('locked_until', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_role_seq_idx').on('users').columns(['role', 'seq']).execute();
    },
  },
  // Issue #15: fields are kept sealed, and an erased user's are removed altogether.
  '0002_erasure': {
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('users')
        .alterColumn('username', (c) => c.dropNotNull())
        .execute();
      await db.schema
        .alterTable('users')
        .alterColumn('email', (c) => c.dropNotNull())
        .execute();
      await db.schema.alterTable('users').addColumn('erased_at', 'timestamptz').execute();
    },
  },
};
