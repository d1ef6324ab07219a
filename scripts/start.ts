/**
 * `pnpm start`: API + projector + worker in one process. With no DATABASE_URL this is the
 * embedded default: PGlite under DATA_DIR and the in-process job queue (a PGlite database
 * belongs to one process, so this is the only way to run it). With DATABASE_URL and
 * REDIS_URL the same three run against PostgreSQL and BullMQ.
 */

import { apiEventStoreOptions, closeRedis, connectRedis, openVault, startApi } from '@ledger/api';
import { createLedger, seedPackCatalog } from '@ledger/application';
import { type EventStore, PostgresEventStore } from '@ledger/eventstore';
import {
  createLogger,
  type Database,
  loadConfigOrExit,
  localDocumentStorage,
  onShutdown,
  openDatabase,
} from '@ledger/platform';
import { type Projector, startProjector } from '@ledger/projector';
import { pgLockSessions } from '@ledger/readmodel';
import { DataKeyMismatch } from '@ledger/vault';
import { startWorker, type Worker } from '@ledger/worker';
import type { Redis } from 'ioredis';

const config = loadConfigOrExit();
const logger = createLogger({ level: config.logLevel, name: 'ledger' });

let database: Database | undefined;
let store: EventStore | undefined;
let redis: Redis | undefined;
let projector: Projector | undefined;
let worker: Worker | undefined;
let stopApi: (() => Promise<void>) | undefined;
let closing: Promise<void> | undefined;

// In the order that loses nothing: stop taking requests, stop the dispatcher and jobs,
// stop the projections (each after its batch), then the store, Redis and the database.
const close = () => {
  closing ??= (async () => {
    await stopApi?.();
    await worker?.stop();
    await projector?.stop();
    await store?.close();
    if (redis) await closeRedis(redis);
    await database?.close();
  })();
  return closing;
};

try {
  database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    applicationName: 'ledger',
  });
  // Before anything writes: a wrong DATA_KEY stops start-up here, with nothing written.
  const vault = await openVault(config, database.db);
  const documents = localDocumentStorage(config.documentsDir);
  store = await PostgresEventStore.open(database.sql, {
    // The API is this process's main appender (on PGlite there is one lane anyway).
    ...apiEventStoreOptions,
    onListenError: (error) => logger.warn({ err: error }, 'event store LISTEN connection failed'),
  });
  // The embedded default ships a catalog of packs (API.md, Packs): seeded on every start,
  // idempotent (fixed ids; a pack that exists, perhaps changed since, is left alone).
  if (!config.databaseUrl) await seedPackCatalog(store, new Date());
  const lockSessions = config.databaseUrl
    ? { lockSessions: pgLockSessions(config.databaseUrl, 'ledger-lock') }
    : {};
  projector = startProjector({
    db: database.db,
    store,
    logger: logger.child({ service: 'projector' }),
    ...lockSessions,
    chainCheckpointEvery: config.checkpointEvery,
  });
  // One ledger context (caches, locks) for the API and the worker of this one process.
  const ledger = createLedger(store);
  worker = await startWorker({
    db: database.db,
    store,
    ledger,
    logger: logger.child({ service: 'worker' }),
    redisUrl: config.redisUrl,
    smtpUrl: config.smtpUrl,
    clearing: config.clearing,
    holdSweepIntervalMs: config.holdSweepIntervalMs,
    packFeesIntervalMs: config.packFeesIntervalMs,
    jobLockMs: config.jobLockMs,
    kyc: { vault, documents },
    // Notification mails: through SMTP_URL, else written to DATA_DIR/outbox.
    mail: { vault, dataDir: config.dataDir, from: config.mailFrom },
    ...lockSessions,
  });
  if (config.redisUrl) redis = await connectRedis(config.redisUrl, logger);
  const api = await startApi({
    config,
    database,
    store,
    ledger,
    vault,
    documents,
    ...(redis ? { redis } : {}),
    logger,
  });
  stopApi = api.stop;
  onShutdown(logger, close);
  // A failed projection or dispatcher is a broken invariant: stop and exit non-zero.
  for (const [name, done] of [
    ['projector', projector.done],
    ['worker', worker.done],
  ] as const) {
    done.catch(async (error: unknown) => {
      logger.fatal({ err: error }, `${name} failed; exiting`);
      await close().catch(() => {});
      process.exit(1);
    });
  }
  logger.info(
    { database: database.kind, jobs: config.redisUrl ? 'bullmq' : 'in-process', docs: `${api.url}/docs` },
    `Ledger is running (${config.databaseUrl ? 'PostgreSQL' : `embedded PGlite in ${config.dataDir}`}). API docs: ${api.url}/docs`,
  );
} catch (error) {
  if (error instanceof DataKeyMismatch) {
    // The operator's mistake, not a crash: the message alone, no stack.
    logger.fatal(error.message);
    process.stderr.write(`${error.message}\n`);
  } else logger.fatal({ err: error }, 'start-up failed');
  await close().catch(() => {});
  process.exit(1);
}
