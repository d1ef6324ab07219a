import {
  type AllStreamSubscription,
  AppendRecordSizeExceededError,
  type AppendStreamRequest,
  BACKWARDS,
  END,
  excludeSystemEvents,
  type Filter,
  FORWARDS,
  type JSONEventData,
  type JSONType,
  KurrentDBClient,
  type RecordedEvent as KurrentRecordedEvent,
  MaxAppendSizeExceededError,
  START,
  StreamNotFoundError,
  streamNameFilter,
  TransactionMaxSizeExceededError,
  WrongExpectedVersionError,
} from '@kurrent/kurrentdb-client';
import { AppendObservers, observedAppend } from '../append-observers.js';
import { chainHash, genesisHash } from '../hash.js';
import { AppendSignal, startSubscription } from '../subscription.js';
import {
  type AppendDeadline,
  type AppendObserver,
  type AppendOptions,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  InvalidAppend,
  type JsonValue,
  limits,
  type ReadAllOptions,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
  type Subscription,
  type VerifyOptions,
  type VerifyResult,
  WrongExpectedVersion,
} from '../types.js';
import { type PreparedWrite, prepareAppend } from '../validate.js';
import { ChainVerifier } from '../verify.js';

export interface KurrentEventStoreOptions {
  /**
   * Namespace on a shared server: stream `s` is stored as KurrentDB stream `${streamPrefix}s`,
   * and readAll, headPosition, subscribe and verify see only streams under the prefix.
   * Hashes cover the unprefixed stream id, so a chain does not depend on where it is stored.
   */
  streamPrefix?: string;
  /** Polling fallback for subscriptions when the $all wake-up subscription is down. */
  pollIntervalMs?: number;
  /** Attempts for an append whose revisions the store chose ('any', 'exists') before giving up. */
  appendAttemptsMax?: number;
  /** Called when the $all wake-up subscription fails (it is restarted; polling covers the gap). */
  onNotifyError?: (error: unknown) => void;
}

const pollIntervalMsDefault = 1000;
// Writers in other processes racing for one hot stream: each round has one winner, so with
// k racers a loser needs about k rounds; the jittered backoff below desynchronises them.
const appendAttemptsMaxDefault = 20;
// Full-jitter exponential backoff between attempts, so competing writers stop colliding in lockstep.
const appendRetryBackoffFirstMs = 2;
const appendRetryBackoffMaxMs = 100;
const notifierRestartDelayMs = 1000;
const verifyPageEventsMax = 1000;
const streamPrefixLengthMax = 128;
// KurrentDB reports "no position" as the largest u64 (for example for events of explicit transactions).
const positionUnknown = 2n ** 64n - 1n;

/**
 * Our keys in the event's properties (KurrentDB 25.1 turns them into the v1 metadata JSON).
 * Not `$`-prefixed: that namespace is the server's (`$schema.name`, `$record.timestamp`, ...)
 * and the client's (`$traceId`). multiStreamAppend takes string values only, so the caller's
 * metadata travels as one canonical JSON string.
 */
const propertyKeys = {
  hash: 'es.hash',
  schemaVersion: 'es.schemaVersion',
  recordedAt: 'es.recordedAt',
  metadata: 'es.metadata',
  /** 'false' on every event of an append but its last (readAll never ends a page inside one). */
  appendEnd: 'es.appendEnd',
} as const;

interface StreamHead {
  version: bigint;
  hash: Buffer;
}

interface PlannedWrite {
  write: PreparedWrite;
  /** What is sent as the expected revision. */
  revision: bigint | 'no_stream';
  /** True when the store chose the revision ('any', 'exists'), so a conflict is retried. */
  retryable: boolean;
  lastVersion: bigint;
}

function checkLimit(limit: number | undefined, fallback: number): number {
  const value = limit ?? fallback;
  if (!Number.isInteger(value) || value < 1 || value > limits.readLimitMax) {
    throw new RangeError(`limit must be an integer from 1 to ${limits.readLimitMax}`);
  }
  return value;
}

function checkPosition(after: unknown): bigint {
  if (typeof after !== 'bigint' || after < 0n) throw new RangeError('after must be a bigint ≥ 0n');
  return after;
}

