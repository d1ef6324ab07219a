import { type AdminUserView, erasedMarker, type KycStatus, type Role } from '@ledger/contracts';
import { assertProjectionSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { usersProjection } from './projection.js';
import type { UsersDatabase } from './schema.js';

export const userQueryLimits = { limitMin: 1, limitMax: 200 } as const;

/** Opens a user's sealed personal fields (the vault's sealer of that user); null: erased. */
export interface FieldOpener {
  open(field: string, sealed: string): string | null;
}

export interface UserQuery {
  /** The sealers of the users of a page (the vault's `sealers`): the read model keeps fields sealed. */
  sealers(userIds: readonly string[]): Promise<ReadonlyMap<string, FieldOpener>>;
  limit: number;
  cursor?: string;
  role?: Role;
  /** Timed locks end by themselves: `locked` is computed at this time. */
  now: Date;
  schema?: string;
}

export interface UserPage {
  items: AdminUserView[];
  nextCursor: string | null;
}

/** A cursor listUsers did not make: a client error (400). */
export class InvalidUserCursor extends RangeError {
  override readonly name = 'InvalidUserCursor';
}

const cursorPattern = /^u1:([1-9][0-9]{0,18})$/;

function decodeCursor(cursor: string): string {
  const match = cursor.length <= 64 ? cursorPattern.exec(Buffer.from(cursor, 'base64url').toString()) : null;
  if (!match) throw new InvalidUserCursor('invalid cursor');
  return match[1]!;
}

/** One page of users in registration order, keyset-paginated (stable while users register). */
export async function listUsers(db: Kysely<any>, query: UserQuery): Promise<UserPage> {
  const { limit } = query;
  if (!Number.isInteger(limit) || limit < userQueryLimits.limitMin || limit > userQueryLimits.limitMax) {
    throw new RangeError(
      `limit must be an integer from ${userQueryLimits.limitMin} to ${userQueryLimits.limitMax}`,
    );
  }
  const schema = query.schema ?? usersProjection.schema;
  assertProjectionSchema(schema);
  let select = (db.withSchema(schema) as Kysely<UsersDatabase>)
    .selectFrom('users')
    .select([
      sql<string>`id::text`.as('id'),
      sql<string>`seq::text`.as('seq'),
      'username',
      'email',
      'first_name',
      'last_name',
      'date_of_birth',
      'phone',
      'role',
      'two_factor_enabled',
      'kyc_status',
      'locked',
      'locked_until',
      'created_at',
      'erased_at',
    ]);
  if (query.role !== undefined) select = select.where('role', '=', query.role);
  if (query.cursor !== undefined) {
    select = select.where(sql<boolean>`seq > ${decodeCursor(query.cursor)}::bigint`);
  }
  const rows = await select
    // The table's bigint column, not the text alias of the same name (ORDER BY prefers an
    // output column): as text, 100000000 sorts before 99999999 and the keyset drops rows.
    .orderBy('users.seq', 'asc')
    .limit(limit + 1)
    .execute();
  const iso = (d: Date | string) => (d instanceof Date ? d : new Date(d)).toISOString();
  const page = rows.slice(0, limit);
  const sealers = await query.sealers(page.filter((row) => row.erased_at === null).map((row) => row.id));
  const items = page.map((row): AdminUserView => {
    const lockedUntil = row.locked_until === null ? null : iso(row.locked_until);
    const sealer = row.erased_at === null ? sealers.get(row.id) : undefined;
    // Erased (or a key the vault no longer has): the fields read as erased, never as ciphertext.
    const open = (field: string, sealed: string | null) =>
      sealed === null || sealer === undefined ? null : sealer.open(field, sealed);
    return {
      id: row.id,
      username: open('username', row.username) ?? erasedMarker,
      email: open('email', row.email) ?? erasedMarker,
      firstName: open('firstName', row.first_name),
      lastName: open('lastName', row.last_name),
      dateOfBirth: open('dateOfBirth', row.date_of_birth),
      phone: open('phone', row.phone),
      role: row.role as Role,
      twoFactorEnabled: row.two_factor_enabled,
      kycStatus: row.kyc_status as KycStatus,
      createdAt: iso(row.created_at),
      locked: row.locked && (lockedUntil === null || Date.parse(lockedUntil) > query.now.getTime()),
      lockedUntil,
      erasedAt: row.erased_at === null ? null : iso(row.erased_at),
    };
  });
  const last = rows[limit - 1];
  return {
    items,
    nextCursor: rows.length > limit && last ? Buffer.from(`u1:${last.seq}`).toString('base64url') : null,
  };
}

/** The users figures of GET /api/admin/stats. */
export interface UserStats {
  total: number;
  byRole: Record<Role, number>;
  /** Users whose KYC status is `verified`. */
  kycVerified: number;
}

/** Counts of users, by role and KYC verified: one aggregate over the users table. */
export async function userStats(
  db: Kysely<any>,
  schema: string = usersProjection.schema,
): Promise<UserStats> {
  assertProjectionSchema(schema);
  const count = (condition: ReturnType<typeof sql<boolean>>) =>
    sql<string>`(count(*) FILTER (WHERE ${condition}))::text`;
  const row = await (db.withSchema(schema) as Kysely<UsersDatabase>)
    .selectFrom('users')
    .select([
      sql<string>`count(*)::text`.as('total'),
      count(sql`role = 'customer'`).as('customer'),
      count(sql`role = 'agent'`).as('agent'),
      count(sql`role = 'manager'`).as('manager'),
      count(sql`role = 'director'`).as('director'),
      count(sql`role = 'auditor'`).as('auditor'),
      count(sql`kyc_status = 'verified'`).as('kyc_verified'),
    ])
    .executeTakeFirstOrThrow();
  // Counts of rows: far below 2^53.
  return {
    total: Number(row.total),
    byRole: {
      customer: Number(row.customer),
      agent: Number(row.agent),
      manager: Number(row.manager),
      director: Number(row.director),
      auditor: Number(row.auditor),
    },
    kycVerified: Number(row.kyc_verified),
  };
}
