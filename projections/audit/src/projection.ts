import type { RecordedEvent } from '@ledger/eventstore';
import { allEventTypes, insertRows, migrateSchema, type Projection } from '@ledger/readmodel';
import type { Insertable, Kysely } from 'kysely';
import { auditMigrations } from './migrations.js';
import type { AuditEventsTable } from './schema.js';

function metadataText(event: RecordedEvent, key: 'actorId' | 'correlationId' | 'requestId'): string | null {
  const value = event.metadata[key];
  return typeof value === 'string' ? value : null;
}

function auditRow(event: RecordedEvent): Insertable<AuditEventsTable> {
  return {
    position: event.globalPosition.toString(),
    event_id: event.eventId,
    stream_id: event.streamId,
    type: event.type,
    actor_id: metadataText(event, 'actorId'),
    correlation_id: metadataText(event, 'correlationId'),
    request_id: metadataText(event, 'requestId'),
    recorded_at: event.recordedAt,
  };
}

const auditColumns = {
  position: 'bigint',
  event_id: 'uuid',
  stream_id: 'text',
  type: 'text',
  actor_id: 'text',
  correlation_id: 'text',
  request_id: 'text',
  recorded_at: 'timestamptz',
} as const;

async function insertEvents(tx: Kysely<any>, events: readonly RecordedEvent[]): Promise<void> {
  await insertRows(tx, 'events', auditColumns, events.map(auditRow));
}

/**
 * The audit trail: every event, with its actor and correlation. A plain INSERT, not an
 * upsert: an event applied twice would be a broken exactly-once guarantee, and the primary
 * key makes that crash the projection instead of hiding it. A batch is one INSERT of arrays
 * (insertRows): one round trip instead of one per event.
 */
export const auditProjection: Projection = {
  name: 'audit',
  version: 1,
  schema: 'audit',
  handles: [allEventTypes],
  migrate: (db, schema) => migrateSchema(db, schema, auditMigrations),
  apply: (tx, event) => insertEvents(tx, [event]),
  applyBatch: insertEvents,
};
