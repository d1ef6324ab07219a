import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EventStore, PostgresEventStore } from '@ledger/eventstore';
import { createLogger, openDatabase } from '@ledger/platform';
import { auditProjection, listAuditEvents } from '@ledger/projection-audit';
import { migrateSchema, type Projection, readCheckpoints } from '@ledger/readmodel';
import { createTestDatabase, exitWithin, spawnService } from '@ledger/testkit';
import t from 'tap';
import { startProjector } from './index.js';

const testTimeoutMs = 60_000;
const waitMs = 10_000;
const exitWaitMs = 10_000;
const logger = createLogger({ level: 'silent', name: 'projector-test' });

async function append(store: EventStore, count: number): Promise<bigint> {
  let last = 0n;
  for (let i = 0; i < count; i++) {
    const result = await store.append([
      {
        streamId: `user-${i % 2}`,
        expectedVersion: 'any',
        events: [{ type: 'LoggedIn', data: {}, metadata: { actorId: `u${i % 2}` } }],
      },
    ]);
    last = result.position;
  }
  return last;
}

t.test(
  'on PGlite (embedded default): audit rows once each, resumed after a restart',
  { timeout: testTimeoutMs },
  async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'projector-test-'));
    const database = await openDatabase({ databaseUrl: undefined, dataDir, applicationName: 'test' });
    t.equal(database.kind, 'pglite');
    const store = await PostgresEventStore.open(database.sql);
    t.teardown(async () => {
      await store.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    const first = await append(store, 5);
    const projector = startProjector({ db: database.db, store, logger });
    t.ok(await projector.waitFor(first, waitMs));
    t.same(
      projector.status(),
      {
        audit: 'active',
        users: 'active',
        accounts: 'active',
        transactions: 'active',
        kyc: 'active',
        packs: 'active',
        support: 'active',
        notifications: 'active',
      },
      'no lock to wait for on PGlite',
    );
    t.equal((await listAuditEvents(database.db, { limit: 200 })).items.length, 5);
    await projector.stop();
    await projector.done;

    const second = await append(store, 3);
    const again = startProjector({ db: database.db, store, logger });
    t.teardown(() => again.stop());
    t.ok(await again.waitFor(second, waitMs));
    const items = (await listAuditEvents(database.db, { limit: 200 })).items;
    t.equal(items.length, 8, 'no repeats after the restart');
    t.same(
      items.map((i) => i.position),
      (await store.readAll({ after: 0n, limit: 100 })).map((e) => e.globalPosition),
    );
    t.equal((await readCheckpoints(database.db)).find((c) => c.name === 'audit')?.position, second);
    t.equal((await listAuditEvents(database.db, { actorId: 'u1', limit: 200 })).items.length, 3);
  },
);

t.test(
  'a failing projection rejects done; the others keep their own checkpoints',
  { timeout: testTimeoutMs },
  async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'projector-test-'));
    const database = await openDatabase({ databaseUrl: undefined, dataDir, applicationName: 'test' });
    const store = await PostgresEventStore.open(database.sql);
    t.teardown(async () => {
      await store.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    });
    const broken: Projection = {
      name: 'broken',
      version: 1,
      schema: 'broken',
      handles: ['LoggedIn'],
      migrate: (db, schema) => migrateSchema(db, schema, {}),
      async apply() {
        throw new Error('invariant broken');
      },
    };
    const last = await append(store, 2);
    const projector = startProjector({
      db: database.db,
      store,
      logger,
      projections: [auditProjection, broken],
    });
    t.teardown(() => projector.stop());
    await t.rejects(projector.done, /invariant broken/);
    t.equal(projector.status()['broken'], 'failed');
    t.notOk(await projector.waitFor(last, 200), 'waitFor cannot succeed with a failed projection');
    t.throws(
      () => startProjector({ db: database.db, store, logger, projections: [broken, broken] }),
      /two projections/,
    );
  },
);

/** Runs `pnpm start:<name>`'s entry; resolves with the child once it logs "<name> started". */

t.test(
  'pnpm start:projector starts on PostgreSQL and exits 0 on SIGTERM',
  { timeout: testTimeoutMs },
  async (t) => {
    const testDatabase = await createTestDatabase('projector_proc');
    t.teardown(() => testDatabase.drop());
    const service = await spawnService({
      entry: 'services/projector/src/main.ts',
      env: { DATABASE_URL: testDatabase.url },
      startedMessage: 'projector started',
      teardown: (fn) => t.teardown(fn),
    });
    service.child.kill('SIGTERM');
    const code = await exitWithin(service.exit, exitWaitMs);
    if (code !== 0) t.comment(service.output());
    t.equal(code, 0, `exits 0 within ${exitWaitMs} ms`);
    t.match(service.output(), /"msg":"stopped"/);
  },
);

t.test(
  'pnpm start:projector refuses a bad configuration with a message and exit 1',
  { timeout: testTimeoutMs },
  async (t) => {
    const service = await spawnService({
      entry: 'services/projector/src/main.ts',
      env: { DATABASE_URL: 'mysql://nope' },
      teardown: (fn) => t.teardown(fn),
    });
    t.equal(await exitWithin(service.exit, exitWaitMs), 1);
    t.match(service.output(), /DATABASE_URL: must be a URL starting with postgres:\/\//);
    t.notMatch(service.output(), /\n\s+at /, 'no stack trace');
  },
);
