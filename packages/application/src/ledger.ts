import assert from 'node:assert/strict';
import { createHash, randomInt, randomUUID } from 'node:crypto';
import {
  type Account,
  type AccountCommand,
  type AccountEvent,
  type AccountState,
  accountEventTypes,
  type BankAccountType,
  bankAccountTypes,
  type Currency,
  type CustomerAccountType,
  decideAccount,
  decideTransfer,
  evolveAccount,
  evolveTransfer,
  initialAccountState,
  initialTransferState,
  type LedgerRejection,
  type Transfer,
  type TransferCommand,
  type TransferEvent,
  type TransferState,
  type TransferStates,
  transferEventTypes,
} from '@ledger/domain/ledger';
import {
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  type NewEvent,
  type RecordedEvent,
  type StreamWrite,
  WrongExpectedVersion,
} from '@ledger/eventstore';
import { type Folded, foldStream } from './command-handler.js';
import { cashDeskFor } from './settings.js';

/**
 * Ledger commands over the event store (DESIGN.md §4): load the streams a command needs,
 * run the pure decider, append everything it decided in ONE atomic append with the
 * versions read as expected versions. Another writer in between makes the append fail
 * with WrongExpectedVersion; the command is then loaded and decided again (bounded, with
 * jitter). Within one process, commands on the same accounts also queue behind each other
 * (a keyed lock), so a burst on one account is serialised instead of colliding: the
 * expected versions stay what makes it correct across processes.
 */

export const ledgerEventSchemaVersion = 1;

export const accountStreamId = (accountId: string) => `account-${accountId}`;
export const transferStreamId = (transferId: string) => `transfer-${transferId}`;
/** Reserves an account number for one account: created with expected no_stream. */
export const accountNumberStreamId = (accountNumber: string) => `account-number-${accountNumber}`;
/** One event per account a customer opens: makes "second account needs KYC" race-free. */
export const customerAccountsStreamId = (userId: string) => `customer-accounts-${userId}`;
/**
 * Records one post or void request under its (caller, Idempotency-Key) id, created with
 * no_stream in the same append as the transfer's event: a retry of the request finds it.
 */
export const requestStreamId = (requestId: string) => `request-${requestId}`;

/** Attempts after the first when another writer appended to one of the streams. */
export const ledgerRetriesMax = 50;
const retryJitterMsMax = 10;
/** Page size when folding a long stream (an account holds one event per leg). */

// ---------------------------------------------------------------------------------------
// Ids and account numbers

/** Fixed namespace of transfer ids derived from (caller, Idempotency-Key). */
const transferIdNamespace = '6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b';
/** Fixed namespace of the bank-owned accounts' ids. */
const bankAccountIdNamespace = '0b7e4c1d-9f2a-5b3c-8d4e-5f6a7b8c9d0e';

/** RFC 9562 UUIDv5 (SHA-1, name-based): the same inputs always give the same id. */
export function uuidv5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  assert.equal(ns.length, 16, 'namespace is a UUID');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The transfer id of a money-moving request (API.md): scoped to the caller, so one
 * caller's key never reaches another caller's transfer.
 */
export function transferIdFor(callerId: string, idempotencyKey: string): string {
  return uuidv5(transferIdNamespace, `${callerId.toLowerCase()}:${idempotencyKey.toLowerCase()}`);
}

/** The bank-owned account of a type in a currency: one per (currency, type), fixed id. */
export function bankAccountId(currency: Currency, type: BankAccountType): string {
  return uuidv5(bankAccountIdNamespace, `${currency}:${type}`);
}

/** Account numbers: bank prefix, random digits, 2 ISO 7064 MOD 97-10 check digits. */
export const accountNumberPrefix = '7300';
const accountNumberRandomDigits = 12;
export const accountNumberLength = accountNumberPrefix.length + accountNumberRandomDigits + 2;
const accountNumberPattern = new RegExp(`^[0-9]{${accountNumberLength}}$`);

function mod97(digits: string): number {
  let remainder = 0;
  for (const digit of digits) remainder = (remainder * 10 + Number(digit)) % 97;
  return remainder;
}

