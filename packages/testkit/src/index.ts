import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Real PostgreSQL for tests: each call makes a fresh database, so test files run in
 * parallel without seeing each other, and drops it afterwards.
 * TEST_DATABASE_URL names the server (default: the local one, trust auth).
 */
export const testServerUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const dropWaitMs = 3000;

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh database on `serverUrl` (default testServerUrl, any server with trust auth). */
export async function createTestDatabase(
  prefix = 'ledger_test',
  serverUrl: string = testServerUrl,
): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        // pg's pool.end() resolves before the server has seen every connection go: wait for
        // them (bounded), so FORCE only ends connections a test really leaked.
        const deadline = Date.now() + dropWaitMs;
        while (Date.now() < deadline) {
          const { rows } = await client.query(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
            [name],
          );
          if (rows[0].n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Test Redis (default: the local one). Keys of a test go under a unique prefix. */
export const testRedisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function uniquePrefix(name: string): string {
  return `${name}:${Date.now().toString(36)}:${randomBytes(4).toString('hex')}:`;
}
export { exitWithin, repoRoot, type SpawnedService, spawnService } from './process.js';

/**
 * Waits until `condition` holds, checking every `pollMs`; throws after `timeoutMs` naming
 * `what`. Every wait in a test is bounded.
 */
export async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  pollMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
