import { createHash } from 'node:crypto';

/**
 * Chain checkpoints: every N events of the log, the projector records one event
 * ChainCheckpointRecorded on the stream `checkpoints`, carrying a digest over the head of
 * every hash chain as of a global position. Published (an export's events.jsonl, or these
 * records copied elsewhere), they let an auditor check a later export against the log as
 * it was then: an event altered, removed or inserted at or before a checkpoint's position
 * changes some stream's head there, so the digest no longer matches.
 *
 * The digest: sha256 (hex) over the lines `<streamId>:<head hash>\n` of every stream that
 * has an event at or before `position`, in ascending order of stream id (by UTF-16 code
 * units, JavaScript's default sort), the head being the stream's last event at or before it.
 */

export const chainCheckpointStreamId = 'checkpoints';
export const chainCheckpointEventType = 'ChainCheckpointRecorded';
export const chainCheckpointActorId = 'system:chain-checkpoints';

export interface ChainCheckpoint {
  /** The global position the heads are taken at (a decimal string in the event). */
  position: bigint;
  /** sha256 hex over the sorted `streamId:headHash` lines (see above). */
  headsDigest: string;
  /** Streams with an event at or before `position`. */
  streamCount: number;
  /** Events at or before `position`: the log's first eventCount events. */
  eventCount: number;
}

/** The digest over stream heads, whatever order they come in. */
export function headsDigest(heads: Iterable<readonly [streamId: string, hash: string]>): string {
  const sorted = [...heads].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const sha256 = createHash('sha256');
  for (const [streamId, hash] of sorted) sha256.update(`${streamId}:${hash}\n`, 'utf8');
  return sha256.digest('hex');
}

/**
 * The checkpoint event's id, derived from its position: two recorders (or one redoing a
 * batch after a crash) write the same id, which the store refuses the second time, so a
 * position is never recorded twice.
 */
export function chainCheckpointEventId(position: bigint): string {
  const hex = createHash('sha256').update(`chain-checkpoint:${position}`, 'utf8').digest('hex');
  // A UUID of version 8 (custom), RFC 9562 variant.
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The event's data, as stored (JSON: the position as a decimal string). */
export function chainCheckpointData(checkpoint: ChainCheckpoint) {
  return {
    position: checkpoint.position.toString(),
    headsDigest: checkpoint.headsDigest,
    streamCount: checkpoint.streamCount,
    eventCount: checkpoint.eventCount,
  };
}

/** A checkpoint's data read back (an event's data, or a published record); throws naming what is wrong. */
export function parseChainCheckpoint(value: unknown): ChainCheckpoint {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
  const v = value as Record<string, unknown>;
  if (typeof v.position !== 'string' || !/^[1-9][0-9]{0,18}$/.test(v.position))
    throw new Error('position is not a positive integer string');
  if (typeof v.headsDigest !== 'string' || !/^[0-9a-f]{64}$/.test(v.headsDigest))
    throw new Error('headsDigest is not 64 hex digits');
  const whole = (name: string) => {
    if (!Number.isSafeInteger(v[name]) || (v[name] as number) < 0)
      throw new Error(`${name} is not a whole number`);
    return v[name] as number;
  };
  return {
    position: BigInt(v.position),
    headsDigest: v.headsDigest,
    streamCount: whole('streamCount'),
    eventCount: whole('eventCount'),
  };
}
