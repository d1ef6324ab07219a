/**
 * The event store port. Adapters: PostgreSQL (node-postgres or PGlite) and KurrentDB.
 *
 * Versions are 0-based, as KurrentDB revisions are: a stream's first event has
 * `streamVersion` 0, and `expectedVersion: 0` means "the stream holds exactly one event".
 * Global positions are opaque, strictly increasing bigints: they are sparse (gaps are
 * normal) and comparable only with each other.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type ExpectedVersion = bigint | 'no_stream' | 'exists' | 'any';

export interface EventMetadata {
  correlationId?: string;
  causationId?: string;
  actorId?: string;
  requestId?: string;
  [key: string]: JsonValue | undefined;
}

export interface NewEvent {
  /** A UUID; when absent, the store makes a time-ordered one (UUIDv7). */
  eventId?: string;
  type: string;
  /** Version of the event's schema, for upcasting; defaults to 1. */
  schemaVersion?: number;
  data: unknown;
  metadata?: EventMetadata;
}

export interface StreamWrite {
  streamId: string;
  expectedVersion: ExpectedVersion;
  events: readonly NewEvent[];
}

export interface RecordedEvent {
  eventId: string;
  streamId: string;
  streamVersion: bigint;
  globalPosition: bigint;
  type: string;
  schemaVersion: number;
  data: JsonValue;
  metadata: EventMetadata;
  /** ISO 8601 UTC, millisecond precision, as hashed. */
  recordedAt: string;
  /** sha256 hex of (previous hash of the stream ‖ canonical JSON of the event). */
  hash: string;
}

export interface AppendResult {
  /** Global position of the last event written by this append. */
  position: bigint;
  /**
   * New version of each stream, in the order the writes were given; `position`: the global
   * position of that write's last event, where the store knows it (PostgreSQL: an append's
   * positions run contiguously in the order of its writes and events). Absent for a write of
   * no events, and on KurrentDB, where every event of an append has the append's `position`.
   */
  streams: { streamId: string; version: bigint; position?: bigint }[];
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. `0n` reads from the start. */
  after: bigint;
  /**
   * Events wanted: a page holds this many (fewer at the end of what is readable), and then
   * the rest of the last one's append, so that it never ends inside an append (at most
   * limits.eventsPerAppendMax − 1 more).
   */
  limit: number;
}

export interface SubscribeOptions {
  /** Exclusive checkpoint: the last position already handled (0n for the start). */
  after: bigint;
  /**
   * Called with each batch in position order; the next batch is read after it resolves. A
   * batch is a page of readAll: it ends on an append's last event, never inside an append,
   * so a handler that commits batch by batch never holds part of one.
   */
  onEvents: (events: RecordedEvent[]) => Promise<void>;
  /** Events per batch, before the rest of the last one's append (see ReadAllOptions.limit). */
  batchSize?: number;
  /**
   * After a batch smaller than batchSize, wait this long before reading again, so that the
   * events appended meanwhile are handled as one batch instead of many small ones (each
   * batch has a fixed cost: a transaction, a checkpoint). Adds at most this much delay, and
   * only while events keep coming: the first event after a quiet spell is read at once.
   * Default 0; at most limits.subscriptionLingerMsMax.
   */
  lingerMs?: number;
  /** Called when the subscription stops because `onEvents` or a read failed. */
  onError?: (error: unknown) => void;
}

export interface Subscription {
  /** Last position handed to `onEvents` and resolved. */
  readonly position: bigint;
  /** Resolves once the subscription has read everything that was visible when it started. */
  readonly caughtUp: Promise<void>;
  /** Stops after the batch in hand (if any); resolves when stopped. */
  stop(): Promise<void>;
  /** Resolves when the subscription ends, by stop() or by an error (which it rejects with). */
  readonly done: Promise<void>;
}

export interface BadEvent {
  eventId: string;
  streamId: string;
  streamVersion: bigint;
  globalPosition: bigint;
  reason: 'hash_mismatch' | 'version_gap' | 'stream_head_mismatch';
}

/** What a long verification tells its caller as it goes (an auditor's progress line). */
export interface VerifyOptions {
  /** Called after each page of events checked, with the count so far. */
  onProgress?(checkedEvents: number): void;
}

