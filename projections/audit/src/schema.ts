import type { ColumnType } from 'kysely';

/**
 * Tables of the audit read model (schema `audit`; bare names, see Projection). One row per
 * event in the store, of every type: who did what, when, under which request.
 */
export interface AuditEventsTable {
  /** The event's global position; int8, written and read as text to keep it exact. */
  position: ColumnType<string, string, never>;
  event_id: ColumnType<string, string, never>;
  stream_id: ColumnType<string, string, never>;
  type: ColumnType<string, string, never>;
  actor_id: ColumnType<string | null, string | null, never>;
  correlation_id: ColumnType<string | null, string | null, never>;
  request_id: ColumnType<string | null, string | null, never>;
  recorded_at: ColumnType<Date, string, never>;
}

export interface AuditDatabase {
  events: AuditEventsTable;
}
