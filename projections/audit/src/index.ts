export { auditMigrations } from './migrations.js';
export { auditProjection } from './projection.js';
export {
  type AuditEvent,
  type AuditPage,
  type AuditQuery,
  auditQueryLimits,
  InvalidAuditCursor,
  listAuditEvents,
} from './queries.js';
export type { AuditDatabase, AuditEventsTable } from './schema.js';
