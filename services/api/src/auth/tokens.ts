import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { identityLimits } from '@ledger/contracts';
import { migrateSchema } from '@ledger/readmodel';
import type { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Refresh tokens and revocations (API.md, Auth). Refresh tokens are opaque random strings;
 * only their sha256 is stored (schema `auth`, with its own migration table), so a copy of
 * the table cannot be replayed. Each login starts a family; each refresh spends a token and
 * issues its successor in the family; presenting a spent token again revokes the family
 * (OAuth 2.0 Security BCP §4.14: a stolen token and its legitimate use cannot both go on).
 *
 * Revoked access tokens (by jti) and families are also kept in a revocation list checked on
 * every request: Redis keys with TTL = the access token's remaining life when REDIS_URL is
 * set, else rows in `auth.revocations`.
 */

export const accessTokenTtlSeconds = 3600;
export const refreshTokenTtlMs = 30 * 24 * 3600 * 1000;
const refreshTokenBytes = 32;
const refreshTokenPattern = /^rt_[A-Za-z0-9_-]{43}$/;

export const authSchema = 'auth';

export const authMigrations: Record<string, Migration> = {
  '0001_refresh_tokens': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('token_families')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('revoked_at', 'timestamptz')
        .addColumn('revoked_reason', 'text')
        .execute();
      await db.schema
        .createTable('refresh_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('family_id', 'uuid', (c) => c.notNull().references('token_families.id'))
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('spent_at', 'timestamptz')
        .execute();
      await db.schema
        .createIndex('refresh_tokens_family_idx')
        .on('refresh_tokens')
        .column('family_id')
        .execute();
      await db.schema
        .createTable('revocations')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
  '0002_recovery_codes': {
    async up(db: Kysely<any>) {
      await db.schema
        .createIndex('token_families_user_idx')
        .on('token_families')
        .columns(['user_id', 'created_at'])
        .execute();
      await db.schema
        .createTable('recovery_codes')
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('used_at', 'timestamptz')
        .addPrimaryKeyConstraint('recovery_codes_pk', ['user_id', 'code_hash'])
        .execute();
    },
  },
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export type RotateResult =
  | { status: 'rotated'; userId: string; familyId: string; refreshToken: string; familyStartedAt: Date }
  | { status: 'reused'; userId: string; familyId: string }
  | { status: 'invalid' };

export interface RevocationList {
  revoke(key: string, ttlSeconds: number, now: Date): Promise<void>;
  anyRevoked(keys: readonly string[], now: Date): Promise<boolean>;
  /**
   * anyRevoked(keys) and the change mark of a user's stream (see touchUser), in one round
   * trip where the list is shared (Redis). `userMark` is undefined where no marks are kept.
   */
  check(
    keys: readonly string[],
    userId: string,
    now: Date,
  ): Promise<{ revoked: boolean; userMark?: string | null }>;
  /**
   * Records that a user's stream changed (a role, a lock), so every process sharing the list
   * sees a new mark on its next check and drops its cached copy of the user. Where marks are
   * not kept (no Redis), only the caches of this process are dropped (by the caller).
   */
  touchUser(userId: string): Promise<void>;
  /** Whether touchUser reaches other processes. */
  readonly sharesUserMarks: boolean;
}

/** Key of a user's change mark; it outlives every cached copy of the user (userMarkTtlSeconds). */
export const userMarkKey = (userId: string) => `usr:${userId}`;
export const userMarkTtlSeconds = 3600;

export function redisRevocations(redis: Redis, prefix: string): RevocationList {
  return {
    async revoke(key, ttlSeconds) {
      await redis.set(prefix + key, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)));
    },
    async anyRevoked(keys) {
      if (keys.length === 0) return false;
      const values = await redis.mget(...keys.map((k) => prefix + k));
      return values.some((v) => v !== null);
    },
    async check(keys, userId) {
      const values = await redis.mget(...keys.map((k) => prefix + k), prefix + userMarkKey(userId));
      const userMark = values.pop() ?? null;
      return { revoked: values.some((v) => v !== null), userMark };
    },
    async touchUser(userId) {
      // A fresh random value: unlike a counter it cannot come back to one a cache holds.
      await redis.set(prefix + userMarkKey(userId), randomUUID(), 'EX', userMarkTtlSeconds);
    },
    sharesUserMarks: true,
  };
}

export function databaseRevocations(db: Kysely<any>, ready: () => Promise<void>): RevocationList {
  const table = () => db.withSchema(authSchema);
  const anyRevoked = async (keys: readonly string[], now: Date) => {
    if (keys.length === 0) return false;
    await ready();
    const row = await table()
      .selectFrom('revocations')
      .select('key')
      .where('key', 'in', [...keys])
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row !== undefined;
  };
  return {
    async revoke(key, ttlSeconds, now) {
      await ready();
      const expiresAt = new Date(now.getTime() + Math.max(1, ttlSeconds) * 1000);
      await table()
        .insertInto('revocations')
        .values({ key, expires_at: expiresAt })
        .onConflict((oc) => oc.column('key').doUpdateSet({ expires_at: expiresAt }))
        .execute();
    },
    anyRevoked,
    async check(keys, _userId, now) {
      return { revoked: await anyRevoked(keys, now) };
    },
    async touchUser() {},
    sharesUserMarks: false,
  };
}

export const jtiKey = (jti: string) => `jti:${jti}`;
export const familyKey = (familyId: string) => `fam:${familyId}`;

/**
 * Migrates the `auth` schema once, on first use rather than at start-up, so the API starts
 * (and reports itself unready) while PostgreSQL is down. A failed attempt is retried later.
 */
export function authTablesReady(db: Kysely<any>): () => Promise<void> {
  let migrated: Promise<void> | undefined;
  return () => {
    migrated ??= migrateSchema(db, authSchema, authMigrations).catch((error: unknown) => {
      migrated = undefined;
      throw error;
    });
    return migrated;
  };
}

export class RefreshTokens {
  constructor(
    private readonly db: Kysely<any>,
    readonly revocations: RevocationList,
    private readonly ready: () => Promise<void>,
  ) {}

  private get t() {
    return this.db.withSchema(authSchema);
  }

  /** Starts a family (a login) and returns its first refresh token. */
  async startFamily(userId: string, now: Date): Promise<{ familyId: string; refreshToken: string }> {
    await this.ready();
    const familyId = randomUUID();
    const refreshToken = newRefreshToken();
    await this.db.transaction().execute(async (tx) => {
      const t = tx.withSchema(authSchema);
      await t
        .insertInto('token_families')
        .values({ id: familyId, user_id: userId, created_at: now })
        .execute();
      await t
        .insertInto('refresh_tokens')
        .values(tokenRow(refreshToken, familyId, userId, now))
        .execute();
    });
    return { familyId, refreshToken };
  }

  /**
   * Spends a refresh token and issues its successor, atomically: of two concurrent uses of
   * one token, one rotates and the other is a reuse.
   */
  async rotate(refreshToken: string, now: Date): Promise<RotateResult> {
    if (!refreshTokenPattern.test(refreshToken)) return { status: 'invalid' };
    await this.ready();
    const hash = sha256(refreshToken);
    const rotated = await this.db.transaction().execute(async (tx) => {
      const { rows } = await sql<{ family_id: string; user_id: string; family_started_at: Date | string }>`
        UPDATE auth.refresh_tokens r SET spent_at = ${now}
        FROM auth.token_families f
        WHERE r.token_hash = ${hash} AND r.spent_at IS NULL AND r.expires_at > ${now}
          AND f.id = r.family_id AND f.revoked_at IS NULL
        RETURNING r.family_id::text AS family_id, r.user_id::text AS user_id,
          f.created_at AS family_started_at`.execute(tx);
      const row = rows[0];
      if (!row) return null;
      const next = newRefreshToken();
      await tx
        .withSchema(authSchema)
        .insertInto('refresh_tokens')
        .values(tokenRow(next, row.family_id, row.user_id, now))
        .execute();
      return {
        status: 'rotated' as const,
        userId: row.user_id,
        familyId: row.family_id,
        refreshToken: next,
        familyStartedAt: new Date(row.family_started_at),
      };
    });
    if (rotated) return rotated;
    const known = await this.t
      .selectFrom('refresh_tokens')
      .select([
        sql<string>`family_id::text`.as('family_id'),
        sql<string>`user_id::text`.as('user_id'),
        'spent_at',
      ])
      .where('token_hash', '=', hash)
      .executeTakeFirst();
    if (known && known.spent_at !== null) {
      await this.revokeFamily(known.family_id, 'reuse', now);
      return { status: 'reused', userId: known.user_id, familyId: known.family_id };
    }
    return { status: 'invalid' };
  }

  /** The family of a live token of this user, or null. */
  async familyOf(refreshToken: string, userId: string): Promise<string | null> {
    if (!refreshTokenPattern.test(refreshToken)) return null;
    await this.ready();
    const row = await this.t
      .selectFrom('refresh_tokens')
      .select(sql<string>`family_id::text`.as('family_id'))
      .where('token_hash', '=', sha256(refreshToken))
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.family_id ?? null;
  }

  /**
   * Every live family of the user (every session, on every device): a lock by staff, a
   * password change. Bounded: families live 30 days at most, and each login makes one.
   */
  async revokeAllFamilies(
    userId: string,
    reason: 'locked' | 'password_changed' | 'erased',
    now: Date,
  ): Promise<number> {
    await this.ready();
    const rows = await this.t
      .updateTable('token_families')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('created_at', '>', new Date(now.getTime() - refreshTokenTtlMs))
      .returning(sql<string>`id::text`.as('id'))
      .execute();
    await Promise.all(
      rows.map((row) => this.revocations.revoke(familyKey(row.id), accessTokenTtlSeconds, now)),
    );
    return rows.length;
  }

  /** No token of the family refreshes again, and its access tokens stop working at once. */
  async revokeFamily(familyId: string, reason: 'reuse' | 'logout', now: Date): Promise<void> {
    await this.ready();
    await this.t
      .updateTable('token_families')
      .set({ revoked_at: now, revoked_reason: reason })
      .where('id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute();
    await this.revocations.revoke(familyKey(familyId), accessTokenTtlSeconds, now);
  }
}

function newRefreshToken(): string {
  return `rt_${randomBytes(refreshTokenBytes).toString('base64url')}`;
}

function tokenRow(token: string, familyId: string, userId: string, now: Date) {
  return {
    token_hash: sha256(token),
    family_id: familyId,
    user_id: userId,
    created_at: now,
    expires_at: new Date(now.getTime() + refreshTokenTtlMs),
  };
}

/**
 * 2FA recovery codes (API.md, Auth): ten random codes shown once, kept only as sha256 (49.5
 * random bits each, so a plain hash is enough: nobody can enumerate 2^50 codes per user
 * against a rate-limited login), each spent by its first use. Outside the event log: the log
 * records only that codes were generated and that a login used one.
 */
export class RecoveryCodes {
  constructor(
    private readonly db: Kysely<any>,
    private readonly ready: () => Promise<void>,
  ) {}

  /** New codes for the user, replacing any earlier ones, returned in clear this once. */
  async replace(userId: string, now: Date): Promise<string[]> {
    await this.ready();
    const codes = Array.from({ length: identityLimits.recoveryCodeCount }, newRecoveryCode);
    await this.db.transaction().execute(async (tx) => {
      const t = tx.withSchema(authSchema);
      await t.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      await t
        .insertInto('recovery_codes')
        .values(codes.map((code) => ({ user_id: userId, code_hash: recoveryHash(code), created_at: now })))
        .execute();
    });
    return codes;
  }

  /** Spends the code if it is one of the user's unspent ones: true once, then false. */
  async spend(userId: string, code: string, now: Date): Promise<boolean> {
    await this.ready();
    const spent = await this.db
      .withSchema(authSchema)
      .updateTable('recovery_codes')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('code_hash', '=', recoveryHash(code))
      .where('used_at', 'is', null)
      .returning('user_id')
      .executeTakeFirst();
    return spent !== undefined;
  }

  async removeAll(userId: string): Promise<void> {
    await this.ready();
    await this.db.withSchema(authSchema).deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  }
}

/** 31 letters and digits that cannot be mistaken for one another on paper (no i, l, o, 0, 1). */
const recoveryAlphabet = 'abcdefghjkmnpqrstuvwxyz23456789';

/** Ten characters drawn uniformly (randomInt: no modulo bias): 49.5 random bits. */
function newRecoveryCode(): string {
  const chars = Array.from({ length: 10 }, () => recoveryAlphabet[randomInt(recoveryAlphabet.length)]);
  return `${chars.slice(0, 5).join('')}-${chars.slice(5).join('')}`;
}

/** The canonical form (lower case, no dash) hashed: "ABCDE FGHJK"-style typing still matches. */
function recoveryHash(code: string): string {
  return sha256(`recovery:${code.toLowerCase().replace(/[^a-z0-9]/g, '')}`);
}
