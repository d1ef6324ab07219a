import type { Config } from '@ledger/platform';
import { resolveDataKey } from '@ledger/platform';
import { Vault } from '@ledger/vault';
import type { Kysely } from 'kysely';

/**
 * Opens the vault of personal data and credentials on the read-model database, with DATA_KEY
 * (or the key kept in DATA_DIR). Called first at start-up, before the event store, the
 * projector or the API write anything: a wrong key throws DataKeyMismatch and nothing is written.
 */
export async function openVault(
  config: Pick<Config, 'dataKey' | 'dataDir'>,
  db: Kysely<any>,
): Promise<Vault> {
  return Vault.open(db, await resolveDataKey(config));
}
