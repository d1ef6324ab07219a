import type { Account } from '@ledger/domain/ledger';
import type { SnapshotStore } from '@ledger/eventstore';
import { accountSnapshotSchema, encodeAccountState } from './account-snapshot.js';
import { accountStreamId } from './streams.js';

/**
 * Accounts waiting for their snapshot to be written, at most. Past it a new one is dropped
 * (and counted): the next boundary of that account asks again, and a missing snapshot costs
 * only a longer cold load. At one write per `snapshotEveryEvents` events of an account the
 * queue is nearly always empty; it fills only while the database refuses the writes.
 */
export const snapshotQueueSizeMax = 1_000;

/** Counters of the snapshot writes of one process (for metrics). */
export interface SnapshotWriteStats {
  written: number;
  /** Not written: the stored snapshot was already as new (another process wrote it). */
  skipped: number;
  failed: number;
  dropped: number;
}

/** Where a failure is told: a pino-style `warn(details, message)`. */
export type Warn = (details: Record<string, unknown>, message: string) => void;

export const processWarning: Warn = (details, message) =>
  process.emitWarning(
    `${message}: ${JSON.stringify(details, (_key, value: unknown) => (value instanceof Error ? value.message : value))}`,
    'LedgerWarning',
  );

/**
 * Writes account snapshots off the command path: `enqueue` is synchronous and only notes
 * the fold (the newest per account); one write at a time runs behind it. A failed write is
 * counted and told (the first of a run of failures), never thrown: a command that asked for
 * a snapshot has already committed, and a missing snapshot is only a slower cold load.
 */
export class SnapshotWriter {
  readonly #store: SnapshotStore;
  readonly #warn: Warn;
  readonly #queue = new Map<string, { version: bigint; state: Account }>();
  #draining: Promise<void> | undefined;
  #failing = false;
  readonly stats: SnapshotWriteStats = { written: 0, skipped: 0, failed: 0, dropped: 0 };

  constructor(store: SnapshotStore, warn: Warn = processWarning) {
    this.#store = store;
    this.#warn = warn;
  }

  /** Asks for a snapshot of `state` at `version`; returns at once. */
  enqueue(accountId: string, version: bigint, state: Account): void {
    const queued = this.#queue.get(accountId);
    if (queued !== undefined) {
      if (queued.version < version) this.#queue.set(accountId, { version, state });
      return;
    }
    if (this.#queue.size >= snapshotQueueSizeMax) {
      this.stats.dropped++;
      return;
    }
    this.#queue.set(accountId, { version, state });
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
  }

  /** Snapshots waiting or being written. */
  get pending(): number {
    return this.#queue.size + (this.#draining === undefined ? 0 : 1);
  }

  /** Resolves once every snapshot asked for so far was written (or failed). For tests and shutdown. */
  async idle(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
  }

  async #drain(): Promise<void> {
    // Off the caller's turn of the event loop: the command that asked answers first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      const next = this.#queue.entries().next();
      if (next.done) return;
      const [accountId, { version, state }] = next.value;
      this.#queue.delete(accountId);
      try {
        const written = await this.#store.writeSnapshot({
          streamId: accountStreamId(accountId),
          streamVersion: version,
          schema: accountSnapshotSchema,
          state: encodeAccountState(state),
        });
        if (written) this.stats.written++;
        else this.stats.skipped++;
        this.#failing = false;
      } catch (error) {
        this.stats.failed++;
        if (!this.#failing) {
          this.#failing = true;
          this.#warn(
            { err: error, accountId, version: version.toString() },
            'account snapshot write failed (cold loads of the account fold more events until one succeeds)',
          );
        }
      }
    }
  }
}
