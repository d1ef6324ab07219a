import type { EventStore } from '@ledger/eventstore';
import { type Kysely, sql } from 'kysely';
import { readCheckpoint, readCheckpoints } from './checkpoints.js';
import { assertProjectionSchema, schemaExists } from './migrate.js';
import { checkProjection, type Projection, rebuildProjection } from './projection.js';

/**
 * The auditor's rebuild (`pnpm ledger rebuild`): a projection replayed from position 0 into a
 * fresh schema, compared table by table with the live one at the very same position (the live
 * checkpoint), and, when asked, swapped in for it in one transaction.
 */

/** A table's migration bookkeeping (migrateSchema): when it ran differs by nature, not compared row by row. */
const bookkeeping = new Set(['migrations', 'migrations_lock']);

export interface TableDigest {
  rows: number;
  /** sha256 over the md5 of each row's text, in primary-key order (hex). */
  digest: string;
}

export interface DifferingKey {
  /** The primary key's columns and values, or the row's text for a table without one. */
  key: Record<string, unknown> | string;
  kind: 'missing_in_rebuild' | 'missing_in_live' | 'differs';
}

export interface TableComparison {
  table: string;
  /** null: the table is not in that schema. */
  live: TableDigest | null;
  rebuilt: TableDigest | null;
  /** Same column names and types in the same order. */
  columnsEqual: boolean;
  equal: boolean;
  /** The first differing rows in key order (at most keysMax); empty when equal. */
  differingKeys: DifferingKey[];
}

export interface SchemaComparison {
  live: string;
  rebuilt: string;
  equal: boolean;
  tables: TableComparison[];
  /** The names of the migrations each schema ran (their times are not compared). */
  migrations: { live: string[]; rebuilt: string[]; equal: boolean };
}

const ident = /^[a-z_][a-z0-9_$]{0,62}$/;

async function tablesOf(db: Kysely<any>, schema: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT tablename AS name FROM pg_tables WHERE schemaname = ${schema} ORDER BY tablename`.execute(db);
  return rows.map((r) => r.name).filter((name) => !bookkeeping.has(name));
}

async function columnsOf(db: Kysely<any>, schema: string, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string; type: string }>`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
      FROM pg_attribute a
     WHERE a.attrelid = format('%I.%I', ${schema}::text, ${table}::text)::regclass
       AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`.execute(db);
  return rows.map((r) => `${r.name} ${r.type}`);
}

async function primaryKeyOf(db: Kysely<any>, schema: string, table: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT a.attname AS name
      FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = format('%I.%I', ${schema}::text, ${table}::text)::regclass AND i.indisprimary
     ORDER BY array_position(i.indkey::int2[], a.attnum)`.execute(db);
  return rows.map((r) => r.name);
}

async function migrationNames(db: Kysely<any>, schema: string): Promise<string[]> {
  const { rows } = await sql<{ exists: boolean }>`
    SELECT to_regclass(format('%I.migrations', ${schema}::text)) IS NOT NULL AS exists`.execute(db);
  if (rows[0]?.exists !== true) return [];
  const names = await sql<{ name: string }>`
    SELECT name FROM ${sql.table(`${schema}.migrations`)} ORDER BY name`.execute(db);
  return names.rows.map((r) => r.name);
}

async function digestOf(db: Kysely<any>, schema: string, table: string, key: string[]): Promise<TableDigest> {
  const order =
    key.length > 0 ? sql.join(key.map((column) => sql.ref(`x.${column}`))) : sql`x::text COLLATE "C"`;
  const { rows } = await sql<{ rows: string; digest: string }>`
    SELECT count(*)::text AS rows,
           encode(sha256(convert_to(coalesce(string_agg(md5(x::text), ',' ORDER BY ${order}), ''), 'UTF8')), 'hex') AS digest
      FROM ${sql.table(`${schema}.${table}`)} AS x`.execute(db);
  return { rows: Number(rows[0]!.rows), digest: rows[0]!.digest };
}

