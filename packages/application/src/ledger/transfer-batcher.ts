import assert from 'node:assert/strict';
import {
  type AccountState,
  decideTransfer,
  evolveAccount,
  evolveTransfer,
  initialTransferState,
  type TransferCommand,
} from '@ledger/domain/ledger';
import {
  type AppendDeadline,
  type AppendResult,
  type EventMetadata,
  limits,
  type StreamWrite,
  WrongExpectedVersion,
} from '@ledger/eventstore';
import { commandRetry, retryPause } from '../command-handler.js';
import type { Ledger } from './context.js';
import { toNew } from './events.js';
import { loadAccount, peekAccount } from './load.js';
import { accountStreamId, requestStreamId, transferStreamId } from './streams.js';
import type { TransferOutcome } from './transfers.js';

/**
 * Hot accounts (docs/design.md, TigerBeetle's batching): new transfers are decided in memory,
 * in arrival order, against one fold of their accounts, and appended together in ONE atomic
 * append: each account stream once, with every leg of the batch and the version the batch
 * read as its expected version; each transfer's own stream with no_stream. A merchant's or
 * the bank's cash account then pays one round trip per batch, not one per transfer, while
 * every request still gets its own outcome (its transfer's own position; a refusal; a
 * rejection).
 *
 * Only creates take this path (CreateTransfer of two distinct accounts, no separate request
 * record); posts, voids, reversals and reviews run alone (runTransferAlone). Both paths take
 * the ledger's KeyedLock on the streams they write, so in one process they exclude each
 * other, and batches in flight at once never share an account or a transfer: per account,
 * commands are decided in the order they arrived.
 *
 * Whatever fails is decided again, never guessed:
 *   - an account another process wrote meanwhile (its expected version): the batch is
 *     decided again on the accounts as stored, after the command loop's pause;
 *   - a transfer stream that exists already (the same request again, or its key used for a
 *     post or void): that command leaves the batch and runs alone, where the stored stream
 *     answers it (replayed, refused, transfer_exists); the rest are decided again at once;
 *   - a request whose deadline passed before the append was sent: it leaves the batch with
 *     its deadline's reason, appending nothing; the rest go on;
 *   - a command whose deciding throws (a poisoned command): it alone gets the error;
 *   - any other failure of the append (a store error, a lost connection): every command of
 *     the batch runs alone, so one bad command cannot fail the others, and a batch whose
 *     commit was lost in flight is found on each transfer's stream (replayed).
 */

/** The bounds of batching: commands per batch, batches in flight, commands waiting. */
export const transferBatching = {
  /** Commands in one batch (each write of the append is counted too: limits.writesPerAppendMax). */
  commandsMax: 32,
  /**
   * Batches in flight at once in one process (their accounts are disjoint). Most are one
   * command: only commands on a shared account are batched together.
   */
  inFlightMax: 256,
  /** Commands waiting at most; past it a command runs alone (behind the same locks). */
  queueMax: 4096,
  /** How far down the queue one batch looks for commands on accounts not yet taken. */
  scanMax: 1024,
  /** Conflicts a batch is decided again after at once, before the command loop's jittered pauses. */
  retriesBeforePause: 3,
} as const;

export type CreateCommand = TransferCommand & { type: 'CreateTransfer' };

/** Runs one command alone (the command loop of transfers.ts): the batch's fallback. */
export type RunAlone = (
  ledger: Ledger,
  command: TransferCommand,
  metadata: EventMetadata,
) => Promise<TransferOutcome>;

interface Member {
  ledger: Ledger;
  command: CreateCommand;
  metadata: EventMetadata;
  /** Streams this command names: its two accounts, its transfer, its key's request. */
  keys: string[];
  resolve(outcome: TransferOutcome): void;
  reject(error: unknown): void;
}

/** Whether a command can be batched: a create of two distinct accounts. */
export function batchable(command: TransferCommand): command is CreateCommand {
  return command.type === 'CreateTransfer' && command.debitAccountId !== command.creditAccountId;
}

