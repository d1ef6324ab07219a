/** `pnpm start:worker`: the dispatcher and job consumers as their own process. */
import { localDocumentStorage, resolveDataKey, runService } from '@ledger/platform';
import { pgLockSessions } from '@ledger/readmodel';
import { Vault } from '@ledger/vault';
import { startWorker } from './index.js';

await runService({
  name: 'worker',
  requireDatabaseUrl: 'is required to run the worker on its own (embedded mode: pnpm start)',
  async start({ config, logger, database, store }) {
    // The KYC check opens documents and seals what it reads: the vault, with the API's DATA_KEY.
    const vault = await Vault.open(database.db, await resolveDataKey(config));
    const worker = await startWorker({
      db: database.db,
      store,
      logger,
      redisUrl: config.redisUrl,
      smtpUrl: config.smtpUrl,
      clearing: config.clearing,
      holdSweepIntervalMs: config.holdSweepIntervalMs,
      packFeesIntervalMs: config.packFeesIntervalMs,
      jobLockMs: config.jobLockMs,
      kyc: { vault, documents: localDocumentStorage(config.documentsDir) },
      mail: { vault, dataDir: config.dataDir, from: config.mailFrom },
      lockSessions: pgLockSessions(config.databaseUrl!, 'ledger-worker-lock'),
    });
    if (!config.redisUrl) {
      logger.warn(
        'REDIS_URL is unset: jobs run in this process and are lost if it stops before running them',
      );
    }
    logger.info({ queue: config.redisUrl ? 'bullmq' : 'in-process' }, 'worker started');
    return worker;
  },
});
