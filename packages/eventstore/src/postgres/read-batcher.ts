import type { RecordedEvent } from '../types.js';
import { isConnectionError, onceInMicrotask } from './batching.js';
import { type EventRow, eventColumns, toRecorded } from './rows.js';
import type { SqlClient } from './sql-client.js';

/** Most readStream calls answered by one query, and most rows they may ask for in all. */
const readBatchStreamsMax = 64;
const readBatchRowsMax = 20_000;

const readStreamSql = `SELECT ${eventColumns} FROM es.events e WHERE stream_id = $1 AND stream_version >= $2
  ORDER BY e.stream_version LIMIT $3`;
// Several streams in one query: each request's page by its own index lookup, in request order.
const readStreamsSql = `SELECT r.i::int AS i, ${eventColumns}
  FROM unnest($1::text[], $2::bigint[], $3::int[]) WITH ORDINALITY AS r(s, v, l, i)
  CROSS JOIN LATERAL (
    SELECT * FROM es.events x WHERE x.stream_id = r.s AND x.stream_version >= r.v
     ORDER BY x.stream_version LIMIT r.l) e
  ORDER BY r.i, e.stream_version`;

interface PendingRead {
  streamId: string;
  fromVersion: bigint;
  limit: number;
  resolve: (events: RecordedEvent[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Stream reads, the commands' hottest read (several per request). Calls made in the same
 * turn of the event loop (a command loading both its accounts), or while `lanes` reads are in
 * flight, are answered by one query: one round trip instead of one each. A read still sees
 * every append that completed before it was called.
 */
export class ReadBatcher {
  readonly #sql: SqlClient;
  readonly #lanes: number;
  readonly #reads: PendingRead[] = [];
  #inFlight = 0;
  readonly #schedulePump = onceInMicrotask(() => this.#pump());
  #readCount = 0;
  #queryCount = 0;

  constructor(sql: SqlClient, lanes: number) {
    if (!Number.isInteger(lanes) || lanes < 1)
      throw new RangeError('readConcurrency must be a positive integer');
    this.#sql = sql;
    this.#lanes = lanes;
  }

  /** readStream calls, and the queries sent for them. */
  get reads(): number {
    return this.#readCount;
  }

  get queries(): number {
    return this.#queryCount;
  }

  /** True when no read is waiting or in flight. */
  get idle(): boolean {
    return this.#inFlight === 0 && this.#reads.length === 0;
  }

  /** `limit` is checked by the caller. */
  read(streamId: string, fromVersion: bigint, limit: number): Promise<RecordedEvent[]> {
    return new Promise<RecordedEvent[]>((resolve, reject) => {
      this.#readCount++;
      this.#reads.push({ streamId, fromVersion, limit, resolve, reject });
      this.#schedulePump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#lanes && this.#reads.length > 0) {
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
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #run(batch: PendingRead[]): Promise<void> {
    this.#queryCount++;
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
      await Promise.all(batch.map((read) => this.#run([read])));
    }
  }
}
