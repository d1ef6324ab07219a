import assert from 'node:assert/strict';
import {
  type AccountState,
  decideTransfer,
  evolveAccount,
  evolveTransfer,
  initialAccountState,
  initialTransferState,
  type LedgerRejection,
  parseLedgerEvent,
  type Transfer,
  type TransferCommand,
  type TransferState,
  type TransferStates,
} from '@ledger/domain/ledger';
import type { EventMetadata, ExpectedVersion, StreamWrite } from '@ledger/eventstore';
import { runCommand, type Step } from '../command-handler.js';
import type { Ledger } from './context.js';
import { parseTransferEvent, readWholeStream, toNew } from './events.js';
import { type Loaded, loadAccount, loadTransfer, peekAccount } from './load.js';
import { accountStreamId, requestStreamId, transferStreamId } from './streams.js';
import { batchable } from './transfer-batcher.js';

/**
 * Transfer commands over the store (DESIGN.md §4): load the streams a command needs, run
 * the pure decider, append everything it decided in ONE atomic append with the versions
 * read as expected versions, through the one command loop (runCommand). Within one process,
 * commands on the same accounts also queue behind each other (the Ledger's KeyedLock), so a
 * burst on one account is serialised instead of colliding.
 */

export type TransferOutcome =
  | {
      /** `replayed`: the same request was made before; `transfer` and `position` are the first answer's. */
      status: 'accepted' | 'replayed';
      transfer: Transfer;
      position: bigint;
    }
  | { status: 'rejected'; rejection: LedgerRejection };

