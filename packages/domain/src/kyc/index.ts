export {
  type CheckFindings,
  decideKyc,
  type KycCommand,
  type KycDecision,
  type KycRejection,
  kycOutcome,
  normalizeName,
  type ProfileToMatch,
  userKycStatusAfter,
} from './decide.js';
export { type ExtractedFields, evolveKyc, initialKycState, type KycCase, type KycState } from './kyc.js';
