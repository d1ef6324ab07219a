export { type AccountPack, benefitsMaxAgeMs, PackBenefitsCache } from './benefits-cache.js';
export {
  type CatalogCaller,
  changePack,
  createPack,
  loadPack,
  type PackFieldError,
  type PackOutcome,
  packAggregate,
  packDefinitionFrom,
  seedCatalog,
  seededPackId,
  seedPackCatalog,
} from './catalog.js';
export {
  cancelSubscription,
  changeSubscriptionPack,
  feeTransferId,
  loadSubscription,
  type PackCaller,
  packBenefitsFor,
  type SubscriptionOutcome,
  settleStepsMax,
  settleSubscription,
  subscribeToPack,
  subscriptionAggregate,
} from './subscriptions.js';
