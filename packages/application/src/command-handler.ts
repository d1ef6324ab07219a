import {
  type AppendDeadline,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
  type StreamWrite,
  WrongExpectedVersion,
} from '@ledger/eventstore';

/**
 * The one command handler (Emmett's CommandHandler), for single- and multi-stream commands:
 * load what the command needs, decide (pure), append everything decided in ONE atomic
 * append with the versions read as expected versions. When another writer got there first
 * the append fails with WrongExpectedVersion and the command is loaded and decided again,
 * under one retry and jitter policy (`commandRetry`). Safe because deciding is pure.
 *
 * `runCommand` is the loop; `handleCommand` is its single-stream form (identity, settings).
 */

/**
 * The retry policy of every command: attempts after the first on a conflict, and a random
 * pause before each that grows with the attempt (up to `jitterGrowthMax` times the base),
 * so writers racing on one stream spread out instead of colliding again. Commands on the
 * same streams in one process already queue behind a KeyedLock, so conflicts come from
 * other processes; 50 is far beyond what bad luck needs, and bounded.
 */
export const commandRetry = { retriesMax: 50, jitterMsMax: 10, jitterGrowthMax: 5 } as const;

/** The pause before retry `attempt` (0-based). */
export function retryPause(attempt: number): Promise<void> {
  const ms = Math.random() * commandRetry.jitterMsMax * Math.min(attempt + 1, commandRetry.jitterGrowthMax);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What one attempt of a command decided: an answer without writing, or writes to append. */
export type Step<T> =
  | { answer: T }
  | {
      writes: StreamWrite[];
      /** The answer once the append succeeded. */
      done(result: AppendResult): T;
      /**
       * The append conflicted: an answer (the conflict decides the outcome: a name already
       * taken), or undefined to decide again (if `retryOn` allows and retries are left).
       */
      onConflict?(error: WrongExpectedVersion): T | undefined;
    };

export interface RunOptions {
  /** Attempts after the first; at most commandRetry.retriesMax (0: a conflict is final). */
  retriesMax?: number;
  /** Which conflicts are worth deciding again (default: all). */
  retryOn?(error: WrongExpectedVersion): boolean;
  /**
   * The caller's deadline (an HTTP request's). Once its signal aborts, the command stops at
   * its next step (before an attempt, before its append, before a retry) and appends
   * nothing: it rejects with the signal's reason. An append already sent is waited for.
   */
  deadline?: AppendDeadline | undefined;
}

/**
 * The command loop: `attempt(n)` loads and decides; its writes are appended atomically; a
 * conflict is decided again. Anything but WrongExpectedVersion is thrown as it is.
 */
export async function runCommand<T>(
  store: EventStore,
  attempt: (n: number) => Promise<Step<T>>,
  options: RunOptions = {},
): Promise<T> {
  const retriesMax = Math.min(options.retriesMax ?? commandRetry.retriesMax, commandRetry.retriesMax);
  const { deadline } = options;
  const appendOptions = deadline === undefined ? undefined : { deadline };
  for (let n = 0; ; n++) {
    deadline?.signal.throwIfAborted();
    const step = await attempt(n);
    if ('answer' in step) return step.answer;
    try {
      // The store checks the deadline again where the append is sent (a queue may be ahead).
      deadline?.signal.throwIfAborted();
      return step.done(await store.append(step.writes, appendOptions));
    } catch (error) {
      if (!(error instanceof WrongExpectedVersion)) throw error;
      const answer = step.onConflict?.(error);
      if (answer !== undefined) return answer;
      if (n >= retriesMax || !(options.retryOn?.(error) ?? true)) throw error;
      await retryPause(n);
    }
  }
}

export interface Aggregate<S, E extends { type: string; data: unknown }> {
  initialState(): S;
  evolve(state: S, event: E): S;
  /** Turns a stored event back into a domain event (parses and checks its data). */
  parse(type: string, data: unknown): E;
  /** The data a decided event is stored as (default: its data): where personal fields get sealed. */
  serialize?(event: E): unknown;
  schemaVersion: number;
}

export interface DecisionOf<E, R> {
  events: E[];
  rejection?: R;
}

export interface HandleOptions<S, E extends { type: string; data: unknown }, R> {
  store: EventStore;
  streamId: string;
  aggregate: Aggregate<S, E>;
  /** May be async: the caller may verify secrets against the state first (a password hash, a TOTP secret). */
  decide(state: S): DecisionOf<E, R> | Promise<DecisionOf<E, R>>;
  /** Streams written in the same atomic append (reservations), given the decided events. */
  alsoWrite?: (events: E[], state: S) => StreamWrite[];
  metadata: EventMetadata;
  /** Attempts after the first on WrongExpectedVersion of the main stream (default: commandRetry's); 0 = no retry. */
  retriesMax?: number;
}

export interface HandleResult<S, E, R> {
  state: S;
  events: E[];
  rejection: R | undefined;
  /** Global position of the append, or null when nothing was appended. */
  position: bigint | null;
}

/** Events read per round trip when folding a stream. */
export const loadPageSize = 1000;

export interface Folded<S> {
  state: S;
  version: bigint | 'no_stream';
}

/**
 * Folds a stream from a known point (its start, or a cached fold) to its end, page by page:
 * a read stops at its limit, and a state folded from the first page only would be wrong
 * (and its version would never match again). The one paging loop every loader uses.
 */
export async function foldStream<S>(
  store: EventStore,
  streamId: string,
  from: Folded<S>,
  apply: (state: S, event: RecordedEvent) => S,
): Promise<Folded<S>> {
  let { state, version } = from;
  for (;;) {
    const fromVersion = version === 'no_stream' ? 0n : version + 1n;
    const page = await store.readStream(streamId, { fromVersion, limit: loadPageSize });
    for (const event of page) state = apply(state, event);
    if (page.length > 0) version = page[page.length - 1]!.streamVersion;
    if (page.length < loadPageSize) return { state, version };
  }
}

export function loadStream<S, E extends { type: string; data: unknown }>(
  store: EventStore,
  streamId: string,
  aggregate: Aggregate<S, E>,
): Promise<Folded<S>> {
  return foldStream(
    store,
    streamId,
    { state: aggregate.initialState(), version: 'no_stream' },
    (state, event) => aggregate.evolve(state, aggregate.parse(event.type, event.data)),
  );
}

/** The single-stream command: load one stream, decide, append (plus `alsoWrite`), retried on conflicts of that stream. */
export async function handleCommand<S, E extends { type: string; data: unknown }, R>(
  options: HandleOptions<S, E, R>,
): Promise<HandleResult<S, E, R>> {
  const toNew = (event: E): NewEvent => ({
    type: event.type,
    schemaVersion: options.aggregate.schemaVersion,
    data: options.aggregate.serialize === undefined ? event.data : options.aggregate.serialize(event),
    metadata: options.metadata,
  });
  return runCommand<HandleResult<S, E, R>>(
    options.store,
    async () => {
      const { state, version } = await loadStream(options.store, options.streamId, options.aggregate);
      const decision = await options.decide(state);
      if (decision.events.length === 0) {
        return { answer: { state, events: [], rejection: decision.rejection, position: null } };
      }
      return {
        writes: [
          { streamId: options.streamId, expectedVersion: version, events: decision.events.map(toNew) },
          ...(options.alsoWrite?.(decision.events, state) ?? []),
        ],
        done: (result) => ({
          state: decision.events.reduce(options.aggregate.evolve, state),
          events: decision.events,
          rejection: decision.rejection,
          position: result.position,
        }),
      };
    },
    {
      ...(options.retriesMax === undefined ? {} : { retriesMax: options.retriesMax }),
      retryOn: (error) => error.streamId === options.streamId,
    },
  );
}
