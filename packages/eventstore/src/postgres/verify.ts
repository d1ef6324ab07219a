import type { VerifyOptions, VerifyResult } from '../types.js';
import { ChainVerifier } from '../verify.js';
import { type EventRow, eventColumns, toRecorded } from './rows.js';
import type { SqlClient } from './sql-client.js';

const verifyPageSize = 1000;

/**
 * Recomputes every stream's chain, in (stream, version) order, page by page, and checks that
 * each intact chain ends where es.streams says its stream does. Reports the bad event with
 * the lowest global position.
 */
export async function verifyPostgres(sql: SqlClient, options: VerifyOptions = {}): Promise<VerifyResult> {
  const verifier = new ChainVerifier();
  const checkHead = async () => {
    const stream = verifier.stream;
    if (stream === undefined || !stream.intact) return;
    const [head] = await sql.query<{ version: string; last_hash: string }>(
      `SELECT version::text, encode(last_hash, 'hex') AS last_hash FROM es.streams WHERE stream_id = $1`,
      [stream.streamId],
    );
    // Intact: the last event's hash is the one its chain computes.
    if (!head || BigInt(head.version) !== stream.last.streamVersion || head.last_hash !== stream.last.hash) {
      verifier.noteBad(stream.last, 'stream_head_mismatch');
    }
  };
  let cursor: { streamId: string; version: string } | null = null;
  for (;;) {
    const rows: EventRow[] = cursor
      ? await sql.query<EventRow>(
          `SELECT ${eventColumns} FROM es.events e WHERE (stream_id, stream_version) > ($1, $2::bigint)
           ORDER BY e.stream_id, e.stream_version LIMIT ${verifyPageSize}`,
          [cursor.streamId, cursor.version],
        )
      : await sql.query<EventRow>(
          `SELECT ${eventColumns} FROM es.events e ORDER BY e.stream_id, e.stream_version LIMIT ${verifyPageSize}`,
        );
    for (const row of rows) {
      if (verifier.stream !== undefined && verifier.stream.streamId !== row.stream_id) await checkHead();
      verifier.add(toRecorded(row));
    }
    options.onProgress?.(verifier.result().checkedEvents);
    if (rows.length < verifyPageSize) break;
    const last = rows[rows.length - 1]!;
    cursor = { streamId: last.stream_id, version: last.stream_version };
  }
  await checkHead();
  return verifier.result();
}
