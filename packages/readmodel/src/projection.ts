import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import type { OpenLockSession } from './lock.js';
import { assertProjectionSchema, schemaExists } from './migrate.js';
import {
  checkSubscriberName,
  type RunningSubscriber,
  runCheckpointedSubscriber,
  type SubscriberStatus,
  subscriberLimits,
} from './subscriber.js';

/** Checkpoint names other subscribers use (the job dispatcher of @ledger/jobs). */
const reservedNames = new Set(['dispatcher']);

/** In `handles`, alone: the projection sees every event type (an audit trail, say). */
export const allEventTypes = '*';

/**
 * A read model, as data (STYLE.md): which events it handles and how each changes its
 * tables. It owns one schema. Its functions receive a Kysely scoped to that schema
 * (`withSchema`), so they must name tables bare (`'events'`, not `'audit.events'`): that
 * is what lets rebuildProjection build the same tables in a fresh schema.
 */
export interface Projection {
  /** Checkpoint name and lock key: lower-case, unique among subscribers ('dispatcher' is taken). */
  name: string;
  /** Bump when `apply` changes meaning: rows built by another version are not continued. */
  version: number;
  /** Event types applied, or [allEventTypes]. Others only move the checkpoint. */
  handles: readonly string[];
  /** The schema the live read model lives in, e.g. 'audit'. */
  schema: string;
  /**
   * Creates or upgrades the tables in `schema` (usually `migrateSchema(db, schema,
   * migrations)`), keeping its own migration table there.
   */
  migrate(db: Kysely<any>, schema: string): Promise<void>;
  /** Applies one event inside the batch transaction. Throwing rolls the batch back and stops the projection. */
  apply(tx: Kysely<any>, event: RecordedEvent): Promise<void>;
  /**
   * Optional: applies a batch's handled events (already filtered by `handles`, in position
   * order, never empty) inside the batch transaction, with the same result as `apply` on each
   * in turn. One round trip per event is most of a projector's cost; a projection that can
   * write a batch with a few multi-row statements implements this, and the runtime then
   * calls it instead of `apply`. Throwing rolls the batch back and stops the projection.
   */
  applyBatch?(tx: Kysely<any>, events: readonly RecordedEvent[]): Promise<void>;
  /**
   * Optional: called with a batch's handled events before its transaction opens, for work
   * that reads the event store (which must not happen inside the transaction: embedded
   * PGlite has one connection, and a read waiting for it under an open transaction never
   * gets it). What it computes is the projection's to use in apply; apply must still work
   * without it.
   */
  beforeBatch?(events: readonly RecordedEvent[]): Promise<void>;
}

