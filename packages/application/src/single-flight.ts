/**
 * Reads in flight, by key: a caller asking for a key already being read gets that read's
 * promise instead of starting another, so a burst after a cache aged costs one read. A read
 * is forgotten when it settles (a failure is not kept: the next caller reads again), or at
 * once by `forget` (what it would return may be out of date: the next caller starts anew).
 */
export class SingleFlight<K, V> {
  readonly #flights = new Map<K, Promise<V>>();

  run(key: K, read: () => Promise<V>): Promise<V> {
    const flying = this.#flights.get(key);
    if (flying !== undefined) return flying;
    const started = read();
    this.#flights.set(key, started);
    const settled = () => {
      if (this.#flights.get(key) === started) this.#flights.delete(key);
    };
    started.then(settled, settled);
    return started;
  }

  forget(key: K): void {
    this.#flights.delete(key);
  }

  /** Reads in flight now (a gauge; 0 when idle). */
  get size(): number {
    return this.#flights.size;
  }
}
