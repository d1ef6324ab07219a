import assert from 'node:assert/strict';
import {
  type AccountState,
  evolveAccount,
  evolveTransfer,
  initialAccountState,
  initialTransferState,
  parseLedgerEvent,
  type TransferState,
} from '@ledger/domain/ledger';
import type { RecordedEvent } from '@ledger/eventstore';
import { type Folded, foldStream } from '../command-handler.js';
import type { Ledger } from './context.js';
import { parseAccountEvent, parseTransferEvent, readWholeStream } from './events.js';
import {
  accountNumberStreamId,
  accountStreamId,
  customerAccountsStreamId,
  transferStreamId,
} from './streams.js';

/** Loading the ledger's streams: strongly consistent (the store, not a read model). */

export type Loaded<S> = Folded<S>;

export const versionOf = (events: readonly RecordedEvent[]): bigint | 'no_stream' =>
  events.length === 0 ? 'no_stream' : events[events.length - 1]!.streamVersion;

/** An account's state and version: the cached fold plus whatever was appended since. */
export async function loadAccount(ledger: Ledger, accountId: string): Promise<Loaded<AccountState>> {
  const loaded = await foldStream(
    ledger.store,
    accountStreamId(accountId),
    ledger.accounts.get(accountId) ?? { state: initialAccountState(), version: 'no_stream' },
    (folded, event) => evolveAccount(folded, parseAccountEvent(event)),
  );
  ledger.accounts.remember(accountId, loaded);
  return loaded;
}

/**
 * The cached fold of an account, without reading the store: possibly behind, when another
 * process appended since. Only for what may be decided on optimistically (the append's
 * expected version catches a stale state), or for what never changes (owner, currency).
 */
export function peekAccount(ledger: Ledger, accountId: string): Loaded<AccountState> | undefined {
  return ledger.accounts.get(accountId);
}

/** What never changes of an account (kind, owner, currency): cached, or loaded once. */
export async function accountOnce(ledger: Ledger, accountId: string): Promise<AccountState> {
  const peeked = peekAccount(ledger, accountId)?.state;
  return peeked === undefined || peeked.status === 'none'
    ? (await loadAccount(ledger, accountId)).state
    : peeked;
}

/** The owner of a customer account (null: no such account, or a bank-owned one). Owners never change. */
export async function accountOwnerOf(ledger: Ledger, accountId: string): Promise<string | null> {
  const state = await accountOnce(ledger, accountId);
  return state.status !== 'none' && state.kind === 'customer' ? state.ownerId : null;
}

export async function loadTransfer(ledger: Ledger, transferId: string): Promise<Loaded<TransferState>> {
  const events = await readWholeStream(ledger.store, transferStreamId(transferId));
  const state = events.map(parseTransferEvent).reduce(evolveTransfer, initialTransferState());
  return { state, version: versionOf(events) };
}

/** The account a number is reserved for (strongly consistent: no projection lag). */
export async function findAccountIdByNumber(ledger: Ledger, accountNumber: string): Promise<string | null> {
  const [first] = await ledger.store.readStream(accountNumberStreamId(accountNumber), { limit: 1 });
  if (!first) return null;
  const event = parseLedgerEvent(first);
  assert(event.type === 'AccountNumberAssigned', `${first.streamId} holds a ${event.type}`);
  return event.data.accountId;
}

/** The account number of an account (bank-owned accounts have none). */
export async function accountNumberOf(ledger: Ledger, accountId: string): Promise<string | null> {
  const [first] = await ledger.store.readStream(accountStreamId(accountId), { limit: 1 });
  if (!first) return null;
  // The number rides in AccountOpened's data, reserved in the same append.
  const opened = parseAccountEvent(first);
  assert(opened.type === 'AccountOpened', `${first.streamId} starts with a ${opened.type}`);
  return opened.data.kind === 'customer' ? (opened.data.accountNumber ?? null) : null;
}

/** The ids of the accounts a customer opened, in order. */
export async function customerAccountIds(ledger: Ledger, userId: string): Promise<string[]> {
  const events = await readWholeStream(ledger.store, customerAccountsStreamId(userId));
  return events.map((recorded) => {
    const event = parseLedgerEvent(recorded);
    assert(event.type === 'CustomerAccountAdded', `${recorded.streamId} holds a ${event.type}`);
    return event.data.accountId;
  });
}
