import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresEventStore } from '@ledger/eventstore';
import { createTestDatabase, type TestDatabase } from '@ledger/testkit';
import { type Database, openDatabase } from '../src/database.js';

/** A database opened as the services open theirs, and an event store on it. */
interface OpenedStore {
  database: Database;
  db: Database['db'];
  store: PostgresEventStore;
  close(): Promise<void>;
}

type Teardown = { teardown(fn: () => unknown): void };

/** The store on `database`; `close()` closes both, then `dispose()`s what held the database. */
async function openStoreOn(
  database: Database,
  dispose: () => Promise<void>,
  t: Teardown | undefined,
): Promise<OpenedStore> {
  const store = await PostgresEventStore.open(database.sql);
  const close = async () => {
    await store.close();
    await database.close();
    await dispose();
  };
  t?.teardown(close);
  return { database, db: database.db, store, close };
}

/**
 * Tests only (`@ledger/platform/testing`): a fresh PostgreSQL database, opened as the
 * services open theirs, and an event store on it. Lives here rather than in @ledger/testkit
 * because platform and eventstore test with testkit: testkit importing them would be a cycle.
 *
 * With `t`, the store, the database and the test database are closed and dropped at its
 * teardown; without it, the caller calls `close()` when its own teardown needs the order.
 */
export interface TestStore extends OpenedStore {
  testDb: TestDatabase;
  url: string;
}

export async function openTestStore(name: string, t?: Teardown): Promise<TestStore> {
  const testDb = await createTestDatabase(name);
  const database = await openDatabase({
    databaseUrl: testDb.url,
    dataDir: '/nonexistent',
    applicationName: 'test',
  });
  return { testDb, url: testDb.url, ...(await openStoreOn(database, () => testDb.drop(), t)) };
}

export interface EmbeddedTestStore extends OpenedStore {
  /** The DATA_DIR the embedded database lives in (a fresh folder under the system's tmpdir). */
  dataDir: string;
}

/**
 * Tests only: the embedded default (no DATABASE_URL: PGlite under DATA_DIR) in a fresh
 * folder, opened as the services open theirs, and an event store on it. `close()` (at the
 * teardown of `t` if given) closes both and removes the folder.
 */
export async function openEmbeddedTestStore(name: string, t?: Teardown): Promise<EmbeddedTestStore> {
  const dataDir = await mkdtemp(join(tmpdir(), `${name}-`));
  const database = await openDatabase({ databaseUrl: undefined, dataDir, applicationName: name });
  const dispose = () => rm(dataDir, { recursive: true, force: true });
  return { dataDir, ...(await openStoreOn(database, dispose, t)) };
}
