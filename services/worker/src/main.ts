import { PostgresEventStore } from '@ledger/eventstore';
import {
  type Config,
  ConfigError,
  createLogger,
  loadConfig,
  onShutdown,
  openDatabase,
} from '@ledger/platform';
import { pgLockSessions } from '@ledger/readmodel';
import { startWorker } from './index.js';

/** `pnpm start:worker`: the dispatcher and job consumers as their own process. */

function configOrExit(): Config {
  try {
    const config = loadConfig();
    // PGlite is one process's database: a second process opening the same data directory
    // would corrupt it. The embedded default runs the job runner inside `pnpm start`.
    if (!config.databaseUrl) {
      throw new ConfigError([
        {
          variable: 'DATABASE_URL',
          message: 'is required to run the worker on its own (embedded mode: pnpm start)',
        },
      ]);
    }
    return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

const config = configOrExit();
const logger = createLogger({ level: config.logLevel, name: 'worker' });

try {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    applicationName: 'ledger-worker',
  });
  const store = await PostgresEventStore.open(database.sql);
  const worker = await startWorker({
    db: database.db,
    store,
    logger,
    redisUrl: config.redisUrl,
    smtpUrl: config.smtpUrl,
    lockSessions: pgLockSessions(config.databaseUrl!, 'ledger-worker-lock'),
  }).catch(async (error: unknown) => {
    await store.close();
    await database.close();
    throw error;
  });
  if (!config.redisUrl) {
    logger.warn('REDIS_URL is unset: jobs run in this process and are lost if it stops before running them');
  }
  let closing: Promise<void> | undefined;
  // Dispatcher and jobs first, then the store's subscriptions and LISTEN connection, then the pool.
  const close = () => {
    closing ??= (async () => {
      await worker.stop();
      await store.close();
      await database.close();
    })();
    return closing;
  };
  onShutdown(logger, close);
  worker.done.catch(async (error: unknown) => {
    logger.fatal({ err: error }, 'the dispatcher failed; exiting');
    await close().catch(() => {});
    process.exit(1);
  });
  logger.info({ queue: config.redisUrl ? 'bullmq' : 'in-process' }, 'worker started');
} catch (error) {
  logger.fatal({ err: error }, 'worker failed to start');
  process.exit(1);
}
