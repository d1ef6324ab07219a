export { kycMigrations } from './migrations.js';
export { kycProjection, kycProjectionHandles } from './projection.js';
export { type CaseQuery, getCase, InvalidCaseCursor, listCases } from './queries.js';
export type { CasesTable, KycDatabase } from './schema.js';