async function differingKeys(
  db: Kysely<any>,
  live: string,
  rebuilt: string,
  table: string,
  key: string[],
  keysMax: number,
): Promise<DifferingKey[]> {
  const l = sql.table(`${live}.${table}`);
  const r = sql.table(`${rebuilt}.${table}`);
  if (key.length === 0) {
    const { rows } = await sql<{ key: string; kind: DifferingKey['kind'] }>`
      (SELECT x::text AS key, 'missing_in_rebuild' AS kind FROM (TABLE ${l} EXCEPT ALL TABLE ${r}) x
        ORDER BY 1 LIMIT ${keysMax})
      UNION ALL
      (SELECT x::text AS key, 'missing_in_live' AS kind FROM (TABLE ${r} EXCEPT ALL TABLE ${l}) x
        ORDER BY 1 LIMIT ${keysMax})`.execute(db);
    return rows.slice(0, keysMax);
  }
  const first = key[0]!;
  const pairs = key.map((c) => sql`coalesce(${sql.ref(`l.${c}`)}, ${sql.ref(`r.${c}`)})`);
  const keyJson = sql.join(key.flatMap((c, i) => [sql.lit(c), pairs[i]!]));
  const on = sql.join(
    key.map((c) => sql`${sql.ref(`l.${c}`)} = ${sql.ref(`r.${c}`)}`),
    sql` AND `,
  );
  const { rows } = await sql<{ key: string; kind: DifferingKey['kind'] }>`
    SELECT json_build_object(${keyJson})::text AS key,
           CASE WHEN ${sql.ref(`l.${first}`)} IS NULL THEN 'missing_in_live'
                WHEN ${sql.ref(`r.${first}`)} IS NULL THEN 'missing_in_rebuild'
                ELSE 'differs' END AS kind
      FROM ${l} AS l FULL JOIN ${r} AS r ON ${on}
     WHERE ${sql.ref(`l.${first}`)} IS NULL OR ${sql.ref(`r.${first}`)} IS NULL OR l::text <> r::text
     ORDER BY ${sql.join(pairs)}
     LIMIT ${keysMax}`.execute(db);
  return rows.map((row) => ({ key: JSON.parse(row.key) as Record<string, unknown>, kind: row.kind }));
}

/**
 * Compares two schemas table by table, in the caller's snapshot (run it in one REPEATABLE
 * READ transaction for a consistent answer): the tables of either (migration bookkeeping
 * aside), their columns, row counts and a digest of their rows in primary-key order, and for
 * a table that differs the first `keysMax` differing keys.
 */
export async function compareSchemas(
  db: Kysely<any>,
  live: string,
  rebuilt: string,
  options: { keysMax?: number } = {},
): Promise<SchemaComparison> {
  const keysMax = options.keysMax ?? 5;
  const liveTables = await tablesOf(db, live);
  const rebuiltTables = await tablesOf(db, rebuilt);
  const names = [...new Set([...liveTables, ...rebuiltTables])].sort();
  const tables: TableComparison[] = [];
  for (const table of names) {
    if (!ident.test(table)) throw new RangeError(`table "${live}.${table}": not a plain identifier`);
    const inLive = liveTables.includes(table);
    const inRebuilt = rebuiltTables.includes(table);
    const liveColumns = inLive ? await columnsOf(db, live, table) : [];
    const rebuiltColumns = inRebuilt ? await columnsOf(db, rebuilt, table) : [];
    const columnsEqual =
      inLive && inRebuilt && JSON.stringify(liveColumns) === JSON.stringify(rebuiltColumns);
    const key = await primaryKeyOf(db, inLive ? live : rebuilt, table);
    for (const column of key) {
      if (!ident.test(column)) throw new RangeError(`column "${table}.${column}": not a plain identifier`);
    }
    const liveDigest = inLive ? await digestOf(db, live, table, key) : null;
    const rebuiltDigest = inRebuilt ? await digestOf(db, rebuilt, table, key) : null;
    const equal =
      columnsEqual &&
      liveDigest !== null &&
      rebuiltDigest !== null &&
      liveDigest.rows === rebuiltDigest.rows &&
      liveDigest.digest === rebuiltDigest.digest;
    tables.push({
      table,
      live: liveDigest,
      rebuilt: rebuiltDigest,
      columnsEqual,
      equal,
      differingKeys:
        equal || !columnsEqual ? [] : await differingKeys(db, live, rebuilt, table, key, keysMax),
    });
  }
  const liveMigrations = await migrationNames(db, live);
  const rebuiltMigrations = await migrationNames(db, rebuilt);
  const migrationsEqual = JSON.stringify(liveMigrations) === JSON.stringify(rebuiltMigrations);
  return {
    live,
    rebuilt,
    equal: migrationsEqual && tables.every((t) => t.equal),
    tables,
    migrations: { live: liveMigrations, rebuilt: rebuiltMigrations, equal: migrationsEqual },
  };
}

