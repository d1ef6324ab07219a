export * from './fraud/index.js';
export * from './identity/index.js';
export * from './kyc/index.js';
