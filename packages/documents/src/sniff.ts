/**
 * What an uploaded file is, by its content only (never by its name or declared type), and how
 * large its image says it is, read from the headers without decoding a single pixel: a small
 * file can declare a huge image (a decompression bomb), so the size is checked before any
 * decoder allocates for it.
 */

export type DocumentType = 'png' | 'jpeg' | 'pdf';
export type ImageType = 'png' | 'jpeg';

export const documentLimits = {
  bytesMax: 16 * 1024 * 1024,
  pixelsMax: 40_000_000,
  sideMax: 12_000,
} as const;

const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const jpegSignature = [0xff, 0xd8, 0xff] as const;
const pdfSignature = [0x25, 0x50, 0x44, 0x46, 0x2d] as const; // %PDF-

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  if (bytes.length < prefix.length) return false;
  return prefix.every((b, i) => bytes[i] === b);
}

/** The type of a file from its first bytes (magic numbers); null for anything else. */
export function sniffType(head: Uint8Array): DocumentType | null {
  if (startsWith(head, pngSignature)) return 'png';
  if (startsWith(head, jpegSignature)) return 'jpeg';
  if (startsWith(head, pdfSignature)) return 'pdf';
  return null;
}

function u16(bytes: Uint8Array, at: number): number | null {
  const a = bytes[at];
  const b = bytes[at + 1];
  if (a === undefined || b === undefined) return null;
  return (a << 8) | b;
}

function u32(bytes: Uint8Array, at: number): number | null {
  const hi = u16(bytes, at);
  const lo = u16(bytes, at + 2);
  if (hi === null || lo === null) return null;
  return hi * 0x10000 + lo;
}

function pngDimensions(bytes: Uint8Array): { width: number; height: number } | null {
  if (!startsWith(bytes, pngSignature)) return null;
  // The first chunk must be IHDR: length 13, type "IHDR", then width and height (big-endian).
  if (u32(bytes, 8) !== 13) return null;
  if (bytes[12] !== 0x49 || bytes[13] !== 0x48 || bytes[14] !== 0x44 || bytes[15] !== 0x52) return null;
  const width = u32(bytes, 16);
  const height = u32(bytes, 20);
  if (width === null || height === null || width === 0 || height === 0) return null;
  return { width, height };
}

/** SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpegDimensions(bytes: Uint8Array): { width: number; height: number } | null {
  if (!startsWith(bytes, jpegSignature)) return null;
  let at = 2;
  // Every step moves forward by at least one byte, so the walk ends; the cap is a second guard.
  for (let steps = 0; steps < 100_000 && at < bytes.length; steps++) {
    if (bytes[at] !== 0xff) return null;
    // Any number of 0xFF fill bytes may precede a marker.
    while (bytes[at] === 0xff) at++;
    const marker = bytes[at];
    if (marker === undefined) return null;
    at++;
    if (marker === 0xd9 || marker === 0xda || marker === 0x00) return null; // EOI, SOS before a frame, stuffing
    if ((marker >= 0xd0 && marker <= 0xd8) || marker === 0x01) continue; // RSTn, SOI, TEM: no length
    const length = u16(bytes, at);
    if (length === null || length < 2) return null;
    if (isStartOfFrame(marker)) {
      if (length < 7) return null;
      const height = u16(bytes, at + 3);
      const width = u16(bytes, at + 5);
      if (width === null || height === null || width === 0 || height === 0) return null;
      return { width, height };
    }
    at += length;
  }
  return null;
}

/**
 * Width and height as the image's headers declare them (PNG IHDR; JPEG: the first start-of-frame
 * segment), without decoding. Null when the headers are missing, truncated or malformed.
 */
export function imageDimensions(
  bytes: Uint8Array,
  type: ImageType,
): { width: number; height: number } | null {
  return type === 'png' ? pngDimensions(bytes) : jpegDimensions(bytes);
}

export type ImageCheck =
  | { ok: true; width: number; height: number }
  | { ok: false; reason: 'unreadable' | 'too_many_pixels' };

/** Whether an image may be decoded: its declared size within `documentLimits`. */
export function checkImage(bytes: Uint8Array, type: ImageType): ImageCheck {
  const size = imageDimensions(bytes, type);
  if (size === null) return { ok: false, reason: 'unreadable' };
  const { width, height } = size;
  if (
    width > documentLimits.sideMax ||
    height > documentLimits.sideMax ||
    width * height > documentLimits.pixelsMax
  ) {
    return { ok: false, reason: 'too_many_pixels' };
  }
  return { ok: true, width, height };
}
