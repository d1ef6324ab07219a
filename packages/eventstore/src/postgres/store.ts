import { chainHash, genesisHash } from '../hash.js';
import { AppendSignal, startSubscription } from '../subscription.js';
import {
  type AppendResult,
  type BadEvent,
  type EventMetadata,
  type EventStore,
  type EventStoreStats,
  type ExpectedVersion,
  InvalidAppend,
  type JsonValue,
  limits,
  type ReadAllOptions,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
  type Subscription,
  type VerifyResult,
  WrongExpectedVersion,
} from '../types.js';
import { type PreparedWrite, prepareAppend } from '../validate.js';
import { int4Array, textArray, uuidArray } from './binary-array.js';
import { migrateEventStore } from './migrations.js';
import type { SqlClient } from './sql-client.js';

export interface PostgresEventStoreOptions {
  /**
   * How many batches may be in flight at once; default 2 (1 on PGlite). Fewer, larger batches
   * cost PostgreSQL less per append (one commit, one statement each) than many small ones;
   * two keep one batch filling while the other commits.
   */
  appendConcurrency?: number;
  /** Most appends combined into one transaction. */
  batchAppendsMax?: number;
  /** Most events combined into one transaction (positions leave room for 65,536). */
  batchEventsMax?: number;
  /**
   * How many stream reads may be in flight at once; default 4 (1 on PGlite). readStream calls
   * made while these are busy, or in the same turn of the event loop, share one query.
   */
  readConcurrency?: number;
  /** Polling fallback for subscriptions when no NOTIFY arrives. */
  pollIntervalMs?: number;
  /** Run the schema migrations on open (default true). */
  migrate?: boolean;
  onListenError?: (error: unknown) => void;
}

const notifyChannel = 'es_appended';
const notifyIntervalMinMs = 20;
const appendConcurrencyDefault = 2;
const readConcurrencyDefault = 4;
/** Most readStream calls answered by one query, and most rows they may ask for in all. */
const readBatchStreamsMax = 64;
const readBatchRowsMax = 20_000;
// How far down the queue one batch looks for appends on streams it does not hold yet.
const batchScanMax = 1024;
const verifyPageSize = 1000;
/**
 * Pages of $all recently read (or being read) by this store's subscriptions, by `after`:
 * the projections of one process follow $all in step, and each would otherwise read and
 * parse the same page. A page holds only positions below the visibility horizon, which are
 * final, so a page read from `after` is a prefix of any later read from `after`: sharing it
 * is a read made a moment earlier, which a subscription (it reads again from the page's
 * end) cannot tell apart. Not used by readAll itself: its callers may need what was just
 * written. Pages are shared, not copied: handlers must not mutate events.
 */
const recentPagesMax = 16;

interface EventRow {
  global_position: string;
  event_id: string;
  stream_id: string;
  stream_version: string;
  type: string;
  schema_version: number;
  data: JsonValue;
  metadata: EventMetadata;
  recorded_at: string;
  hash: string;
}

const eventColumns = `global_position::text, event_id::text, stream_id, stream_version::text, type,
  schema_version, data, metadata,
  to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded_at,
  encode(hash, 'hex') AS hash`;

