import type { AccountState } from '@ledger/domain/ledger';
import type { Folded } from '../command-handler.js';

/** Folded account states kept by default: a few MB, and every account of a busy hour. */
export const accountCacheSizeMax = 10_000;

/**
 * Folded account states, most recently used last, at most `sizeMax`. Streams are
 * append-only and states immutable, so a cached fold is only ever behind: loading reads just
 * the events after it. Without it every deposit would re-read the cash account's history.
 * One per process (the composition root makes it, in the Ledger).
 */
export class AccountCache {
  readonly #folds = new Map<string, Folded<AccountState>>();
  readonly #sizeMax: number;

  constructor(sizeMax = accountCacheSizeMax) {
    if (!Number.isInteger(sizeMax) || sizeMax < 1) throw new RangeError('sizeMax is a positive integer');
    this.#sizeMax = sizeMax;
  }

  /** The cached fold: possibly behind, when another process appended since. */
  get(accountId: string): Folded<AccountState> | undefined {
    return this.#folds.get(accountId);
  }

  /**
   * Keeps a fold (loaded, or just appended by this process). Only forward: a load that
   * started before a concurrent append may end after it.
   */
  remember(accountId: string, loaded: Folded<AccountState>): void {
    if (loaded.version === 'no_stream') return;
    const cached = this.#folds.get(accountId);
    if (cached !== undefined && cached.version !== 'no_stream' && cached.version > loaded.version) return;
    this.#folds.delete(accountId);
    this.#folds.set(accountId, loaded);
    if (this.#folds.size > this.#sizeMax) {
      const oldest = this.#folds.keys().next();
      if (!oldest.done) this.#folds.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#folds.size;
  }
}
