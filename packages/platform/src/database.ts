import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pgClient, pgliteClient, type SqlClient } from '@ledger/eventstore';
import type { Kysely } from 'kysely';
import pg from 'pg';

/** One PostgreSQL (or embedded PGlite) database shared by the store and the read models. */
export interface Database {
  readonly kind: 'pg' | 'pglite';
  readonly sql: SqlClient;
  readonly db: Kysely<any>;
  /** Throws when the database does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  applicationName: string;
  poolSizeMax?: number;
}

// Bounds for every connection: a stuck query or lock wait fails instead of hanging a request.
const statementTimeoutMs = 30_000;
const connectionTimeoutMs = 5_000;
const idleTimeoutMs = 30_000;
const pingTimeoutMs = 2_000;

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSizeMax ?? 16,
      application_name: options.applicationName,
      statement_timeout: statementTimeoutMs,
      connectionTimeoutMillis: connectionTimeoutMs,
      idleTimeoutMillis: idleTimeoutMs,
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    pool.on('error', () => {});
    // Nor a checked-out one: between two queries of a transaction (a projector's batch, a
    // held lock) a client that loses its socket emits 'error' with no query to fail, and
    // pg-pool listens only while a client is idle. The next query on it fails instead
    // ("Connection terminated"), which callers treat as an outage and retry.
    pool.on('connect', (client) => {
      client.on('error', () => {});
    });
    const sql = pgClient(pool);
    const db = sql.kysely();
    return {
      kind: 'pg',
      sql,
      db,
      async ping() {
        await withTimeout(pool.query('SELECT 1'), pingTimeoutMs, 'PostgreSQL');
      },
      async close() {
        await pool.end();
      },
    };
  }
  const dir = resolve(options.dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const pglite = await PGlite.create(dir);
  const sql = pgliteClient(pglite);
  const db = sql.kysely();
  return {
    kind: 'pglite',
    sql,
    db,
    async ping() {
      await withTimeout(pglite.query('SELECT 1'), pingTimeoutMs, 'PGlite');
    },
    async close() {
      if (!pglite.closed) await pglite.close();
    },
  };
}

export function dataPath(dataDir: string, ...parts: string[]): string {
  return join(resolve(dataDir), ...parts);
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
