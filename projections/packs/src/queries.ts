import type { PackStatus, PackView, SubscriptionStatus, SubscriptionView } from '@ledger/contracts';
import { assertProjectionSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { packsProjection } from './projection.js';
import type { PacksDatabase } from './schema.js';
import { packFromJson, subscriptionFromJson } from './state.js';
import { packView, subscriptionView } from './views.js';

/** A cursor these lists did not make: a client error (400). */
export class InvalidPackCursor extends RangeError {
  override readonly name = 'InvalidPackCursor';
}

const cursorPattern = /^p1:([1-9][0-9]{0,18})$/;

function decodeCursor(cursor: string): string {
  const match = cursor.length <= 64 ? cursorPattern.exec(Buffer.from(cursor, 'base64url').toString()) : null;
  if (!match) throw new InvalidPackCursor('invalid cursor');
  return match[1]!;
}

const encodeCursor = (seq: string) => Buffer.from(`p1:${seq}`).toString('base64url');

function checkLimit(limit: number) {
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new RangeError('limit must be 1 to 200');
}

function on(db: Kysely<any>, schema: string | undefined) {
  const name = schema ?? packsProjection.schema;
  assertProjectionSchema(name);
  return db.withSchema(name) as Kysely<PacksDatabase>;
}

export interface PackQuery {
  limit: number;
  cursor?: string;
  /** Only packs of these statuses (the public catalog: active and retired; staff: all). */
  statuses: readonly PackStatus[];
  schema?: string;
}

/** One page of the catalog, oldest first (the catalog's own order), keyset-paginated. */
export async function listPacks(
  db: Kysely<any>,
  query: PackQuery,
): Promise<{ items: PackView[]; nextCursor: string | null }> {
  checkLimit(query.limit);
  if (query.statuses.length === 0) return { items: [], nextCursor: null };
  let q = on(db, query.schema)
    .selectFrom('packs')
    .select([sql<string>`seq::text`.as('seq'), 'state'])
    .where('status', 'in', [...query.statuses]);
  if (query.cursor !== undefined) q = q.where(sql<boolean>`seq > ${decodeCursor(query.cursor)}::bigint`);
  const rows = await q
    .orderBy('seq', 'asc')
    .limit(query.limit + 1)
    .execute();
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map((row) => packView(packFromJson(row.state))),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.seq) : null,
  };
}

export async function getPack(db: Kysely<any>, packId: string, schema?: string): Promise<PackView | null> {
  const row = await on(db, schema)
    .selectFrom('packs')
    .select('state')
    .where('id', '=', packId)
    .executeTakeFirst();
  return row === undefined ? null : packView(packFromJson(row.state));
}

export interface SubscriptionQuery {
  limit: number;
  cursor?: string;
  userId?: string;
  accountId?: string;
  status?: SubscriptionStatus;
  schema?: string;
}

/** One page of subscriptions, newest first, keyset-paginated. */
export async function listSubscriptions(
  db: Kysely<any>,
  query: SubscriptionQuery,
): Promise<{ items: SubscriptionView[]; nextCursor: string | null }> {
  checkLimit(query.limit);
  let q = on(db, query.schema)
    .selectFrom('subscriptions')
    .select([sql<string>`seq::text`.as('seq'), 'state']);
  if (query.userId !== undefined) q = q.where('user_id', '=', query.userId);
  if (query.accountId !== undefined) q = q.where('account_id', '=', query.accountId);
  if (query.status !== undefined) q = q.where('status', '=', query.status);
  if (query.cursor !== undefined) q = q.where(sql<boolean>`seq < ${decodeCursor(query.cursor)}::bigint`);
  const rows = await q
    .orderBy('seq', 'desc')
    .limit(query.limit + 1)
    .execute();
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map((row) => subscriptionView(subscriptionFromJson(row.state))),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.seq) : null,
  };
}

export async function getSubscription(
  db: Kysely<any>,
  subscriptionId: string,
  schema?: string,
): Promise<SubscriptionView | null> {
  const row = await on(db, schema)
    .selectFrom('subscriptions')
    .select('state')
    .where('id', '=', subscriptionId)
    .executeTakeFirst();
  return row === undefined ? null : subscriptionView(subscriptionFromJson(row.state));
}

/** The fee scheduler's queue: subscriptions with work due at `now`, the longest waiting first. */
export async function dueSubscriptionIds(
  db: Kysely<any>,
  query: { now: Date; limit: number; schema?: string },
): Promise<string[]> {
  if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > 1000) {
    throw new RangeError('limit must be 1 to 1000');
  }
  const rows = await on(db, query.schema)
    .selectFrom('subscriptions')
    .select(sql<string>`id::text`.as('id'))
    .where('next_fee_at', 'is not', null)
    .where('next_fee_at', '<=', query.now)
    .orderBy('next_fee_at', 'asc')
    .orderBy('id', 'asc')
    .limit(query.limit)
    .execute();
  return rows.map((r) => r.id);
}