export interface RebuildCheckOptions {
  db: Kysely<any>;
  store: EventStore;
  projection: Projection;
  /** A fresh schema for the rebuild (default `<live schema>_rebuild`). */
  schema?: string;
  batchSize?: number;
  keysMax?: number;
  /** How many times to catch up with a live projection that moved during the rebuild (default 20). */
  attempts?: number;
  onProgress?: (position: bigint, to: bigint) => void;
}

export interface RebuildCheckResult extends SchemaComparison {
  projection: string;
  /** The live checkpoint both models were compared at: the rebuild holds exactly the events up to it. */
  position: bigint;
  /** The version of the code that wrote the live checkpoint, and the code's own. */
  liveVersion: number;
  version: number;
  eventsApplied: number;
}

/** The live projection's checkpoint, or an error naming why there is none. */
async function liveCheckpoint(db: Kysely<any>, name: string): Promise<{ position: bigint; version: number }> {
  const exists = (await readCheckpoints(db)).some((c) => c.name === name);
  const stored = exists ? await readCheckpoint(db, name) : undefined;
  if (!stored) throw new Error(`projection "${name}" has no checkpoint: it never ran on this database`);
  return stored;
}

/**
 * Rebuilds `projection` into a fresh schema up to its live checkpoint, then compares the two
 * in one REPEATABLE READ transaction that reads the checkpoint again: if the live projection
 * moved on meanwhile, the rebuild catches up to it first (bounded by `attempts`), so both are
 * compared at the same position. The fresh schema is left in place (the caller drops it,
 * keeps it, or swaps it in with swapRebuiltSchema).
 */
export async function rebuildAndCompare(options: RebuildCheckOptions): Promise<RebuildCheckResult> {
  const { db, store, projection } = options;
  checkProjection(projection);
  const schema = options.schema ?? `${projection.schema}_rebuild`;
  assertProjectionSchema(schema);
  if (!(await schemaExists(db, projection.schema)))
    throw new Error(`the live schema "${projection.schema}" does not exist`);
  const live = await liveCheckpoint(db, projection.name);
  const common = {
    db,
    store,
    projection,
    schema,
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  };
  let position = live.position;
  let eventsApplied = (await rebuildProjection({ ...common, to: position })).eventsApplied;
  const attempts = options.attempts ?? 20;
  for (let attempt = 1; ; attempt++) {
    const outcome = await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (tx) => {
        const now = await liveCheckpoint(tx, projection.name);
        if (now.position !== position) return { moved: now };
        return {
          compared: await compareSchemas(tx, projection.schema, schema, {
            ...(options.keysMax === undefined ? {} : { keysMax: options.keysMax }),
          }),
          version: now.version,
        };
      });
    if ('compared' in outcome && outcome.compared) {
      return {
        ...outcome.compared,
        projection: projection.name,
        position,
        liveVersion: outcome.version,
        version: projection.version,
        eventsApplied,
      };
    }
    const moved = (outcome as { moved: { position: bigint } }).moved.position;
    if (moved < position)
      throw new Error(
        `the live checkpoint of "${projection.name}" moved back (${position} to ${moved}): reset?`,
      );
    if (attempt >= attempts)
      throw new Error(`the live projection "${projection.name}" kept moving; try again when it is quieter`);
    eventsApplied += (await rebuildProjection({ ...common, from: position, to: moved })).eventsApplied;
    position = moved;
  }
}