// Control characters make stream names unprintable in audits and logs (as validate.ts says).
function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function isSystemName(name: string): boolean {
  return name.startsWith('$');
}

function positionOf(event: KurrentRecordedEvent, commitPosition: bigint | undefined): bigint | undefined {
  const commit = event.position?.commit ?? commitPosition;
  return commit === undefined || commit === positionUnknown ? undefined : commit;
}

/** False only for an event this store wrote before the last of its append (absent: an append of its own). */
function endsAppend(event: KurrentRecordedEvent): boolean {
  return !isObject(event.metadata) || event.metadata[propertyKeys.appendEnd] !== 'false';
}

function parseJson(text: string): JsonValue | undefined {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/**
 * Maps a stored KurrentDB event onto the port's RecordedEvent. Lenient on purpose: an event
 * written around the store (no hash, foreign metadata) still reads, and verify() flags it.
 */
function decode(event: KurrentRecordedEvent, streamId: string, globalPosition: bigint): RecordedEvent {
  const properties = isObject(event.metadata) ? event.metadata : {};
  const text = (key: string): string | undefined => {
    const value = properties[key];
    return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
  };
  const metadataValue = parseJson(text(propertyKeys.metadata) ?? '{}');
  const schemaVersion = Number(text(propertyKeys.schemaVersion) ?? '1');
  let data: JsonValue;
  if (event.isJson) {
    data = event.data as JsonValue;
  } else {
    const raw = Buffer.from(event.data as Uint8Array).toString('utf8');
    data = parseJson(raw) ?? raw;
  }
  return {
    eventId: event.id,
    streamId,
    streamVersion: event.revision,
    globalPosition,
    type: event.type,
    schemaVersion: Number.isInteger(schemaVersion) ? schemaVersion : 1,
    data,
    metadata: isObject(metadataValue) ? (metadataValue as EventMetadata) : {},
    recordedAt: text(propertyKeys.recordedAt) ?? event.created.toISOString(),
    hash: text(propertyKeys.hash) ?? '',
  };
}

/**
 * The KurrentDB (25.1+) event store.
 *
 * An append is one `multiStreamAppend`: all streams or none. The hash chain needs each
 * stream's last hash, so the store reads every written stream's head first and appends at
 * exactly that revision; for 'any' and 'exists' it retries on a conflict, so a chain never
 * forks. Appends from this process to the same stream are queued behind each other, so only
 * writers in other processes ever race.
 */
export class KurrentEventStore implements EventStore {
  readonly #client: KurrentDBClient;
  readonly #prefix: string;
  readonly #pollIntervalMs: number;
  readonly #appendAttemptsMax: number;
  readonly #onNotifyError: (error: unknown) => void;
  readonly #signal = new AppendSignal();
  readonly #streamLocks = new Map<string, Promise<void>>();
  readonly #appends = new Set<Promise<unknown>>();
  readonly #subscriptions = new Set<Subscription>();
  readonly #observers = new AppendObservers();
  #notifier: AllStreamSubscription | undefined;
  #notifierRestart: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(client: KurrentDBClient, options: KurrentEventStoreOptions) {
    this.#client = client;
    this.#prefix = options.streamPrefix ?? '';
    this.#pollIntervalMs = options.pollIntervalMs ?? pollIntervalMsDefault;
    this.#appendAttemptsMax = options.appendAttemptsMax ?? appendAttemptsMaxDefault;
    this.#onNotifyError = options.onNotifyError ?? (() => {});
  }

  static async open(
    connectionString: string,
    options: KurrentEventStoreOptions = {},
  ): Promise<KurrentEventStore> {
    const prefix = options.streamPrefix ?? '';
    if (isSystemName(prefix) || prefix.length > streamPrefixLengthMax || hasControlCharacters(prefix)) {
      throw new RangeError(
        `streamPrefix must not start with $, hold control characters, or exceed ${streamPrefixLengthMax} characters`,
      );
    }
    const attempts = options.appendAttemptsMax ?? appendAttemptsMaxDefault;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new RangeError('appendAttemptsMax must be an integer ≥ 1');
    }
    const poll = options.pollIntervalMs ?? pollIntervalMsDefault;
    if (!Number.isFinite(poll) || poll < 1) throw new RangeError('pollIntervalMs must be ≥ 1');
    const client = KurrentDBClient.connectionString(connectionString);
    try {
      // Fail at open, not at the first append, when the server is unreachable or will not let
      // us read $all (system ACL: admins by default). One event of the tail, any stream, is
      // enough: a filtered read could scan the whole log when the prefix holds no stream yet.
      for await (const resolved of client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1 })) {
        void resolved;
      }
    } catch (error) {
      await client.dispose().catch(() => {});
      throw error;
    }
    return new KurrentEventStore(client, options);
  }

  append(writes: readonly StreamWrite[], options?: AppendOptions): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new Error('event store is closed'));
    const deadline = options?.deadline;
    let prepared: PreparedWrite[];
    try {
      deadline?.signal.throwIfAborted();
      prepared = prepareAppend(writes);
      for (const write of prepared) this.#checkReservedNames(write);
    } catch (error) {
      return Promise.reject(error);
    }
    const observers = this.#observers.list;
    const appending =
      observers.length === 0
        ? this.#appendPrepared(prepared, deadline)
        : observedAppend(observers, prepared, () => this.#appendPrepared(prepared, deadline));
    this.#appends.add(appending);
    appending.finally(() => this.#appends.delete(appending)).catch(() => {});
    return appending;
  }

  observeAppends(observer: AppendObserver): () => void {
    return this.#observers.add(observer);
  }

  #appendPrepared(prepared: PreparedWrite[], deadline: AppendDeadline | undefined): Promise<AppendResult> {
    const names = prepared.map((w) => this.#prefix + w.streamId);
    return this.#withStreamLocks(names, () => {
      // Past the locks' queue, right before anything is sent: the point of no return.
      deadline?.signal.throwIfAborted();
      deadline?.sent?.();
      return this.#appendLocked(prepared);
    });
  }

  #checkReservedNames(write: PreparedWrite): void {
    // KurrentDB reserves `$` for system streams and event types; readers skip them.
    if (isSystemName(write.streamId)) {
      throw new InvalidAppend(`stream id "${write.streamId}" starts with $, which KurrentDB reserves`);
    }
    for (const event of write.events) {
      if (isSystemName(event.type)) {
        throw new InvalidAppend(`event type "${event.type}" starts with $, which KurrentDB reserves`);
      }
    }
  }

  async #appendLocked(prepared: PreparedWrite[]): Promise<AppendResult> {
    for (let attempt = 1; ; attempt++) {
      const heads = await Promise.all(prepared.map((w) => this.#readHead(this.#prefix + w.streamId)));
      const plans = prepared.map((write, i) => plan(write, heads[i] ?? null));
      const recordedAt = new Date().toISOString();
      // A write with no events (an expected-version check only) was checked by plan()
      // against the head just read, under this process's stream locks; it is not sent, since
      // KurrentDB appends records. Unlike on PostgreSQL, that check is not atomic with the
      // append against writers in other processes.
      const sent = plans.flatMap((p, i) =>
        p.write.events.length > 0 ? [{ p, head: heads[i] ?? null }] : [],
      );
      // The append's last event is the last of its last request: it carries the append's end.
      const requests = sent.map(({ p, head }, k) =>
        this.#request(p, head, recordedAt, k === sent.length - 1),
      );
      try {
        const result = await this.#client.multiStreamAppend(requests);
        this.#signal.signal();
        return {
          position: result.position,
          streams: plans.map((p) => {
            const k = sent.findIndex((s) => s.p === p);
            return {
              streamId: p.write.streamId,
              // The server's revision is the truth; ours is what was hashed (equal unless a
              // stream was soft-deleted and revived, which this store never does).
              version: (k >= 0 ? result.responses[k]?.revision : undefined) ?? p.lastVersion,
            };
          }),
        };
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw toAppendError(error);
        const index = requests.findIndex((r) => r.streamName === error.streamName);
        const conflicted = sent[index]?.p;
        if (!conflicted) throw error;
        if (conflicted.retryable && attempt < this.#appendAttemptsMax) {
          const ceilingMs = Math.min(appendRetryBackoffMaxMs, appendRetryBackoffFirstMs * 2 ** (attempt - 1));
          await sleep(Math.random() * ceilingMs);
          continue;
        }
        throw new WrongExpectedVersion(
          conflicted.write.streamId,
          conflicted.write.expectedVersion,
          error.actualState,
        );
      }
    }
  }

  #request(
    p: PlannedWrite,
    head: StreamHead | null,
    recordedAt: string,
    lastOfAppend: boolean,
  ): AppendStreamRequest {
    let hash = head?.hash ?? genesisHash;
    let version = head ? head.version + 1n : 0n;
    const lastIndex = p.write.events.length - 1;
    const events = p.write.events.map((event, i): JSONEventData => {
      const data = JSON.parse(event.data) as JsonValue;
      hash = chainHash(hash, {
        eventId: event.eventId,
        streamId: p.write.streamId,
        streamVersion: version,
        type: event.type,
        schemaVersion: event.schemaVersion,
        data,
        metadata: JSON.parse(event.metadata) as JsonValue,
        recordedAt,
      });
      version++;
      return {
        id: event.eventId,
        contentType: 'application/json',
        type: event.type,
        // Any JSON value: the client JSON.stringify()s it, so scalars and null travel as they are.
        data: data as JSONType,
        metadata: {
          [propertyKeys.hash]: hash.toString('hex'),
          [propertyKeys.schemaVersion]: String(event.schemaVersion),
          [propertyKeys.recordedAt]: recordedAt,
          [propertyKeys.metadata]: event.metadata,
          [propertyKeys.appendEnd]: lastOfAppend && i === lastIndex ? 'true' : 'false',
        },
      };
    });
    return { streamName: this.#prefix + p.write.streamId, expectedState: p.revision, events };
  }

  /** The stream's last event, read from the leader so the hash chain continues from the truth. */
  async #readHead(streamName: string): Promise<StreamHead | null> {
    try {
      for await (const resolved of this.#client.readStream(streamName, {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: 1,
        requiresLeader: true,
      })) {
        const event = resolved.event;
        if (!event) continue;
        const hash = isObject(event.metadata) ? event.metadata[propertyKeys.hash] : undefined;
        return { version: event.revision, hash: Buffer.from(typeof hash === 'string' ? hash : '', 'hex') };
      }
      return null;
    } catch (error) {
      if (error instanceof StreamNotFoundError) return null;
      throw error;
    }
  }

  /** Runs `fn` holding the locks of all `names`, taken in sorted order so appends never deadlock. */
  async #withStreamLocks<T>(names: string[], fn: () => Promise<T>): Promise<T> {
    const releases: (() => void)[] = [];
    try {
      for (const name of [...names].sort()) releases.push(await this.#lock(name));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  #lock(name: string): Promise<() => void> {
    const previous = this.#streamLocks.get(name) ?? Promise.resolve();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => held);
    this.#streamLocks.set(name, tail);
    return previous.then(() => () => {
      release();
      if (this.#streamLocks.get(name) === tail) this.#streamLocks.delete(name);
    });
  }

  async readStream(
    streamId: string,
    options: { fromVersion?: bigint; limit?: number } = {},
  ): Promise<RecordedEvent[]> {
    const limit = checkLimit(options.limit, limits.readLimitDefault);
    const fromVersion = options.fromVersion ?? 0n;
    if (typeof fromVersion !== 'bigint' || fromVersion < 0n)
      throw new RangeError('fromVersion must be a bigint ≥ 0n');
    return this.#readStreamPage(streamId, fromVersion, limit);
  }

  async #readStreamPage(streamId: string, fromVersion: bigint, limit: number): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    try {
      for await (const resolved of this.#client.readStream(this.#prefix + streamId, {
        direction: FORWARDS,
        fromRevision: fromVersion,
        maxCount: limit,
      })) {
        const event = resolved.event;
        if (!event) continue;
        const position = positionOf(event, resolved.commitPosition);
        if (position === undefined) {
          throw new Error(
            `KurrentDB gave no $all position for event ${event.id} of "${event.streamId}" (a server older than 22.6?)`,
          );
        }
        events.push(decode(event, streamId, position));
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
    return events;
  }

  #filter(): Filter {
    return this.#prefix === '' ? excludeSystemEvents() : streamNameFilter({ prefixes: [this.#prefix] });
  }

  /** Ours: under the prefix, and neither a system stream nor a system event type. */
  #streamIdOf(event: KurrentRecordedEvent): string | undefined {
    const name = event.streamId;
    if (!name.startsWith(this.#prefix) || isSystemName(name) || isSystemName(event.type)) return undefined;
    return name.slice(this.#prefix.length);
  }

  /**
   * Events after `after` in $all order. KurrentDB's log is append-only and a reader sees a
   * prefix of it, so no event can later appear below a position already read. The server
   * filters too; the same test here keeps the result right if a filter is not applied.
   *
   * A page never ends inside an append: past `limit`, it reads on to the event that ends the
   * last one's append (the events of one multiStreamAppend are written together, in the
   * order of its requests, and become readable at once).
   */
  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    const limit = checkLimit(options.limit, limits.readLimitDefault);
    const after = checkPosition(options.after);
    const events: RecordedEvent[] = [];
    // Whether the last event taken ends its append (true before the first).
    let atAppendEnd = true;
    const full = () => events.length >= limit && atAppendEnd;
    let cursor = after;
    for (;;) {
      // Past `limit`, only the rest of the last append is wanted: at most an append's size.
      const wanted = events.length < limit ? limit - events.length : limits.eventsPerAppendMax;
      // The start position is inclusive: ask for one more to make up for the event at `cursor`.
      const asked = wanted + (cursor === 0n ? 0 : 1);
      let received = 0;
      let last = cursor;
      for await (const resolved of this.#client.readAll({
        fromPosition: cursor === 0n ? START : { commit: cursor, prepare: cursor },
        direction: FORWARDS,
        maxCount: asked,
        filter: this.#filter(),
      })) {
        received++;
        const event = resolved.event;
        if (!event) continue;
        const position = positionOf(event, resolved.commitPosition);
        if (position === undefined || position <= cursor) continue;
        last = position;
        const streamId = this.#streamIdOf(event);
        if (streamId === undefined || full()) continue;
        events.push(decode(event, streamId, position));
        atAppendEnd = endsAppend(event);
      }
      // Stop at the end of $all, when full, or when a page made no progress.
      if (received < asked || full() || last <= cursor) return events;
      cursor = last;
    }
  }

  /** Reads $all backwards to our newest event: cheap when it is recent, a scan when it is old. */
  async headPosition(): Promise<bigint> {
    // Breaking out of the iteration cancels the read: only the tail of $all is fetched.
    for await (const resolved of this.#client.readAll({
      fromPosition: END,
      direction: BACKWARDS,
      filter: this.#filter(),
    })) {
      const event = resolved.event;
      if (!event || this.#streamIdOf(event) === undefined) continue;
      const position = positionOf(event, resolved.commitPosition);
      if (position !== undefined) return position;
    }
    return 0n;
  }

  /**
   * Catch-up then live over readAll (the same loop as PostgreSQL). A filtered $all
   * subscription serves only as the wake-up signal, as NOTIFY does there, so ordering and
   * the exclusive checkpoint stay those of readAll; polling covers the gaps.
   */
  subscribe(options: SubscribeOptions): Subscription {
    if (this.#closed) throw new Error('event store is closed');
    const subscription = startSubscription(
      { readAll: (o) => this.readAll(o), signal: this.#signal, pollIntervalMs: this.#pollIntervalMs },
      options,
    );
    this.#subscriptions.add(subscription);
    this.#startNotifier();
    subscription.done
      .finally(() => {
        this.#subscriptions.delete(subscription);
        if (this.#subscriptions.size === 0) this.#stopNotifier();
      })
      .catch(() => {});
    return subscription;
  }

  #startNotifier(): void {
    if (this.#notifier || this.#notifierRestart || this.#closed) return;
    const notifier = this.#client.subscribeToAll({ fromPosition: END, filter: this.#filter() });
    this.#notifier = notifier;
    notifier.on('data', () => this.#signal.signal());
    const onEnd = (error?: unknown) => {
      if (this.#notifier !== notifier) return;
      this.#notifier = undefined;
      notifier.unsubscribe().catch(() => {});
      if (error !== undefined) this.#onNotifyError(error);
      if (this.#closed || this.#subscriptions.size === 0) return;
      this.#notifierRestart = setTimeout(() => {
        this.#notifierRestart = undefined;
        if (this.#subscriptions.size > 0) this.#startNotifier();
      }, notifierRestartDelayMs);
      this.#notifierRestart.unref();
    };
    notifier.on('error', (error: unknown) => onEnd(error));
    notifier.on('end', () => onEnd());
    notifier.on('close', () => onEnd());
  }

  #stopNotifier(): void {
    clearTimeout(this.#notifierRestart);
    this.#notifierRestart = undefined;
    const notifier = this.#notifier;
    this.#notifier = undefined;
    notifier?.unsubscribe().catch(() => {});
  }

  /**
   * Recomputes every chain as readers of a stream see it: the stream ids come from a pass
   * over $all, then each stream is read from version 0. `stream_head_mismatch` means the
   * stream no longer ends as $all says it did (its events are gone from the stream: a
   * deletion or a truncation of its tail).
   */
  async verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    const lastSeen = new Map<string, RecordedEvent>();
    for (let after = 0n; ; ) {
      const page = await this.readAll({ after, limit: verifyPageEventsMax });
      for (const event of page) lastSeen.set(event.streamId, event);
      if (page.length < verifyPageEventsMax) break;
      after = page[page.length - 1]!.globalPosition;
    }
    const verifier = new ChainVerifier();
    for (const streamId of [...lastSeen.keys()].sort()) {
      const seen = lastSeen.get(streamId)!;
      let nextVersion = 0n;
      let intact = true;
      let reachedSeen = false;
      while (intact) {
        const page = await this.#readStreamPage(streamId, nextVersion, verifyPageEventsMax);
        for (const event of page) {
          // The rest of a broken stream is not read.
          intact = verifier.add(event);
          if (!intact) break;
          if (event.streamVersion === seen.streamVersion) reachedSeen = event.hash === seen.hash;
          nextVersion++;
        }
        options.onProgress?.(verifier.result().checkedEvents);
        if (page.length < verifyPageEventsMax) break;
      }
      // Appends after the $all pass only lengthen a stream; it must still hold what $all saw.
      if (intact && !reachedSeen) verifier.noteBad(seen, 'stream_head_mismatch');
    }
    return verifier.result();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    this.#stopNotifier();
    await Promise.allSettled([...this.#appends]);
    await this.#client.dispose();
  }
}

/** Chooses the revision to append at, from the caller's expectation and the head just read. */
function plan(write: PreparedWrite, head: StreamHead | null): PlannedWrite {
  const actual: bigint | 'no_stream' = head ? head.version : 'no_stream';
  const lastVersion = (head ? head.version : -1n) + BigInt(write.events.length);
  const expected: ExpectedVersion = write.expectedVersion;
  switch (expected) {
    case 'any':
      return { write, revision: actual, retryable: true, lastVersion };
    case 'exists':
      if (actual === 'no_stream') throw new WrongExpectedVersion(write.streamId, expected, actual);
      return { write, revision: actual, retryable: true, lastVersion };
    case 'no_stream':
      if (actual !== 'no_stream') throw new WrongExpectedVersion(write.streamId, expected, actual);
      return { write, revision: 'no_stream', retryable: false, lastVersion };
    default:
      // The head came from the leader, so a difference is the answer the server would give;
      // the revision is still sent, and the server has the last word.
      if (actual !== expected) throw new WrongExpectedVersion(write.streamId, expected, actual);
      return { write, revision: expected, retryable: false, lastVersion };
  }
}

/** Size limits of the server are the caller's problem, like the store's own limits: nothing was written. */
function toAppendError(error: unknown): unknown {
  if (
    error instanceof TransactionMaxSizeExceededError ||
    error instanceof AppendRecordSizeExceededError ||
    error instanceof MaxAppendSizeExceededError
  ) {
    return new InvalidAppend(`KurrentDB refused the append's size: ${error.message}`, { cause: error });
  }
  return error;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
