import { type SnapshotStore, type StreamSnapshot, snapshotStateBytesMax } from '../snapshots.js';
import { type JsonValue, limits } from '../types.js';
import type { SqlClient } from './sql-client.js';

const readSnapshotSql = `SELECT stream_version::text AS stream_version, encode(hash, 'hex') AS hash, schema, state
  FROM es.snapshots WHERE stream_id = $1`;

/**
 * The hash is taken from the event row itself, so a snapshot names the event it was folded
 * to as stored; no event at that version, no row. A stored snapshot is replaced by a later
 * version, or by another schema (the code that reads it changed).
 */
const writeSnapshotSql = `INSERT INTO es.snapshots AS s (stream_id, stream_version, hash, schema, state, written_at)
  SELECT e.stream_id, e.stream_version, e.hash, $3, $4::jsonb, now()
    FROM es.events e WHERE e.stream_id = $1 AND e.stream_version = $2::bigint
  ON CONFLICT (stream_id) DO UPDATE SET stream_version = excluded.stream_version, hash = excluded.hash,
    schema = excluded.schema, state = excluded.state, written_at = excluded.written_at
  WHERE s.stream_version < excluded.stream_version OR s.schema <> excluded.schema
  RETURNING 1 AS written`;

interface SnapshotRow {
  stream_version: string;
  hash: string;
  schema: string;
  state: JsonValue;
}

/** es.snapshots (migration 0003_snapshots), on node-postgres or PGlite. */
export class PostgresSnapshotStore implements SnapshotStore {
  readonly #sql: SqlClient;

  constructor(sql: SqlClient) {
    this.#sql = sql;
  }

  async readSnapshot(streamId: string): Promise<StreamSnapshot | null> {
    const [row] = await this.#sql.query<SnapshotRow>(readSnapshotSql, [streamId], 'es_read_snapshot');
    if (row === undefined) return null;
    return {
      streamId,
      streamVersion: BigInt(row.stream_version),
      hash: row.hash,
      schema: row.schema,
      state: row.state,
    };
  }

  async writeSnapshot(snapshot: Omit<StreamSnapshot, 'hash'>): Promise<boolean> {
    const { streamId, streamVersion, schema } = snapshot;
    if (typeof streamId !== 'string' || streamId.length === 0 || streamId.length > limits.streamIdLengthMax)
      throw new RangeError(`a snapshot's stream id is 1 to ${limits.streamIdLengthMax} characters`);
    if (typeof streamVersion !== 'bigint' || streamVersion < 0n)
      throw new RangeError("a snapshot's stream version is a bigint ≥ 0n");
    if (typeof schema !== 'string' || schema.length === 0 || schema.length > limits.eventTypeLengthMax)
      throw new RangeError(`a snapshot's schema is 1 to ${limits.eventTypeLengthMax} characters`);
    const state = JSON.stringify(snapshot.state);
    if (state === undefined || Buffer.byteLength(state) > snapshotStateBytesMax)
      throw new RangeError(`a snapshot's state is JSON of at most ${snapshotStateBytesMax} bytes`);
    const rows = await this.#sql.query<{ written: number }>(
      writeSnapshotSql,
      [streamId, streamVersion.toString(), schema, state],
      'es_write_snapshot',
    );
    return rows.length > 0;
  }
}
