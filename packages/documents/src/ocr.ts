/**
 * OCR with tesseract.js, fully offline (see /work/shared/TOOLCHAIN.md): the English LSTM model
 * from `@tesseract.js-data/eng`, no cache written, errors handed to a logger instead of thrown
 * from the worker.
 *
 * One worker per engine, reused; calls run one at a time in arrival order, at most
 * `maxQueue` waiting (more → `OcrBusy`). Each page has a time limit: past it the worker is
 * terminated (its half-done page cannot be taken back), the call rejects with `OcrTimeout`,
 * and the next call starts a fresh worker. A worker that fails is likewise replaced.
 * Images are PNG or JPEG of at most 40 million pixels (by their header, before decoding);
 * anything else rejects with `OcrImageRejected` and the worker is untouched.
 *
 * `recognize(image, { mrz: true })` restricts tesseract to the MRZ alphabet and prepares the
 * page (grey, deskewed, softened; see `prepareForMrz`); `mrzLinesFromText` then picks the
 * MRZ lines out of the text.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { createWorker, OEM, PSM, type Worker } from 'tesseract.js';

export interface OcrResult {
  text: string;
  /** Tesseract's mean word confidence, 0–100. */
  confidence: number;
}

export interface RecognizeOptions {
  /** Machine-readable zone: only `A–Z`, `0–9` and `<` are recognised. */
  mrz?: boolean;
  /** This page's time limit instead of the engine's. */
  timeoutMs?: number;
}

export interface OcrStats {
  /** Whether a tesseract worker is alive now. */
  workerAlive: boolean;
  /** Workers started so far (a time-out or a failure replaces the worker). */
  workersStarted: number;
  /** Calls waiting behind the running one. */
  waiting: number;
}

export interface OcrEngine {
  recognize(image: Buffer, options?: RecognizeOptions): Promise<OcrResult>;
  /** Stops the worker once the running call ends; waiting calls reject with `OcrClosed`. */
  close(): Promise<void>;
  stats(): OcrStats;
}

export interface OcrEngineOptions {
  /** Per page, default 20 s. */
  timeoutMsPerPage?: number;
  /** Calls allowed to wait behind the running one, default 32. */
  maxQueue?: number;
  logger?: (msg: string, err?: unknown) => void;
}

export class OcrTimeout extends Error {
  override readonly name = 'OcrTimeout';
  constructor(readonly timeoutMs: number) {
    super(`OCR took longer than ${timeoutMs} ms`);
  }
}

export class OcrBusy extends Error {
  override readonly name = 'OcrBusy';
  constructor(readonly maxQueue: number) {
    super(`OCR queue full (${maxQueue} waiting)`);
  }
}

export class OcrClosed extends Error {
  override readonly name = 'OcrClosed';
  constructor() {
    super('OCR engine closed');
  }
}

export const defaultOcrTimeoutMsPerPage = 20_000;
export const defaultOcrMaxQueue = 32;
/** The MRZ alphabet (ICAO 9303). */
export const mrzCharWhitelist = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<';

const langPath = join(
  dirname(createRequire(import.meta.url).resolve('@tesseract.js-data/eng/package.json')),
  '4.0.0_best_int',
);

type Mode = 'text' | 'mrz';

const parameters: Record<Mode, Record<string, string>> = {
  // Back to tesseract's defaults.
  text: { tessedit_char_whitelist: '', tessedit_pageseg_mode: PSM.AUTO },
  // A single uniform block gave each MRZ line whole (automatic layout split some); the
  // whitelist keeps out look-alikes from outside the MRZ alphabet (`«`, `$`, lower case).
  mrz: { tessedit_char_whitelist: mrzCharWhitelist, tessedit_pageseg_mode: PSM.SINGLE_BLOCK },
};

