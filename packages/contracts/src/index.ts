export * from './audit.js';
export * from './export.js';
export * from './identity.js';
export * from './kyc.js';
export * from './ledger.js';
export * from './ledger-events.js';
export * from './settings.js';
export * from './text.js';
