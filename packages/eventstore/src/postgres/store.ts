import { AppendObservers, observedAppend } from '../append-observers.js';
import type { SnapshotStore } from '../snapshots.js';
import { AppendSignal, startSubscription } from '../subscription.js';
import {
  type AppendObserver,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type EventStoreStats,
  limits,
  type ReadAllOptions,
  type RecordedEvent,
  type StreamWrite,
  type SubscribeOptions,
  type Subscription,
  type VerifyOptions,
  type VerifyResult,
} from '../types.js';
import { type PreparedWrite, prepareAppend } from '../validate.js';
import { AppendBatcher } from './append-batcher.js';
import { migrateEventStore } from './migrations.js';
import { ReadBatcher } from './read-batcher.js';
import { type EventRow, eventColumns, toRecorded } from './rows.js';
import { PostgresSnapshotStore } from './snapshots.js';
import type { SqlClient } from './sql-client.js';
import { verifyPostgres } from './verify.js';

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

// Positions below the oldest transaction still running are final: see migrations.ts.
const visibleBelow = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)`;

const readAllSql = `SELECT ${eventColumns}, e.append_end FROM es.events e
  WHERE global_position > $1 AND global_position < ${visibleBelow}
  ORDER BY e.global_position LIMIT $2`;
/**
 * The rest of the append of the event at $1: up to the next event that ends an append. An
 * append is written by one transaction, whose positions are those with the same `>> 16`, so
 * the scan stays in that range (and the rest is visible, as $1 is); were no end marked there,
 * the end of the transaction is one too.
 */
const appendRestSql = `SELECT ${eventColumns}, e.append_end FROM es.events e
  WHERE e.global_position > $1::bigint AND e.global_position <= coalesce(
    (SELECT min(x.global_position) FROM es.events x
      WHERE x.global_position > $1::bigint AND x.global_position < ((($1::bigint >> 16) + 1) << 16)
        AND x.append_end),
    ((($1::bigint >> 16) + 1) << 16) - 1)
  ORDER BY e.global_position`;

/** A page of $all, and which of its events end their append (the last one always does). */
interface Page {
  events: RecordedEvent[];
  appendEnds: boolean[];
}

/** The page's first `limit` events and the rest of the last one's append. */
function pagePrefix(page: Page, limit: number): RecordedEvent[] {
  const { events, appendEnds } = page;
  if (events.length <= limit) return events;
  let last = limit - 1;
  while (last < events.length - 1 && !appendEnds[last]) last++;
  return last === events.length - 1 ? events : events.slice(0, last + 1);
}

function checkLimit(limit: number | undefined, fallback: number): number {
  const value = limit ?? fallback;
  if (!Number.isInteger(value) || value < 1 || value > limits.readLimitMax) {
    throw new RangeError(`limit must be an integer from 1 to ${limits.readLimitMax}`);
  }
  return value;
}

/**
 * The PostgreSQL event store, on node-postgres or PGlite. Appends go through the append
 * batcher (group commit), stream reads through the read batcher; verify() is verify.ts's.
 */
export class PostgresEventStore implements EventStore {
  readonly #sql: SqlClient;
  readonly #signal = new AppendSignal();
  readonly #appends: AppendBatcher;
  readonly #reads: ReadBatcher;
  readonly #observers = new AppendObservers();
  readonly #pollIntervalMs: number;
  #notifying = false;
  #notifyAgain = false;
  #unlisten: (() => Promise<void>) | undefined;
  #subscriptions = new Set<Subscription>();
  readonly #recentPages = new Map<bigint, { limit: number; page: Promise<Page> }>();
  #closed = false;
  /** Snapshots of streams, in es.snapshots (snapshots.ts). */
  readonly snapshots: SnapshotStore;

  private constructor(sql: SqlClient, options: PostgresEventStoreOptions) {
    this.#sql = sql;
    this.snapshots = new PostgresSnapshotStore(sql);
    const batchEventsMax = options.batchEventsMax ?? 8192;
    this.#reads = new ReadBatcher(
      sql,
      options.readConcurrency ?? Math.min(sql.concurrencyMax, readConcurrencyDefault),
    );
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    if (batchEventsMax > 65536 || batchEventsMax < limits.eventsPerAppendMax) {
      throw new RangeError(`batchEventsMax must be from ${limits.eventsPerAppendMax} to 65536`);
    }
    this.#appends = new AppendBatcher(sql, {
      lanes: options.appendConcurrency ?? Math.min(sql.concurrencyMax, appendConcurrencyDefault),
      batchAppendsMax: options.batchAppendsMax ?? 64,
      batchEventsMax,
      onWritten: () => this.#notify(),
    });
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

  append(writes: readonly StreamWrite[], options?: AppendOptions): Promise<AppendResult> {
    if (this.#closed) return Promise.reject(new Error('event store is closed'));
    const deadline = options?.deadline;
    let prepared: PreparedWrite[];
    try {
      deadline?.signal.throwIfAborted();
      prepared = prepareAppend(writes);
    } catch (error) {
      return Promise.reject(error);
    }
    let eventCount = 0;
    for (const write of prepared) eventCount += write.events.length;
    const observers = this.#observers.list;
    if (observers.length === 0) return this.#appends.append(prepared, eventCount, deadline);
    return observedAppend(observers, prepared, () => this.#appends.append(prepared, eventCount, deadline));
  }

  observeAppends(observer: AppendObserver): () => void {
    return this.#observers.add(observer);
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

  /** Calls made together share one query (see ReadBatcher). */
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
    return this.#reads.read(streamId, options.fromVersion ?? 0n, limit);
  }

  /** Never ends inside an append: see #readPage. */
  async readAll(options: ReadAllOptions): Promise<RecordedEvent[]> {
    const limit = checkLimit(options.limit, limits.readLimitDefault);
    if (typeof options.after !== 'bigint' || options.after < 0n)
      throw new RangeError('after must be a bigint ≥ 0n');
    return (await this.#readPage(options.after, limit)).events;
  }

  /**
   * At most `limit` events after `after`, then, when the last of them does not end its
   * append, the rest of that append (at most limits.eventsPerAppendMax − 1 more events, in a
   * second query): a page never ends inside an append, so a reader that commits page by page
   * never holds part of one (half a transfer). A page that stops short of `limit` stops at
   * the visibility horizon, which is between transactions, so between appends too.
   */
  async #readPage(after: bigint, limit: number): Promise<Page> {
    const rows = await this.#sql.query<EventRow & { append_end: boolean }>(
      readAllSql,
      [after.toString(), limit],
      'es_read_all',
    );
    const last = rows.at(-1);
    if (last !== undefined && !last.append_end) {
      const rest = await this.#sql.query<EventRow & { append_end: boolean }>(
        appendRestSql,
        [last.global_position],
        'es_read_append_rest',
      );
      for (const row of rest) rows.push(row);
    }
    const appendEnds = rows.map((row) => row.append_end);
    if (appendEnds.length > 0) appendEnds[appendEnds.length - 1] = true;
    return { events: rows.map(toRecorded), appendEnds };
  }

  /**
   * readAll for this store's subscriptions: a page being read, or read recently, from the
   * same position is shared instead of read again (see recentPagesMax); a reader asking for
   * fewer events gets its first `limit` and the rest of the last one's append, as readAll.
   */
  async #readAllShared(options: { after: bigint; limit: number }): Promise<RecordedEvent[]> {
    const { limit } = options;
    const key = options.after;
    const shared = this.#recentPages.get(key);
    if (shared !== undefined && shared.limit >= limit) {
      const page = await shared.page;
      if (page.events.length > 0) return pagePrefix(page, limit);
    }
    const page = this.#readPage(key, limit);
    this.#recentPages.delete(key);
    this.#recentPages.set(key, { limit, page });
    if (this.#recentPages.size > recentPagesMax)
      this.#recentPages.delete(this.#recentPages.keys().next().value!);
    try {
      const read = await page;
      // An empty page is never shared: the next read may find events.
      if (read.events.length === 0 && this.#recentPages.get(key)?.page === page)
        this.#recentPages.delete(key);
      return read.events;
    } catch (error) {
      if (this.#recentPages.get(key)?.page === page) this.#recentPages.delete(key);
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

  /** Recomputes every stream's chain (see verify.ts). */
  verify(options?: VerifyOptions): Promise<VerifyResult> {
    return verifyPostgres(this.#sql, options);
  }

  stats(): EventStoreStats {
    return {
      appends: this.#appends.appends,
      appendTransactions: this.#appends.transactions,
      streamReads: this.#reads.reads,
      streamReadQueries: this.#reads.queries,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    while (!this.#appends.idle || !this.#reads.idle) await new Promise((r) => setTimeout(r, 5));
    await this.#unlisten?.();
  }
}
