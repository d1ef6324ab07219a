export { type ApiDeps, bodyLimitBytes, buildApp } from './app.js';
export { resolveDataKey, resolveJwtSecret } from './jwt-secret.js';
export { HttpProblem, type ProblemBody, problem, problemSchema, sendProblem } from './problem.js';
export { closeRedis, connectRedis } from './redis.js';
export { apiEventStoreOptions, type RunningApi, startApi } from './server.js';
export { openVault } from './vault.js';
