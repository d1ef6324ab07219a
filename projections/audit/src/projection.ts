import type { RecordedEvent } from '@ledger/eventstore';
import { allEventTypes, migrateSchema, type Projection } from '@ledger/readmodel';
import type { Kysely } from 'kysely';
import { auditMigrations } from './migrations.js';
import type { AuditDatabase } from './schema.js';

function metadataText(event: RecordedEvent, key: 'actorId' | 'correlationId' | 'requestId'): string | null {
  const value = event.metadata[key];
  return typeof value === 'string' ? value : null;
}

/**
 * The audit trail: every event, with its actor and correlation. A plain INSERT, not an
 * upsert: an event applied twice would be a broken exactly-once guarantee, and the primary
 * key makes that crash the projection instead of hiding it.
 */
export const auditProjection: Projection = {
  name: 'audit',
  version: 1,
  schema: 'audit',
  handles: [allEventTypes],
  migrate: (db, schema) => migrateSchema(db, schema, auditMigrations),
  async apply(tx, event) {
    await (tx as Kysely<AuditDatabase>)
      .insertInto('events')
      .values({
        position: event.globalPosition.toString(),
        event_id: event.eventId,
        stream_id: event.streamId,
        type: event.type,
        actor_id: metadataText(event, 'actorId'),
        correlation_id: metadataText(event, 'correlationId'),
        request_id: metadataText(event, 'requestId'),
        recorded_at: event.recordedAt,
      })
      .execute();
  },
};
