export {
  type ClearingAnswer,
  type ClearingRail,
  type ClearingResult,
  clearExternalTransfer,
  clearingActorId,
  clearingAnswer,
  clearingDelayMsMax,
  clearingRailDefaults,
  clearingReturnIbansMax,
  createExternalTransfer,
  type ExpiryResult,
  type ExternalTransferCommand,
  expirePendingTransfer,
  holdExpiryActorId,
  jobMetadata,
} from './clearing.js';
export {
  type Aggregate,
  type DecisionOf,
  type Folded,
  foldStream,
  type HandleOptions,
  type HandleResult,
  handleCommand,
  loadStream,
  retriesMaxDefault,
  retriesMaxLimit,
} from './command-handler.js';
export {
  type ChangeUserRejection,
  type ChangeUserRequest,
  changeUser,
  findUserId,
  handleUserCommand,
  loadUser,
  type RegisterCommand,
  type RegisterResult,
  registerUser,
  type Sessions,
  userAggregate,
} from './identity.js';
export * from './ledger.js';
export * from './settings.js';
