/**
 * Face photos for the face-matching tests of issue #16, pure JS (jpeg-js) and deterministic:
 * the sample photos that ship in `@vladmandic/face-api`'s own npm package (`demo/sample1..6.jpg`,
 * 1920 px wide group photos, three to five faces each), a crop of one face out of a JPEG, and
 * a simple document-like JPEG (white page, grey "text" bars, a photo box) carrying a face.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import jpeg from 'jpeg-js';

const faceApiDir = dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'));

export type SamplePhotoNumber = 1 | 2 | 3 | 4 | 5 | 6;

/** The JPEG bytes of `demo/sample<n>.jpg` from the face-api package. */
export function samplePhoto(n: SamplePhotoNumber): Buffer {
  if (!Number.isInteger(n) || n < 1 || n > 6) throw new RangeError(`no sample photo ${n}`);
  return readFileSync(join(faceApiDir, 'demo', `sample${n}.jpg`));
}

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

function decode(bytes: Buffer): Rgba {
  return jpeg.decode(bytes, { useTArray: true, maxMemoryUsageInMB: 256 });
}

function encode(img: Rgba, quality: number): Buffer {
  return jpeg.encode({ data: img.data, width: img.width, height: img.height }, quality).data;
}

/**
 * The region `box` (pixels) of a JPEG, widened by `margin` times the box's size on every side
 * (default 0.5, so the face keeps some forehead, chin and background, as a photo would),
 * clamped to the image, as a JPEG.
 */
export function faceCrop(
  bytes: Buffer,
  box: FaceBox,
  options: { margin?: number; quality?: number } = {},
): Buffer {
  const src = decode(bytes);
  const margin = options.margin ?? 0.5;
  const x0 = Math.max(0, Math.floor(box.x - box.width * margin));
  const y0 = Math.max(0, Math.floor(box.y - box.height * margin));
  const x1 = Math.min(src.width, Math.ceil(box.x + box.width * (1 + margin)));
  const y1 = Math.min(src.height, Math.ceil(box.y + box.height * (1 + margin)));
  if (x1 <= x0 || y1 <= y0) throw new RangeError('the box lies outside the image');
  const out: Rgba = { width: x1 - x0, height: y1 - y0, data: new Uint8Array((x1 - x0) * (y1 - y0) * 4) };
  for (let y = y0; y < y1; y++) {
    const from = (y * src.width + x0) * 4;
    out.data.set(src.data.subarray(from, from + out.width * 4), (y - y0) * out.width * 4);
  }
  return encode(out, options.quality ?? 92);
}

export interface DocumentWithFaceOptions {
  /** Page width in pixels (default 1000; the height is 0.63 of it, an ID-1 card's ratio). */
  width?: number;
  /** JPEG quality (default 90). */
  quality?: number;
}

function fill(img: Rgba, x: number, y: number, w: number, h: number, rgb: readonly [number, number, number]) {
  for (let j = Math.max(0, y); j < Math.min(img.height, y + h); j++) {
    for (let i = Math.max(0, x); i < Math.min(img.width, x + w); i++) {
      const d = (j * img.width + i) * 4;
      img.data[d] = rgb[0];
      img.data[d + 1] = rgb[1];
      img.data[d + 2] = rgb[2];
      img.data[d + 3] = 255;
    }
  }
}

/**
 * Pastes `photo` into the box, scaled to cover it and centred; each target pixel averages the
 * source pixels it covers (area sampling), so a downscaled face stays a face.
 */