/** ISO 7064 MOD 97-10 check digits of `digits` (as IBANs use them: the whole number ≡ 1 mod 97). */
export function checkDigits(digits: string): string {
  return String(98 - mod97(`${digits}00`)).padStart(2, '0');
}

export function makeAccountNumber(): string {
  let body = accountNumberPrefix;
  for (let i = 0; i < accountNumberRandomDigits; i++) body += String(randomInt(10));
  return body + checkDigits(body);
}

export type ParsedAccountNumber =
  | { ok: true; accountNumber: string }
  | { ok: false; reason: 'malformed' | 'check_digits' };

/**
 * Spaces are allowed for readability ("7300 1234 5678 9012 34"); a single mistyped digit
 * or two swapped neighbours change the remainder, so the check digits catch them.
 */
export function parseAccountNumber(text: string): ParsedAccountNumber {
  if (text.length > accountNumberLength * 2) return { ok: false, reason: 'malformed' };
  const compact = text.replaceAll(' ', '');
  if (!accountNumberPattern.test(compact) || !compact.startsWith(accountNumberPrefix)) {
    return { ok: false, reason: 'malformed' };
  }
  return mod97(compact) === 1 ? { ok: true, accountNumber: compact } : { ok: false, reason: 'check_digits' };
}

// ---------------------------------------------------------------------------------------
// Loading streams

const accountEventTypeSet = new Set<string>(accountEventTypes);
const transferEventTypeSet = new Set<string>(transferEventTypes);

/** Events come from our own writers; a foreign type in a ledger stream is a corrupt store. */
export function parseAccountEvent(recorded: Pick<RecordedEvent, 'type' | 'data'>): AccountEvent {
  assert(accountEventTypeSet.has(recorded.type), `${recorded.type} is not an account event`);
  assert(typeof recorded.data === 'object' && recorded.data !== null, 'account event data is an object');
  return { type: recorded.type, data: recorded.data } as AccountEvent;
}

export function parseTransferEvent(recorded: Pick<RecordedEvent, 'type' | 'data'>): TransferEvent {
  assert(transferEventTypeSet.has(recorded.type), `${recorded.type} is not a transfer event`);
  assert(typeof recorded.data === 'object' && recorded.data !== null, 'transfer event data is an object');
  return { type: recorded.type, data: recorded.data } as TransferEvent;
}

/** Every event of a stream, paging past the store's read limit. */
export async function readWholeStream(store: EventStore, streamId: string): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  await foldStream(store, streamId, { state: all, version: 'no_stream' }, (events, event) => {
    events.push(event);
    return events;
  });
  return all;
}

export type Loaded<S> = Folded<S>;

const versionOf = (events: readonly RecordedEvent[]): bigint | 'no_stream' =>
  events.length === 0 ? 'no_stream' : events[events.length - 1]!.streamVersion;

/**
 * Folded account states by store, most recently used last. Streams are append-only and
 * states immutable, so a cached fold is only ever behind: loading reads just the events
 * after it. Without this, every deposit would re-read the cash account's whole history.
 */
const accountCaches = new WeakMap<EventStore, Map<string, Loaded<AccountState>>>();
export const accountCacheSizeMax = 10_000;

export async function loadAccount(store: EventStore, accountId: string): Promise<Loaded<AccountState>> {
  const loaded = await foldStream(
    store,
    accountStreamId(accountId),
    peekAccount(store, accountId) ?? { state: initialAccountState(), version: 'no_stream' },
    (folded, event) => evolveAccount(folded, parseAccountEvent(event)),
  );
  rememberAccount(store, accountId, loaded);
  return loaded;
}

/**
 * The cached fold of an account, without reading the store: possibly behind, when another
 * process appended since. Only for what may be decided on optimistically (the append's
 * expected version catches a stale state), or for what never changes (owner, currency).
 */
export function peekAccount(store: EventStore, accountId: string): Loaded<AccountState> | undefined {
  return accountCaches.get(store)?.get(accountId);
}

/**
 * Keeps a fold (loaded, or just appended by this process), most recently used last. Only
 * forward: a load that started before a concurrent append may end after it.
 */