export async function createOcrEngine(options: OcrEngineOptions = {}): Promise<OcrEngine> {
  const timeoutMs = options.timeoutMsPerPage ?? defaultOcrTimeoutMsPerPage;
  const maxQueue = options.maxQueue ?? defaultOcrMaxQueue;
  const log = options.logger ?? (() => {});

  let worker: Worker | undefined;
  let workerMode: Mode = 'text';
  let closed = false;
  /** Calls accepted and not yet settled: the running one and those waiting. */
  let pending = 0;
  let workersStarted = 0;
  let tail: Promise<unknown> = Promise.resolve();

  async function start(): Promise<Worker> {
    const w = await createWorker('eng', OEM.LSTM_ONLY, {
      langPath,
      gzip: true,
      cacheMethod: 'none',
      errorHandler: (err: unknown) => log('ocr worker error', err),
    });
    // Tesseract's own notes ("Estimating resolution as …") would go to the process's stderr.
    await w.setParameters({ debug_file: '/dev/null' });
    workerMode = 'text';
    workersStarted++;
    return w;
  }

  async function drop(): Promise<void> {
    const w = worker;
    worker = undefined;
    if (!w) return;
    try {
      await w.terminate();
    } catch (err) {
      log('ocr worker terminate failed', err);
    }
  }

  async function run(image: Buffer, mode: Mode, pageTimeoutMs: number): Promise<OcrResult> {
    if (closed) throw new OcrClosed();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const started = performance.now();
    // The image is checked (and for an MRZ prepared) here: a bad image is no worker failure.
    const page = mode === 'mrz' ? prepareForMrz(image) : checkedImage(image);
    const work = (async () => {
      let w = worker;
      if (!w) {
        w = await start();
        if (timedOut) {
          // Started too late for a call that has already given up: not kept.
          await w.terminate().catch((err: unknown) => log('ocr worker terminate failed', err));
          throw new OcrTimeout(pageTimeoutMs);
        }
        worker = w;
      }
      if (workerMode !== mode) {
        await w.setParameters(parameters[mode]);
        workerMode = mode;
      }
      const { data } = await w.recognize(page);
      return { text: data.text, confidence: data.confidence };
    })();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          timedOut = true;
          reject(new OcrTimeout(pageTimeoutMs));
        },
        Math.max(0, pageTimeoutMs - (performance.now() - started)),
      );
    });
    try {
      return await Promise.race([work, deadline]);
    } catch (err) {
      // A time-out or a failure: the worker's state is unknown, start afresh next time.
      if (!timedOut) log('ocr failed', err);
      work.catch(() => {});
      await drop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    recognize(image, recognizeOptions = {}) {
      if (closed) return Promise.reject(new OcrClosed());
      // One running, at most maxQueue behind it.
      if (pending > maxQueue) return Promise.reject(new OcrBusy(maxQueue));
      pending++;
      const mode: Mode = recognizeOptions.mrz ? 'mrz' : 'text';
      const result = tail.then(() => run(image, mode, recognizeOptions.timeoutMs ?? timeoutMs));
      tail = result.then(
        () => {
          pending--;
        },
        () => {
          pending--;
        },
      );
      return result;
    },
    async close() {
      closed = true;
      await tail;
      await drop();
    },
    stats: () => ({ workerAlive: worker !== undefined, workersStarted, waiting: Math.max(0, pending - 1) }),
  };
}

// What OCR confuses between letters and digits; used only where the MRZ's layout says which
// one a position holds (ICAO 9303), so a correct reading is never changed.
const toDigit: Record<string, string> = {
  O: '0',
  D: '0',
  Q: '0',
  I: '1',
  L: '1',
  Z: '2',
  S: '5',
  G: '6',
  B: '8',
};
const toLetter: Record<string, string> = { '0': 'O', '1': 'I', '2': 'Z', '5': 'S', '6': 'G', '8': 'B' };
type Kind = 'a' | 'n' | 'x';
/** Per position: a letter (or `<`), n digit (or `<`), x either. */
const layouts: Record<number, readonly string[]> = {
  44: ['aaaaa'.padEnd(44, 'a'), `${'x'.repeat(9)}naaa${'n'.repeat(7)}a${'n'.repeat(7)}${'x'.repeat(14)}nn`],
  30: [`aaaaa${'x'.repeat(25)}`, `${'n'.repeat(7)}a${'n'.repeat(7)}aaa${'x'.repeat(11)}n`, 'a'.repeat(30)],
};

