export {
  type Decision,
  decideUser,
  type IdentityRejection,
  kycLockedFields,
  mayLock,
  retentionEndsAt,
  type UserCommand,
} from './decide.js';
export {
  countsAsFailure,
  evolveUser,
  foldUser,
  initialUserState,
  isLocked,
  type Profile,
  type RegisteredUser,
  sessionMayContinue,
  type TwoFactor,
  type UserState,
} from './user.js';
