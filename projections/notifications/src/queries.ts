import type { NotificationView } from '@ledger/contracts';
import { assertProjectionSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { notificationsProjectionSchema } from './projection.js';
import type { NotificationsDatabase } from './schema.js';

export interface NotificationQuery {
  userId: string;
  /** 1–200 (the route's schema checks it). */
  limit: number;
  cursor?: string | undefined;
  /** Only the unread ones. */
  unread?: boolean;
  schema?: string;
}

export interface NotificationPage {
  items: NotificationView[];
  nextCursor: string | null;
  unreadCount: number;
}

/** A cursor listNotifications did not make: a client error (400). */
export class InvalidNotificationCursor extends RangeError {
  override readonly name = 'InvalidNotificationCursor';
}

const cursorPattern = /^n1:([0-9]{1,19}):([0-9a-f-]{36})$/;

function encodeCursor(seq: string, id: string): string {
  return Buffer.from(`n1:${seq}:${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { seq: string; id: string } {
  const match = cursor.length <= 128 ? cursorPattern.exec(Buffer.from(cursor, 'base64url').toString()) : null;
  if (!match) throw new InvalidNotificationCursor('invalid cursor');
  return { seq: match[1]!, id: match[2]! };
}

const db$ = (db: Kysely<any>, schema: string) => {
  assertProjectionSchema(schema);
  return db.withSchema(schema) as Kysely<NotificationsDatabase>;
};

const iso = (d: Date | string) => (d instanceof Date ? d : new Date(d)).toISOString();

/**
 * The user's notifications, newest first (by the position of the event that caused them,
 * then id), keyset-paged: following nextCursor to the end yields each once. With the
 * user's unread count.
 */
export async function listNotifications(
  db: Kysely<any>,
  query: NotificationQuery,
): Promise<NotificationPage> {
  const rm = db$(db, query.schema ?? notificationsProjectionSchema);
  let select = rm
    .selectFrom('notifications')
    .select([
      sql<string>`id::text`.as('id'),
      sql<string>`seq::text`.as('seq'),
      'type',
      'title',
      'body',
      'created_at',
      'read_at',
    ])
    .where('user_id', '=', query.userId);
  if (query.unread) select = select.where('read_at', 'is', null);
  if (query.cursor !== undefined) {
    const { seq, id } = decodeCursor(query.cursor);
    select = select.where(sql<boolean>`(seq, id) < (${seq}::bigint, ${id}::uuid)`);
  }
  const rows = await select
    .orderBy('seq', 'desc')
    .orderBy('id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({
      id: r.id,
      type: r.type,
      title: r.title,
      body: r.body,
      createdAt: iso(r.created_at),
      readAt: r.read_at === null ? null : iso(r.read_at),
    })),
    nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor(last.seq, last.id) : null,
    unreadCount: await unreadCount(db, query.userId, query.schema),
  };
}

/** The user's unread notifications: the counter the projection keeps. */
export async function unreadCount(db: Kysely<any>, userId: string, schema?: string): Promise<number> {
  const row = await db$(db, schema ?? notificationsProjectionSchema)
    .selectFrom('unread_counts')
    .select(sql<string>`unread::text`.as('unread'))
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row === undefined ? 0 : Number(row.unread);
}

/** Whether notification `id` is `userId`'s (false for another user's, or an unknown id). */
export async function isNotificationOf(
  db: Kysely<any>,
  id: string,
  userId: string,
  schema?: string,
): Promise<boolean> {
  const row = await db$(db, schema ?? notificationsProjectionSchema)
    .selectFrom('notifications')
    .select('id')
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row !== undefined;
}
