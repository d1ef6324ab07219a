/**
 * Face matching for KYC (issue #16): find the face on an identity document and on a selfie
 * and compare their descriptors.
 *
 * Uses `@vladmandic/face-api` (its models ship in its npm package, `model/`, loaded from disk)
 * on TensorFlow.js with the pure-wasm backend (`dist/face-api.node-wasm.js`; no native
 * library, nothing fetched): SSD MobileNet v1 finds the faces (more reliable here than the
 * tiny detector, which missed faces on the sample photos), the 68-point landmark net aligns
 * them and the recognition net turns each into a 128-number descriptor. Two descriptors of
 * one person lie closer than 0.6 (Euclidean), the threshold face-api and dlib use.
 *
 * PNG and JPEG bytes are decoded here in pure JS (pngjs, jpeg-js), with their size checked
 * from the header before any pixel is allocated; images larger than `maxDetectionSide` on a
 * side are downscaled first. The models load once per process, on first use. TensorFlow.js
 * keeps one global engine, so all work is serialized through a bounded queue, and every call
 * runs inside an engine scope that is closed afterwards, so no tensor outlives a call, not
 * even after an error. A bad image rejects its own call (`FaceMatchError`) and nothing else.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

type Tf = typeof import('@tensorflow/tfjs');
type TfWasm = typeof import('@tensorflow/tfjs-backend-wasm');
type FaceApi = typeof import('@vladmandic/face-api/dist/face-api.node-wasm.js');

/** Descriptors closer than this (Euclidean) are taken for the same person. */
export const faceMatchThreshold = 0.6;

/** Images larger than this on a side are downscaled (area average) before detection. */
export const maxDetectionSide = 2048;
/** Images declaring more pixels than this, or a side above 16384, are refused unread. */
export const maxImagePixels = 50_000_000;
const maxImageSide = 16_384;

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type FaceDescription =
  | { found: false }
  | {
      found: true;
      /** 128 numbers from the recognition net. */
      descriptor: Float32Array;
      /** Where the face is, in pixels of the image as given (as shown, for a JPEG with an EXIF orientation). */
      box: FaceBox;
      /** The detector's confidence, 0..1. */
      score: number;
    };

export interface FaceMatcher {
  /**
   * The largest face on the image (PNG or JPEG bytes), or `{ found: false }`. Rejects with a
   * `FaceMatchError` when the image cannot be read, is too large, takes longer than the
   * timeout, or the queue is full or the matcher closed.
   */
  describe(image: Uint8Array): Promise<FaceDescription>;
  /** Refuses further calls and waits for those already queued. The models stay loaded. */
  close(): Promise<void>;
}

export interface FaceMatcherOptions {
  /** Time one image may take once its turn has come (default 20 s; the model load included). */
  timeoutMsPerImage?: number;
  /** Calls that may wait or run at once; beyond, `describe` rejects with `busy` (default 16). */
  maxQueued?: number;
}

export type FaceMatchErrorCode = 'unreadable' | 'too_large' | 'timeout' | 'busy' | 'closed' | 'failed';

export class FaceMatchError extends Error {
  override readonly name = 'FaceMatchError';
  constructor(
    readonly code: FaceMatchErrorCode,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
  }
}

