import type { AppendObserver, AppendResult } from './types.js';

/**
 * The observers of one store object (EventStore.observeAppends), for every adapter. The list
 * is replaced, never changed in place, so an append keeps the list it started with: each
 * observer told of its start is told of its end.
 */
export class AppendObservers {
  #list: readonly AppendObserver[] = [];

  /** Now: empty in the common case, when append() goes straight on. */
  get list(): readonly AppendObserver[] {
    return this.#list;
  }

  add(observer: AppendObserver): () => void {
    this.#list = [...this.#list, observer];
    let added = true;
    return () => {
      if (!added) return;
      added = false;
      const i = this.#list.indexOf(observer);
      this.#list = [...this.#list.slice(0, i), ...this.#list.slice(i + 1)];
    };
  }
}

/**
 * Runs `append` between the observers' beforeAppend and afterAppend, and settles as it did
 * once every afterAppend has.
 */
export function observedAppend(
  observers: readonly AppendObserver[],
  writes: readonly { streamId: string }[],
  append: () => Promise<AppendResult>,
): Promise<AppendResult> {
  const streamIds = writes.map((w) => w.streamId);
  for (const observer of observers) {
    try {
      observer.beforeAppend?.(streamIds);
    } catch (error) {
      report(observer, error);
    }
  }
  const ended = (result: AppendResult | undefined) =>
    Promise.all(
      observers.map(async (observer) => {
        try {
          await observer.afterAppend?.(streamIds, result);
        } catch (error) {
          report(observer, error);
        }
      }),
    );
  return append().then(
    async (result) => {
      await ended(result);
      return result;
    },
    async (error: unknown) => {
      await ended(undefined);
      throw error;
    },
  );
}

// In a microtask of its own: an error of the reporter itself is not the append's either.
function report(observer: AppendObserver, error: unknown): void {
  queueMicrotask(() => {
    if (observer.onError) observer.onError(error);
    else {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.emitWarning(`an append observer failed: ${detail}`, 'AppendObserverWarning');
    }
  });
}
