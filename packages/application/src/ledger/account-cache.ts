import type { AccountState } from '@ledger/domain/ledger';
import type { Folded } from '../command-handler.js';
import { processWarning, type SnapshotWriter, type Warn } from './snapshot-writer.js';

/** Folded account states kept by default: a few MB, and every account of a busy hour. */
export const accountCacheSizeMax = 10_000;

/**
 * Events of an account between two of its snapshots, at least: a cold load then reads one
 * snapshot and fewer than this many events after it (one page of `loadPageSize`), instead
 * of the whole stream. A snapshot write is one small upsert, so at 500 it costs one
 * statement per 500 legs of an account.
 */
export const snapshotEveryEvents = 500;

/** Counters of the account loads of one process (for metrics). */
export interface AccountLoadStats {
  /** Loads sent to the store with nothing cached: from a snapshot, or from the stream's start. */
  coldLoads: number;
  /** Loads sent to the store after a cached fold (the events appended since). */
  tailLoads: number;
  /** Calls answered by a load another call started (single flight). */
  sharedLoads: number;
  /** Events those loads read and folded (a snapshot's own event, checked, included). */
  eventsRead: number;
  /** Cold loads that started from a snapshot. */
  snapshotsUsed: number;
  /** Snapshots ignored: not matching the chain, not parsing, or of another schema. */
  snapshotsRejected: number;
}

type Fold = Folded<AccountState>;

interface Entry {
  fold: Fold;
  /** Version of the account's latest snapshot this process knows of (−1n: none). */
  snapshotAt: bigint;
}

interface Flight {
  running: Promise<Fold>;
  /** The load that starts when `running` ends, shared by the callers who need a fresh one. */
  next: Promise<Fold> | undefined;
}

const ignore = () => undefined;

export interface AccountCacheOptions {
  /** Where snapshots go (absent: the store keeps none). */
  snapshots?: SnapshotWriter;
  /** Default snapshotEveryEvents. */
  snapshotEvery?: number;
  /** Where an ignored snapshot is told; default: a process warning. */
  warn?: Warn;
}

/**
 * Folded account states, most recently used last, at most `sizeMax`. Streams are
 * append-only and states immutable, so a cached fold is only ever behind: loading reads just
 * the events after it. Without it every deposit would re-read the cash account's history.
 * One per process (the composition root makes it, in the Ledger).
 *
 * It also shares loads in flight (`share`), and asks for a snapshot whenever a fold it
 * keeps is `snapshotEvery` events past the account's last known snapshot.
 */
export class AccountCache {
  readonly #entries = new Map<string, Entry>();
  readonly #flights = new Map<string, Flight>();
  readonly #sizeMax: number;
  readonly #snapshotEvery: bigint;
  readonly snapshots: SnapshotWriter | undefined;
  readonly warn: Warn;
  readonly stats: AccountLoadStats = {
    coldLoads: 0,
    tailLoads: 0,
    sharedLoads: 0,
    eventsRead: 0,
    snapshotsUsed: 0,
    snapshotsRejected: 0,
  };

  constructor(sizeMax = accountCacheSizeMax, options: AccountCacheOptions = {}) {
    if (!Number.isInteger(sizeMax) || sizeMax < 1) throw new RangeError('sizeMax is a positive integer');
    const every = options.snapshotEvery ?? snapshotEveryEvents;
    if (!Number.isInteger(every) || every < 1) throw new RangeError('snapshotEvery is a positive integer');
    this.#sizeMax = sizeMax;
    this.#snapshotEvery = BigInt(every);
    this.snapshots = options.snapshots;
    this.warn = options.warn ?? processWarning;
  }

  /** The cached fold: possibly behind, when another process appended since. */
  get(accountId: string): Fold | undefined {
    return this.#entries.get(accountId)?.fold;
  }

  /**
   * Keeps a fold (loaded, or just appended by this process). Only forward: a load that
   * started before a concurrent append may end after it. `snapshotAt`: the version of the
   * snapshot a cold load started from (−1n: none); a fold `snapshotEvery` events past the
   * last known snapshot is handed to the snapshot writer (which writes it later, off the
   * caller's path).
   */
  remember(accountId: string, loaded: Fold, snapshotAt?: bigint): void {
    if (loaded.version === 'no_stream') return;
    const entry = this.#entries.get(accountId);
    const cached = entry?.fold.version;
    if (cached !== undefined && cached !== 'no_stream' && cached > loaded.version) return;
    let known = entry?.snapshotAt ?? -1n;
    if (snapshotAt !== undefined && snapshotAt > known) known = snapshotAt;
    if (
      this.snapshots !== undefined &&
      loaded.state.status !== 'none' &&
      loaded.version - known >= this.#snapshotEvery
    ) {
      this.snapshots.enqueue(accountId, loaded.version, loaded.state);
      known = loaded.version;
    }
    this.#entries.delete(accountId);
    this.#entries.set(accountId, { fold: loaded, snapshotAt: known });
    if (this.#entries.size > this.#sizeMax) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  /**
   * One load per account at a time (single flight). With nothing in flight, `load` runs.
   * Otherwise `any` joins the load in flight (for what may be decided on a state a moment
   * old: the append's expected version catches it, or what never changes); `fresh` shares
   * the one load that starts once the load in flight ends, so it sees every append that
   * completed before the call, while any number of callers cost at most two loads.
   */
  share(accountId: string, load: () => Promise<Fold>, mode: 'fresh' | 'any'): Promise<Fold> {
    const flight = this.#flights.get(accountId);
    if (flight === undefined) return this.#fly(accountId, load);
    if (mode === 'any') {
      this.stats.sharedLoads++;
      return flight.running;
    }
    if (flight.next !== undefined) {
      this.stats.sharedLoads++;
      return flight.next;
    }
    flight.next = flight.running.then(ignore, ignore).then(() => this.#fly(accountId, load));
    return flight.next;
  }

  #fly(accountId: string, load: () => Promise<Fold>): Promise<Fold> {
    const flight: Flight = { running: Promise.resolve() as unknown as Promise<Fold>, next: undefined };
    flight.running = (async () => {
      try {
        return await load();
      } finally {
        if (this.#flights.get(accountId) === flight) this.#flights.delete(accountId);
      }
    })();
    this.#flights.set(accountId, flight);
    return flight.running;
  }

  /** Accounts with a load in flight (a gauge; 0 when idle). */
  get loading(): number {
    return this.#flights.size;
  }

  get size(): number {
    return this.#entries.size;
  }
}
