import type { SupportTicketView } from '@ledger/contracts';
import { assertProjectionSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { supportProjection } from './projection.js';
import type { SupportDatabase } from './schema.js';

/** A cursor listTickets did not make: a client error (400). */
export class InvalidTicketCursor extends RangeError {
  override readonly name = 'InvalidTicketCursor';
}

const cursorPattern = /^st1:([1-9][0-9]{0,18})$/;

function decodeCursor(cursor: string): string {
  const match = cursor.length <= 64 ? cursorPattern.exec(Buffer.from(cursor, 'base64url').toString()) : null;
  if (!match) throw new InvalidTicketCursor('invalid cursor');
  return match[1]!;
}

export interface TicketQuery {
  limit: number;
  cursor?: string;
  userId?: string;
  schema?: string;
}

/** One page of tickets, newest first, keyset-paginated. */
export async function listTickets(
  db: Kysely<any>,
  query: TicketQuery,
): Promise<{ items: SupportTicketView[]; nextCursor: string | null }> {
  const { limit } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new RangeError('limit must be 1 to 200');
  const schema = query.schema ?? supportProjection.schema;
  assertProjectionSchema(schema);
  let q = (db.withSchema(schema) as Kysely<SupportDatabase>)
    .selectFrom('tickets')
    .select([
      sql<string>`id::text`.as('id'),
      sql<string>`seq::text`.as('seq'),
      sql<string>`user_id::text`.as('user_id'),
      sql<string>`session_id::text`.as('session_id'),
      'reason',
      'language',
      'intents',
      'status',
      'created_at',
    ]);
  if (query.userId !== undefined) q = q.where('user_id', '=', query.userId);
  if (query.cursor !== undefined) q = q.where(sql<boolean>`seq < ${decodeCursor(query.cursor)}::bigint`);
  // The table's bigint column, not the text alias (as text, 100 sorts before 99).
  const rows = await q
    .orderBy('tickets.seq', 'desc')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((row) => ({
      id: row.id,
      userId: row.user_id,
      sessionId: row.session_id,
      reason: row.reason as SupportTicketView['reason'],
      language: row.language as SupportTicketView['language'],
      intents: row.intents as SupportTicketView['intents'],
      status: 'open' as const,
      createdAt: (row.created_at instanceof Date ? row.created_at : new Date(row.created_at)).toISOString(),
      position: row.seq,
    })),
    nextCursor: rows.length > limit && last ? Buffer.from(`st1:${last.seq}`).toString('base64url') : null,
  };
}