export interface SwapOptions {
  db: Kysely<any>;
  store: EventStore;
  projection: Projection;
  /** The rebuilt schema, holding exactly the events up to `position`. */
  schema: string;
  position: bigint;
  /** Keep the replaced live schema under this name (default: drop it). */
  keepAs?: string;
  attempts?: number;
  batchSize?: number;
}

class CheckpointMoved extends Error {
  constructor(readonly position: bigint) {
    super(`checkpoint moved to ${position}`);
  }
}

/**
 * Swaps a rebuilt schema in for the live one, in ONE transaction: it locks the live tables
 * (a projector's batch in flight finishes first; the next waits), checks the live checkpoint
 * is where the rebuild stops (else catches the rebuild up and tries again), drops or renames
 * the live schema, renames the rebuilt one to the live name, and sets the checkpoint to the
 * rebuild's position with the code's version. A running projector then continues on the
 * rebuilt tables.
 */
export async function swapRebuiltSchema(options: SwapOptions): Promise<{ position: bigint }> {
  const { db, store, projection, schema } = options;
  checkProjection(projection);
  assertProjectionSchema(schema);
  if (options.keepAs !== undefined) {
    assertProjectionSchema(options.keepAs);
    if (await schemaExists(db, options.keepAs)) throw new Error(`schema "${options.keepAs}" exists`);
  }
  const live = projection.schema;
  let position = options.position;
  const attempts = options.attempts ?? 20;
  for (let attempt = 1; ; attempt++) {
    try {
      await db.transaction().execute(async (tx) => {
        await sql`SET LOCAL lock_timeout = '30s'`.execute(tx);
        for (const table of await tablesOf(tx, live)) {
          await sql`LOCK TABLE ${sql.table(`${live}.${table}`)} IN ACCESS EXCLUSIVE MODE`.execute(tx);
        }
        const { rows } = await sql<{ position: string }>`
          SELECT position::text AS position FROM readmodel.checkpoints
           WHERE name = ${projection.name} FOR UPDATE`.execute(tx);
        if (rows[0] === undefined) throw new Error(`projection "${projection.name}" has no checkpoint`);
        const now = BigInt(rows[0].position);
        if (now !== position) throw new CheckpointMoved(now);
        if (options.keepAs === undefined) {
          await sql`DROP SCHEMA ${sql.id(live)} CASCADE`.execute(tx);
        } else {
          await sql`ALTER SCHEMA ${sql.id(live)} RENAME TO ${sql.id(options.keepAs)}`.execute(tx);
        }
        await sql`ALTER SCHEMA ${sql.id(schema)} RENAME TO ${sql.id(live)}`.execute(tx);
        await sql`
          UPDATE readmodel.checkpoints
             SET position = ${position.toString()}::bigint, version = ${projection.version}, updated_at = now()
           WHERE name = ${projection.name}`.execute(tx);
      });
      return { position };
    } catch (error) {
      if (!(error instanceof CheckpointMoved)) throw error;
      if (error.position < position || attempt >= attempts) {
        throw new Error(
          `the live projection "${projection.name}" is at ${error.position}, the rebuild at ${position}: not swapped`,
        );
      }
      await rebuildProjection({
        db,
        store,
        projection,
        schema,
        from: position,
        to: error.position,
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      });
      position = error.position;
    }
  }
}
