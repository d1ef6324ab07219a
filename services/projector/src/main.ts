/** `pnpm start:projector`: the projector as its own process, next to any number of API replicas. */
import { runService } from '@ledger/platform';
import { pgLockSessions } from '@ledger/readmodel';
import { defaultProjectionsFor, startProjector } from './index.js';

await runService({
  name: 'projector',
  requireDatabaseUrl: 'is required to run the projector on its own (embedded mode: pnpm start)',
  async start({ config, logger, database, store }) {
    const projector = startProjector({
      db: database.db,
      store,
      logger,
      // Projections stop first: each finishes its batch and releases its lock.
      lockSessions: pgLockSessions(config.databaseUrl!, 'ledger-projector-lock'),
      chainCheckpointEvery: config.checkpointEvery,
    });
    logger.info(
      { projections: defaultProjectionsFor(store).map((p) => p.name), database: database.kind },
      'projector started',
    );
    return projector;
  },
});