export interface TransferBatcherStats {
  /** Batches appended, and the commands they carried. */
  batches: number;
  batchedCommands: number;
  /** Batches decided again after another writer changed one of their accounts. */
  conflicts: number;
  /** Commands sent to run alone (an existing transfer, an append failure, a full queue). */
  alone: number;
}

export class TransferBatcher {
  readonly #runAlone: RunAlone;
  readonly #queue: Member[] = [];
  /** Streams of the batches in flight. */
  readonly #held = new Set<string>();
  #inFlight = 0;
  #pumpScheduled = false;
  readonly stats: TransferBatcherStats = { batches: 0, batchedCommands: 0, conflicts: 0, alone: 0 };

  constructor(runAlone: RunAlone) {
    this.#runAlone = runAlone;
  }

  /** Decides and appends `command` in the next batch on its accounts; its own outcome. */
  submit(ledger: Ledger, command: CreateCommand, metadata: EventMetadata): Promise<TransferOutcome> {
    if (this.#queue.length >= transferBatching.queueMax) {
      this.stats.alone++;
      return this.#runAlone(ledger, command, metadata);
    }
    return new Promise<TransferOutcome>((resolve, reject) => {
      this.#queue.push({
        ledger,
        command,
        metadata,
        keys: [
          accountStreamId(command.debitAccountId),
          accountStreamId(command.creditAccountId),
          transferStreamId(command.transferId),
          requestStreamId(command.transferId),
        ],
        resolve,
        reject,
      });
      this.#schedulePump();
    });
  }

  /** Commands waiting, and batches in flight (gauges; both 0 when idle). */
  get pending(): { queued: number; inFlight: number } {
    return { queued: this.#queue.length, inFlight: this.#inFlight };
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    // After the current microtasks: the requests that arrive together join one batch.
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < transferBatching.inFlightMax && this.#queue.length > 0) {
      const batch = this.#take();
      if (batch.length === 0) return;
      this.#inFlight++;
      const keys = new Set(batch.flatMap((m) => m.keys));
      for (const key of keys) this.#held.add(key);
      void this.#run(batch, [...keys]).finally(() => {
        for (const key of keys) this.#held.delete(key);
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  /**
   * The next batch: commands in queue order whose streams no batch in flight holds, none
   * behind a skipped command on one of its streams (per stream, arrival order), each
   * transfer at most once, within the append's bounds.
   */
  #take(): Member[] {
    const batch: Member[] = [];
    const blocked = new Set<string>();
    const accounts = new Set<string>();
    const transfers = new Set<string>();
    /** Writes of the append: one per account, two per command (its transfer, its key's check). */
    let writes = 0;
    let scanned = 0;
    for (let i = 0; i < this.#queue.length && scanned < transferBatching.scanMax; scanned++) {
      const member = this.#queue[i]!;
      const [debit, credit, transfer] = member.keys as [string, string, string, string];
      const newAccounts = (accounts.has(debit) ? 0 : 1) + (accounts.has(credit) ? 0 : 1);
      if (
        batch.length >= transferBatching.commandsMax ||
        writes + newAccounts + 2 > limits.writesPerAppendMax
      )
        break;
      // Only commands that share an account with the batch join it: those on other accounts
      // gain nothing from it (the store's group commit puts their appends in one transaction
      // anyway) and would make one append larger and slower to check. They form their own.
      const joins = batch.length === 0 || accounts.has(debit) || accounts.has(credit);
      if (
        !joins ||
        member.keys.some((key) => this.#held.has(key) || blocked.has(key)) ||
        transfers.has(transfer)
      ) {
        for (const key of member.keys) blocked.add(key);
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      batch.push(member);
      accounts.add(debit).add(credit);
      transfers.add(transfer);
      writes += newAccounts + 2;
    }
    return batch;
  }

  async #run(batch: Member[], keys: string[]): Promise<void> {
    // Commands that leave the batch to run alone: after its locks are released.
    const alone: Member[] = [];
    const ledger = batch[0]!.ledger;
    try {
      await ledger.locks.run(keys, () => this.#decideAndAppend(batch, alone));
    } catch (error) {
      // Only a bug gets here (#decideAndAppend answers every member): fail them all, loudly.
      for (const member of batch) member.reject(error);
    }
    // Started in arrival order (each queues on the locks in turn) and awaited while the
    // batch's streams are still held here: no later batch overtakes them on an account.
    this.stats.alone += alone.length;
    await Promise.all(
      alone.map((member) =>
        this.#runAlone(member.ledger, member.command, member.metadata).then(member.resolve, member.reject),
      ),
    );
  }

  async #decideAndAppend(members: Member[], alone: Member[]): Promise<void> {
    const ledger = members[0]!.ledger;
    for (let attempt = 0; ; attempt++) {
      // A request whose deadline passed leaves with its reason, having appended nothing.
      members = members.filter((member) => {
        const signal = member.ledger.deadline?.signal;
        if (signal?.aborted !== true) return true;
        member.reject(signal.reason);
        return false;
      });
      if (members.length === 0) return;

      // The accounts: on the first attempt as this process last saw them; after a conflict,
      // as stored (the cached fold plus what others appended since).
      const accountIds = [
        ...new Set(members.flatMap((m) => [m.command.debitAccountId, m.command.creditAccountId])),
      ];
      const loaded = await Promise.all(
        accountIds.map((id) =>
          attempt === 0 ? (peekAccount(ledger, id) ?? loadAccount(ledger, id)) : loadAccount(ledger, id),
        ),
      );
      const states = new Map<string, AccountState>(accountIds.map((id, i) => [id, loaded[i]!.state]));
      const legs = new Map<string, StreamWrite['events'][number][]>(accountIds.map((id) => [id, []]));

      // Each command in order, on the states the ones before it left.
      type Decided = { member: Member; outcome: TransferOutcome; transferWrite: StreamWrite };
      const decided: Decided[] = [];
      for (const member of members) {
        const { command } = member;
        let decision: ReturnType<typeof decideTransfer>;
        const debit = states.get(command.debitAccountId)!;
        const credit = states.get(command.creditAccountId)!;
        try {
          decision = decideTransfer(command, { transfer: initialTransferState(), debit, credit });
        } catch (error) {
          member.reject(error);
          continue;
        }
        const newEvent = toNew(member.metadata);
        const transferStream = transferStreamId(command.transferId);
        if (decision.status === 'accepted') {
          const { events } = decision;
          states.set(command.debitAccountId, events.debit.reduce(evolveAccount, debit));
          states.set(
            command.creditAccountId,
            events.credit.reduce(evolveAccount, states.get(command.creditAccountId)!),
          );
          legs.get(command.debitAccountId)!.push(...events.debit.map(newEvent));
          legs.get(command.creditAccountId)!.push(...events.credit.map(newEvent));
          const transfer = events.transfer.reduce(evolveTransfer, initialTransferState());
          assert(transfer.status !== 'none');
          decided.push({
            member,
            outcome: { status: 'accepted', transfer, position: 0n },
            transferWrite: {
              streamId: transferStream,
              expectedVersion: 'no_stream',
              events: events.transfer.map(newEvent),
            },
          });
        } else if (decision.status === 'rejected') {
          const { rejection, record } = decision;
          // Without a record, the transfer's stream is still checked not to exist: a replay
          // is answered by what is stored (alone), not refused on today's states.
          decided.push({
            member,
            outcome: { status: 'rejected', rejection },
            transferWrite: {
              streamId: transferStream,
              expectedVersion: 'no_stream',
              events: record === undefined ? [] : record.map(newEvent),
            },
          });
        } else {
          // A new transfer's stream is assumed not to exist: a replay shows as a conflict.
          assert.fail('a batched create decided on no transfer cannot be a replay');
        }
      }
      if (decided.length === 0) return;

      const writes: StreamWrite[] = accountIds.map((id, i) => ({
        streamId: accountStreamId(id),
        expectedVersion: loaded[i]!.version,
        events: legs.get(id)!,
      }));
      if (decided.every(({ transferWrite }) => transferWrite.events.length === 0)) {
        // Rejections only, nothing to record: each is answered alone, on what is stored.
        alone.push(...decided.map(({ member }) => member));
        return;
      }
      const transferWriteAt = new Map<Decided, number>();
      for (const entry of decided) {
        if (entry.transferWrite.events.length > 0) {
          // The key names a transfer, never also a post or void request: that must not exist.
          writes.push({
            streamId: requestStreamId(entry.member.command.transferId),
            expectedVersion: 'no_stream',
            events: [],
          });
        }
        transferWriteAt.set(entry, writes.length);
        writes.push(entry.transferWrite);
      }

      const deadlines = decided.flatMap(({ member }) => member.ledger.deadline ?? []);
      const deadline = combinedDeadline(deadlines);
      let result: AppendResult;
      try {
        result = await ledger.store.append(writes, deadline === undefined ? undefined : { deadline });
      } catch (error) {
        deadline?.release();
        members = decided.map(({ member }) => member);
        if (deadline?.signal.aborted === true && error === deadline.signal.reason) continue;
        if (error instanceof WrongExpectedVersion) {
          const owner = decided.find(
            ({ member }) =>
              error.streamId === transferStreamId(member.command.transferId) ||
              error.streamId === requestStreamId(member.command.transferId),
          );
          if (owner !== undefined) {
            // That transfer exists already (or its key is a request's): it is answered alone.
            alone.push(owner.member);
            members = members.filter((member) => member !== owner.member);
            continue;
          }
          this.stats.conflicts++;
          if (attempt < commandRetry.retriesMax) {
            // Reloading is the wait: the other writer's batch is committed by now. Only a
            // batch that keeps losing backs off (two hot processes taking turns lose once).
            if (attempt >= transferBatching.retriesBeforePause) await retryPause(attempt);
            continue;
          }
        }
        // Anything else: each runs alone, so a poisoned command fails by itself.
        alone.push(...members);
        return;
      }

      deadline?.release();
      this.stats.batches++;
      this.stats.batchedCommands += decided.length;
      for (const [i, id] of accountIds.entries()) {
        const stream = result.streams[i];
        assert(stream !== undefined && stream.streamId === accountStreamId(id));
        ledger.accounts.remember(id, { state: states.get(id)!, version: stream.version });
      }
      for (const entry of decided) {
        const { member, outcome } = entry;
        const at = transferWriteAt.get(entry);
        if (outcome.status === 'accepted' && at !== undefined) {
          const stream = result.streams[at];
          assert(stream !== undefined && stream.streamId === transferStreamId(member.command.transferId));
          member.resolve({ ...outcome, position: stream.position ?? result.position });
        } else {
          member.resolve(outcome);
        }
      }
      return;
    }
  }
}

/**
 * One deadline for a batch's append: aborted as soon as any member's is (the append is then
 * not sent, and that member leaves the batch); sent, it tells every member.
 */
function combinedDeadline(deadlines: AppendDeadline[]): (AppendDeadline & { release(): void }) | undefined {
  if (deadlines.length === 0) return undefined;
  // Not AbortSignal.any: on Node 20 each call leaves dependent signals for the collector
  // to trace, and a batch per few milliseconds made the API's CPU per transfer double.
  const controller = new AbortController();
  const abort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  for (const d of deadlines) {
    if (d.signal.aborted) {
      controller.abort(d.signal.reason);
      break;
    }
    d.signal.addEventListener('abort', abort, { once: true });
  }
  return {
    signal: controller.signal,
    sent() {
      for (const d of deadlines) d.sent?.();
    },
    release() {
      for (const d of deadlines) d.signal.removeEventListener('abort', abort);
    },
  };
}
