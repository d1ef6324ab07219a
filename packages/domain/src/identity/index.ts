export {
  type Decision,
  decideUser,
  type IdentityRejection,
  kycLockedFields,
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
  type TwoFactor,
  type UserState,
} from './user.js';
