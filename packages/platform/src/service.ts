import { PostgresEventStore } from '@ledger/eventstore';
import { type Config, ConfigError, loadConfig } from './config.js';
import { type Database, openDatabase } from './database.js';
import { onShutdown } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';

/**
 * The configuration, or exit 1 with the message naming each bad variable: a configuration
 * mistake is the operator's, so no stack trace. `requireDatabaseUrl` is for the processes
 * that cannot run on the embedded database: a PGlite directory belongs to one process.
 */
export function loadConfigOrExit(options: { requireDatabaseUrl?: string } = {}): Config {
  try {
    const config = loadConfig();
    if (options.requireDatabaseUrl && !config.databaseUrl) {
      throw new ConfigError([{ variable: 'DATABASE_URL', message: options.requireDatabaseUrl }]);
    }
    return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

export interface ServiceContext {
  config: Config;
  logger: Logger;
  database: Database;
  store: PostgresEventStore;
}

export interface RunningService {
  /** Stops the service's own work; the store and database are closed after it. */
  stop(): Promise<void>;
  /** Rejects when the service fails on its own (a broken invariant): the process then exits 1. */
  done?: Promise<void>;
}

export interface RunServiceOptions {
  /** Logger name and database application name, e.g. 'projector'. */
  name: string;
  /** Set: the service needs DATABASE_URL, and this says why. */
  requireDatabaseUrl?: string;
  start(context: ServiceContext): Promise<RunningService>;
}

/**
 * One service as its own process: configuration, logger, database, event store; then
 * `start`; on SIGTERM/SIGINT the service, then the store, then the database close, in that
 * order. A failed start or a failed service logs at fatal and exits 1.
 */
export async function runService(options: RunServiceOptions): Promise<void> {
  const config = loadConfigOrExit(
    options.requireDatabaseUrl ? { requireDatabaseUrl: options.requireDatabaseUrl } : {},
  );
  const logger = createLogger({ level: config.logLevel, name: options.name });
  let database: Database | undefined;
  let store: PostgresEventStore | undefined;
  let service: RunningService | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await service?.stop();
      await store?.close();
      await database?.close();
    })();
    return closing;
  };
  try {
    database = await openDatabase({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      applicationName: `ledger-${options.name}`,
    });
    store = await PostgresEventStore.open(database.sql, {
      onListenError: (error) => logger.warn({ err: error }, 'event store LISTEN connection failed'),
    });
    service = await options.start({ config, logger, database, store });
  } catch (error) {
    logger.fatal({ err: error }, `${options.name} failed to start`);
    await close().catch(() => {});
    process.exit(1);
  }
  onShutdown(logger, close);
  service.done?.catch(async (error: unknown) => {
    logger.fatal({ err: error }, `${options.name} failed; exiting`);
    await close().catch(() => {});
    process.exit(1);
  });
}
