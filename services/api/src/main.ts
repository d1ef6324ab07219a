/**
 * `pnpm start:api`: one API process. Reads the configuration, opens PostgreSQL (or PGlite
 * under DATA_DIR), the event store and Redis when configured, listens, and on SIGTERM/SIGINT
 * closes app, store, Redis and database in that order.
 */
import { type EventStore, PostgresEventStore } from '@ledger/eventstore';
import {
  type Config,
  ConfigError,
  createLogger,
  type Database,
  loadConfig,
  onShutdown,
  openDatabase,
} from '@ledger/platform';
import { DataKeyMismatch } from '@ledger/vault';
import type { Redis } from 'ioredis';
import { closeRedis, connectRedis } from './redis.js';
import { apiEventStoreOptions, startApi } from './server.js';
import { openVault } from './vault.js';

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // A configuration mistake is the operator's, not a crash: the message, no stack.
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const logger = createLogger({ level: config.logLevel, name: 'api' });

  let database: Database | undefined;
  let store: EventStore | undefined;
  let redis: Redis | undefined;
  const closeDeps = async () => {
    await store?.close();
    if (redis) await closeRedis(redis);
    await database?.close();
  };

  try {
    database = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      applicationName: 'ledger-api',
    });
    // Before anything writes: a wrong DATA_KEY stops start-up here, with nothing written.
    const vault = await openVault(config, database.db);
    store = await PostgresEventStore.open(database.sql, {
      ...apiEventStoreOptions,
      onListenError: (error) => logger.warn({ err: error }, 'event store LISTEN connection failed'),
    });
    if (config.redisUrl) redis = await connectRedis(config.redisUrl, logger);
    const api = await startApi({ config, database, store, vault, ...(redis ? { redis } : {}), logger });
    onShutdown(logger, async () => {
      await api.stop();
      await closeDeps();
    });
  } catch (error) {
    if (error instanceof DataKeyMismatch) {
      // The operator's mistake, not a crash: the message alone, no stack.
      logger.fatal(error.message);
      process.stderr.write(`${error.message}\n`);
    } else logger.fatal({ err: error }, 'API start-up failed');
    await closeDeps().catch((closeError: unknown) => logger.error({ err: closeError }, 'cleanup failed'));
    process.exit(1);
  }
}

await main();
