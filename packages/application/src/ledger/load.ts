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
import { snapshotsOf } from '@ledger/eventstore';
import { type Folded, foldStream, loadPageSize } from '../command-handler.js';
import { accountSnapshotSchema, BadAccountSnapshot, decodeAccountState } from './account-snapshot.js';
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

const evolveStored = (state: AccountState, event: RecordedEvent) =>
  evolveAccount(state, parseAccountEvent(event));

/**
 * An account's state and version as of a read that started after the call: the cached fold
 * plus whatever was appended since; with nothing cached, the account's snapshot plus the
 * events after it (or the whole stream, without a usable snapshot). Concurrent calls for one
 * account share their loads (AccountCache.share): a burst on a cold account costs one cold
 * load and at most one more read of what was appended meanwhile.
 */
export async function loadAccount(ledger: Ledger, accountId: string): Promise<Loaded<AccountState>> {
  const loaded = await ledger.accounts.share(accountId, () => readAccount(ledger, accountId), 'fresh');
  return newest(ledger, accountId, loaded);
}

/** The cache's fold when this process appended past `loaded` meanwhile, else `loaded`. */
function newest(ledger: Ledger, accountId: string, loaded: Loaded<AccountState>): Loaded<AccountState> {
  const cached = ledger.accounts.get(accountId);
  return cached !== undefined &&
    cached.version !== 'no_stream' &&
    (loaded.version === 'no_stream' || cached.version > loaded.version)
    ? cached
    : loaded;
}

/** One load from the store (see loadAccount), remembered in the cache. */
async function readAccount(ledger: Ledger, accountId: string): Promise<Loaded<AccountState>> {
  const { accounts } = ledger;
  const streamId = accountStreamId(accountId);
  const count = (state: AccountState, event: RecordedEvent) => {
    accounts.stats.eventsRead++;
    return evolveStored(state, event);
  };
  const cached = accounts.get(accountId);
  if (cached !== undefined) {
    accounts.stats.tailLoads++;
    const loaded = await foldStream(ledger.store, streamId, cached, count);
    accounts.remember(accountId, loaded);
    return loaded;
  }
  accounts.stats.coldLoads++;
  const fromSnapshot = await foldFromSnapshot(ledger, accountId, count);
  if (fromSnapshot !== null) {
    accounts.remember(accountId, fromSnapshot.loaded, fromSnapshot.snapshotAt);
    return fromSnapshot.loaded;
  }
  const loaded = await foldStream(
    ledger.store,
    streamId,
    { state: initialAccountState(), version: 'no_stream' },
    count,
  );
  accounts.remember(accountId, loaded, -1n);
  return loaded;
}

/**
 * The account's snapshot and the events after it, when the store keeps snapshots and the
 * account's is usable: of this encoding (accountSnapshotSchema), parsing, and matching the
 * chain. The match is checked on the first event the tail read returns, which is the
 * snapshot's own (read from its version, inclusive): it must still have the hash the
 * snapshot names, so a snapshot of another history (a restored or rebuilt database) is never
 * taken. A snapshot not usable is counted, told, and ignored (null: fold the whole stream).
 */
async function foldFromSnapshot(
  ledger: Ledger,
  accountId: string,
  apply: (state: AccountState, event: RecordedEvent) => AccountState,
): Promise<{ loaded: Loaded<AccountState>; snapshotAt: bigint } | null> {
  const snapshots = snapshotsOf(ledger.store);
  if (snapshots === undefined) return null;
  const { accounts } = ledger;
  const streamId = accountStreamId(accountId);
  const snapshot = await snapshots.readSnapshot(streamId);
  if (snapshot === null) return null;
  const reject = (reason: string) => {
    accounts.stats.snapshotsRejected++;
    accounts.warn(
      { accountId, snapshotVersion: snapshot.streamVersion.toString(), reason },
      'account snapshot ignored; folding the whole stream',
    );
    return null;
  };
  if (snapshot.schema !== accountSnapshotSchema) return reject(`schema ${snapshot.schema}`);
  let state: AccountState;
  try {
    state = decodeAccountState(snapshot.state);
  } catch (error) {
    if (error instanceof BadAccountSnapshot) return reject(error.message);
    throw error;
  }
  const page = await ledger.store.readStream(streamId, {
    fromVersion: snapshot.streamVersion,
    limit: loadPageSize,
  });
  const [own] = page;
  if (own === undefined || own.streamVersion !== snapshot.streamVersion)
    return reject('no event at its version');
  if (own.hash !== snapshot.hash) return reject('its hash does not match the chain');
  if (state.id !== accountId) return reject('it is of another account');
  accounts.stats.snapshotsUsed++;
  accounts.stats.eventsRead++;
  let version = snapshot.streamVersion;
  for (const event of page.slice(1)) {
    state = apply(state, event);
    version = event.streamVersion;
  }
  const loaded =
    page.length < loadPageSize
      ? { state, version }
      : await foldStream(ledger.store, streamId, { state, version }, apply);
  return { loaded, snapshotAt: snapshot.streamVersion };
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
  if (peeked !== undefined && peeked.status !== 'none') return peeked;
  // Any load in flight will do: these never change once the account exists.
  const loaded = await ledger.accounts.share(accountId, () => readAccount(ledger, accountId), 'any');
  return loaded.state.status === 'none' ? (await loadAccount(ledger, accountId)).state : loaded.state;
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
