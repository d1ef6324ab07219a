import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresEventStore } from '@ledger/eventstore';
import { createTestDatabase, type TestDatabase } from '@ledger/testkit';
import { type Database, openDatabase } from '../src/database.js';

/**
 * Tests only (`@ledger/platform/testing`): a fresh PostgreSQL database, opened as the
 * services open theirs, and an event store on it. Lives here rather than in @ledger/testkit
 * because platform and eventstore test with testkit: testkit importing them would be a cycle.
 *
 * With `t`, the store, the database and the test database are closed and dropped at its
 * teardown; without it, the caller calls `close()` when its own teardown needs the order.
 */
export interface TestStore {
  testDb: TestDatabase;
  database: Database;
  db: Database['db'];
  store: PostgresEventStore;
  url: string;
  close(): Promise<void>;
}

export async function openTestStore(
  name: string,
  t?: { teardown(fn: () => unknown): void },
): Promise<TestStore> {
  const testDb = await createTestDatabase(name);
  const database = await openDatabase({
    databaseUrl: testDb.url,
    dataDir: '/nonexistent',
    applicationName: 'test',
  });
  const store = await PostgresEventStore.open(database.sql);
  const close = async () => {
    await store.close();
    await database.close();
    await testDb.drop();
  };
  t?.teardown(close);
  return { testDb, database, db: database.db, store, url: testDb.url, close };
}

export interface EmbeddedTestStore {
  /** The DATA_DIR the embedded database lives in (a fresh folder under the system's tmpdir). */
  dataDir: string;
  database: Database;
  db: Database['db'];
  store: PostgresEventStore;
  close(): Promise<void>;
}

/**
 * Tests only: the embedded default (no DATABASE_URL: PGlite under DATA_DIR) in a fresh
 * folder, opened as the services open theirs, and an event store on it. `close()` (at the
 * teardown of `t` if given) closes both and removes the folder.
 */
export async function openEmbeddedTestStore(
  name: string,
  t?: { teardown(fn: () => unknown): void },
): Promise<EmbeddedTestStore> {
  const dataDir = await mkdtemp(join(tmpdir(), `${name}-`));
  const database = await openDatabase({ databaseUrl: undefined, dataDir, applicationName: name });
  const store = await PostgresEventStore.open(database.sql);
  const close = async () => {
    await store.close();
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  t?.teardown(close);
  return { dataDir, database, db: database.db, store, close };
}
