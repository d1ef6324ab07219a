import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

// Landed migrations are frozen: change the schema with a new one. They run scoped to the
// projection's schema (live `audit`, or a fresh one for a rebuild): bare table names only.
export const auditMigrations: Record<string, Migration> = {
  '0001_events': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('events')
        .addColumn('position', 'bigint', (c) => c.primaryKey())
        .addColumn('event_id', 'uuid', (c) => c.notNull().unique())
        .addColumn('stream_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('correlation_id', 'text')
        .addColumn('request_id', 'text')
        .addColumn('recorded_at', 'timestamptz', (c) => c.notNull())
        .execute();
      // "What did this actor do between from and to": the admin audit query.
      await db.schema
        .createIndex('events_actor_recorded_idx')
        .on('events')
        .columns(['actor_id', 'recorded_at'])
        .execute();
      // The same without an actor: a time window over everyone.
      await db.schema.createIndex('events_recorded_idx').on('events').column('recorded_at').execute();
    },
  },
  /**
   * Every event is a row here, so each index costs a B-tree insert per event: half of the
   * read models' index work per transfer. Rows arrive in position order and recorded_at
   * follows it, so a BRIN index (a few pages for millions of rows, kept up almost for free)
   * serves the time window; no query looks events up by id (the event store keeps ids
   * unique, and position is this table's key).
   */
  '0002_lighter_indexes': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('events').dropConstraint('events_event_id_key').execute();
      await db.schema.dropIndex('events_recorded_idx').execute();
      await db.schema
        .createIndex('events_recorded_brin')
        .on('events')
        .using('brin')
        .column('recorded_at')
        .execute();
    },
  },
};