function rememberAccount(store: EventStore, accountId: string, loaded: Loaded<AccountState>): void {
  if (loaded.version === 'no_stream') return;
  const cache = accountCaches.get(store) ?? new Map<string, Loaded<AccountState>>();
  accountCaches.set(store, cache);
  const cached = cache.get(accountId);
  if (cached !== undefined && cached.version !== 'no_stream' && cached.version > loaded.version) return;
  cache.delete(accountId);
  cache.set(accountId, loaded);
  if (cache.size > accountCacheSizeMax) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
}

/** The owner of a customer account (null: no such account, or a bank-owned one). Owners never change. */
export async function accountOwnerOf(store: EventStore, accountId: string): Promise<string | null> {
  const peeked = peekAccount(store, accountId)?.state;
  const state =
    peeked?.status === undefined || peeked.status === 'none'
      ? (await loadAccount(store, accountId)).state
      : peeked;
  return state.status !== 'none' && state.kind === 'customer' ? state.ownerId : null;
}

export async function loadTransfer(store: EventStore, transferId: string): Promise<Loaded<TransferState>> {
  const events = await readWholeStream(store, transferStreamId(transferId));
  const state = events.map(parseTransferEvent).reduce(evolveTransfer, initialTransferState());
  return { state, version: versionOf(events) };
}

/** The account a number is reserved for (strongly consistent: no projection lag). */
export async function findAccountIdByNumber(
  store: EventStore,
  accountNumber: string,
): Promise<string | null> {
  const [first] = await store.readStream(accountNumberStreamId(accountNumber), { limit: 1 });
  if (!first) return null;
  const data = first.data as { accountId?: unknown };
  assert(typeof data.accountId === 'string', `${first.streamId} holds no account id`);
  return data.accountId;
}

/** The account number of an account (bank-owned accounts have none). */
export async function accountNumberOf(store: EventStore, accountId: string): Promise<string | null> {
  const [first] = await store.readStream(accountStreamId(accountId), { limit: 1 });
  if (!first) return null;
  const data = first.data as { accountNumber?: unknown };
  return typeof data.accountNumber === 'string' ? data.accountNumber : null;
}

/** The ids of the accounts a customer opened, in order. */
export async function customerAccountIds(store: EventStore, userId: string): Promise<string[]> {
  const events = await readWholeStream(store, customerAccountsStreamId(userId));
  return events.map((e) => (e.data as { accountId: string }).accountId);
}

// ---------------------------------------------------------------------------------------
// In-process keyed lock

const lockTails = new Map<string, Promise<void>>();

/** Runs `fn` holding every key; keys are taken in sorted order, so two callers never deadlock. */
async function withLocks<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  const releases: (() => void)[] = [];
  try {
    for (const key of sorted) {
      const previous = lockTails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = previous.then(() => mine);
      lockTails.set(key, tail);
      releases.push(() => {
        release();
        if (lockTails.get(key) === tail) lockTails.delete(key);
      });
      await previous;
    }
    return await fn();
  } finally {
    for (const release of releases.reverse()) release();
  }
}

const jitter = (attempt: number) =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * retryJitterMsMax * Math.min(attempt + 1, 5)));

const toNew =
  (metadata: EventMetadata) =>
  (event: { type: string; data: unknown }): NewEvent => ({
    type: event.type,
    schemaVersion: ledgerEventSchemaVersion,
    data: event.data,
    metadata,
  });

// ---------------------------------------------------------------------------------------
// Accounts

export interface OpenCustomerAccountCommand {
  ownerId: string;
  accountType: CustomerAccountType;
  currency: Currency;
  /** The owner's KYC: a second account needs it verified. */
  kycVerified: boolean;
  now: Date;
}

export type OpenAccountResult =
  | { ok: true; account: Account; accountNumber: string; position: bigint }
  | { ok: false; code: 'kyc_required' };

/**
 * Opens a customer account: AccountOpened (with its account number), the number's
 * reservation and the owner's account list in one append. The list is appended with its
 * expected version, so two concurrent "first accounts" cannot both skip the KYC check.
 */
