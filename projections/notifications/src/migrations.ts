import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

// Frozen once landed; scoped to the projection's schema: bare table names only.
export const notificationsMigrations: Record<string, Migration> = {
  '0001_notifications': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('notifications')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('category', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('facts', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('read_at', 'timestamptz')
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('notifications_user_seq_idx')
        .on('notifications')
        .columns(['user_id', 'seq', 'id'])
        .execute();
      await db.schema
        .createIndex('notifications_user_unread_idx')
        .on('notifications')
        .columns(['user_id', 'seq', 'id'])
        .where(sql.ref('read_at'), 'is', null)
        .execute();
      await db.schema
        .createTable('unread_counts')
        .addColumn('user_id', 'uuid', (c) => c.primaryKey())
        .addColumn('unread', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('preferences')
        .addColumn('user_id', 'uuid', (c) => c.primaryKey())
        .addColumn('in_app', 'jsonb')
        .addColumn('locale', 'text')
        .execute();
    },
  },
};
