export { dataKeyLengthMin, sealedFieldPattern, sealedFieldPrefix } from './crypto.js';
export {
  type CredentialKind,
  type CredentialStore,
  credentialKinds,
  DataKeyMismatch,
  type SubjectSealer,
  UnknownSubject,
  Vault,
  type VaultOptions,
  vaultDefaults,
  vaultMigrations,
  vaultSchema,
} from './vault.js';
