/**
 * Tests only (`@ledger/application/testing`): ledger fixtures made through the application's
 * commands (ledger.ts) and account events appended without them (raw-ledger.ts). The
 * daily-limit racer (daily-limit-racer.ts) is a script that settings.test.ts spawns by its
 * path: not exported here.
 */
export * from './ledger.js';
export * from './raw-ledger.js';