/** The streams a command names before anything is loaded (for the lock). */
async function lockKeysOf(ledger: Ledger, command: TransferCommand): Promise<string[]> {
  const keys = [transferStreamId(command.transferId)];
  if (command.type === 'CreateTransfer') {
    keys.push(accountStreamId(command.debitAccountId), accountStreamId(command.creditAccountId));
    return keys;
  }
  const existingId = command.type === 'ReverseTransfer' ? command.originalTransferId : command.transferId;
  if (command.type === 'ReverseTransfer') keys.push(transferStreamId(existingId));
  const { state } = await loadTransfer(ledger, existingId);
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
async function optimisticStates(ledger: Ledger, command: TransferCommand): Promise<LoadedStates | null> {
  if (command.type !== 'CreateTransfer' || command.debitAccountId === command.creditAccountId) return null;
  const [debit, credit] = await Promise.all(
    [command.debitAccountId, command.creditAccountId].map(
      (id) => peekAccount(ledger, id) ?? loadAccount(ledger, id),
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

async function loadStates(ledger: Ledger, command: TransferCommand): Promise<LoadedStates> {
  const transfer = await loadTransfer(ledger, command.transferId);
  const none: Loaded<AccountState> = { state: initialAccountState(), version: 'no_stream' };
  let debitId: string | null = null;
  let creditId: string | null = null;
  let original: Loaded<TransferState> | null = null;
  if (command.type === 'CreateTransfer') {
    debitId = command.debitAccountId;
    creditId = command.creditAccountId;
  } else if (command.type === 'ReverseTransfer') {
    original = await loadTransfer(ledger, command.originalTransferId);
    if (original.state.status !== 'none') {
      debitId = original.state.creditAccountId;
      creditId = original.state.debitAccountId;
    }
  } else if (transfer.state.status !== 'none') {
    debitId = transfer.state.debitAccountId;
    creditId = transfer.state.creditAccountId;
  }
  const [debit, credit] = await Promise.all([
    debitId === null ? none : loadAccount(ledger, debitId),
    creditId === null || creditId === debitId ? none : loadAccount(ledger, creditId),
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
  ledger: Ledger,
  transferId: string,
): Promise<{ transfer: Transfer; position: bigint }> {
  const [first] = await ledger.store.readStream(transferStreamId(transferId), { limit: 1 });
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

async function readRecordedRequest(ledger: Ledger, requestId: string): Promise<RecordedRequest | null> {
  const [first] = await ledger.store.readStream(requestStreamId(requestId), { limit: 1 });
  if (first === undefined) return null;
  const event = parseLedgerEvent(first);
  assert(event.type === requestRecordedType, `${first.streamId} holds a ${event.type}`);
  const { data } = event;
  return {
    fingerprint: data.fingerprint,
    transferId: data.transferId,
    transferVersion: BigInt(data.transferVersion),
  };
}

/** The answer a post or void gave: the transfer as of the version it wrote, at that event's position. */
async function answerAt(
  ledger: Ledger,
  transferId: string,
  version: bigint,
): Promise<{ transfer: Transfer; position: bigint }> {
  const events = (await readWholeStream(ledger.store, transferStreamId(transferId))).filter(
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
export function runTransferCommand(
  ledger: Ledger,
  command: TransferCommand,
  metadata: EventMetadata,
  request?: TransferRequest,
): Promise<TransferOutcome> {
  // New transfers are decided and appended in batches per account (transfer-batcher.ts).
  if (request === undefined && batchable(command)) return ledger.transfers.submit(ledger, command, metadata);
  return runTransferAlone(ledger, command, metadata, request);
}

/** One transfer command through the command loop on its own (runTransferCommand's). */
export async function runTransferAlone(
  ledger: Ledger,
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
  const keyUsedOtherwise: TransferOutcome = {
    status: 'rejected',
    rejection: { code: 'transfer_exists', transferId: request?.id ?? command.transferId },
  };
  const keys = await lockKeysOf(ledger, command);
  if (request !== undefined) keys.push(requestStreamId(request.id));
  const newEvent = toNew(metadata);
  /**
   * The decision and the states it was made on. On the first attempt a new transfer is
   * decided on assumed states (optimisticStates); nothing but an acceptance is taken from
   * them: the rest is decided again on what is stored (so a refusal is recorded only from
   * what is stored, too).
   */
  const decide = async (attempt: number) => {
    const optimistic = attempt === 0 ? await optimisticStates(ledger, command) : null;
    if (optimistic !== null) {
      const decision = decideTransfer(command, optimistic.states);
      if (decision.status === 'accepted') return { loaded: optimistic, decision };
    }
    const loaded = await loadStates(ledger, command);
    return { loaded, decision: decideTransfer(command, loaded.states) };
  };
  const attempt = async (n: number): Promise<Step<TransferOutcome>> => {
    if (request !== undefined) {
      const recorded = await readRecordedRequest(ledger, request.id);
      if (recorded !== null) {
        if (recorded.fingerprint !== request.fingerprint) {
          return {
            answer: {
              status: 'rejected',
              rejection: { code: 'transfer_exists', transferId: recorded.transferId },
            },
          };
        }
        return {
          answer: {
            status: 'replayed',
            ...(await answerAt(ledger, recorded.transferId, recorded.transferVersion)),
          },
        };
      }
    }
    const { loaded, decision } = await decide(n);
    const { states, versions, ids } = loaded;
    /** The key's other use conflicted: that answers; any other conflict is decided again. */
    const onConflict = (error: { streamId: string }) =>
      error.streamId === otherUseOfKey ? keyUsedOtherwise : undefined;
    if (decision.status === 'rejected') {
      const { rejection, record } = decision;
      if (record === undefined) return { answer: { status: 'rejected', rejection } };
      // A create's business refusal is recorded, so the same request answers it again
      // whatever changes later: on the new transfer's stream, created with no_stream as an
      // acceptance would be, so of two racing deciders (one refusing, one accepting, or
      // both refusing) one outcome is stored and the other is decided again on it. No
      // account is written or checked: a refusal moves nothing, and it was right for the
      // states read just now.
      assert(versions.transfer === 'no_stream', 'only a new transfer is refused with a record');
      return {
        writes: [
          ...(otherUseOfKey === null
            ? []
            : [{ streamId: otherUseOfKey, expectedVersion: 'no_stream' as const, events: [] }]),
          {
            streamId: transferStreamId(command.transferId),
            expectedVersion: 'no_stream',
            events: record.map(newEvent),
          },
        ],
        done: () => ({ status: 'rejected', rejection }),
        onConflict,
      };
    }
    if (decision.status === 'replayed')
      return { answer: { status: 'replayed', ...(await firstAnswer(ledger, command.transferId)) } };
    const { events } = decision;
    const writes: StreamWrite[] = [];
    assert(ids.debit !== null && ids.credit !== null, 'accepted transfers name both accounts');
    const debitId = ids.debit;
    const creditId = ids.credit;
    writes.push({
      streamId: accountStreamId(debitId),
      expectedVersion: versions.debit,
      events: events.debit.map(newEvent),
    });
    writes.push({
      streamId: accountStreamId(creditId),
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
    return {
      writes,
      done: (result) => {
        // The first two writes are the debit and the credit account, in that order.
        for (const [i, id, state, accountEvents] of [
          [0, debitId, states.debit, events.debit],
          [1, creditId, states.credit, events.credit],
        ] as const) {
          const version = result.streams[i]?.version;
          assert(version !== undefined && result.streams[i]?.streamId === accountStreamId(id));
          ledger.accounts.remember(id, { state: accountEvents.reduce(evolveAccount, state), version });
        }
        const transfer = events.transfer.reduce(evolveTransfer, states.transfer);
        assert(transfer.status !== 'none');
        return { status: 'accepted', transfer, position: result.position };
      },
      onConflict,
    };
  };
  return ledger.locks.run(keys, () => runCommand(ledger.store, attempt, { deadline: ledger.deadline }));
}
