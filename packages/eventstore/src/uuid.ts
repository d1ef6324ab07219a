import { randomFillSync } from 'node:crypto';

// Random bytes are drawn from the OS in blocks, not 10 bytes per id: one getrandom call per
// 512 ids instead of one per id (node:crypto's randomUUID caches the same way). Each byte is used once.
const randomBlockIds = 512;
const random = new Uint8Array(randomBlockIds * 10);
let randomUsed = random.length;

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Event ids made by
 * the store are time-ordered, so the unique index on event_id grows at its right edge
 * instead of splitting pages all over the tree as random v4 ids do.
 */
export function uuidv7(now: number = Date.now()): string {
  if (randomUsed === random.length) {
    randomFillSync(random);
    randomUsed = 0;
  }
  const bytes = Buffer.allocUnsafe(16);
  let ms = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes.set(random.subarray(randomUsed, randomUsed + 10), 6);
  randomUsed += 10;
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
