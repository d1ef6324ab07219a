export * from './audit/index.js';
export {
  type Caller,
  type ChangePasswordOutcome,
  changePassword,
  changeTwoFactor,
  currentUser,
  type IdentityOutcome,
  type IdentityPorts,
  type LoginRequest,
  login,
  type PasswordPort,
  type RecoveryCodePort,
  type RegisterOutcome,
  type RegisterRequest,
  recordSessionEvent,
  register,
  sessionUser,
  startTwoFactorSetup,
  type TotpPort,
  type TwoFactorChange,
  updateProfile,
} from './auth.js';
export { type OpenTicketOutcome, type OpenTicketRequest, openSupportTicket } from './chatbot/tickets.js';
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
  commandRetry,
  type DecisionOf,
  type Folded,
  foldStream,
  type HandleOptions,
  type HandleResult,
  handleCommand,
  loadStream,
  type RunOptions,
  retryPause,
  runCommand,
  type Step,
} from './command-handler.js';
export { type ErasureRequest, erasePersonalData, relationshipEndedAt } from './erasure.js';
export {
  type AccountStatement,
  type DataExport,
  type DataExportPorts,
  type ExportReadModel,
  type ExportReadView,
  exportUserData,
} from './export.js';
export {
  type ChangeUserRejection,
  type ChangeUserRequest,
  changeUser,
  findUserId,
  handleUserCommand,
  loadOpenedUser,
  loadUser,
  type PersonalDataPorts,
  type RegisterCommand,
  type RegisterResult,
  registerUser,
  reservationStreamId,
  type Sessions,
  userAggregate,
  userAggregateFor,
} from './identity.js';
export { KeyedLock } from './keyed-lock.js';
export {
  type DocumentFiles,
  type KycOutcome,
  type KycPorts,
  type KycUseCaseRejection,
  kycAggregateFor,
  kycCaseOwner,
  loadKycCase,
  providerCallbackStreamId,
  readKycFile,
  recordKycCheck,
  recordKycCheckFailure,
  recordProviderCheck,
  reviewVerification,
  type SubmitVerificationRequest,
  startKycCheck,
  submitVerification,
  type UploadedFile,
} from './kyc.js';
export * from './ledger/index.js';
export * from './notifications/index.js';
export * from './packs/index.js';
export {
  type CredentialKind,
  type CredentialStore,
  openUserEvent,
  type PersonalDataVault,
  type SubjectSealer,
  sealUserEvent,
} from './personal-data.js';
export * from './settings.js';