function paste(img: Rgba, photo: Rgba, x: number, y: number, w: number, h: number) {
  const scale = Math.max(w / photo.width, h / photo.height);
  const ox = (photo.width - w / scale) / 2;
  const oy = (photo.height - h / scale) / 2;
  for (let j = 0; j < h; j++) {
    const sy0 = oy + j / scale;
    const ya = Math.max(0, Math.floor(sy0));
    const yb = Math.min(photo.height, Math.max(ya + 1, Math.floor(sy0 + 1 / scale)));
    for (let i = 0; i < w; i++) {
      const sx0 = ox + i / scale;
      const xa = Math.max(0, Math.floor(sx0));
      const xb = Math.min(photo.width, Math.max(xa + 1, Math.floor(sx0 + 1 / scale)));
      let r = 0;
      let g = 0;
      let b = 0;
      let n = 0;
      for (let sy = ya; sy < yb; sy++) {
        for (let sx = xa; sx < xb; sx++) {
          const s = (sy * photo.width + sx) * 4;
          r += photo.data[s]!;
          g += photo.data[s + 1]!;
          b += photo.data[s + 2]!;
          n++;
        }
      }
      const d = ((y + j) * img.width + (x + i)) * 4;
      img.data[d] = Math.round(r / n);
      img.data[d + 1] = Math.round(g / n);
      img.data[d + 2] = Math.round(b / n);
      img.data[d + 3] = 255;
    }
  }
}

/**
 * A document-like JPEG carrying `face` (a JPEG, e.g. from `faceCrop`): a white page with a
 * coloured header band, a photo box on the left holding the face (scaled to cover the box),
 * grey bars standing for lines of text on the right and two long bars standing for an MRZ.
 */
export function documentWithFace(face: Buffer, options: DocumentWithFaceOptions = {}): Buffer {
  const w = Math.max(200, Math.round(options.width ?? 1000));
  const h = Math.round(w * 0.63);
  const u = w / 1000;
  const page: Rgba = { width: w, height: h, data: new Uint8Array(w * h * 4) };
  fill(page, 0, 0, w, h, [255, 255, 255]);
  fill(page, 0, 0, w, Math.round(70 * u), [29, 42, 91]);
  fill(
    page,
    Math.round(40 * u),
    Math.round(22 * u),
    Math.round(420 * u),
    Math.round(26 * u),
    [230, 232, 240],
  );
  // The photo box: a frame, then the face inside it.
  const px = Math.round(40 * u);
  const py = Math.round(100 * u);
  const pw = Math.round(240 * u);
  const ph = Math.round(300 * u);
  fill(page, px - 2, py - 2, pw + 4, ph + 4, [51, 51, 51]);
  paste(page, decode(face), px, py, pw, ph);
  // Labels (light) and values (dark) as bars.
  for (let k = 0; k < 6; k++) {
    const y = Math.round((110 + k * 52) * u);
    fill(page, Math.round(320 * u), y, Math.round(140 * u), Math.round(10 * u), [170, 170, 180]);
    const len = [420, 300, 360, 220, 260, 340][k]!;
    fill(
      page,
      Math.round(320 * u),
      y + Math.round(18 * u),
      Math.round(len * u),
      Math.round(18 * u),
      [70, 70, 70],
    );
  }
  // An MRZ-like band.
  for (let k = 0; k < 2; k++) {
    fill(
      page,
      Math.round(40 * u),
      Math.round((470 + k * 50) * u),
      Math.round(920 * u),
      Math.round(26 * u),
      [40, 40, 40],
    );
  }
  return encode(page, options.quality ?? 90);
}

/**
 * The JPEG as a phone would store it upright: its pixels turned a quarter anticlockwise and an
 * EXIF APP1 segment saying "turn a quarter clockwise to show" (orientation 6).
 */
export function phoneOrientedJpeg(bytes: Buffer, options: { quality?: number } = {}): Buffer {
  const src = decode(bytes);
  // Stored width is the upright height, and stored (x, y) shows at (W - 1 - y, x).
  const out: Rgba = { width: src.height, height: src.width, data: new Uint8Array(src.data.length) };
  for (let y = 0; y < out.height; y++) {
    for (let x = 0; x < out.width; x++) {
      const s = (x * src.width + (src.width - 1 - y)) * 4;
      out.data.set(src.data.subarray(s, s + 4), (y * out.width + x) * 4);
    }
  }
  const encoded = encode(out, options.quality ?? 92);
  // TIFF, big endian: IFD0 at 8 with one entry, 0x0112 SHORT 1 = 6, no next IFD.
  const tiff = Buffer.from([
    0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  ]);
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const app1 = Buffer.concat([
    Buffer.from([0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff]),
    body,
  ]);
  return Buffer.concat([encoded.subarray(0, 2), app1, encoded.subarray(2)]);
}
