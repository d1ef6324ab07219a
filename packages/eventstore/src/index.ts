export * from './types.js';
export { canonicalJson, NotJsonSerializable } from './canonical-json.js';
export { chainHash, genesisHash, hashedText, type HashedFields } from './hash.js';
export { AppendSignal, startSubscription, type SubscriptionSource } from './subscription.js';
export { migrateEventStore } from './postgres/migrations.js';
export { PostgresEventStore, type PostgresEventStoreOptions } from './postgres/store.js';
export { pgClient, pgliteClient, type SqlClient } from './postgres/sql-client.js';
