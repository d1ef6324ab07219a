export { resolveDataKey, resolveJwtSecret } from '@ledger/platform';
export { type ApiDeps, bodyLimitBytes, buildApp } from './app.js';
export { HttpProblem, type ProblemBody, problem, problemSchema, sendProblem } from './problem.js';
export { closeRedis, connectRedis } from './redis.js';
export { apiEventStoreOptions, type RunningApi, startApi } from './server.js';
export { openVault } from './vault.js';
