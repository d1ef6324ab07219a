import {
  chainCheckpointActorId,
  chainCheckpointData,
  chainCheckpointEventId,
  chainCheckpointEventType,
  chainCheckpointStreamId,
  type EventStore,
  headsDigest,
  InvalidAppend,
  type RecordedEvent,
} from '@ledger/eventstore';
import { allEventTypes, chunked, migrateSchema, type Projection } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * The chain checkpoint recorder (docs/design.md, Checkpoints): follows the log like a
 * projection, keeping in schema `chain` the head hash of every stream and the number of
 * events seen, and every `every` events (the event whose 1-based rank in the log is a
 * multiple of it) appends ChainCheckpointRecorded to the stream `checkpoints`: the digest
 * over every stream's head as of that event's position (packages/eventstore, chain-checkpoint.ts).
 *
 * The append happens before the batch's transaction (beforeBatch: the store must not be
 * written inside it) and is idempotent: its event id is derived from the position, so a
 * batch redone after a crash, or a second projector that took over, records nothing twice.
 */

export const chainCheckpointsName = 'chain-checkpoints';
export const chainCheckpointsSchema = 'chain';
/** Bounds of CHECKPOINT_EVERY (packages/platform, config.ts, says the same). */
export const checkpointEveryMin = 10;

// Landed migrations are frozen: change the schema with a new one.
const migrations: Record<string, Migration> = {
  '0001_chain_heads': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('heads')
        .addColumn('stream_id', 'text', (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('counter')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('events', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
};

async function eventsSeen(db: Kysely<any>): Promise<number> {
  const { rows } = await sql<{ events: string }>`
    SELECT events::text AS events FROM ${sql.table(`${chainCheckpointsSchema}.counter`)} WHERE id = 1`.execute(
    db,
  );
  return rows[0] === undefined ? 0 : Number(rows[0].events);
}

async function committedHeads(db: Kysely<any>): Promise<Map<string, string>> {
  const { rows } = await sql<{ stream_id: string; hash: string }>`
    SELECT stream_id, hash FROM ${sql.table(`${chainCheckpointsSchema}.heads`)}`.execute(db);
  return new Map(rows.map((row) => [row.stream_id, row.hash]));
}

/** Appends one checkpoint; true if this call recorded it, false if it was recorded already. */
async function record(
  store: EventStore,
  at: RecordedEvent,
  heads: Map<string, string>,
  eventCount: number,
): Promise<boolean> {
  try {
    await store.append([
      {
        streamId: chainCheckpointStreamId,
        expectedVersion: 'any',
        events: [
          {
            eventId: chainCheckpointEventId(at.globalPosition),
            type: chainCheckpointEventType,
            data: chainCheckpointData({
              position: at.globalPosition,
              headsDigest: headsDigest(heads),
              streamCount: heads.size,
              eventCount,
            }),
            metadata: { actorId: chainCheckpointActorId, causationId: at.eventId },
          },
        ],
      },
    ]);
    return true;
  } catch (error) {
    if (error instanceof InvalidAppend && /already stored/.test(error.message)) return false;
    throw error;
  }
}

export interface ChainCheckpointsOptions {
  /** The database the recorder keeps its heads in (the projector's). */
  db: Kysely<any>;
  store: EventStore;
  /** Record a checkpoint every this many events (CHECKPOINT_EVERY). */
  every: number;
}

export function chainCheckpointsProjection(options: ChainCheckpointsOptions): Projection {
  const { db, store, every } = options;
  if (!Number.isSafeInteger(every) || every < checkpointEveryMin)
    throw new RangeError(`checkpoint interval must be an integer ≥ ${checkpointEveryMin}, got ${every}`);
  return {
    name: chainCheckpointsName,
    version: 1,
    schema: chainCheckpointsSchema,
    handles: [allEventTypes],
    migrate: (db, schema) => migrateSchema(db, schema, migrations),
    async beforeBatch(events) {
      // The committed state is the state as of the checkpoint this batch starts from: both
      // move in one transaction, and one instance runs at a time (the projection's lock).
      const seen = await eventsSeen(db);
      const firstRank = seen + 1;
      const lastRank = seen + events.length;
      if (Math.floor(lastRank / every) === Math.floor(seen / every)) return;
      const heads = await committedHeads(db);
      for (const [i, event] of events.entries()) {
        heads.set(event.streamId, event.hash);
        const rank = firstRank + i;
        if (rank % every === 0) await record(store, event, heads, rank);
      }
    },
    async apply(tx, event) {
      await this.applyBatch!(tx, [event]);
    },
    async applyBatch(tx, events) {
      const last = new Map<string, string>();
      for (const event of events) last.set(event.streamId, event.hash);
      for (const rows of chunked(
        [...last].map(([stream_id, hash]) => ({ stream_id, hash })),
        1000,
      )) {
        await tx
          .insertInto('heads')
          .values(rows)
          .onConflict((oc) => oc.column('stream_id').doUpdateSet({ hash: sql`excluded.hash` }))
          .execute();
      }
      await tx
        .insertInto('counter')
        .values({ id: 1, events: String(events.length) })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({ events: sql`counter.events + ${String(events.length)}::bigint` }),
        )
        .execute();
    },
  };
}
