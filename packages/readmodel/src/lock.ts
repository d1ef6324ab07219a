import { CompiledQuery, type Kysely } from 'kysely';
import pg from 'pg';

/** One database session, kept for as long as an advisory lock taken on it must live. */
export interface SessionConnection {
  query<R>(text: string, params?: readonly unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/** Opens a dedicated session for a subscriber's advisory lock. */
export type OpenLockSession = () => Promise<SessionConnection>;

/** A lock session that cannot connect within this long fails (and its subscriber retries). */
export const lockSessionConnectTimeoutMs = 5_000;

/**
 * A lock session's query (try-lock, heartbeat) unanswered after this long fails: a network
 * that drops packets without closing the socket must not hang the heartbeat.
 */
export const lockSessionQueryTimeoutMs = 10_000;

/**
 * Lock sessions on their own node-postgres client (outside any pool), the production
 * choice: the client has an 'error' listener, so a session the server ends (failover,
 * pg_terminate_backend, a network cut) fails the next heartbeat, and the subscriber starts
 * over on a new session, instead of an uncaught 'error' event killing the process.
 */
export function pgLockSessions(connectionString: string, applicationName = 'ledger-lock'): OpenLockSession {
  return async () => {
    const client = new pg.Client({
      connectionString,
      application_name: applicationName,
      connectionTimeoutMillis: lockSessionConnectTimeoutMs,
      query_timeout: lockSessionQueryTimeoutMs,
    });
    let broken: unknown;
    client.on('error', (error) => {
      broken ??= error;
    });
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return {
      async query<R>(text: string, params?: readonly unknown[]) {
        if (broken) throw broken;
        const result = await client.query(text, params as unknown[] | undefined);
        return result.rows as R[];
      },
      async close() {
        await client.end().catch(() => {});
      },
    };
  };
}

/**
 * The fallback when no OpenLockSession is given: a connection of the Kysely pool, kept out
 * of it until close. Works, but node-postgres emits an unhandled 'error' on a checked-out
 * idle client whose session the server ends, which ends the process: pass pgLockSessions
 * where a session can be cut.
 */
export async function poolLockSession(db: Kysely<any>): Promise<SessionConnection> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let connection!: Kysely<any>;
  let held!: Promise<void>;
  await new Promise<void>((resolve, reject) => {
    held = db.connection().execute(async (conn) => {
      connection = conn;
      resolve();
      await released;
    });
    held.catch(reject);
  });
  return {
    async query<R>(text: string, params: readonly unknown[] = []) {
      const { rows } = await connection.executeQuery<R>(CompiledQuery.raw(text, [...params]));
      return rows as R[];
    },
    async close() {
      release();
      await held.catch(() => {});
    },
  };
}

export interface AdvisoryLock {
  tryLock(): Promise<boolean>;
  ping(): Promise<void>;
  /** Releases the lock (if held) and closes the session. */
  release(): Promise<void>;
}

/** A session-level advisory lock on `hashtext(key)`: it lives as long as the session, and dies with it. */
export function advisoryLock(session: SessionConnection, key: string): AdvisoryLock {
  let locked = false;
  return {
    async tryLock() {
      const rows = await session.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
        [key],
      );
      locked = rows[0]?.locked === true;
      return locked;
    },
    async ping() {
      await session.query('SELECT 1');
    },
    async release() {
      if (locked) {
        // If the session is broken, its locks are gone with it: nothing left to release.
        await session.query('SELECT pg_advisory_unlock(hashtext($1))', [key]).catch(() => {});
        locked = false;
      }
      await session.close();
    },
  };
}
