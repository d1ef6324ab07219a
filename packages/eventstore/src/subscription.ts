import { limits, type RecordedEvent, type SubscribeOptions, type Subscription } from './types.js';

/** Wakes waiting subscriptions when events may have been appended. */
export class AppendSignal {
  #waiters = new Set<() => void>();

  signal(): void {
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }

  /** Resolves true on a signal, false when `timeoutMs` passes first. */
  wait(timeoutMs: number, stopped: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (signalled: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(onSignal);
        stopped.removeEventListener('abort', onAbort);
        resolve(signalled);
      };
      const onSignal = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#waiters.add(onSignal);
      stopped.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Resolves after ms, or at once when the signal aborts. */
export function abortableSleep(ms: number, stopped: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stopped.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      stopped.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stopped.addEventListener('abort', done, { once: true });
  });
}

export interface SubscriptionSource {
  readAll(options: { after: bigint; limit: number }): Promise<RecordedEvent[]>;
  signal: AppendSignal;
  /** Longest wait between two reads when nothing signals (the polling fallback). */
  pollIntervalMs: number;
}

// After a signal that found nothing readable yet (an older transaction still open holds
// the visibility horizon back), retry soon, backing off up to the poll interval.
const retryFirstMs = 2;

/**
 * Catch-up then live: reads `readAll` from the checkpoint until it is empty, then waits
 * for a signal (an append here, a NOTIFY from another process) or the poll interval.
 * `onEvents` is awaited before the next read, so a handler that stores its checkpoint in
 * the same transaction as its effects resumes exactly where it stopped.
 */
export function startSubscription(source: SubscriptionSource, options: SubscribeOptions): Subscription {
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > limits.subscriptionBatchSizeMax) {
    throw new RangeError(`batchSize must be an integer from 1 to ${limits.subscriptionBatchSizeMax}`);
  }
  const lingerMs = options.lingerMs ?? 0;
  if (!Number.isInteger(lingerMs) || lingerMs < 0 || lingerMs > limits.subscriptionLingerMsMax) {
    throw new RangeError(`lingerMs must be an integer from 0 to ${limits.subscriptionLingerMsMax}`);
  }
  if (typeof options.after !== 'bigint' || options.after < 0n) {
    throw new RangeError('after must be a bigint position ≥ 0n');
  }
  const stopper = new AbortController();
  let position = options.after;
  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((resolve) => {
    resolveCaughtUp = resolve;
  });

  const run = async () => {
    let retryMs = 0;
    while (!stopper.signal.aborted) {
      const events = await source.readAll({ after: position, limit: batchSize });
      if (stopper.signal.aborted) break;
      if (events.length > 0) {
        retryMs = 0;
        await options.onEvents(events);
        position = events[events.length - 1]!.globalPosition;
        if (lingerMs > 0 && events.length < batchSize) await abortableSleep(lingerMs, stopper.signal);
        continue;
      }
      resolveCaughtUp();
      const waitMs = retryMs === 0 ? source.pollIntervalMs : retryMs;
      const signalled = await source.signal.wait(waitMs, stopper.signal);
      retryMs = signalled ? retryFirstMs : retryMs === 0 ? 0 : Math.min(retryMs * 2, source.pollIntervalMs);
      if (retryMs >= source.pollIntervalMs) retryMs = 0;
    }
  };

  const done = run().then(
    () => resolveCaughtUp(),
    (error: unknown) => {
      stopper.abort();
      options.onError?.(error);
      throw error;
    },
  );
  // `done` is observed by stop(); keep an unobserved rejection from crashing the process
  // when the caller relies on onError instead.
  done.catch(() => {});

  return {
    get position() {
      return position;
    },
    caughtUp,
    done,
    async stop() {
      stopper.abort();
      await done.catch(() => {});
    },
  };
}
