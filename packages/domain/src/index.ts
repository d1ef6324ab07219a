export * from './identity/index.js';
export * from './kyc/index.js';
