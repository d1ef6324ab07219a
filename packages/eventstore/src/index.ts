export { canonicalJson, NotJsonSerializable } from './canonical-json.js';
export {
  type ChainCheckpoint,
  chainCheckpointActorId,
  chainCheckpointData,
  chainCheckpointEventId,
  chainCheckpointEventType,
  chainCheckpointStreamId,
  headsDigest,
  parseChainCheckpoint,
} from './chain-checkpoint.js';
export { chainHash, genesisHash, type HashedFields, hashedText } from './hash.js';
export { migrateEventStore } from './postgres/migrations.js';
export { PostgresSnapshotStore } from './postgres/snapshots.js';
export { pgClient, pgliteClient, type SqlClient } from './postgres/sql-client.js';
export { PostgresEventStore, type PostgresEventStoreOptions } from './postgres/store.js';
export {
  type SnapshotStore,
  type StreamSnapshot,
  snapshotStateBytesMax,
  snapshotsOf,
  type WithSnapshots,
} from './snapshots.js';
export { AppendSignal, abortableSleep, type SubscriptionSource, startSubscription } from './subscription.js';
export * from './types.js';
export { ChainVerifier, verifyChains } from './verify.js';