// Output columns are int8 as text under their own names: ORDER BY must name the table's
// columns (e.x), or PostgreSQL would sort the text.
// Positions below the oldest transaction still running are final: see migrations.ts.
const visibleBelow = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)`;

const readStreamSql = `SELECT ${eventColumns} FROM es.events e WHERE stream_id = $1 AND stream_version >= $2
  ORDER BY e.stream_version LIMIT $3`;
// Several streams in one query: each request's page by its own index lookup, in request order.
const readStreamsSql = `SELECT r.i::int AS i, ${eventColumns}
  FROM unnest($1::text[], $2::bigint[], $3::int[]) WITH ORDINALITY AS r(s, v, l, i)
  CROSS JOIN LATERAL (
    SELECT * FROM es.events x WHERE x.stream_id = r.s AND x.stream_version >= r.v
     ORDER BY x.stream_version LIMIT r.l) e
  ORDER BY r.i, e.stream_version`;
const readAllSql = `SELECT ${eventColumns} FROM es.events e
  WHERE global_position > $1 AND global_position < ${visibleBelow}
  ORDER BY e.global_position LIMIT $2`;

function toRecorded(row: EventRow): RecordedEvent {
  return {
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: BigInt(row.stream_version),
    globalPosition: BigInt(row.global_position),
    type: row.type,
    schemaVersion: row.schema_version,
    data: row.data,
    metadata: row.metadata,
    recordedAt: row.recorded_at,
    hash: row.hash,
  };
}

function expectedText(expected: ExpectedVersion): string {
  return typeof expected === 'bigint' ? expected.toString() : expected;
}

function checkLimit(limit: number | undefined, fallback: number): number {
  const value = limit ?? fallback;
  if (!Number.isInteger(value) || value < 1 || value > limits.readLimitMax) {
    throw new RangeError(`limit must be an integer from 1 to ${limits.readLimitMax}`);
  }
  return value;
}

/** What one append of a batch came to: its result, or the check it failed (it wrote nothing). */
type BatchOutcome = AppendResult | WrongExpectedVersion;

/**
 * `run`, once, in a microtask after the first call: calls made meanwhile (by callers woken
 * in the same microtask run) join that one run.
 */
function onceInMicrotask(run: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      run();
    });
  };
}

interface PendingRead {
  streamId: string;
  fromVersion: bigint;
  limit: number;
  resolve: (events: RecordedEvent[]) => void;
  reject: (error: unknown) => void;
}

interface Pending {
  writes: PreparedWrite[];
  eventCount: number;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The PostgreSQL event store, on node-postgres or PGlite.
 *
 * Appends waiting while others are in flight are combined into one `es.append_batch_v2`
 * call: one transaction and one WAL flush for many appends, each still all-or-nothing
 * with its own expected versions (group commit at the application level).
 */
export class PostgresEventStore implements EventStore {
  readonly #sql: SqlClient;
  readonly #signal = new AppendSignal();
  readonly #queue: Pending[] = [];
  readonly #appendConcurrency: number;
  readonly #batchAppendsMax: number;
  readonly #batchEventsMax: number;
  readonly #readConcurrency: number;
  readonly #pollIntervalMs: number;
  #inFlight = 0;
  readonly #schedulePump = onceInMicrotask(() => this.#pump());
  readonly #reads: PendingRead[] = [];
  #readsInFlight = 0;
  readonly #scheduleReadPump = onceInMicrotask(() => this.#pumpReads());
  readonly #stats: EventStoreStats = {
    appends: 0,
    appendTransactions: 0,
    streamReads: 0,
    streamReadQueries: 0,
  };
  #notifying = false;
  #notifyAgain = false;
  #unlisten: (() => Promise<void>) | undefined;
  #subscriptions = new Set<Subscription>();
  readonly #recentPages = new Map<bigint, { limit: number; events: Promise<RecordedEvent[]> }>();
  #closed = false;

  private constructor(sql: SqlClient, options: PostgresEventStoreOptions) {
    this.#sql = sql;
    this.#appendConcurrency =
      options.appendConcurrency ?? Math.min(sql.concurrencyMax, appendConcurrencyDefault);
    this.#batchAppendsMax = options.batchAppendsMax ?? 64;
    this.#batchEventsMax = options.batchEventsMax ?? 8192;
    this.#readConcurrency = options.readConcurrency ?? Math.min(sql.concurrencyMax, readConcurrencyDefault);
    if (!Number.isInteger(this.#readConcurrency) || this.#readConcurrency < 1) {
      throw new RangeError('readConcurrency must be a positive integer');
    }
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    if (this.#batchEventsMax > 65536 || this.#batchEventsMax < limits.eventsPerAppendMax) {
      throw new RangeError(`batchEventsMax must be from ${limits.eventsPerAppendMax} to 65536`);
    }
  }

  static async open(sql: SqlClient, options: PostgresEventStoreOptions = {}): Promise<PostgresEventStore> {
    if (options.migrate ?? true) await migrateEventStore(sql.kysely());
    const store = new PostgresEventStore(sql, options);
    if (sql.listen) {
      const onError = options.onListenError ?? (() => {});
      store.#unlisten = await sql.listen(notifyChannel, () => store.#signal.signal(), onError);
    }
    return store;
  }

  append(writes: readonly StreamWrite[]): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new Error('event store is closed'));
    let prepared: PreparedWrite[];
    try {
      prepared = prepareAppend(writes);
    } catch (error) {
      return Promise.reject(error);
    }
    const eventCount = prepared.reduce((n, w) => n + w.events.length, 0);
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ writes: prepared, eventCount, resolve, reject });
      // Not at once: the callers woken by one batch's answer append again in the same
      // microtask run; pumping after them puts them in one batch instead of a batch of one
      // followed by the rest.
      this.#schedulePump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#appendConcurrency && this.#queue.length > 0) {
      // A batch holds each stream at most once, so every append in it is checked against
      // the stream as it was before the batch. An append that shares a stream with one
      // already taken waits for the next batch, behind it: per stream, order is kept.
      // Spread what is waiting over the free slots: two half batches on two connections
      // run on two cores, where one full batch would leave the second idle.
      const free = this.#appendConcurrency - this.#inFlight;
      const share = Math.min(this.#batchAppendsMax, Math.ceil(this.#queue.length / free));
      const batch: Pending[] = [];
      const streams = new Set<string>();
      let events = 0;
      let scanned = 0;
      for (let i = 0; i < this.#queue.length && scanned < batchScanMax; scanned++) {
        const next = this.#queue[i]!;
        if (batch.length >= share || events + next.eventCount > this.#batchEventsMax) break;
        if (next.writes.some((w) => streams.has(w.streamId))) {
          // Later appends to the same streams must stay behind this one.
          for (const w of next.writes) streams.add(w.streamId);
          i++;
          continue;
        }
        for (const w of next.writes) streams.add(w.streamId);
        events += next.eventCount;
        batch.push(next);
        this.#queue.splice(i, 1);
      }
      if (batch.length === 0) return;
      this.#inFlight++;
      void this.#runBatch(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #runBatch(batch: Pending[]): Promise<void> {
    let outcomes: BatchOutcome[];
    try {
      outcomes = await this.#callAppendBatch(batch.map((p) => p.writes));
    } catch (error) {
      if (batch.length === 1 || isConnectionError(error)) {
        for (const pending of batch) pending.reject(error);
        return;
      }
      // One append broke the whole transaction (say, a duplicate event id): run each alone
      // so only that one fails.
      await Promise.all(
        batch.map(async (pending) => {
          try {
            const [outcome] = await this.#callAppendBatch([pending.writes]);
            this.#settle(pending, outcome!);
          } catch (single) {
            pending.reject(single);
          }
        }),
      );
      this.#notify();
      return;
    }
    for (const [i, pending] of batch.entries()) this.#settle(pending, outcomes[i]!);
    this.#notify();
  }

  #settle(pending: Pending, outcome: BatchOutcome): void {
    if (outcome instanceof WrongExpectedVersion) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  async #callAppendBatch(appends: PreparedWrite[][]): Promise<BatchOutcome[]> {
    this.#stats.appends += appends.length;
    this.#stats.appendTransactions++;
    // The batch's streams, sorted bytewise (the lock order of every append): the pump puts
    // each stream in one batch at most once, and an append names each of its streams once.
    const streamIds: string[] = [];
    for (const append of appends) for (const write of append) streamIds.push(write.streamId);
    streamIds.sort(compareUtf8);
    const streamIndex = new Map<string, number>();
    for (const [i, id] of streamIds.entries()) streamIndex.set(id, i + 1);
    const writeAppend: number[] = [];
    const writeStream: number[] = [];
    const writeExpected: string[] = [];
    const writeEvents: number[] = [];
    const ids: string[] = [];
    const types: string[] = [];
    const typesJson: string[] = [];
    const schemaVersions: number[] = [];
    const data: string[] = [];
    const metadata: string[] = [];
    appends.forEach((append, a) => {
      for (const write of append) {
        writeAppend.push(a + 1);
        writeStream.push(streamIndex.get(write.streamId)!);
        writeExpected.push(expectedText(write.expectedVersion));
        writeEvents.push(write.events.length);
        for (const event of write.events) {
          ids.push(event.eventId);
          types.push(event.type);
          typesJson.push(JSON.stringify(event.type));
          schemaVersions.push(event.schemaVersion);
          data.push(event.data);
          metadata.push(event.metadata);
        }
      }
    });
    // node-postgres sends a Buffer as binary: the arrays go in PostgreSQL's own format. PGlite
    // takes them as they are.
    const binary = this.#sql.kind === 'pg';
    const text = (values: string[]) => (binary ? textArray(values) : values);
    const int4 = (values: number[]) => (binary ? int4Array(values) : values);
    const uuid = (values: string[]) => (binary ? uuidArray(values) : values);
    let row: { o_bad: number[]; o_position: (string | null)[]; o_version: string[] };
    try {
      const rows = await this.#sql.query<typeof row>(
        'SELECT o_bad, o_position::text[] AS o_position, o_version::text[] AS o_version FROM es.append_batch_v2($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
        [
          text(streamIds),
          text(streamIds.map((id) => JSON.stringify(id))),
          int4(writeAppend),
          int4(writeStream),
          text(writeExpected),
          int4(writeEvents),
          uuid(ids),
          text(types),
          text(typesJson),
          int4(schemaVersions),
          text(data),
          text(metadata),
        ],
        'es_append_batch_v2',
      );
      row = rows[0]!;
    } catch (error) {
      if (isUniqueViolation(error, 'events_event_id_key')) {
        throw new InvalidAppend('an event with this eventId is already stored', { cause: error });
      }
      throw error;
    }
    const { o_bad: bad, o_position: positions, o_version: versions } = row;
    let w = 0;
    return appends.map((append, a): BatchOutcome => {
      const first = w;
      w += append.length;
      if (bad[a] !== 0) {
        // The first write whose check failed, and its stream's version (-1: none).
        const k = bad[a]! - 1;
        const actual = BigInt(versions[k]!);
        return new WrongExpectedVersion(
          append[k - first]!.streamId,
          append[k - first]!.expectedVersion,
          actual === -1n ? 'no_stream' : actual,
        );
      }
      return {
        position: BigInt(positions[a]!),
        streams: append.map((write, i) => ({
          streamId: write.streamId,
          version: BigInt(versions[first + i]!),
        })),
      };
    });
  }

  /** Tell subscribers, here and in other processes; many appends share one NOTIFY. */
  #notify(): void {
    this.#signal.signal();
    if (!this.#sql.listen) return;
    this.#notifyAgain = true;
    if (this.#notifying) return;
    this.#notifying = true;
    const send = async () => {
      while (this.#notifyAgain && !this.#closed) {
        this.#notifyAgain = false;
        await this.#sql.query(`SELECT pg_notify('${notifyChannel}', '')`).catch(() => {});
        // Each NOTIFY is a transaction of its own: under load, one per interval is enough.
        await new Promise((resolve) => setTimeout(resolve, notifyIntervalMinMs));
      }
      this.#notifying = false;
    };
    void send();
  }

  /**
   * The commands' hottest read (several per request). Calls made in the same turn of the
   * event loop (a command loading both its accounts), or while readConcurrency reads are in
   * flight, are answered by one query: one round trip instead of one each. A read still
   * sees every append that completed before it was called.
   */
  readStream(
    streamId: string,
    options: { fromVersion?: bigint; limit?: number } = {},
  ): Promise<RecordedEvent[]> {
    let limit: number;
    try {
      limit = checkLimit(options.limit, limits.readLimitDefault);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<RecordedEvent[]>((resolve, reject) => {
      this.#stats.streamReads++;
      this.#reads.push({ streamId, fromVersion: options.fromVersion ?? 0n, limit, resolve, reject });
      this.#scheduleReadPump();
    });
  }

  #pumpReads(): void {
    while (this.#readsInFlight < this.#readConcurrency && this.#reads.length > 0) {
      let rows = 0;
      let take = 0;
      while (
        take < this.#reads.length &&
        take < readBatchStreamsMax &&
        (take === 0 || rows + this.#reads[take]!.limit <= readBatchRowsMax)
      ) {
        rows += this.#reads[take]!.limit;
        take++;
      }
      const batch = this.#reads.splice(0, take);
      this.#readsInFlight++;
      void this.#runReads(batch).finally(() => {
        this.#readsInFlight--;
        this.#pumpReads();
      });
    }
  }

  async #runReads(batch: PendingRead[]): Promise<void> {
    this.#stats.streamReadQueries++;
    if (batch.length === 1) {
      const [read] = batch as [PendingRead];
      try {
        // Named: prepared once per connection, then only bound and executed.
        const rows = await this.#sql.query<EventRow>(
          readStreamSql,
          [read.streamId, read.fromVersion.toString(), read.limit],
          'es_read_stream',
        );
        read.resolve(rows.map(toRecorded));
      } catch (error) {
        read.reject(error);
      }
      return;
    }
    try {
      const rows = await this.#sql.query<EventRow & { i: number }>(
        readStreamsSql,
        [batch.map((r) => r.streamId), batch.map((r) => r.fromVersion.toString()), batch.map((r) => r.limit)],
        'es_read_streams',
      );
      const pages: RecordedEvent[][] = batch.map(() => []);
      for (const row of rows) pages[row.i - 1]!.push(toRecorded(row));
      for (const [k, read] of batch.entries()) read.resolve(pages[k]!);
    } catch (error) {
      if (isConnectionError(error)) {
        for (const read of batch) read.reject(error);
        return;
      }
      // One read broke the query (say, a stream id PostgreSQL cannot take): each alone, so
      // only that one fails, as it would have without the others.
      await Promise.all(batch.map((read) => this.#runReads([read])));
    }
  }

  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    const limit = checkLimit(options.limit, limits.readLimitDefault);
    if (typeof options.after !== 'bigint' || options.after < 0n)
      throw new RangeError('after must be a bigint ≥ 0n');
    const rows = await this.#sql.query<EventRow>(
      readAllSql,
      [options.after.toString(), limit],
      'es_read_all',
    );
    return rows.map(toRecorded);
  }

  /**
   * readAll for this store's subscriptions: a page being read, or read recently, from the
   * same position is shared instead of read again (see recentPagesMax).
   */
  async #readAllShared(options: { after: bigint; limit: number }): Promise<RecordedEvent[]> {
    const { limit } = options;
    const key = options.after;
    const shared = this.#recentPages.get(key);
    if (shared !== undefined && shared.limit >= limit) {
      const events = await shared.events;
      if (events.length > 0) return events.length > limit ? events.slice(0, limit) : events;
    }
    const events = this.#sql
      .query<EventRow>(readAllSql, [key.toString(), limit], 'es_read_all')
      .then((rows) => rows.map(toRecorded));
    this.#recentPages.delete(key);
    this.#recentPages.set(key, { limit, events });
    if (this.#recentPages.size > recentPagesMax)
      this.#recentPages.delete(this.#recentPages.keys().next().value!);
    try {
      const page = await events;
      // An empty page is never shared: the next read may find events.
      if (page.length === 0 && this.#recentPages.get(key)?.events === events) this.#recentPages.delete(key);
      return page;
    } catch (error) {
      if (this.#recentPages.get(key)?.events === events) this.#recentPages.delete(key);
      throw error;
    }
  }

  async headPosition(): Promise<bigint> {
    const rows = await this.#sql.query<{ p: string | null }>(
      `SELECT max(global_position)::text AS p FROM es.events WHERE global_position < ${visibleBelow}`,
    );
    return BigInt(rows[0]?.p ?? '0');
  }

  /**
   * Position of the last committed event, whether or not readers may see it yet: $all is
   * read only below the oldest running transaction of the whole server, so headPosition()
   * can trail this while some transaction (in any database) is open. For tests and lag.
   */
  async lastWrittenPosition(): Promise<bigint> {
    const rows = await this.#sql.query<{ p: string | null }>(
      'SELECT max(global_position)::text AS p FROM es.events',
    );
    return BigInt(rows[0]?.p ?? '0');
  }

  subscribe(options: SubscribeOptions): Subscription {
    const subscription = startSubscription(
      { readAll: (o) => this.#readAllShared(o), signal: this.#signal, pollIntervalMs: this.#pollIntervalMs },
      options,
    );
    this.#subscriptions.add(subscription);
    subscription.done.finally(() => this.#subscriptions.delete(subscription)).catch(() => {});
    return subscription;
  }

  /**
   * Recomputes every stream's chain, in (stream, version) order, page by page.
   * Reports the bad event with the lowest global position.
   */
  async verify(): Promise<VerifyResult> {
    let checkedEvents = 0;
    let firstBad: BadEvent | null = null;
    const noteBad = (bad: BadEvent) => {
      if (!firstBad || bad.globalPosition < firstBad.globalPosition) firstBad = bad;
    };
    let cursor: { streamId: string; version: string } | null = null;
    let current: {
      streamId: string;
      nextVersion: bigint;
      hash: Buffer;
      broken: boolean;
      last: RecordedEvent;
    } | null = null;
    const closeStream = async (stream: NonNullable<typeof current>) => {
      if (stream.broken) return;
      const [head] = await this.#sql.query<{ version: string; last_hash: string }>(
        `SELECT version::text, encode(last_hash, 'hex') AS last_hash FROM es.streams WHERE stream_id = $1`,
        [stream.streamId],
      );
      if (
        !head ||
        BigInt(head.version) !== stream.last.streamVersion ||
        head.last_hash !== stream.hash.toString('hex')
      ) {
        noteBad({ ...badOf(stream.last), reason: 'stream_head_mismatch' });
      }
    };
    for (;;) {
      const rows: EventRow[] = cursor
        ? await this.#sql.query<EventRow>(
            `SELECT ${eventColumns} FROM es.events e WHERE (stream_id, stream_version) > ($1, $2::bigint)
             ORDER BY e.stream_id, e.stream_version LIMIT ${verifyPageSize}`,
            [cursor.streamId, cursor.version],
          )
        : await this.#sql.query<EventRow>(
            `SELECT ${eventColumns} FROM es.events e ORDER BY e.stream_id, e.stream_version LIMIT ${verifyPageSize}`,
          );
      for (const row of rows) {
        const event = toRecorded(row);
        checkedEvents++;
        if (!current || current.streamId !== event.streamId) {
          if (current) await closeStream(current);
          current = {
            streamId: event.streamId,
            nextVersion: 0n,
            hash: genesisHash,
            broken: false,
            last: event,
          };
        }
        current.last = event;
        if (current.broken) continue;
        if (event.streamVersion !== current.nextVersion) {
          noteBad({ ...badOf(event), reason: 'version_gap' });
          current.broken = true;
          continue;
        }
        const expected = chainHash(current.hash, event);
        if (expected.toString('hex') !== event.hash) {
          noteBad({ ...badOf(event), reason: 'hash_mismatch' });
          current.broken = true;
          continue;
        }
        current.hash = expected;
        current.nextVersion++;
      }
      if (rows.length < verifyPageSize) break;
      const last = rows[rows.length - 1]!;
      cursor = { streamId: last.stream_id, version: last.stream_version };
    }
    if (current) await closeStream(current);
    return { ok: firstBad === null, checkedEvents, firstBadEvent: firstBad };
  }

  stats(): EventStoreStats {
    return { ...this.#stats };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    while (this.#inFlight > 0 || this.#queue.length > 0 || this.#readsInFlight > 0 || this.#reads.length > 0)
      await new Promise((r) => setTimeout(r, 5));
    await this.#unlisten?.();
  }
}

/** Bytewise order of the UTF-8 encodings, PostgreSQL's COLLATE "C" (UTF-16 order differs above U+D7FF). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is what this looks for
const ascii = /^[\u0000-\u007f]*$/;

function compareUtf8(a: string, b: string): number {
  if (ascii.test(a) && ascii.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function badOf(event: RecordedEvent): Omit<BadEvent, 'reason'> {
  return {
    eventId: event.eventId,
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    globalPosition: event.globalPosition,
  };
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string };
  return e?.code === '23505' && (e.constraint === constraint || (e.message ?? '').includes(constraint));
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? '';
  return /^(08|57P)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code);
}
