import type { EventMetadata, JsonValue, RecordedEvent } from '../types.js';

/** An es.events row as the adapter's queries select it: int8 as text, timestamps and hashes as the port gives them. */
export interface EventRow {
  global_position: string;
  event_id: string;
  stream_id: string;
  stream_version: string;
  type: string;
  schema_version: number;
  data: JsonValue;
  metadata: EventMetadata;
  recorded_at: string;
  hash: string;
}

// Output columns are int8 as text under their own names: ORDER BY must name the table's
// columns (e.x), or PostgreSQL would sort the text.
export const eventColumns = `global_position::text, event_id::text, stream_id, stream_version::text, type,
  schema_version, data, metadata,
  to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded_at,
  encode(hash, 'hex') AS hash`;

export function toRecorded(row: EventRow): RecordedEvent {
  return {
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: BigInt(row.stream_version),
    globalPosition: BigInt(row.global_position),
    type: row.type,
    schemaVersion: row.schema_version,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at,
    hash: row.hash,
  };
}
