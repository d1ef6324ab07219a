import assert from 'node:assert/strict';
import {
  type AccountState,
  availableBalanceOf,
  balanceOf,
  type Currency,
  evolveAccount,
  initialAccountState,
} from '@ledger/domain/ledger';
import type { EventStore } from '@ledger/eventstore';
import { accountStreamId, parseAccountEvent } from '../ledger/index.js';

/**
 * One account's balance now, as of a time or at a global position (DESIGN §4,
 * "Point-in-time"), folded from the account's own stream: the fold stops at the first event
 * past the cut (globalPosition > atPosition, or recordedAt > asOf), so `position` is the last
 * event included and 0 when the cut is before the account was opened (a zero balance).
 *
 * The stream is read in pages and the read stops at the cut, so memory is one page however
 * long the account's history; cost is linear in the events up to the cut.
 */

/** Events read per round trip. */
export const balanceAtPageSize = 1000;

export interface BalanceCut {
  asOf?: Date;
  atPosition?: bigint;
}

export interface AccountBalanceAt {
  accountId: string;
  currency: Currency;
  /** Posted balance, credit-normal, minor units. */
  balance: bigint;
  /** Posted balance less outgoing holds, minor units. */
  available: bigint;
  /** The last event of the account in the cut; 0 when none. */
  position: bigint;
}

/** Null when the account does not exist (its stream has no events). */
export async function accountBalanceAt(
  store: Pick<EventStore, 'readStream'>,
  accountId: string,
  cut: BalanceCut = {},
): Promise<AccountBalanceAt | null> {
  const streamId = accountStreamId(accountId);
  const asOfMs = cut.asOf?.getTime() ?? null;
  const past = (event: { globalPosition: bigint; recordedAt: string }) =>
    (cut.atPosition !== undefined && event.globalPosition > cut.atPosition) ||
    (asOfMs !== null && Date.parse(event.recordedAt) > asOfMs);
  let state: AccountState = initialAccountState();
  // From the first event (AccountOpened), even when the cut is before it.
  let currency: Currency | null = null;
  let position = 0n;
  let fromVersion = 0n;
  fold: for (;;) {
    const page = await store.readStream(streamId, { fromVersion, limit: balanceAtPageSize });
    for (const event of page) {
      if (currency === null) {
        const opened = evolveAccount(initialAccountState(), parseAccountEvent(event));
        assert(opened.status !== 'none', 'AccountOpened folds to an account');
        currency = opened.currency;
      }
      if (past(event)) break fold;
      state = evolveAccount(state, parseAccountEvent(event));
      position = event.globalPosition;
    }
    if (page.length < balanceAtPageSize) break;
    fromVersion = page[page.length - 1]!.streamVersion + 1n;
  }
  if (currency === null) return null;
  return {
    accountId,
    currency,
    balance: state.status === 'none' ? 0n : balanceOf(state),
    available: state.status === 'none' ? 0n : availableBalanceOf(state),
    position,
  };
}
