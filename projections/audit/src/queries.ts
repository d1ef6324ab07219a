import { assertProjectionSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { auditProjection } from './projection.js';
import type { AuditDatabase } from './schema.js';

export const auditQueryLimits = { limitMin: 1, limitMax: 200 } as const;

export interface AuditEvent {
  position: bigint;
  eventId: string;
  streamId: string;
  type: string;
  actorId: string | null;
  correlationId: string | null;
  requestId: string | null;
  /** ISO 8601 UTC with milliseconds, as the event store records it. */
  recordedAt: string;
}

export interface AuditQuery {
  actorId?: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  /** Page size, 1..200. */
  limit: number;
  /** From a previous page's nextCursor, with the same filters and order. */
  cursor?: string;
  /** 'asc' (default): oldest first; 'desc': newest first. */
  order?: 'asc' | 'desc';
  /** Another copy of the model (a rebuild); default the live schema `audit`. */
  schema?: string;
}

export interface AuditPage {
  items: AuditEvent[];
  /** null on the last page. */
  nextCursor: string | null;
}

/** A cursor that was not made by listAuditEvents for this order: a client error (400). */
export class InvalidAuditCursor extends RangeError {
  override readonly name = 'InvalidAuditCursor';
}

const cursorPattern = /^v1:(asc|desc):([1-9][0-9]{0,18})$/;

function encodeCursor(order: 'asc' | 'desc', position: bigint): string {
  return Buffer.from(`v1:${order}:${position}`).toString('base64url');
}

function decodeCursor(cursor: string, order: 'asc' | 'desc'): bigint {
  const match = cursor.length <= 64 ? cursorPattern.exec(Buffer.from(cursor, 'base64url').toString()) : null;
  if (!match || match[1] !== order) throw new InvalidAuditCursor('invalid cursor');
  return BigInt(match[2]!);
}

function checkDate(what: string, value: Date | undefined): void {
  if (value !== undefined && (!(value instanceof Date) || Number.isNaN(value.getTime()))) {
    throw new RangeError(`${what} must be a valid Date`);
  }
}

/**
 * One page of audit events, keyset-paginated on position (stable while new events
 * arrive: a page never repeats or skips a row).
 */
export async function listAuditEvents(db: Kysely<any>, query: AuditQuery): Promise<AuditPage> {
  const { limit } = query;
  if (!Number.isInteger(limit) || limit < auditQueryLimits.limitMin || limit > auditQueryLimits.limitMax) {
    throw new RangeError(
      `limit must be an integer from ${auditQueryLimits.limitMin} to ${auditQueryLimits.limitMax}`,
    );
  }
  checkDate('from', query.from);
  checkDate('to', query.to);
  const order = query.order ?? 'asc';
  const schema = query.schema ?? auditProjection.schema;
  assertProjectionSchema(schema);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, order);

  let select = (db.withSchema(schema) as Kysely<AuditDatabase>)
    .selectFrom('events')
    .select([
      sql<string>`position::text`.as('position'),
      sql<string>`event_id::text`.as('event_id'),
      'stream_id',
      'type',
      'actor_id',
      'correlation_id',
      'request_id',
      'recorded_at',
    ]);
  if (query.actorId !== undefined) select = select.where('actor_id', '=', query.actorId);
  if (query.from !== undefined) select = select.where('recorded_at', '>=', query.from);
  if (query.to !== undefined) select = select.where('recorded_at', '<', query.to);
  if (after !== undefined) {
    select = select.where(
      sql<boolean>`position ${sql.raw(order === 'asc' ? '>' : '<')} ${after.toString()}::bigint`,
    );
  }
  const rows = await select
    // The table's bigint column, not the text alias of the same name (ORDER BY prefers an
    // output column): as text, 100000000 sorts before 99999999 and the keyset drops rows.
    .orderBy('events.position', order)
    .limit(limit + 1)
    .execute();

  const page = rows.slice(0, limit);
  const items = page.map(
    (row): AuditEvent => ({
      position: BigInt(row.position),
      eventId: row.event_id,
      streamId: row.stream_id,
      type: row.type,
      actorId: row.actor_id,
      correlationId: row.correlation_id,
      requestId: row.request_id,
      recordedAt: (row.recorded_at instanceof Date
        ? row.recorded_at
        : new Date(row.recorded_at)
      ).toISOString(),
    }),
  );
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(order, last.position) : null };
}
