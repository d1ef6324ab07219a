export {
  advanceCheckpoint,
  type Checkpoint,
  CheckpointConflict,
  checkpointSchema,
  ensureCheckpoint,
  migrateCheckpoints,
  readCheckpoint,
  readCheckpoints,
  resetCheckpoint,
  type StoredCheckpoint,
} from './checkpoints.js';
export { insertRows, insertRowsMax } from './insert-rows.js';
export { type OpenLockSession, pgLockSessions, type SessionConnection } from './lock.js';
export { assertProjectionSchema, assertSchemaName, migrateSchema, schemaExists } from './migrate.js';
export {
  allEventTypes,
  checkProjection,
  chunked,
  type Projection,
  type RebuildOptions,
  type RebuildResult,
  type RunningProjection,
  type RunProjectionOptions,
  rebuildProjection,
  runProjection,
} from './projection.js';
export {
  compareSchemas,
  type DifferingKey,
  type RebuildCheckOptions,
  type RebuildCheckResult,
  rebuildAndCompare,
  type SchemaComparison,
  type SwapOptions,
  swapRebuiltSchema,
  type TableComparison,
  type TableDigest,
} from './rebuild-check.js';
export {
  type CheckpointedSubscriberOptions,
  type RunningSubscriber,
  retryDelayMs,
  runCheckpointedSubscriber,
  type SubscriberStatus,
  SubscriberVersionMismatch,
  subscriberLimits,
} from './subscriber.js';
export { isTransientError } from './transient.js';
