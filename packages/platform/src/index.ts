export { type Config, ConfigError, loadConfig, parseRateLimit, type RateLimit } from './config.js';
export { type Database, dataPath, type OpenDatabaseOptions, openDatabase, withTimeout } from './database.js';
export { type DocumentStorage, localDocumentStorage } from './document-storage.js';
export * from './kept-secrets.js';
export { onShutdown, shutdownTimeoutMs } from './lifecycle.js';
export { createLogger, type Logger, redactedPaths } from './logger.js';
export { isOutage } from './outage.js';
export {
  loadConfigOrExit,
  type RunningService,
  type RunServiceOptions,
  runService,
  type ServiceContext,
} from './service.js';
