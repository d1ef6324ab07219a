/**
 * An in-process lock per key (a stream name): commands on the same accounts queue behind
 * each other instead of colliding on their expected versions. The versions stay what makes
 * a command correct across processes; this only saves the retries within one.
 *
 * One per process, made at the composition root: two ledgers on one store (two processes
 * in a test) each have their own, as two processes would.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `fn` holding every key; keys are taken in sorted order, so two callers never deadlock. */
  async run<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const releases: (() => void)[] = [];
    try {
      for (const key of sorted) {
        const previous = this.#tails.get(key) ?? Promise.resolve();
        let release!: () => void;
        const mine = new Promise<void>((resolve) => {
          release = resolve;
        });
        const tail = previous.then(() => mine);
        this.#tails.set(key, tail);
        releases.push(() => {
          release();
          if (this.#tails.get(key) === tail) this.#tails.delete(key);
        });
        await previous;
      }
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  /** Keys held or waited for now (a gauge; 0 when idle). */
  get size(): number {
    return this.#tails.size;
  }
}
