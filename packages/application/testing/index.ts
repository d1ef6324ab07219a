/**
 * Tests only (`@ledger/application/testing`): ledger fixtures made through the application's
 * commands (ledger.ts), account events appended without them (raw-ledger.ts), and the KYC
 * verification the application has no command for yet (identity.ts). The daily-limit racer
 * (daily-limit-racer.ts) is a script that settings.test.ts spawns by its path: not exported.
 */
export * from './identity.js';
export * from './ledger.js';
export * from './raw-ledger.js';
