import { type Kysely, sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';

const identifierPattern = /^[a-z_][a-z0-9_]{0,62}$/;

/** Schemas a read model may never own: dropping or rebuilding them would destroy something else. */
const reservedSchemas = new Set(['es', 'readmodel', 'public', 'pg_catalog', 'information_schema']);

/** Asserts `schema` is a plain lower-case PostgreSQL identifier (it is interpolated into DDL). */
export function assertSchemaName(schema: string): void {
  if (!identifierPattern.test(schema)) {
    throw new RangeError(
      `schema "${schema}" must match ${identifierPattern} (a plain lower-case identifier)`,
    );
  }
}

export function assertProjectionSchema(schema: string): void {
  assertSchemaName(schema);
  if (reservedSchemas.has(schema) || schema.startsWith('pg_')) {
    throw new RangeError(`schema "${schema}" is reserved and cannot hold a read model`);
  }
}

/**
 * Runs `migrations` (in name order) into `schema`, with the migration bookkeeping in
 * `<schema>.migrations` and `<schema>.migrations_lock`, so every owner of a schema keeps
 * its own migration table (STYLE.md) and a rebuilt copy of a schema carries its own too.
 *
 * The migrations receive `db.withSchema(schema)`: they create tables by their bare name
 * (`createTable('events')`), which is what lets the same migration build the live schema
 * and a fresh one for a rebuild. Safe to run from several processes at once (the
 * Migrator takes its own lock).
 */
export async function migrateSchema(
  db: Kysely<any>,
  schema: string,
  migrations: Readonly<Record<string, Migration>>,
): Promise<void> {
  assertSchemaName(schema);
  await createSchemaIfMissing(db, schema);
  const migrator = new Migrator({
    db: db.withSchema(schema),
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableSchema: schema,
    migrationTableName: 'migrations',
    migrationLockTableName: 'migrations_lock',
  });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return;
    // Kysely's Migrator looks for its table by introspecting every schema of the database,
    // so another read model's schema dropped or created at that instant (a rebuild, a
    // reset, a projector starting beside this one) fails this schema's migration with
    // "schema/relation does not exist". Nothing of ours ran: try again, a bounded number of times.
    if (attempt < catalogRaceAttempts && isCatalogRace(error)) {
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
      continue;
    }
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${schema}/${failed} failed: ${String(error)}`, { cause: error });
  }
}

const catalogRaceAttempts = 8;

/** An error from a concurrent catalog change: a schema or relation gone (or not yet there) mid-query. */
function isCatalogRace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === '3F000' || code === '42P01' || (code === 'XX000' && /cache lookup failed/.test(String(error)))
  );
}

export async function schemaExists(db: Kysely<any>, schema: string): Promise<boolean> {
  const { rows } = await sql<{ exists: boolean }>`
    SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${schema}) AS exists`.execute(db);
  return rows[0]?.exists === true;
}

async function createSchemaIfMissing(db: Kysely<any>, schema: string): Promise<void> {
  if (await schemaExists(db, schema)) return;
  try {
    await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
  } catch (error) {
    // Two processes creating the schema at once: IF NOT EXISTS can still fail with a
    // unique violation on pg_namespace. Only an error that left no schema is one.
    if (!(await schemaExists(db, schema))) throw error;
  }
}