/** Splits rows into runs of at most `size`: one statement's arrays stay bounded (insertRows). */
export function chunked<T>(rows: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError('chunk size must be a positive integer');
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/** Applies the events `handles` picks, through applyBatch when there is one; returns how many. */
async function applyHandled(
  projection: Projection,
  handles: (type: string) => boolean,
  tx: Kysely<any>,
  events: readonly RecordedEvent[],
): Promise<number> {
  const handled = events.filter((event) => handles(event.type));
  if (handled.length === 0) return 0;
  if (projection.applyBatch) {
    await projection.applyBatch(tx, handled);
  } else {
    for (const event of handled) await projection.apply(tx, event);
  }
  return handled.length;
}

export interface RunProjectionOptions {
  db: Kysely<any>;
  store: EventStore;
  projection: Projection;
  logger: Logger;
  batchSize?: number;
  /** See SubscribeOptions.lingerMs. */
  lingerMs?: number;
  lockRetryMs?: number;
  /** Sessions for the advisory lock: pgLockSessions(databaseUrl) in services (see lock.ts). */
  lockSessions?: OpenLockSession;
  /** See CheckpointedSubscriberOptions: 'reset' drops the schema and replays from 0n. */
  onVersionChange?: 'fail' | 'reset';
}

export interface RunningProjection {
  stop(): Promise<void>;
  position(): bigint;
  waitFor(position: bigint, timeoutMs: number): Promise<boolean>;
  status(): SubscriberStatus;
  readonly done: Promise<void>;
}

/** Asserts a projection is well formed; returns the predicate over event types. */
export function checkProjection(projection: Projection): (type: string) => boolean {
  checkSubscriberName(projection.name);
  if (reservedNames.has(projection.name))
    throw new RangeError(`"${projection.name}" is not a projection name`);
  assertProjectionSchema(projection.schema);
  if (!Number.isInteger(projection.version) || projection.version < 1) {
    throw new RangeError(`projection ${projection.name}: version must be a positive integer`);
  }
  if (projection.handles.length === 0)
    throw new RangeError(`projection ${projection.name} handles no event type`);
  if (projection.handles.includes(allEventTypes)) {
    if (projection.handles.length !== 1) {
      throw new RangeError(
        `projection ${projection.name}: "${allEventTypes}" must be the only entry of handles`,
      );
    }
    return () => true;
  }
  const types = new Set(projection.handles);
  return (type) => types.has(type);
}

/**
 * Runs one projection: migrates it, resumes from its checkpoint, applies each batch in one
 * transaction with the checkpoint move. Returns at once; the instance may be on standby
 * while another holds the projection's lock (see status()). A failure is logged and
 * rejects `done`.
 */
export function runProjection(options: RunProjectionOptions): RunningProjection {
  const { db, projection } = options;
  const handles = checkProjection(projection);
  const schema = projection.schema;
  const running: RunningSubscriber = runCheckpointedSubscriber({
    db,
    store: options.store,
    name: projection.name,
    version: projection.version,
    logger: options.logger.child({ projection: projection.name }),
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    ...(options.lingerMs === undefined ? {} : { lingerMs: options.lingerMs }),
    ...(options.lockRetryMs === undefined ? {} : { lockRetryMs: options.lockRetryMs }),
    ...(options.onVersionChange === undefined ? {} : { onVersionChange: options.onVersionChange }),
    ...(options.lockSessions === undefined ? {} : { lockSessions: options.lockSessions }),
    // A read model is rebuilt from the events alone: its batches need not wait for their WAL
    // flush (the events they come from did). After a crash the last few are applied again.
    synchronousCommit: false,
    resetState: async (tx) => {
      await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(tx);
    },
    prepare: () => projection.migrate(db.withSchema(schema), schema),
    beforeTransaction: async (events) => {
      const handled = events.filter((event) => handles(event.type));
      if (handled.length > 0) await projection.beforeBatch?.(handled);
    },
    handleBatch: async (tx, events) => {
      await applyHandled(projection, handles, tx.withSchema(schema), events);
    },
    // A batch of events the projection does not handle (the users model under a stream of
    // transfers): one UPDATE of the checkpoint, not BEGIN, UPDATE, COMMIT.
    ignores: (events) => !events.some((event) => handles(event.type)),
  });
  return running;
}

export interface RebuildOptions {
  db: Kysely<any>;
  store: EventStore;
  projection: Projection;
  /** A schema that must not exist yet, and not the live one. */
  schema: string;
  /** Last position to replay (inclusive); default: the store's head when the rebuild starts. */
  to?: bigint;
  batchSize?: number;
  /**
   * Continue a rebuild: `schema` exists and holds exactly the events up to this position
   * (an earlier rebuildProjection's `position`); replay only the events after it.
   */
  from?: bigint;
  /** Called after each batch with the position reached and the target. */
  onProgress?: (position: bigint, to: bigint) => void;
}

export interface RebuildResult {
  schema: string;
  /** The rebuilt model holds exactly the events up to this position (`to`). */
  position: bigint;
  eventsApplied: number;
}

/**
 * Replays a projection from position 0 into a fresh schema, with the projection's own
 * migrations and apply (or applyBatch), so the result can be compared with the live schema
 * (the auditor's check). It writes no checkpoint row: the live projection's is untouched.
 *
 * To compare like with like, read the live checkpoint and the live tables in one
 * REPEATABLE READ transaction, and rebuild with `to` = that checkpoint.
 */
export async function rebuildProjection(options: RebuildOptions): Promise<RebuildResult> {
  const { db, store, projection, schema } = options;
  const handles = checkProjection(projection);
  assertProjectionSchema(schema);
  if (schema === projection.schema) throw new RangeError(`cannot rebuild into the live schema "${schema}"`);
  const from = options.from ?? 0n;
  if (options.from === undefined && (await schemaExists(db, schema)))
    throw new Error(`schema "${schema}" exists: rebuild only into a fresh schema`);
  if (options.from !== undefined && !(await schemaExists(db, schema)))
    throw new Error(`schema "${schema}" does not exist: nothing to continue`);
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > subscriberLimits.batchSizeMax) {
    throw new RangeError(`batchSize must be an integer from 1 to ${subscriberLimits.batchSizeMax}`);
  }
  const to = options.to ?? (await store.headPosition());
  if (to < from) throw new RangeError(`cannot rebuild back from ${from} to ${to}`);
  await waitUntilVisible(store, to);
  if (options.from === undefined) await projection.migrate(db.withSchema(schema), schema);
  let position = from;
  let eventsApplied = 0;
  while (position < to) {
    const events = (await store.readAll({ after: position, limit: batchSize })).filter(
      (e) => e.globalPosition <= to,
    );
    if (events.length === 0) break;
    const handled = events.filter((event) => handles(event.type));
    if (handled.length > 0) await projection.beforeBatch?.(handled);
    eventsApplied += await db
      .transaction()
      .execute((tx) => applyHandled(projection, handles, tx.withSchema(schema), events));
    position = events[events.length - 1]!.globalPosition;
    options.onProgress?.(position, to);
  }
  return { schema, position: to, eventsApplied };
}

const visibleWaitMs = 5_000;

/**
 * Positions become readable once every older transaction on the server has ended: a `to`
 * taken from an append result may not be readable yet. Wait for it (bounded) rather than
 * rebuild a model that silently stops short.
 */
async function waitUntilVisible(store: EventStore, position: bigint): Promise<void> {
  const deadline = Date.now() + visibleWaitMs;
  while ((await store.headPosition()) < position) {
    if (Date.now() > deadline) {
      throw new RangeError(`position ${position} is not readable in the store after ${visibleWaitMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