function fixLine(line: string, layout: string): string {
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const kind = layout[i] as Kind;
    out += kind === 'n' ? (toDigit[c] ?? c) : kind === 'a' ? (toLetter[c] ?? c) : c;
  }
  return out;
}

/**
 * The MRZ lines in OCR text, if any: two consecutive lines of 44 characters (TD3, passport)
 * or three of 30 (TD1, identity card) from the MRZ alphabet, spaces removed, with letters and
 * digits swapped back where the layout allows only one of them. Check digits are not checked
 * here (see `mrz.ts`). `[]` when there is none.
 */
export function mrzLinesFromText(text: string): string[] {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\s+/g, '').toUpperCase())
    .filter((l) => l.length > 0);
  const mrzish = (l: string | undefined, n: number) =>
    l !== undefined && l.length === n && /^[A-Z0-9<]+$/.test(l);
  for (let i = 0; i < lines.length; i++) {
    if (mrzish(lines[i], 44) && mrzish(lines[i + 1], 44)) {
      return [0, 1].map((k) => fixLine(lines[i + k]!, layouts[44]![k]!));
    }
    if (mrzish(lines[i], 30) && mrzish(lines[i + 1], 30) && mrzish(lines[i + 2], 30)) {
      return [0, 1, 2].map((k) => fixLine(lines[i + k]!, layouts[30]![k]!));
    }
  }
  return [];
}

/** Pixels OCR will decode at most (a larger declared size is refused before decoding). */
export const ocrMaxPixels = 40_000_000;

export class OcrImageRejected extends Error {
  override readonly name = 'OcrImageRejected';
}

interface Gray {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Width and height declared by a PNG's IHDR or a JPEG's frame header, without decoding. */
export function declaredImageSize(image: Uint8Array): { width: number; height: number } | undefined {
  if (
    image.length >= 24 &&
    image[0] === 0x89 &&
    image[1] === 0x50 &&
    image[2] === 0x4e &&
    image[3] === 0x47
  ) {
    const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (image.length >= 4 && image[0] === 0xff && image[1] === 0xd8) {
    let i = 2;
    while (i + 9 < image.length) {
      if (image[i] !== 0xff) return undefined;
      const marker = image[i + 1]!;
      if (marker === 0xff) {
        i++;
        continue;
      }
      const length = (image[i + 2]! << 8) | image[i + 3]!;
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: (image[i + 5]! << 8) | image[i + 6]!, width: (image[i + 7]! << 8) | image[i + 8]! };
      }
      i += 2 + length;
    }
  }
  return undefined;
}

/** The image itself when it is a PNG or JPEG of at most `ocrMaxPixels`, else `OcrImageRejected`. */
function checkedImage(image: Buffer): Buffer {
  const size = declaredImageSize(image);
  if (!size) throw new OcrImageRejected('not a PNG or JPEG image');
  if (size.width * size.height > ocrMaxPixels || size.width === 0 || size.height === 0) {
    throw new OcrImageRejected(`image of ${size.width}×${size.height} pixels`);
  }
  return image;
}

