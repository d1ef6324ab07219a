import {
  type EventMetadata,
  type EventStore,
  type NewEvent,
  type RecordedEvent,
  type StreamWrite,
  WrongExpectedVersion,
} from '@ledger/eventstore';

/**
 * The generic command handler (Emmett's CommandHandler): load one stream, fold it, decide,
 * append the decided events with the version read as the expected version. When another
 * writer got there first the whole thing is re-run on the fresh state, a bounded number of
 * times, for commands that are safe to decide again (all of ours are: decide is pure).
 */

export interface Aggregate<S, E extends { type: string; data: unknown }> {
  initialState(): S;
  evolve(state: S, event: E): S;
  /** Turns a stored event back into a domain event (parses and checks its data). */
  parse(type: string, data: unknown): E;
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
  /** Attempts after the first on WrongExpectedVersion of the main stream; 0 = no retry. */
  retriesMax?: number;
}

export interface HandleResult<S, E, R> {
  state: S;
  events: E[];
  rejection: R | undefined;
  /** Global position of the append, or null when nothing was appended. */
  position: bigint | null;
}

export const retriesMaxDefault = 3;
const retryJitterMsMax = 5;
/** Upper bound for any caller: contention beyond this is a bug or an attack, not bad luck. */
export const retriesMaxLimit = 10;

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

export async function handleCommand<S, E extends { type: string; data: unknown }, R>(
  options: HandleOptions<S, E, R>,
): Promise<HandleResult<S, E, R>> {
  const retriesMax = Math.min(options.retriesMax ?? retriesMaxDefault, retriesMaxLimit);
  for (let attempt = 0; ; attempt++) {
    const { state, version } = await loadStream(options.store, options.streamId, options.aggregate);
    const decision = await options.decide(state);
    if (decision.events.length === 0) {
      return { state, events: [], rejection: decision.rejection, position: null };
    }
    const toNew = (event: E): NewEvent => ({
      type: event.type,
      schemaVersion: options.aggregate.schemaVersion,
      data: event.data,
      metadata: options.metadata,
    });
    const writes: StreamWrite[] = [
      { streamId: options.streamId, expectedVersion: version, events: decision.events.map(toNew) },
      ...(options.alsoWrite?.(decision.events, state) ?? []),
    ];
    try {
      const result = await options.store.append(writes);
      const next = decision.events.reduce(options.aggregate.evolve, state);
      return {
        state: next,
        events: decision.events,
        rejection: decision.rejection,
        position: result.position,
      };
    } catch (error) {
      const retry =
        error instanceof WrongExpectedVersion && error.streamId === options.streamId && attempt < retriesMax;
      if (!retry) throw error;
      // A little random back-off, so writers racing on one stream spread out instead of colliding again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * retryJitterMsMax * (attempt + 1)));
    }
  }
}
