import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import { migrateSchema } from './migrate.js';

/**
 * Checkpoints of every subscriber that keeps one (projections, the job dispatcher):
 * schema `readmodel`, table `checkpoints`. A subscriber updates its row in the same
 * transaction as its effects, so the row says exactly which events those effects include.
 */
export const checkpointSchema = 'readmodel';

export interface Checkpoint {
  name: string;
  /** Global position of the last event whose effects are committed (0n: none yet). */
  position: bigint;
  updatedAt: Date;
}

// Landed migrations are frozen: change the schema with a new one.
const migrations: Record<string, Migration> = {
  '0001_checkpoints': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('checkpoints')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', 'bigint', (c) => c.notNull())
        // The subscriber's `version` when it wrote the row: a projection whose code changed
        // meaning (a new version) must not continue on rows built by the old one.
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
};

const migrated = new WeakMap<Kysely<any>, Promise<void>>();

/** Creates or upgrades the checkpoints table; once per Kysely instance and process. */
export function migrateCheckpoints(db: Kysely<any>): Promise<void> {
  let done = migrated.get(db);
  if (!done) {
    done = migrateSchema(db, checkpointSchema, migrations);
    migrated.set(db, done);
    done.catch(() => migrated.delete(db));
  }
  return done;
}

interface CheckpointRow {
  name: string;
  position: string;
  version: number;
  updated_at: Date | string;
}

function toDate(value: Date | string): Date {
  return value instanceof Date ? value : new Date(value);
}

/**
 * Every checkpoint, by name; [] when no subscriber has run yet (the table does not exist).
 * For health and lag reports: compare `position` with the store's head position.
 */
export async function readCheckpoints(db: Kysely<any>): Promise<Checkpoint[]> {
  // Asked first rather than caught: inside a caller's transaction, an "undefined table"
  // error would abort the whole transaction.
  if (!(await checkpointsTableExists(db))) return [];
  const { rows } = await sql<CheckpointRow>`
    SELECT name, position::text AS position, version, updated_at
      FROM readmodel.checkpoints ORDER BY name`.execute(db);
  return rows.map((row) => ({
    name: row.name,
    position: BigInt(row.position),
    updatedAt: toDate(row.updated_at),
  }));
}

async function checkpointsTableExists(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ exists: boolean }>`
    SELECT to_regclass('readmodel.checkpoints') IS NOT NULL AS exists`.execute(db);
  return rows[0]?.exists === true;
}

export interface StoredCheckpoint {
  position: bigint;
  version: number;
}

/** The checkpoint of `name`, or undefined. The table must exist (migrateCheckpoints). */
export async function readCheckpoint(db: Kysely<any>, name: string): Promise<StoredCheckpoint | undefined> {
  const { rows } = await sql<CheckpointRow>`
    SELECT name, position::text AS position, version, updated_at
      FROM readmodel.checkpoints WHERE name = ${name}`.execute(db);
  const row = rows[0];
  return row ? { position: BigInt(row.position), version: row.version } : undefined;
}

/** Creates the checkpoint of `name` at 0n unless it exists; returns the stored one. */
export async function ensureCheckpoint(
  db: Kysely<any>,
  name: string,
  version: number,
): Promise<StoredCheckpoint> {
  await sql`
    INSERT INTO readmodel.checkpoints (name, position, version, updated_at)
    VALUES (${name}, 0, ${version}, now())
    ON CONFLICT (name) DO NOTHING`.execute(db);
  const stored = await readCheckpoint(db, name);
  if (!stored) throw new Error(`checkpoint "${name}" vanished right after it was created`);
  return stored;
}

/** Thrown when a checkpoint is not where its subscriber left it: another instance wrote it. */
export class CheckpointConflict extends Error {
  override readonly name = 'CheckpointConflict';
  constructor(
    readonly checkpoint: string,
    readonly expected: bigint,
  ) {
    super(
      `checkpoint "${checkpoint}" is no longer at ${expected}: another instance advanced it ` +
        '(two active instances of one subscriber); this batch was rolled back',
    );
  }
}

/**
 * Moves a checkpoint from `from` to `to`, inside the caller's transaction. Compare-and-set:
 * if the row is no longer at `from` the update matches nothing and this throws, rolling the
 * batch back. That fences off a second active instance even if the advisory lock were lost
 * (a dropped lock session), so no batch is ever applied twice.
 */
export async function advanceCheckpoint(
  tx: Kysely<any>,
  change: { name: string; from: bigint; to: bigint },
  options: { synchronousCommit?: boolean } = {},
): Promise<void> {
  if (change.to < change.from) throw new RangeError(`checkpoint "${change.name}" cannot move back`);
  // synchronousCommit false: the transaction commits without waiting for its WAL flush
  // (set here, in the statement the batch needs anyway, rather than in one more round trip;
  // it is read at commit). Only for state that can be rebuilt from the events: a crash may
  // lose the last such commits, data and checkpoint together, and the batches are applied
  // again from the older checkpoint.
  const { rows } = await sql<{ name: string }>`
    UPDATE readmodel.checkpoints SET position = ${change.to.toString()}::bigint, updated_at = now()
     WHERE name = ${change.name} AND position = ${change.from.toString()}::bigint
    RETURNING name${
      options.synchronousCommit === false
        ? sql`, set_config('synchronous_commit', 'off', true) AS commit_mode`
        : sql``
    }`.execute(tx);
  if (rows.length !== 1) throw new CheckpointConflict(change.name, change.from);
}

/** Sets a checkpoint back to 0n with a new version (an in-place rebuild), in the caller's transaction. */
export async function resetCheckpoint(tx: Kysely<any>, name: string, version: number): Promise<void> {
  await sql`
    UPDATE readmodel.checkpoints SET position = 0, version = ${version}, updated_at = now()
     WHERE name = ${name}`.execute(tx);
}