function decodeGray(image: Buffer): Gray {
  checkedImage(image);
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    rgba =
      image[0] === 0x89
        ? PNG.sync.read(image)
        : jpeg.decode(image, {
            useTArray: true,
            maxResolutionInMP: ocrMaxPixels / 1e6,
            maxMemoryUsageInMB: 1024,
          });
  } catch (err) {
    throw new OcrImageRejected(`image unreadable: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { width, height } = rgba;
  const data = new Uint8Array(width * height);
  const src = rgba.data;
  for (let p = 0, q = 0; p < data.length; p++, q += 4) {
    // Alpha over white, then luma.
    const a = src[q + 3]!;
    const l = (src[q]! * 299 + src[q + 1]! * 587 + src[q + 2]! * 114) / 1000;
    data[p] = Math.round((l * a + 255 * (255 - a)) / 255);
  }
  return { width, height, data };
}

/**
 * The skew of the text lines, in degrees (positive: lines fall to the right), from ±6°: the
 * angle whose horizontal projection of dark pixels is the most peaked, on a reduced copy.
 */
export function estimateSkewDegrees(img: Gray): number {
  const step = Math.max(1, Math.floor(img.width / 500));
  const dark: number[] = [];
  let sum = 0;
  for (let p = 0; p < img.data.length; p += 7) sum += img.data[p]!;
  const threshold = Math.min(160, (sum / Math.ceil(img.data.length / 7)) * 0.75);
  for (let y = 0; y < img.height; y += step) {
    for (let x = 0; x < img.width; x += step) {
      if (img.data[y * img.width + x]! < threshold) dark.push(x, y);
    }
  }
  if (dark.length < 200) return 0;
  const score = (degrees: number) => {
    const t = Math.tan((degrees * Math.PI) / 180);
    const bins = new Map<number, number>();
    for (let k = 0; k < dark.length; k += 2) {
      const row = Math.round((dark[k + 1]! - dark[k]! * t) / step);
      bins.set(row, (bins.get(row) ?? 0) + 1);
    }
    let s = 0;
    for (const n of bins.values()) s += n * n;
    return s;
  };
  let best = 0;
  let bestScore = score(0);
  for (let d = -6; d <= 6; d += 0.25) {
    const sc = score(d);
    if (sc > bestScore * 1.0001) {
      best = d;
      bestScore = sc;
    }
  }
  return best;
}

/** The image turned by `-degrees` about its centre (bilinear, white outside). */
function unrotate(img: Gray, degrees: number): Gray {
  const { width: w, height: h } = img;
  const out = new Uint8Array(w * h);
  const a = (degrees * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const cx = w / 2;
  const cy = h / 2;
  const src = img.data;
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= w || y >= h ? 255 : src[y * w + x]!);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const sx = cos * dx - sin * dy + cx;
      const sy = sin * dx + cos * dy + cy;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      out[y * w + x] = Math.round(
        at(x0, y0) * (1 - fx) * (1 - fy) +
          at(x0 + 1, y0) * fx * (1 - fy) +
          at(x0, y0 + 1) * (1 - fx) * fy +
          at(x0 + 1, y0 + 1) * fx * fy,
      );
    }
  }
  return { width: w, height: h, data: out };
}

/** A 3×3 box blur: softens the hard, aliased edges of rendered text the LSTM misreads. */
function soften(img: Gray): Gray {
  const { width: w, height: h, data: src } = img;
  const tmp = new Uint16Array(w * h);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      tmp[row + x] = src[row + Math.max(0, x - 1)]! + src[row + x]! + src[row + Math.min(w - 1, x + 1)]!;
    }
  }
  for (let y = 0; y < h; y++) {
    const up = Math.max(0, y - 1) * w;
    const row = y * w;
    const down = Math.min(h - 1, y + 1) * w;
    for (let x = 0; x < w; x++)
      out[row + x] = Math.round((tmp[up + x]! + tmp[row + x]! + tmp[down + x]!) / 9);
  }
  return { width: w, height: h, data: out };
}

function encodeGray(img: Gray): Buffer {
  const png = new PNG({
    width: img.width,
    height: img.height,
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/**
 * For an MRZ: grey, deskewed when the lines lean by more than half a degree, softened.
 * Measured on the generated fixtures (testing/): without deskewing a 2.5° page loses the ends
 * of its lines; without softening the sharp TD3 reads `Z` as `7` and `<6` as `<H` at times.
 * Scaling the page by 0.75 or 1.5 first was tried: no better overall, so not done.
 */
export function prepareForMrz(image: Buffer): Buffer {
  let img = decodeGray(image);
  const skew = estimateSkewDegrees(img);
  if (Math.abs(skew) > 0.5) img = unrotate(img, skew);
  return encodeGray(soften(img));
}
