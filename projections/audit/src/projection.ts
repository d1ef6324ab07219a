import assert from 'node:assert/strict';
import type { RecordedEvent } from '@ledger/eventstore';
import { allEventTypes, bindParametersMax, chunked, migrateSchema, type Projection } from '@ledger/readmodel';
import type { Insertable, Kysely } from 'kysely';
import { auditMigrations } from './migrations.js';
import type { AuditDatabase, AuditEventsTable } from './schema.js';

/** Rows per INSERT: 8 parameters a row keeps a full chunk (8,000) far under bindParametersMax. */
const insertRowsMax = 1_000;
const columnsPerRow = 8;
assert(insertRowsMax * columnsPerRow <= bindParametersMax);

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

async function insertEvents(tx: Kysely<any>, events: readonly RecordedEvent[]): Promise<void> {
  const db = tx as Kysely<AuditDatabase>;
  for (const rows of chunked(events.map(auditRow), insertRowsMax)) {
    await db.insertInto('events').values(rows).execute();
  }
}

/**
 * The audit trail: every event, with its actor and correlation. A plain INSERT, not an
 * upsert: an event applied twice would be a broken exactly-once guarantee, and the primary
 * key makes that crash the projection instead of hiding it. A batch is one multi-row INSERT
 * (per insertRowsMax rows): one round trip instead of one per event.
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