export async function openCustomerAccount(
  store: EventStore,
  command: OpenCustomerAccountCommand,
  metadata: EventMetadata,
): Promise<OpenAccountResult> {
  await ensureBankAccounts(store, command.currency, command.now, metadata);
  const accountId = randomUUID();
  for (let attempt = 0; ; attempt++) {
    const owned = await readWholeStream(store, customerAccountsStreamId(command.ownerId));
    if (owned.length >= 1 && !command.kycVerified) return { ok: false, code: 'kyc_required' };
    const decision = decideAccount(
      {
        type: 'OpenCustomerAccount',
        accountId,
        ownerId: command.ownerId,
        accountType: command.accountType,
        currency: command.currency,
        now: command.now,
      },
      initialAccountState(),
    );
    assert(decision.status === 'accepted', `opening a fresh account id was refused: ${decision.status}`);
    const accountNumber = makeAccountNumber();
    const [opened] = decision.events;
    assert(opened?.type === 'AccountOpened');
    const newEvent = toNew(metadata);
    try {
      const result = await store.append([
        {
          streamId: accountStreamId(accountId),
          expectedVersion: 'no_stream',
          // The number rides along in AccountOpened's data, so the read model needs no join.
          events: [newEvent({ type: opened.type, data: { ...opened.data, accountNumber } })],
        },
        {
          streamId: accountNumberStreamId(accountNumber),
          expectedVersion: 'no_stream',
          events: [newEvent({ type: 'AccountNumberAssigned', data: { accountNumber, accountId } })],
        },
        {
          streamId: customerAccountsStreamId(command.ownerId),
          expectedVersion: versionOf(owned),
          events: [
            newEvent({
              type: 'CustomerAccountAdded',
              data: { userId: command.ownerId, accountId, accountNumber },
            }),
          ],
        },
      ]);
      const account = evolveAccount(initialAccountState(), opened);
      assert(account.status !== 'none');
      return { ok: true, account, accountNumber, position: result.position };
    } catch (error) {
      // Another account of the owner, or (very rarely) the same random number: try again.
      if (!(error instanceof WrongExpectedVersion) || attempt >= ledgerRetriesMax) throw error;
      await jitter(attempt);
    }
  }
}

const ensuredCurrencies = new WeakMap<EventStore, Set<Currency>>();

/**
 * Opens the bank-owned accounts of a currency (cash, clearing, fee-income, suspense) that
 * do not exist yet. Idempotent: fixed ids, appended with no_stream; a concurrent opener
 * winning the race is the same outcome.
 */
export async function ensureBankAccounts(
  store: EventStore,
  currency: Currency,
  now: Date,
  metadata: EventMetadata,
): Promise<void> {
  const done = ensuredCurrencies.get(store) ?? new Set<Currency>();
  ensuredCurrencies.set(store, done);
  if (done.has(currency)) return;
  for (const type of bankAccountTypes) {
    const accountId = bankAccountId(currency, type);
    const { state, version } = await loadAccount(store, accountId);
    const decision = decideAccount(
      { type: 'OpenBankAccount', accountId, accountType: type, currency, now },
      state,
    );
    if (decision.status === 'replayed') continue;
    assert(decision.status === 'accepted', `bank account ${currency} ${type}: ${decision.status}`);
    try {
      await store.append([
        {
          streamId: accountStreamId(accountId),
          expectedVersion: version,
          events: decision.events.map(toNew(metadata)),
        },
      ]);
    } catch (error) {
      if (!(error instanceof WrongExpectedVersion)) throw error;
    }
  }
  done.add(currency);
}

export type AccountOutcome =
  | { ok: true; account: Account; position: bigint | null }
  | { ok: false; rejection: LedgerRejection };

