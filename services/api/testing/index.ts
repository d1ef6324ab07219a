/**
 * Tests only (`@ledger/api/testing`): what the API's test files (and the benchmarks) set up
 * with: a captured log and bounded waits (support.ts), the app on real PostgreSQL and Redis
 * (auth-fixture.ts) or on the embedded default (embedded.ts), the bank's people working
 * through it (ledger-harness.ts), and access tokens issued as login issues them (tokens.ts).
 */
export * from './auth-fixture.js';
export * from './embedded.js';
export * from './ledger-harness.js';
export * from './support.js';
export * from './tokens.js';
