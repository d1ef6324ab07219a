import { createLogger, loadConfig } from '@ledger/platform';
import { openEmbeddedTestStore } from '@ledger/platform/testing';
import { buildApp } from '../src/app.js';
import type { PasswordHasher } from '../src/auth/passwords.js';
import { captureLog } from './support.js';

/**
 * The app on the embedded default: no DATABASE_URL (PGlite under a fresh DATA_DIR), no
 * REDIS_URL (rate limits in memory, revocations and refresh tokens in the database), the JWT
 * secret generated into DATA_DIR, and a captured log (`level`, default info). `env` adds to
 * that configuration; `hasher` replaces production's (bcrypt cost 12). `close()` closes the
 * app, the store and the database and removes DATA_DIR; the caller registers it at the
 * teardown it needs (after what it runs on the store itself).
 */
export async function embeddedApp(
  name: string,
  options: { env?: Record<string, string>; level?: string; hasher?: PasswordHasher } = {},
) {
  const embedded = await openEmbeddedTestStore(name);
  const config = loadConfig({ DATA_DIR: embedded.dataDir, ...options.env });
  const log = captureLog();
  const logger = createLogger({ level: options.level ?? 'info', name: `${name}-test` }, log);
  const app = await buildApp({
    config,
    database: embedded.database,
    store: embedded.store,
    logger,
    ...(options.hasher === undefined ? {} : { auth: { hasher: options.hasher } }),
  });
  await app.ready();
  const close = async () => {
    await app.close();
    await embedded.close();
  };
  return { ...embedded, config, log, logger, app, close };
}
