/**
 * Tests only (`@ledger/api/testing`): what the API's test files (and the benchmarks) set up
 * with: a captured log and bounded waits (support.ts), the app on real PostgreSQL and Redis
 * (auth-fixture.ts) or on the embedded default (embedded.ts), and the bank's people working
 * through it (ledger-harness.ts).
 */
export * from './auth-fixture.js';
export * from './embedded.js';
export * from './ledger-harness.js';
export * from './support.js';
