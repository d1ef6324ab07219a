import { randomUUID } from 'node:crypto';
import { migrateSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import {
  checkMatches,
  checkValue,
  deriveMasterKeys,
  keyedHash,
  type MasterKeys,
  newSubjectKey,
  openBytes,
  openField,
  sealBytes,
  sealField,
  unwrapSubjectKey,
  wrapSubjectKey,
} from './crypto.js';

/**
 * The vault (DESIGN §5): what must never be in the immutable log, kept beside it in
 * PostgreSQL, schema `vault`.
 *
 * - `subject_keys`: one AES-256 key per subject (a user), wrapped by the master key
 *   (DATA_KEY). Events carry personal fields sealed under it; erasure destroys it, and every
 *   field it sealed, in every event and read model, becomes unreadable at once, while every
 *   hash chain (which covers the ciphertext) still verifies.
 * - `credentials`: password hashes and sealed TOTP secrets. Events name them by id only.
 * - `master`: a check value proving the configured DATA_KEY is the one this database was
 *   sealed under; a wrong one stops start-up before anything is written.
 */

export const vaultSchema = 'vault';

export const vaultMigrations: Record<string, Migration> = {
  '0001_vault': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('master')
        .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
        .addColumn('check_value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('subject_keys')
        .addColumn('subject_id', 'uuid', (c) => c.primaryKey())
        // null once erased: the row stays, so an erased subject never gets a new key.
        .addColumn('wrapped_key', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('erased_at', 'timestamptz')
        .execute();
      await db.schema
        .createTable('credentials')
        .addColumn('seq', 'bigserial', (c) => c.primaryKey())
        .addColumn('id', 'uuid', (c) => c.notNull().unique())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createIndex('credentials_user_kind_idx')
        .on('credentials')
        .columns(['user_id', 'kind', 'seq'])
        .execute();
    },
  },
};

/** The configured DATA_KEY is not the one this database's personal data was sealed under. */
export class DataKeyMismatch extends Error {
  override readonly name = 'DataKeyMismatch';
  constructor() {
    super(
      'DATA_KEY does not match the key this database was sealed under (vault.master): start with the ' +
        'DATA_KEY the data was written with (or, for the embedded default, the data-key file of its DATA_DIR); ' +
        'nothing was written',
    );
  }
}

/** A subject with no key at all: an event sealed for a subject the vault never knew. */
export class UnknownSubject extends Error {
  override readonly name = 'UnknownSubject';
}

/** Seals and opens one subject's personal fields. */
export interface SubjectSealer {
  readonly subjectId: string;
  /** False once the subject was erased: open gives null, seal throws. */
  readonly readable: boolean;
  seal(field: string, value: string): string;
  /** The clear value, or null when the subject was erased. Throws on a value not sealed for this subject and field. */
  open(field: string, sealed: string): string | null;
  /** A file's bytes sealed (bound to the subject and `name`); throws once erased. */
  sealBytes(name: string, bytes: Buffer): Buffer;
  /** The file's bytes, or null once erased. */
  openBytes(name: string, sealed: Buffer): Buffer | null;
}

export const credentialKinds = ['password', 'totp'] as const;
export type CredentialKind = (typeof credentialKinds)[number];

/**
 * Secrets of a user, outside the log: a row per value, named by id in the event that makes
 * it current. A row whose event never got appended is never named, so it is inert; older
 * rows of a kind are removed once the event naming a newer one is appended (retire).
 */
export interface CredentialStore {
  put(userId: string, kind: CredentialKind, value: string): Promise<string>;
  get(userId: string, id: string): Promise<string | null>;
  /** Removes the rows of `kind` older than `currentId` (not newer ones: a concurrent change may have won). */
  retire(userId: string, kind: CredentialKind, currentId: string): Promise<void>;
  /** Every credential of the user, or those of one kind. */
  removeAll(userId: string, kind?: CredentialKind): Promise<void>;
}

export interface VaultOptions {
  /** How long an unwrapped key is kept in memory (another process's erasure is seen after it). */
  keyCacheTtlMs?: number;
  keyCacheSizeMax?: number;
}

export const vaultDefaults = { keyCacheTtlMs: 60_000, keyCacheSizeMax: 10_000 } as const;

/** Subjects whose keys one query fetches. */
const keyBatchMax = 500;

interface CachedKey {
  key: Buffer | null;
  expiresAt: number;
}

export class Vault {
  private readonly cache = new Map<string, CachedKey>();
  private readonly ttlMs: number;
  private readonly sizeMax: number;
  readonly credentials: CredentialStore;

  private checked: Promise<void> | undefined;

  private constructor(
    private readonly db: Kysely<any>,
    private readonly keys: MasterKeys,
    options: VaultOptions,
  ) {
    this.ttlMs = options.keyCacheTtlMs ?? vaultDefaults.keyCacheTtlMs;
    this.sizeMax = options.keyCacheSizeMax ?? vaultDefaults.keyCacheSizeMax;
    this.credentials = databaseCredentials(db, () => this.ready());
  }

  /**
   * Checks DATA_KEY against the database (before any write: a wrong key throws
   * DataKeyMismatch and leaves everything as it was), migrates `vault`, and records the
   * check value on first use. What a service calls first at start-up.
   */
  static async open(db: Kysely<any>, dataKey: string, options: VaultOptions = {}): Promise<Vault> {
    const vault = Vault.deferred(db, dataKey, options);
    await vault.ready();
    return vault;
  }

  /**
   * The vault without touching the database yet: the check of `open` runs on first use (and
   * again after a failure). For an app built in a test; services open theirs first thing.
   */
  static deferred(db: Kysely<any>, dataKey: string, options: VaultOptions = {}): Vault {
    return new Vault(db, deriveMasterKeys(dataKey), options);
  }

  /** The check and migration of `open`, once (retried after a failure, say an outage). */
  ready(): Promise<void> {
    this.checked ??= checkAndMigrate(this.db, this.keys).catch((error: unknown) => {
      this.checked = undefined;
      throw error;
    });
    return this.checked;
  }

  /** The keyed hash standing in for a name (`kind`: 'username', 'email') in stream ids. */
  keyedHash(kind: string, value: string): string {
    return keyedHash(this.keys, kind, value);
  }

  /** Makes the subject's key (idempotent); refused for an erased subject. */
  async createSubject(id: string): Promise<SubjectSealer> {
    const subjectId = normalId(id);
    await this.ready();
    const wrapped = wrapSubjectKey(this.keys, subjectId, newSubjectKey());
    await this.db
      .withSchema(vaultSchema)
      .insertInto('subject_keys')
      .values({ subject_id: subjectId, wrapped_key: wrapped })
      .onConflict((c) => c.column('subject_id').doNothing())
      .execute();
    this.cache.delete(subjectId);
    const sealer = await this.sealer(subjectId);
    if (!sealer.readable) throw new UnknownSubject(`subject ${subjectId} was erased`);
    return sealer;
  }

  /** The subject's sealer; throws UnknownSubject when it has no key. */
  async sealer(subjectId: string): Promise<SubjectSealer> {
    const sealer = (await this.sealers([subjectId])).get(subjectId);
    if (sealer === undefined) throw new UnknownSubject(`no key for subject ${subjectId}`);
    return sealer;
  }

  /**
   * Sealers of many subjects at once (a page of a list), keyed by the ids as given; subjects
   * without a key are left out. Ids are uuids, compared in lower case as PostgreSQL does.
   */
  async sealers(subjectIds: readonly string[]): Promise<Map<string, SubjectSealer>> {
    const found = await this.sealersOf(new Set(subjectIds.map(normalId)));
    const out = new Map<string, SubjectSealer>();
    for (const id of subjectIds) {
      const sealer = found.get(normalId(id));
      if (sealer !== undefined) out.set(id, sealer);
    }
    return out;
  }

  private async sealersOf(subjectIds: ReadonlySet<string>): Promise<Map<string, SubjectSealer>> {
    const now = Date.now();
    const out = new Map<string, SubjectSealer>();
    const missing: string[] = [];
    for (const id of subjectIds) {
      const cached = this.cache.get(id);
      if (cached !== undefined && (cached.key === null || cached.expiresAt > now)) {
        // Least recently used goes first: a hit moves to the end.
        this.cache.delete(id);
        this.cache.set(id, cached);
        out.set(id, subjectSealer(id, cached.key));
      } else missing.push(id);
    }
    if (missing.length > 0) await this.ready();
    for (let i = 0; i < missing.length; i += keyBatchMax) {
      const batch = missing.slice(i, i + keyBatchMax);
      const rows = await this.db
        .withSchema(vaultSchema)
        .selectFrom('subject_keys')
        .select([sql<string>`subject_id::text`.as('subject_id'), 'wrapped_key'])
        .where('subject_id', 'in', batch)
        .execute();
      for (const row of rows as { subject_id: string; wrapped_key: string | null }[]) {
        // Erasure is final: a key read before this process erased the subject (the erase ran
        // while this query was in flight) must not put it back in the cache.
        const erasedHere = this.cache.get(row.subject_id)?.key === null;
        const key =
          row.wrapped_key === null || erasedHere
            ? null
            : unwrapSubjectKey(this.keys, row.subject_id, row.wrapped_key);
        this.remember(row.subject_id, key, now);
        out.set(row.subject_id, subjectSealer(row.subject_id, key));
      }
    }
    return out;
  }

  /**
   * Erasure: destroys the subject's key (the row stays, marked erased, without the key) and
   * its credentials. Idempotent. Other processes stop reading the subject once their cached
   * copy of the key expires (keyCacheTtlMs).
   */
  async erase(id: string, now: Date): Promise<void> {
    const subjectId = normalId(id);
    await this.ready();
    await this.db.transaction().execute(async (tx) => {
      await tx
        .withSchema(vaultSchema)
        .insertInto('subject_keys')
        .values({ subject_id: subjectId, wrapped_key: null, erased_at: now.toISOString() })
        .onConflict((c) =>
          c.column('subject_id').doUpdateSet({
            wrapped_key: null,
            erased_at: sql`coalesce(subject_keys.erased_at, excluded.erased_at)`,
          }),
        )
        .execute();
      await tx.withSchema(vaultSchema).deleteFrom('credentials').where('user_id', '=', subjectId).execute();
    });
    this.remember(subjectId, null, Date.now());
  }

  private remember(subjectId: string, key: Buffer | null, now: number): void {
    this.cache.delete(subjectId);
    this.cache.set(subjectId, { key, expiresAt: now + this.ttlMs });
    while (this.cache.size > this.sizeMax) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }
}

/** Subject ids are uuids: PostgreSQL gives them back in lower case, and so they are bound (GCM data). */
const normalId = (id: string) => id.toLowerCase();

function subjectSealer(subjectId: string, key: Buffer | null): SubjectSealer {
  return {
    subjectId,
    readable: key !== null,
    seal(field, value) {
      if (key === null)
        throw new UnknownSubject(`subject ${subjectId} was erased: nothing can be sealed for it`);
      return sealField(key, subjectId, field, value);
    },
    open(field, sealed) {
      return key === null ? null : openField(key, subjectId, field, sealed);
    },
    sealBytes(name, bytes) {
      if (key === null)
        throw new UnknownSubject(`subject ${subjectId} was erased: nothing can be sealed for it`);
      return sealBytes(key, subjectId, name, bytes);
    },
    openBytes(name, sealed) {
      return key === null ? null : openBytes(key, subjectId, name, sealed);
    },
  };
}

async function checkAndMigrate(db: Kysely<any>, keys: MasterKeys): Promise<void> {
  const stored = await readCheckValue(db);
  if (stored !== null && !checkMatches(keys, stored)) throw new DataKeyMismatch();
  await migrateSchema(db, vaultSchema, vaultMigrations);
  if (stored !== null) return;
  await db
    .withSchema(vaultSchema)
    .insertInto('master')
    .values({ id: 1, check_value: checkValue(keys) })
    .onConflict((c) => c.column('id').doNothing())
    .execute();
  // Two first starts with different keys: the one whose value landed wins, the other stops.
  const landed = await readCheckValue(db);
  if (landed === null || !checkMatches(keys, landed)) throw new DataKeyMismatch();
}

async function readCheckValue(db: Kysely<any>): Promise<string | null> {
  const { rows } = await sql<{ exists: boolean }>`
    SELECT to_regclass('vault.master') IS NOT NULL AS exists`.execute(db);
  if (rows[0]?.exists !== true) return null;
  const row = await db.withSchema(vaultSchema).selectFrom('master').select('check_value').executeTakeFirst();
  return (row?.check_value as string | undefined) ?? null;
}

function databaseCredentials(db: Kysely<any>, ready: () => Promise<void>): CredentialStore {
  const table = () => db.withSchema(vaultSchema);
  return {
    async put(userId, kind, value) {
      await ready();
      const id = randomUUID();
      await table().insertInto('credentials').values({ id, user_id: userId, kind, value }).execute();
      return id;
    },
    async get(userId, id) {
      await ready();
      const row = await table()
        .selectFrom('credentials')
        .select('value')
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return (row?.value as string | undefined) ?? null;
    },
    async retire(userId, kind, currentId) {
      await ready();
      await table()
        .deleteFrom('credentials')
        .where('user_id', '=', userId)
        .where('kind', '=', kind)
        .where('seq', '<', (eb: any) =>
          eb
            .selectFrom('credentials')
            .select('seq')
            .where('id', '=', currentId)
            .where('user_id', '=', userId)
            // An id of another kind retires nothing (NULL compares false).
            .where('kind', '=', kind),
        )
        .execute();
    },
    async removeAll(userId, kind) {
      await ready();
      let query = table().deleteFrom('credentials').where('user_id', '=', userId);
      if (kind !== undefined) query = query.where('kind', '=', kind);
      await query.execute();
    },
  };
}