/** Freeze, unfreeze, close: one account stream, retried on concurrent writes. */
export async function runAccountCommand(
  store: EventStore,
  command: Extract<AccountCommand, { type: 'FreezeAccount' | 'UnfreezeAccount' | 'CloseAccount' }>,
  metadata: EventMetadata,
): Promise<AccountOutcome> {
  return withLocks([accountStreamId(command.accountId)], async () => {
    for (let attempt = 0; ; attempt++) {
      const { state, version } = await loadAccount(store, command.accountId);
      const decision = decideAccount(command, state);
      if (decision.status === 'rejected') return { ok: false, rejection: decision.rejection };
      assert(decision.status === 'accepted' && state.status !== 'none', 'only opening replays');
      if (decision.events.length === 0) return { ok: true, account: state, position: null };
      try {
        const result = await store.append([
          {
            streamId: accountStreamId(command.accountId),
            expectedVersion: version,
            events: decision.events.map(toNew(metadata)),
          },
        ]);
        const account = decision.events.reduce(evolveAccount, state as AccountState);
        assert(account.status !== 'none');
        return { ok: true, account, position: result.position };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersion) || attempt >= ledgerRetriesMax) throw error;
        await jitter(attempt);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------
// Transfers

export type TransferOutcome =
  | {
      /** `replayed`: the same request was made before; `transfer` and `position` are the first answer's. */
      status: 'accepted' | 'replayed';
      transfer: Transfer;
      position: bigint;
    }
  | { status: 'rejected'; rejection: LedgerRejection };

/** The streams a command names before anything is loaded (for the lock). */
async function lockKeysOf(store: EventStore, command: TransferCommand): Promise<string[]> {
  const keys = [transferStreamId(command.transferId)];
  if (command.type === 'CreateTransfer') {
    keys.push(accountStreamId(command.debitAccountId), accountStreamId(command.creditAccountId));
    return keys;
  }
  const existingId = command.type === 'ReverseTransfer' ? command.originalTransferId : command.transferId;
  if (command.type === 'ReverseTransfer') keys.push(transferStreamId(existingId));
  const { state } = await loadTransfer(store, existingId);
  if (state.status !== 'none') {
    keys.push(accountStreamId(state.debitAccountId), accountStreamId(state.creditAccountId));
  }
  return keys;
}

interface LoadedStates {
  states: TransferStates;
  versions: {
    transfer: ExpectedVersion;
    debit: ExpectedVersion;
    credit: ExpectedVersion;
    original: ExpectedVersion;
  };
  ids: { debit: string | null; credit: string | null; original: string | null };
}

/**
 * A new transfer decided without reading what it can assume: its stream does not exist yet
 * (expected no_stream), and an account this process holds a fold of is as cached; only an
 * account not cached is loaded. Wrong only when another process wrote meanwhile (or the
 * transfer exists: a replay); the append then fails on its expected versions, and a
 * rejection is never answered from it, so either way the command is decided again on what
 * is stored.
 */
async function optimisticStates(store: EventStore, command: TransferCommand): Promise<LoadedStates | null> {
  if (command.type !== 'CreateTransfer' || command.debitAccountId === command.creditAccountId) return null;
  const [debit, credit] = await Promise.all(
    [command.debitAccountId, command.creditAccountId].map(
      (id) => peekAccount(store, id) ?? loadAccount(store, id),
    ),
  );
  return {
    states: { transfer: initialTransferState(), debit: debit!.state, credit: credit!.state },
    versions: {
      transfer: 'no_stream',
      debit: debit!.version,
      credit: credit!.version,
      original: 'no_stream',
    },
    ids: { debit: command.debitAccountId, credit: command.creditAccountId, original: null },
  };
}

async function loadStates(store: EventStore, command: TransferCommand): Promise<LoadedStates> {
  const transfer = await loadTransfer(store, command.transferId);
  const none: Loaded<AccountState> = { state: initialAccountState(), version: 'no_stream' };
  let debitId: string | null = null;
  let creditId: string | null = null;
  let original: Loaded<TransferState> | null = null;
  if (command.type === 'CreateTransfer') {
    debitId = command.debitAccountId;
    creditId = command.creditAccountId;
  } else if (command.type === 'ReverseTransfer') {
    original = await loadTransfer(store, command.originalTransferId);
    if (original.state.status !== 'none') {
      debitId = original.state.creditAccountId;
      creditId = original.state.debitAccountId;
    }
  } else if (transfer.state.status !== 'none') {
    debitId = transfer.state.debitAccountId;
    creditId = transfer.state.creditAccountId;
  }
  const [debit, credit] = await Promise.all([
    debitId === null ? none : loadAccount(store, debitId),
    creditId === null || creditId === debitId ? none : loadAccount(store, creditId),
  ]);
  return {
    states: {
      transfer: transfer.state,
      debit: debit.state,
      credit: creditId === debitId ? debit.state : credit.state,
      ...(original === null ? {} : { original: original.state }),
    },
    versions: {
      transfer: transfer.version,
      debit: debit.version,
      credit: credit.version,
      original: original?.version ?? 'no_stream',
    },
    ids: {
      debit: debitId,
      credit: creditId,
      original:
        original === null ? null : command.type === 'ReverseTransfer' ? command.originalTransferId : null,
    },
  };
}

/** The answer to a replay: the transfer as its first event made it, at that event's position. */
async function firstAnswer(
  store: EventStore,
  transferId: string,
): Promise<{ transfer: Transfer; position: bigint }> {
  const [first] = await store.readStream(transferStreamId(transferId), { limit: 1 });
  assert(first !== undefined, `replayed transfer ${transferId} has no stream`);
  const transfer = evolveTransfer(initialTransferState(), parseTransferEvent(first));
  // A refused create is answered by the decider (its recorded refusal), never replayed.
  assert(
    transfer.status !== 'none' && transfer.status !== 'rejected',
    `replay of a ${transfer.status} transfer`,
  );
  return { transfer, position: first.globalPosition };
}

/**
 * An Idempotency-Key on a command that acts on an existing transfer (post, void). Creating
 * commands need none: their transfer id is derived from the key, so the transfer's own
 * stream is the record.
 */
export interface TransferRequest {
  /** transferIdFor(caller, key): the key's id, scoped to the caller. */
  id: string;
  /** What the request asks (action, transfer, amount): a replay must ask the same. */
  fingerprint: string;
}

const requestRecordedType = 'TransferRequestRecorded';

interface RecordedRequest {
  fingerprint: string;
  transferId: string;
  /** The transfer's stream version the request wrote: the answer is the transfer as of it. */
  transferVersion: bigint;
}

async function readRecordedRequest(store: EventStore, requestId: string): Promise<RecordedRequest | null> {
  const [first] = await store.readStream(requestStreamId(requestId), { limit: 1 });
  if (first === undefined) return null;
  assert.equal(first.type, requestRecordedType, `${first.streamId} holds a ${first.type}`);
  const data = first.data as { fingerprint: string; transferId: string; transferVersion: string };
  return {
    fingerprint: data.fingerprint,
    transferId: data.transferId,
    transferVersion: BigInt(data.transferVersion),
  };
}

/** The answer a post or void gave: the transfer as of the version it wrote, at that event's position. */
async function answerAt(
  store: EventStore,
  transferId: string,
  version: bigint,
): Promise<{ transfer: Transfer; position: bigint }> {
  const events = (await readWholeStream(store, transferStreamId(transferId))).filter(
    (event) => event.streamVersion <= version,
  );
  const last = events.at(-1);
  assert(last !== undefined && last.streamVersion === version, `${transferId} has no version ${version}`);
  const transfer = events.map(parseTransferEvent).reduce(evolveTransfer, initialTransferState());
  assert(transfer.status !== 'none');
  return { transfer, position: last.globalPosition };
}

/**
 * Runs a transfer command: create (single- or two-phase), post, void, expire, reverse.
 * The transfer stream is written last in the append, so the append's position is that of
 * the transfer's own event, and a replay answers with the very same position.
 *
 * A create's business refusal (the decider's `record`: a 422 that depends on accounts,
 * settings or KYC) is recorded as TransferRefused on the transfer's stream, and the same
 * create again is answered that refusal; another create with the key is `transfer_exists`.
 *
 * `request` (post and void from the API): the same key asking the same thing again
 * answers what the first request answered (`replayed`); asking something else is
 * `transfer_exists` (409 idempotency_conflict). A rejected post or void records nothing.
 *
 * One key, one request, whatever the endpoint: a caller's key names both a transfer
 * (`transfer-<id>`, made by a create or a reversal) and a post/void request
 * (`request-<id>`), with the same id. Each append therefore also expects the other stream
 * not to exist (a write with no events: checked under its lock, nothing stored), so a key
 * used for one is `transfer_exists` when reused for the other, even when the two race.
 */
export async function runTransferCommand(
  store: EventStore,
  command: TransferCommand,
  metadata: EventMetadata,
  request?: TransferRequest,
): Promise<TransferOutcome> {
  assert(
    request === undefined || command.type === 'PostPendingTransfer' || command.type === 'VoidPendingTransfer',
    'only post and void carry a separate request record',
  );
  // The key that created this very transfer cannot also post or void it.
  if (request !== undefined && request.id === command.transferId) {
    return { status: 'rejected', rejection: { code: 'transfer_exists', transferId: request.id } };
  }
  // The stream that must not exist for this key's request to be its first use.
  const otherUseOfKey =
    request !== undefined
      ? transferStreamId(request.id)
      : command.type === 'CreateTransfer' || command.type === 'ReverseTransfer'
        ? requestStreamId(command.transferId)
        : null;
  const keys = await lockKeysOf(store, command);
  if (request !== undefined) keys.push(requestStreamId(request.id));
  return withLocks(keys, async () => {
    for (let attempt = 0; ; attempt++) {
      if (request !== undefined) {
        const recorded = await readRecordedRequest(store, request.id);
        if (recorded !== null) {
          if (recorded.fingerprint !== request.fingerprint) {
            return {
              status: 'rejected',
              rejection: { code: 'transfer_exists', transferId: recorded.transferId },
            };
          }
          return {
            status: 'replayed',
            ...(await answerAt(store, recorded.transferId, recorded.transferVersion)),
          };
        }
      }
      const optimistic = attempt === 0 ? await optimisticStates(store, command) : null;
      const { states, versions, ids } = optimistic ?? (await loadStates(store, command));
      const decision = decideTransfer(command, states);
      // Nothing but an acceptance is decided on assumed states: decide the rest again on what
      // is stored (so a refusal is recorded only from what is stored, too).
      if (optimistic !== null && decision.status !== 'accepted') continue;
      const newEvent = toNew(metadata);
      /** The append failed: answer (the key's other use), retry (null), or throw. */
      const onAppendError = async (error: unknown): Promise<TransferOutcome | null> => {
        if (error instanceof WrongExpectedVersion && error.streamId === otherUseOfKey) {
          return {
            status: 'rejected',
            rejection: { code: 'transfer_exists', transferId: request?.id ?? command.transferId },
          };
        }
        if (!(error instanceof WrongExpectedVersion) || attempt >= ledgerRetriesMax) throw error;
        await jitter(attempt);
        return null;
      };
      if (decision.status === 'rejected') {
        const { rejection, record } = decision;
        if (record === undefined) return { status: 'rejected', rejection };
        // A create's business refusal is recorded, so the same request answers it again
        // whatever changes later: on the new transfer's stream, created with no_stream as an
        // acceptance would be, so of two racing deciders (one refusing, one accepting, or
        // both refusing) one outcome is stored and the other is decided again on it. No
        // account is written or checked: a refusal moves nothing, and it was right for the
        // states read just now.
        assert(versions.transfer === 'no_stream', 'only a new transfer is refused with a record');
        try {
          await store.append([
            ...(otherUseOfKey === null
              ? []
              : [{ streamId: otherUseOfKey, expectedVersion: 'no_stream' as const, events: [] }]),
            {
              streamId: transferStreamId(command.transferId),
              expectedVersion: 'no_stream',
              events: record.map(newEvent),
            },
          ]);
          return { status: 'rejected', rejection };
        } catch (error) {
          const answer = await onAppendError(error);
          if (answer !== null) return answer;
          continue;
        }
      }
      if (decision.status === 'replayed')
        return { status: 'replayed', ...(await firstAnswer(store, command.transferId)) };
      const { events } = decision;
      const writes: StreamWrite[] = [];
      assert(ids.debit !== null && ids.credit !== null, 'accepted transfers name both accounts');
      writes.push({
        streamId: accountStreamId(ids.debit),
        expectedVersion: versions.debit,
        events: events.debit.map(newEvent),
      });
      writes.push({
        streamId: accountStreamId(ids.credit),
        expectedVersion: versions.credit,
        events: events.credit.map(newEvent),
      });
      if (events.original.length > 0) {
        assert(ids.original !== null, 'only reversals write the original');
        writes.push({
          streamId: transferStreamId(ids.original),
          expectedVersion: versions.original,
          events: events.original.map(newEvent),
        });
      }
      if (request !== undefined) {
        assert(typeof versions.transfer === 'bigint', 'post and void act on an existing transfer');
        writes.push({
          streamId: requestStreamId(request.id),
          expectedVersion: 'no_stream',
          events: [
            newEvent({
              type: requestRecordedType,
              data: {
                requestId: request.id,
                fingerprint: request.fingerprint,
                transferId: command.transferId,
                transferVersion: String(versions.transfer + BigInt(events.transfer.length)),
              },
            }),
          ],
        });
      }
      if (otherUseOfKey !== null)
        writes.push({ streamId: otherUseOfKey, expectedVersion: 'no_stream', events: [] });
      writes.push({
        streamId: transferStreamId(command.transferId),
        expectedVersion: versions.transfer,
        events: events.transfer.map(newEvent),
      });
      try {
        const result = await store.append(writes);
        // The first two writes are the debit and the credit account, in that order.
        for (const [i, id, state, accountEvents] of [
          [0, ids.debit, states.debit, events.debit],
          [1, ids.credit, states.credit, events.credit],
        ] as const) {
          const version = result.streams[i]?.version;
          assert(version !== undefined && result.streams[i]?.streamId === accountStreamId(id));
          rememberAccount(store, id, { state: accountEvents.reduce(evolveAccount, state), version });
        }
        const transfer = events.transfer.reduce(evolveTransfer, states.transfer);
        assert(transfer.status !== 'none');
        return { status: 'accepted', transfer, position: result.position };
      } catch (error) {
        const answer = await onAppendError(error);
        if (answer !== null) return answer;
      }
    }
  });
}

// ---------------------------------------------------------------------------------------
// The cash desk

export interface CashTransferCommand {
  /** Derived from (caller, Idempotency-Key), as for every money movement. */
  transferId: string;
  /** The member of staff at the desk (the request's principal). */
  staffId: string;
  type: 'deposit' | 'withdrawal';
  /** The customer's account the cash goes into or comes out of. */
  accountId: string;
  amount: bigint;
  currency: Currency;
  reference: string | null;
  now: Date;
}

/**
 * A deposit (cash → the account) or a withdrawal (the account → cash) at the desk: single-
 * phase, against the bank's cash account of the currency, decided with the desk's context
 * (the member of staff, never on an account they own; the settings' cashApprovalMin). An
 * account that is not a customer's is account_not_found before anything is written, not
 * even the currency's bank accounts.
 */
export async function createCashTransfer(
  store: EventStore,
  command: CashTransferCommand,
  metadata: EventMetadata,
): Promise<TransferOutcome> {
  const account =
    peekAccount(store, command.accountId)?.state ?? (await loadAccount(store, command.accountId)).state;
  if (account.status === 'none' || account.kind !== 'customer') {
    return { status: 'rejected', rejection: { code: 'account_not_found', accountId: command.accountId } };
  }
  await ensureBankAccounts(store, command.currency, command.now, metadata);
  const cash = bankAccountId(command.currency, 'cash');
  const deposit = command.type === 'deposit';
  return runTransferCommand(
    store,
    {
      type: 'CreateTransfer',
      transferId: command.transferId,
      debitAccountId: deposit ? cash : command.accountId,
      creditAccountId: deposit ? command.accountId : cash,
      amount: command.amount,
      currency: command.currency,
      code: command.type,
      mode: 'single-phase',
      reference: command.reference,
      desk: await cashDeskFor(store, { staffId: command.staffId, currency: command.currency }),
      now: command.now,
    },
    metadata,
  );
}
