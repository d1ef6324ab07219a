import {
  type AppendDeadline,
  type AppendResult,
  type ExpectedVersion,
  InvalidAppend,
  WrongExpectedVersion,
} from '../types.js';
import type { PreparedWrite } from '../validate.js';
import { isConnectionError, onceInMicrotask } from './batching.js';
import { int4Array, textArray, uuidArray } from './binary-array.js';
import type { SqlClient } from './sql-client.js';

export interface AppendBatcherOptions {
  /** Batches in flight at once, each on its own connection. */
  lanes: number;
  /** Most appends combined into one transaction. */
  batchAppendsMax: number;
  /** Most events combined into one transaction (positions leave room for 65,536). */
  batchEventsMax: number;
  /** Called after a batch wrote (some of) its appends, to wake subscribers. */
  onWritten: () => void;
}

// How far down the queue one batch looks for appends on streams it does not hold yet.
const batchScanMax = 1024;

/** What one append of a batch came to: its result, or the check it failed (it wrote nothing). */
type BatchOutcome = AppendResult | WrongExpectedVersion;

interface Pending {
  writes: PreparedWrite[];
  eventCount: number;
  deadline: AppendDeadline | undefined;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit at the application level: appends waiting while others are in flight are
 * combined into one `es.append_batch_v2` call, one transaction and one WAL flush for many
 * appends, each still all-or-nothing with its own expected versions.
 */
export class AppendBatcher {
  readonly #sql: SqlClient;
  readonly #lanes: number;
  readonly #batchAppendsMax: number;
  readonly #batchEventsMax: number;
  readonly #onWritten: () => void;
  readonly #queue: Pending[] = [];
  #inFlight = 0;
  readonly #schedulePump = onceInMicrotask(() => this.#pump());
  #appendCount = 0;
  #transactionCount = 0;

  constructor(sql: SqlClient, options: AppendBatcherOptions) {
    this.#sql = sql;
    this.#lanes = options.lanes;
    this.#batchAppendsMax = options.batchAppendsMax;
    this.#batchEventsMax = options.batchEventsMax;
    this.#onWritten = options.onWritten;
  }

  /** Appends sent to the database, and the transactions that carried them. */
  get appends(): number {
    return this.#appendCount;
  }

  get transactions(): number {
    return this.#transactionCount;
  }

  /** True when no append is waiting or in flight. */
  get idle(): boolean {
    return this.#inFlight === 0 && this.#queue.length === 0;
  }

  /**
   * One append, validated; `eventCount` is the number of its events. One whose deadline
   * aborts while it waits in the queue is dropped when its turn comes: it writes nothing.
   */
  append(writes: PreparedWrite[], eventCount: number, deadline?: AppendDeadline): Promise<AppendResult> {
    return new Promise<AppendResult>((resolve, reject) => {
      this.#queue.push({ writes, eventCount, deadline, resolve, reject });
      // Not at once: the callers woken by one batch's answer append again in the same
      // microtask run; pumping after them puts them in one batch instead of a batch of one
      // followed by the rest.
      this.#schedulePump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#lanes && this.#queue.length > 0) {
      // A batch holds each stream at most once, so every append in it is checked against
      // the stream as it was before the batch. An append that shares a stream with one
      // already taken waits for the next batch, behind it: per stream, order is kept.
      // Spread what is waiting over the free lanes: two half batches on two connections
      // run on two cores, where one full batch would leave the second idle.
      const free = this.#lanes - this.#inFlight;
      const share = Math.min(this.#batchAppendsMax, Math.ceil(this.#queue.length / free));
      const batch: Pending[] = [];
      const streams = new Set<string>();
      let events = 0;
      let scanned = 0;
      for (let i = 0; i < this.#queue.length && scanned < batchScanMax; scanned++) {
        const next = this.#queue[i]!;
        if (next.deadline?.signal.aborted) {
          // Its caller stopped waiting before it was sent: it is not sent at all.
          this.#queue.splice(i, 1);
          next.reject(next.deadline.signal.reason);
          continue;
        }
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
        // Sent below, in this same turn: from here on only the database's answer tells.
        next.deadline?.sent?.();
      }
      if (batch.length === 0) return;
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #run(batch: Pending[]): Promise<void> {
    let outcomes: BatchOutcome[];
    try {
      outcomes = await this.#call(batch.map((p) => p.writes));
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
            const [outcome] = await this.#call([pending.writes]);
            settle(pending, outcome!);
          } catch (single) {
            pending.reject(single);
          }
        }),
      );
      this.#onWritten();
      return;
    }
    for (const [i, pending] of batch.entries()) settle(pending, outcomes[i]!);
    this.#onWritten();
  }

  /** One es.append_batch_v2 call (see migrations.ts for its arguments). */
  async #call(appends: PreparedWrite[][]): Promise<BatchOutcome[]> {
    this.#appendCount += appends.length;
    this.#transactionCount++;
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
      const position = BigInt(positions[a]!);
      // Positions run contiguously through the append's writes, in order: walk back from its last.
      let end = position;
      const ends = new Array<bigint | undefined>(append.length);
      for (let i = append.length - 1; i >= 0; i--) {
        const count = append[i]!.events.length;
        if (count > 0) {
          ends[i] = end;
          end -= BigInt(count);
        }
      }
      return {
        position,
        streams: append.map((write, i) => ({
          streamId: write.streamId,
          version: BigInt(versions[first + i]!),
          ...(ends[i] === undefined ? {} : { position: ends[i] }),
        })),
      };
    });
  }
}

function settle(pending: Pending, outcome: BatchOutcome): void {
  if (outcome instanceof WrongExpectedVersion) pending.reject(outcome);
  else pending.resolve(outcome);
}

function expectedText(expected: ExpectedVersion): string {
  return typeof expected === 'bigint' ? expected.toString() : expected;
}

/** Bytewise order of the UTF-8 encodings, PostgreSQL's COLLATE "C" (UTF-16 order differs above U+D7FF). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range is what this looks for
const ascii = /^[\u0000-\u007f]*$/;

function compareUtf8(a: string, b: string): number {
  if (ascii.test(a) && ascii.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string };
  return e?.code === '23505' && (e.constraint === constraint || (e.message ?? '').includes(constraint));
}
