import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson, type EventMetadata, type JsonValue, type RecordedEvent } from '@ledger/eventstore';

/**
 * The audit export (`pnpm ledger export`, checked by `pnpm ledger verify-export`), a folder:
 *
 * - `events.jsonl`: one event a line, in global position order (so each stream's events come
 *   in version order), each line the RFC 8785 JSON of the fields its hash covers (eventId,
 *   streamId, streamVersion, type, schemaVersion, data, metadata, recordedAt) plus
 *   `globalPosition` (a decimal string) and `hash` (hex), exactly as stored. Anyone can
 *   re-hash it: per stream, hash = sha256(previous hash ‖ RFC 8785 JSON of the covered fields),
 *   the first event's previous hash empty (docs/design.md, packages/eventstore/src/hash.ts).
 * - `manifest.json`: each stream's event count and head (last version and hash), the global
 *   position range, the events file's line count and sha256, the bank's Ed25519 public key
 *   (SPKI PEM) and, under `signature`, the Ed25519 signature of the RFC 8785 JSON of the
 *   manifest without its `signature` member.
 */

export const exportFormat = 'ledger-audit-export/1';
export const eventsFileName = 'events.jsonl';
export const manifestFileName = 'manifest.json';

export interface StreamHead {
  streamId: string;
  /** Events of the stream in the export. */
  events: number;
  /** The last one's version and hash. */
  headVersion: number;
  headHash: string;
}

export interface UnsignedManifest {
  format: typeof exportFormat;
  createdAt: string;
  /** Every stream (`all`), or one. */
  scope: { all: true } | { streamId: string };
  /** First and last global positions exported (decimal strings); null when nothing was. */
  positions: { first: string; last: string } | null;
  events: number;
  files: { name: string; lines: number; sha256: string }[];
  /** In stream id order. */
  streams: StreamHead[];
  /** The signer's Ed25519 public key, SPKI PEM. */
  publicKey: string;
}

export interface Manifest extends UnsignedManifest {
  signature: { algorithm: 'Ed25519'; value: string };
}

/** One line of events.jsonl (without its newline). */
export function eventLine(event: RecordedEvent): string {
  return canonicalJson({
    data: event.data,
    eventId: event.eventId,
    globalPosition: event.globalPosition.toString(),
    hash: event.hash,
    metadata: event.metadata as JsonValue,
    recordedAt: event.recordedAt,
    schemaVersion: event.schemaVersion,
    streamId: event.streamId,
    // Versions stay far below 2^53, as in the hashed text.
    streamVersion: Number(event.streamVersion),
    type: event.type,
  });
}

/** A line of events.jsonl read back; throws a message naming what is wrong with it. */
export function parseEventLine(text: string): RecordedEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('not a JSON object');
  const e = value as Record<string, unknown>;
  const text_ = (name: string) => {
    if (typeof e[name] !== 'string') throw new Error(`${name} is not a string`);
    return e[name] as string;
  };
  const whole = (name: string) => {
    if (!Number.isSafeInteger(e[name]) || (e[name] as number) < 0)
      throw new Error(`${name} is not a whole number`);
    return e[name] as number;
  };
  const position = text_('globalPosition');
  if (!/^[1-9][0-9]{0,18}$/.test(position)) throw new Error('globalPosition is not a positive integer');
  const hash = text_('hash');
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error('hash is not 64 hex digits');
  if (typeof e.metadata !== 'object' || e.metadata === null || Array.isArray(e.metadata))
    throw new Error('metadata is not an object');
  if (!('data' in e)) throw new Error('no data');
  return {
    eventId: text_('eventId'),
    streamId: text_('streamId'),
    streamVersion: BigInt(whole('streamVersion')),
    globalPosition: BigInt(position),
    type: text_('type'),
    schemaVersion: whole('schemaVersion'),
    data: e.data as JsonValue,
    metadata: e.metadata as EventMetadata,
    recordedAt: text_('recordedAt'),
    hash,
  };
}

/** The text the signature covers: the manifest without `signature`, RFC 8785. */
function signedText(manifest: UnsignedManifest): string {
  const { signature: _signature, ...unsigned } = manifest as Partial<Manifest> & UnsignedManifest;
  return canonicalJson(unsigned as unknown as JsonValue);
}

export function signManifest(unsigned: UnsignedManifest, privateKey: KeyObject): Manifest {
  const value = sign(null, Buffer.from(signedText(unsigned), 'utf8'), privateKey).toString('base64');
  return { ...unsigned, signature: { algorithm: 'Ed25519', value } };
}

/** The public key of a private one, as the manifest carries it. */
export const publicKeyPem = (privateKey: KeyObject): string =>
  createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();

/** sha256 of the key's SPKI DER, hex: what an auditor compares with the bank's published one. */
export function keyFingerprint(publicKey: string | KeyObject): string {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return createHash('sha256')
    .update(key.export({ format: 'der', type: 'spki' }))
    .digest('hex');
}

/** Whether the manifest's signature is its public key's over its text; false for any malformed part. */
export function signatureHolds(manifest: Manifest): boolean {
  try {
    if (manifest.signature?.algorithm !== 'Ed25519' || typeof manifest.signature.value !== 'string')
      return false;
    const key = createPublicKey(manifest.publicKey);
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verify(
      null,
      Buffer.from(signedText(manifest), 'utf8'),
      key,
      Buffer.from(manifest.signature.value, 'base64'),
    );
  } catch {
    return false;
  }
}
