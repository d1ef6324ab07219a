import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import {
  type EventStore,
  PostgresEventStore,
  pgClient,
  pgliteClient,
  type SqlClient,
} from '@ledger/eventstore';
import { ConfigError, loadConfig } from '@ledger/platform';
import pg from 'pg';

/**
 * What the `pnpm ledger` commands share: their usage errors (exit 2, the message alone) and
 * the event store opened read-only from the environment, as the services find it:
 * DATABASE_URL (PostgreSQL), or else the embedded PGlite database under DATA_DIR
 * (default ./.data).
 */

/** The operator's mistake (an unknown rule, a bad value): exit code 2, the message, no stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One `pnpm ledger` command, as its module exports it (see main.ts's table). */
export interface LedgerCommand {
  /** The command's own `--help`. */
  usage: string;
  /** Runs with the arguments after the command's name; answers the exit code. */
  run(args: string[], io: CommandIo): Promise<number>;
}

export interface CommandIo {
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
  /** stderr is a terminal: long commands then show a progress line there. */
  errIsTty?: boolean;
}

/** Least time between two progress lines: a long run writes a line a second, not one a page. */
const progressIntervalMs = 1_000;

/**
 * A progress line on stderr for long work, at most one a second, only when stderr is a
 * terminal or the operator asked for it (`--progress`); otherwise a function that does nothing.
 */
export function progressLine(io: CommandIo, asked: boolean, label: string): (text: string) => void {
  if (!asked && io.errIsTty !== true) return () => {};
  let last = 0;
  return (text) => {
    const now = Date.now();
    if (now - last < progressIntervalMs) return;
    last = now;
    io.err(`${label}: ${text}\n`);
  };
}

/** Where a point-in-time read stops: at a global position (digits), or at an ISO 8601 time. */
export type Cut = { atPosition: bigint } | { asOf: Date };

const isoTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `--as-of 1234` (a global position) or `--as-of 2026-01-31T23:59:59Z` (a time with its zone). */
export function parseCut(text: string, option: string): Cut {
  if (/^[0-9]{1,19}$/.test(text)) return { atPosition: BigInt(text) };
  const ms = isoTimePattern.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms))
    throw new UsageError(
      `${option} ${text}: a global position (digits) or an ISO 8601 time with its zone (2026-01-31T23:59:59Z)`,
    );
  return { asOf: new Date(ms) };
}

export interface ReadOnlyStore {
  store: EventStore;
  /** Where it was read from, for the report: `PostgreSQL` or `embedded PGlite in <dir>`. */
  source: string;
  close(): Promise<void>;
}

/** The store's schema is there (an empty or foreign database is the operator's mistake). */
async function checkEventStore(sql: SqlClient, where: string): Promise<void> {
  const [row] = await sql.query<{ events: string | null }>(`SELECT to_regclass('es.events')::text AS events`);
  if (row?.events == null) throw new UsageError(`no event store in ${where} (no es.events table)`);
}

/**
 * The event store, read-only: no migration is run, no LISTEN, and every PostgreSQL session
 * is `default_transaction_read_only`, so nothing the command does can write. The embedded
 * database must exist already (nothing is created), and belongs to one process: stop
 * `pnpm start` before pointing a command at its DATA_DIR.
 */
export async function openReadOnlyStore(env: NodeJS.ProcessEnv): Promise<ReadOnlyStore> {
  return openLedgerDatabase(env, { writable: false });
}

/** The database behind a command: its event store (never migrated) and a Kysely handle. */
export interface LedgerDatabase extends ReadOnlyStore {
  db: ReturnType<SqlClient['kysely']>;
}

/**
 * The database of DATABASE_URL, or else the embedded one under DATA_DIR (which must exist);
 * the store is opened without migrations or LISTEN. Read-only sessions unless `writable`
 * (a rebuild writes read models, never events).
 */
export async function openLedgerDatabase(
  env: NodeJS.ProcessEnv,
  options: { writable: boolean },
): Promise<LedgerDatabase> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  if (config.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: options.writable ? 4 : 2,
      application_name: options.writable ? 'ledger-cli-writer' : 'ledger-cli',
      // A rebuild's comparison reads whole tables: no statement time-out for the writer.
      ...(options.writable
        ? {}
        : { options: '-c default_transaction_read_only=on -c statement_timeout=60000' }),
      connectionTimeoutMillis: 5_000,
    });
    pool.on('error', () => {});
    const client = pgClient(pool);
    const { listen: _listen, ...sql } = client;
    try {
      await checkEventStore(sql, 'the database of DATABASE_URL');
      const store = await PostgresEventStore.open(sql, { migrate: false, readConcurrency: 1 });
      return {
        db: client.kysely(),
        store,
        source: 'PostgreSQL (DATABASE_URL)',
        async close() {
          await store.close();
          await pool.end();
        },
      };
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
  }
  const dir = resolve(config.dataDir, 'pglite');
  if (!existsSync(dir)) {
    throw new UsageError(
      `no embedded database in ${dir}: set DATABASE_URL, or DATA_DIR to the server's data folder`,
    );
  }
  const pglite = await PGlite.create(dir);
  try {
    if (!options.writable) await pglite.exec('SET default_transaction_read_only = on');
    const sql = pgliteClient(pglite);
    await checkEventStore(sql, dir);
    const store = await PostgresEventStore.open(sql, { migrate: false });
    return {
      db: sql.kysely(),
      store,
      source: `embedded PGlite in ${dir}`,
      async close() {
        await store.close();
        if (!pglite.closed) await pglite.close();
      },
    };
  } catch (error) {
    if (!pglite.closed) await pglite.close().catch(() => {});
    throw error;
  }
}