/** Euclidean distance between two descriptors of the same length. */
export function faceDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length)
    throw new RangeError(`descriptors differ in length: ${a.length} and ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return Math.sqrt(sum);
}

/** The distance (rounded to 4 decimals) and whether it is below `faceMatchThreshold`. */
export function compareFaces(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): { distance: number; matched: boolean } {
  const distance = Math.round(faceDistance(a, b) * 10_000) / 10_000;
  return { distance, matched: distance < faceMatchThreshold };
}

// ---------------------------------------------------------------------------------------------
// Models: loaded once per process, on first use.

interface Engine {
  tf: Tf;
  faceapi: FaceApi;
}

let engine: Promise<Engine> | undefined;

function loadEngine(): Promise<Engine> {
  engine ??= (async () => {
    const require = createRequire(import.meta.url);
    const tf = require('@tensorflow/tfjs') as Tf;
    const wasm = require('@tensorflow/tfjs-backend-wasm') as TfWasm;
    const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
    wasm.setWasmPaths(
      `${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`,
    );
    if (!(await tf.setBackend('wasm'))) throw new Error('the TensorFlow.js wasm backend did not start');
    await tf.ready();
    const models = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(models);
    await faceapi.nets.faceLandmark68Net.loadFromDisk(models);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(models);
    return { tf, faceapi };
  })();
  // A failed load is forgotten, so that a later call tries again.
  engine.catch(() => {
    engine = undefined;
  });
  return engine;
}

// ---------------------------------------------------------------------------------------------
// Decoding, with the size checked from the header first.

interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

function isJpeg(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/** Width and height from the IHDR chunk, which must come first, or undefined. */
function pngSize(b: Uint8Array): { width: number; height: number } | undefined {
  if (b.length < 24 || Buffer.from(b.buffer, b.byteOffset + 12, 4).toString('latin1') !== 'IHDR')
    return undefined;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Width and height from the first SOF marker, or undefined. */
function jpegSize(b: Uint8Array): { width: number; height: number } | undefined {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    const length = (b[i + 2]! << 8) | b[i + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]! };
    }
    i += 2 + length;
  }
  return undefined;
}

function checkSize(size: { width: number; height: number } | undefined): void {
  if (!size || size.width < 1 || size.height < 1)
    throw new FaceMatchError('unreadable', 'the image has no size');
  if (size.width > maxImageSide || size.height > maxImageSide || size.width * size.height > maxImagePixels) {
    throw new FaceMatchError('too_large', `the image is too large: ${size.width} × ${size.height}`);
  }
}

function decode(bytes: Uint8Array): Rgba {
  if (isPng(bytes)) {
    checkSize(pngSize(bytes));
    let png: PNG;
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (cause) {
      throw new FaceMatchError('unreadable', 'the PNG cannot be decoded', { cause });
    }
    return { width: png.width, height: png.height, data: png.data };
  }
  if (isJpeg(bytes)) {
    checkSize(jpegSize(bytes));
    let img: Rgba;
    try {
      img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxImagePixels / 1_000_000,
        maxMemoryUsageInMB: 512,
      });
    } catch (cause) {
      throw new FaceMatchError('unreadable', 'the JPEG cannot be decoded', { cause });
    }
    // Phones store the sensor's pixels and say in EXIF how to turn them; the detector wants
    // the face upright.
    return orient(img, jpegOrientation(bytes));
  }
  throw new FaceMatchError('unreadable', 'the image is neither PNG nor JPEG');
}

/** The EXIF orientation (1..8) of a JPEG; 1 when it has none or it cannot be read. */
function jpegOrientation(b: Uint8Array): number {
  let i = 2;
  while (i + 4 < b.length && b[i] === 0xff) {
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // the pixels begin: no EXIF before them
    const length = (b[i + 2]! << 8) | b[i + 3]!;
    if (
      marker === 0xe1 &&
      length >= 16 &&
      Buffer.from(b.buffer, b.byteOffset + i + 4, 6).toString('latin1') === 'Exif\0\0'
    ) {
      return exifOrientation(b.subarray(i + 10, Math.min(b.length, i + 2 + length)));
    }
    i += 2 + length;
  }
  return 1;
}

/** Tag 0x0112 of IFD0 of a TIFF structure (EXIF's), 1 when absent or malformed. */
function exifOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return 1;
  const count = view.getUint16(ifd, little);
  for (let k = 0; k < count; k++) {
    const entry = ifd + 2 + k * 12;
    if (entry + 12 > tiff.length) return 1;
    if (view.getUint16(entry, little) === 0x0112) {
      const value = view.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/** The image as it is meant to be seen, given its EXIF orientation (1..8). */
function orient(img: Rgba, orientation: number): Rgba {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: w, height: h, data } = img;
  const swap = orientation >= 5;
  const width = swap ? h : w;
  const height = swap ? w : h;
  const out = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2: // mirrored
          [sx, sy] = [w - 1 - x, y];
          break;
        case 3: // upside down
          [sx, sy] = [w - 1 - x, h - 1 - y];
          break;
        case 4: // mirrored upside down
          [sx, sy] = [x, h - 1 - y];
          break;
        case 5: // transposed
          [sx, sy] = [y, x];
          break;
        case 6: // to be turned a quarter clockwise
          [sx, sy] = [y, h - 1 - x];
          break;
        case 7: // transversed
          [sx, sy] = [w - 1 - y, h - 1 - x];
          break;
        default: // 8: to be turned a quarter anticlockwise
          [sx, sy] = [w - 1 - y, x];
      }
      const s = (sy * w + sx) * 4;
      out.set(data.subarray(s, s + 4), (y * width + x) * 4);
    }
  }
  return { width, height, data: out };
}

/**
 * RGB (int32, as face-api wants it) of the image, flattened over white where it is
 * transparent and downscaled by area averaging so that no side exceeds `maxDetectionSide`.
 */
function toRgb(img: Rgba): { rgb: Int32Array; width: number; height: number; scale: number } {
  const scale = Math.min(1, maxDetectionSide / Math.max(img.width, img.height));
  const width = Math.max(1, Math.round(img.width * scale));
  const height = Math.max(1, Math.round(img.height * scale));
  const rgb = new Int32Array(width * height * 3);
  const src = img.data;
  for (let y = 0; y < height; y++) {
    const ya = Math.floor((y * img.height) / height);
    const yb = Math.max(ya + 1, Math.floor(((y + 1) * img.height) / height));
    for (let x = 0; x < width; x++) {
      const xa = Math.floor((x * img.width) / width);
      const xb = Math.max(xa + 1, Math.floor(((x + 1) * img.width) / width));
      let r = 0;
      let g = 0;
      let b = 0;
      let n = 0;
      for (let sy = ya; sy < yb; sy++) {
        for (let sx = xa; sx < xb; sx++) {
          const s = (sy * img.width + sx) * 4;
          const a = src[s + 3]!;
          const white = 255 - a;
          r += (src[s]! * a) / 255 + white;
          g += (src[s + 1]! * a) / 255 + white;
          b += (src[s + 2]! * a) / 255 + white;
          n++;
        }
      }
      const d = (y * width + x) * 3;
      rgb[d] = Math.round(r / n);
      rgb[d + 1] = Math.round(g / n);
      rgb[d + 2] = Math.round(b / n);
    }
  }
  return { rgb, width, height, scale: width / img.width };
}

// ---------------------------------------------------------------------------------------------
// One image.

/**
 * Yields to the event loop (so a timer may fire) and throws `timeout` once past the deadline.
 * TensorFlow.js on wasm computes synchronously: work is only abandoned between stages.
 */
async function checkpoint(deadline: number): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (performance.now() > deadline) throw new FaceMatchError('timeout', 'the image took too long');
}

async function describeNow(bytes: Uint8Array, deadline: number): Promise<FaceDescription> {
  // Decoded first: an unreadable image is refused without waiting for the models.
  const { rgb, width, height, scale } = toRgb(decode(bytes));
  await checkpoint(deadline);
  const { tf, faceapi } = await loadEngine().catch((cause: unknown) => {
    throw new FaceMatchError('failed', 'the face models could not be loaded', { cause });
  });
  await checkpoint(deadline);
  const scope = tf.engine();
  scope.startScope();
  try {
    const input = tf.tensor3d(rgb, [height, width, 3], 'int32');
    const detect = faceapi.detectAllFaces(
      input,
      new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 10 }),
    );
    // Only the largest face goes on to landmarks and descriptor (a group photo costs one
    // descriptor, not one per face); the deadline is checked between the stages.
    const detectAll = detect.run.bind(detect);
    detect.run = async () => {
      const all = await detectAll();
      await checkpoint(deadline);
      let largest: (typeof all)[number] | undefined;
      for (const d of all) if (!largest || d.box.area > largest.box.area) largest = d;
      return largest ? [largest] : [];
    };
    const landmarks = detect.withFaceLandmarks();
    const landmarksAll = landmarks.run.bind(landmarks);
    landmarks.run = async () => {
      const result = await landmarksAll();
      await checkpoint(deadline);
      return result;
    };
    const [face] = await landmarks.withFaceDescriptors();
    if (!face) return { found: false };
    const box = face.detection.box;
    return {
      found: true,
      descriptor: Float32Array.from(face.descriptor),
      box: {
        x: Math.round(box.x / scale),
        y: Math.round(box.y / scale),
        width: Math.round(box.width / scale),
        height: Math.round(box.height / scale),
      },
      score: face.detection.score,
    };
  } catch (cause) {
    if (cause instanceof FaceMatchError) throw cause;
    throw new FaceMatchError('failed', 'face detection failed on this image', { cause });
  } finally {
    // Disposes every tensor made since startScope: the input and anything an error left.
    scope.endScope();
  }
}

// ---------------------------------------------------------------------------------------------
// The matcher: one call at a time, process-wide (TensorFlow.js has one engine).

let tail: Promise<void> = Promise.resolve();
const noop = (): void => {};

/**
 * A face matcher. Cheap: the models load on the first `describe` and stay loaded for the
 * process; calls of all matchers run one after another.
 */
export async function createFaceMatcher(options: FaceMatcherOptions = {}): Promise<FaceMatcher> {
  const timeoutMs = options.timeoutMsPerImage ?? 20_000;
  const maxQueued = options.maxQueued ?? 16;
  let queued = 0;
  let closed = false;
  let last: Promise<void> = Promise.resolve();

  function describe(image: Uint8Array): Promise<FaceDescription> {
    if (closed) return Promise.reject(new FaceMatchError('closed', 'the face matcher is closed'));
    if (queued >= maxQueued) return Promise.reject(new FaceMatchError('busy', 'too many images are waiting'));
    if (!(image instanceof Uint8Array)) {
      return Promise.reject(new FaceMatchError('unreadable', 'the image is not bytes'));
    }
    queued++;
    return new Promise<FaceDescription>((resolve, reject) => {
      const turn = tail.then(async () => {
        const deadline = performance.now() + timeoutMs;
        const timer = setTimeout(() => {
          reject(new FaceMatchError('timeout', `no result within ${timeoutMs} ms`));
        }, timeoutMs);
        try {
          // The next call waits for this one to finish (or give up at a checkpoint), even
          // after the timer has answered its caller.
          resolve(await describeNow(image, deadline));
        } catch (cause) {
          reject(
            cause instanceof FaceMatchError
              ? cause
              : new FaceMatchError('failed', 'face detection failed on this image', { cause }),
          );
        } finally {
          clearTimeout(timer);
          queued--;
        }
      });
      tail = turn.then(noop, noop);
      last = tail;
    });
  }

  return {
    describe,
    async close() {
      closed = true;
      await last;
    },
  };
}
