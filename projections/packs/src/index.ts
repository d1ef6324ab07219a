export { packsMigrations } from './migrations.js';
export { packsProjection, packsProjectionHandles } from './projection.js';
export {
  dueSubscriptionIds,
  getPack,
  getSubscription,
  InvalidPackCursor,
  listPacks,
  listSubscriptions,
  type PackQuery,
  type SubscriptionQuery,
} from './queries.js';
export type { PacksDatabase, PacksTable, SubscriptionsTable } from './schema.js';
export { packView, subscriptionView } from './views.js';
