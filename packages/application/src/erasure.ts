import { parseAccountEvent, type Role } from '@ledger/contracts';
import { decideUser, type RegisteredUser } from '@ledger/domain';
import type { EventMetadata } from '@ledger/eventstore';
import type { IdentityOutcome, IdentityPorts } from './auth.js';
import { handleUserCommand, loadUser } from './identity.js';
import type { DocumentFiles } from './kyc.js';
import type { Ledger } from './ledger/context.js';
import { customerAccountIds, loadAccount } from './ledger/load.js';
import { accountStreamId } from './ledger/streams.js';
import { loadSettings } from './settings.js';

/**
 * Erasure of a customer's personal data (API.md, Admin: POST /users/:id/erase; DESIGN §5):
 * crypto-shredding. The log is immutable and its hash chains cover the sealed fields, so
 * nothing in it is rewritten: the user's key is destroyed, and every field it sealed, in
 * every event and every read model, reads as erased from then on. Balances, transfers and
 * every chain stay as they were.
 *
 * Order: decide (a director, a customer, the retention period after the relationship ended
 * has passed), then destroy the key and the credentials, then append PersonalDataErased
 * (read models drop their copies of the sealed fields on it). A crash between the two leaves
 * the data unreadable already and the user not yet marked: the director sees "not erased"
 * and erases again, which appends the event (the destruction is idempotent). The other
 * order would leave a user marked erased whose key still exists, and nobody would retry.
 */

export interface ErasureRequest {
  actor: { userId: string; role: Role };
  userId: string;
  now: Date;
}

/**
 * When the customer relationship ended: the latest closure of the user's accounts (null
 * while one is open), or their registration if they never had one.
 */
export async function relationshipEndedAt(ledger: Ledger, user: RegisteredUser): Promise<Date | null> {
  let ended = new Date(user.createdAt);
  for (const accountId of await customerAccountIds(ledger, user.id)) {
    const { state, version } = await loadAccount(ledger, accountId);
    if (state.status !== 'closed' || version === 'no_stream') return null;
    // A closed account takes no event after AccountClosed: it is the stream's last.
    const [last] = await ledger.store.readStream(accountStreamId(accountId), {
      fromVersion: version,
      limit: 1,
    });
    const closed = last === undefined ? undefined : parseAccountEvent(last);
    if (closed?.type !== 'AccountClosed')
      throw new Error(`closed account ${accountId} ends with ${last?.type}`);
    const at = new Date(closed.data.at);
    if (at > ended) ended = at;
  }
  return ended;
}

export async function erasePersonalData(
  ports: IdentityPorts & { ledger: Ledger; documents?: DocumentFiles },
  request: ErasureRequest,
  metadata: EventMetadata,
): Promise<IdentityOutcome<{ user: RegisteredUser; position: bigint | null }>> {
  const { now, userId } = request;
  const found = await loadUser(ports.store, userId);
  if (found.status !== 'registered') return { ok: false, rejection: 'user_not_found' };
  const retentionDays = (await loadSettings(ports.ledger)).state.settings.retentionDays;
  const endedAt = found.role === 'customer' ? await relationshipEndedAt(ports.ledger, found) : null;
  const result = await handleUserCommand(
    ports.store,
    userId,
    async (state) => {
      const decision = decideUser(
        { type: 'ErasePersonalData', now, by: request.actor, relationshipEndedAt: endedAt, retentionDays },
        state,
      );
      // Allowed (or done before): destroy the key before the event says so (see above).
      if (decision.rejection === undefined) await ports.vault.erase(userId, now);
      return decision;
    },
    metadata,
  );
  if (result.rejection !== undefined) return { ok: false, rejection: result.rejection };
  if (result.state.status !== 'registered') return { ok: false, rejection: 'user_not_found' };
  // Sessions end at once (the event also stops tokens issued before it), recovery codes go.
  await ports.sessions.endAll(userId, 'erased', now);
  await ports.recoveryCodes.removeAll(userId);
  // Sealed under the destroyed key already: unreadable; removed so nothing of theirs is kept.
  await ports.documents?.removeUser(userId);
  return { ok: true, value: { user: result.state, position: result.position } };
}
