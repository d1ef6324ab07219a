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
import { defaultProjections, startProjector } from './index.js';

/** `pnpm start:projector`: the projector as its own process, next to any number of API replicas. */

function configOrExit(): Config {
  try {
    const config = loadConfig();
    // PGlite is one process's database: a second process opening the same data directory
    // would corrupt it. The embedded default runs the projector inside `pnpm start`.
    if (!config.databaseUrl) {
      throw new ConfigError([
        {
          variable: 'DATABASE_URL',
          message: 'is required to run the projector on its own (embedded mode: pnpm start)',
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
const logger = createLogger({ level: config.logLevel, name: 'projector' });

try {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    applicationName: 'ledger-projector',
  });
  const store = await PostgresEventStore.open(database.sql);
  const projector = startProjector({
    db: database.db,
    store,
    logger,
    lockSessions: pgLockSessions(config.databaseUrl!, 'ledger-projector-lock'),
  });
  let closing: Promise<void> | undefined;
  // Projections first (each finishes its batch and releases its lock), then the store's
  // subscriptions and LISTEN connection, then the pool.
  const close = () => {
    closing ??= (async () => {
      await projector.stop();
      await store.close();
      await database.close();
    })();
    return closing;
  };
  onShutdown(logger, close);
  // A failed projection is a broken invariant: stop everything and exit non-zero, so the
  // supervisor restarts the process and the failure cannot go unnoticed.
  projector.done.catch(async (error: unknown) => {
    logger.fatal({ err: error }, 'a projection failed; exiting');
    await close().catch(() => {});
    process.exit(1);
  });
  logger.info(
    { projections: defaultProjections.map((p) => p.name), database: database.kind },
    'projector started',
  );
} catch (error) {
  logger.fatal({ err: error }, 'projector failed to start');
  process.exit(1);
}