export interface VerifyResult {
  ok: boolean;
  checkedEvents: number;
  /** The bad event with the lowest global position, or null. */
  firstBadEvent: BadEvent | null;
}

/**
 * Told of the appends made through one store object (another object's or process's appends
 * are not seen: subscribe for those), say to drop a cache entry of a stream being written.
 * Its errors never change an append's outcome: a committed append must not be reported as
 * failed, or its caller might write it again.
 */
export interface AppendObserver {
  /**
   * Called in append() once the append is validated, before anything is sent, with the ids of
   * the streams it writes or checks, in the order given. Synchronous: not awaited.
   */
  beforeAppend?(streamIds: readonly string[]): void;
  /**
   * Called once the append has ended, with the same ids and its result, or undefined when it
   * failed (after a connection error, one that failed may still have committed). The
   * append's promise settles after the returned promise does.
   */
  afterAppend?(streamIds: readonly string[], result: AppendResult | undefined): void | Promise<void>;
  /** Where this observer's own errors go; default: a process warning. */
  onError?(error: unknown): void;
}

/**
 * When the caller of an append stops waiting for it (say, an HTTP request past its deadline).
 * The point of no return is the moment the append is sent to the database: before it, an
 * aborted append is dropped and writes nothing; after it, only the database's answer says
 * what happened.
 */
export interface AppendDeadline {
  /** Aborted: an append not yet sent is not sent; it rejects with the signal's reason. */
  readonly signal: AbortSignal;
  /**
   * Told, synchronously, as the append is sent while the signal has not aborted: from then
   * on its outcome is known only when the database answers, so the caller should wait for
   * that answer rather than report a time-out.
   */
  sent?(): void;
}

export interface AppendOptions {
  deadline?: AppendDeadline;
}

export interface EventStore {
  append(writes: readonly StreamWrite[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Tells `observer` of every append made through this store object from now on, until the
   * returned function is called. An observer told of an append's start is told of its end.
   * With no observer, appends pay nothing for this.
   */
  observeAppends(observer: AppendObserver): () => void;
  /** Events of one stream from `fromVersion` (inclusive), at most `limit`. */
  readStream(streamId: string, options?: { fromVersion?: bigint; limit?: number }): Promise<RecordedEvent[]>;
  /**
   * Events of all streams after a position, in position order; never skips a committed
   * event, and never ends inside an append (see ReadAllOptions.limit).
   */
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>;
  /** Position of the last event visible to readers (0n when empty). */
  headPosition(): Promise<bigint>;
  subscribe(options: SubscribeOptions): Subscription;
  verify(options?: VerifyOptions): Promise<VerifyResult>;
  close(): Promise<void>;
  /** What this store object has done since it opened (for metrics); optional for adapters. */
  stats?(): EventStoreStats;
}

/** Counters of one store object, since it opened. */
export interface EventStoreStats {
  /** Appends sent to the database, and the transactions that carried them (group commit). */
  appends: number;
  appendTransactions: number;
  /** readStream calls, and the queries sent for them. */
  streamReads: number;
  streamReadQueries: number;
}

/** Limits of the store, TigerBeetle-style: named, with the unit last. */
export const limits = {
  streamIdLengthMax: 256,
  eventTypeLengthMax: 128,
  eventsPerAppendMax: 1000,
  writesPerAppendMax: 64,
  eventDataBytesMax: 1024 * 1024,
  readLimitMax: 10_000,
  readLimitDefault: 1000,
  subscriptionBatchSizeMax: 10_000,
  subscriptionLingerMsMax: 1_000,
} as const;

export class WrongExpectedVersion extends Error {
  override readonly name = 'WrongExpectedVersion';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersion,
    /** Current version, or 'no_stream'. */
    readonly actual: bigint | 'no_stream',
  ) {
    super(
      `Wrong expected version for stream "${streamId}": expected ${String(expected)}, actual ${String(actual)}`,
    );
  }
}

/** The caller gave the store something it cannot store as asked. Nothing was written. */
export class InvalidAppend extends Error {
  override readonly name = 'InvalidAppend';
}
