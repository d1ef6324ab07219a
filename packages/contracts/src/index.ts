export * from './identity.js';
export * from './ledger.js';
