import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** The fields of an event that its hash covers. */
export interface HashedFields {
  eventId: string;
  streamId: string;
  streamVersion: bigint;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: unknown;
  recordedAt: string;
}

/** RFC 8785 JSON of the hashed fields: the text both the writer and the verifier hash. */
export function hashedText(event: HashedFields): string {
  return canonicalJson({
    data: event.data,
    eventId: event.eventId,
    metadata: event.metadata,
    recordedAt: event.recordedAt,
    schemaVersion: event.schemaVersion,
    streamId: event.streamId,
    // Versions stay far below 2^53, so a JSON number is exact.
    streamVersion: Number(event.streamVersion),
    type: event.type,
  });
}

/** sha256(previous hash ‖ canonical JSON); the first event of a stream has an empty previous hash. */
export function chainHash(previousHash: Buffer, event: HashedFields): Buffer {
  return createHash('sha256').update(previousHash).update(hashedText(event), 'utf8').digest();
}

export const genesisHash: Buffer = Buffer.alloc(0);
