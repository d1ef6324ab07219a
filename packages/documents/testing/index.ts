/**
 * Test documents for issue #16, generated in pure JS and deterministic (same arguments, same
 * bytes): a passport data page (TD3), an identity card (TD1), a photo that is no document, a
 * one-page PDF around a JPEG and a PNG that declares an absurd size. Text is drawn with
 * DejaVu Sans Mono from `dejavu-fonts-ttf` through pureimage; pngjs and jpeg-js encode.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import jpeg from 'jpeg-js';
import {
  concatTransformationMatrix,
  drawObject,
  PDFDocument,
  PDFName,
  PDFNumber,
  popGraphicsState,
  pushGraphicsState,
} from 'pdf-lib';
import { PNG } from 'pngjs';
import * as PImage from 'pureimage';
import type { MrzPerson } from '../src/mrz.js';

type Bitmap = ReturnType<typeof PImage.make>;
type Context = ReturnType<Bitmap['getContext']>;

/** ICAO 9303 part 4 specimen (TD3). */
export const specimenTd3: readonly [string, string] = [
  'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<',
  'L898902C36UTO7408122F1204159ZE184226B<<<<<10',
];
/** ICAO 9303 part 5 specimen (TD1). */
export const specimenTd1: readonly [string, string, string] = [
  'I<UTOD231458907<<<<<<<<<<<<<<<',
  '7408122F1204159UTO<<<<<<<<<<<6',
  'ERIKSSON<<ANNA<MARIA<<<<<<<<<<',
];

/**
 * The specimen's holder with a document that is still valid (until 2034): with a matching
 * profile (Anna Maria Eriksson, born 1974-08-12) its zone verifies. For buildTd3/buildTd1.
 */
export const validHolder = {
  surname: 'ERIKSSON',
  givenNames: 'ANNA MARIA',
  documentNumber: 'X4K8207Q1',
  nationality: 'UTO',
  issuingState: 'UTO',
  dateOfBirth: '1974-08-12',
  expiryDate: '2034-04-15',
  sex: 'female',
} as const satisfies MrzPerson;

const fontDir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
let fontsLoaded = false;
function loadFonts(): void {
  if (fontsLoaded) return;
  PImage.registerFont(join(fontDir, 'DejaVuSansMono.ttf'), 'DocMono').loadSync();
  PImage.registerFont(join(fontDir, 'DejaVuSans.ttf'), 'DocSans').loadSync();
  PImage.registerFont(join(fontDir, 'DejaVuSans-Bold.ttf'), 'DocSansBold').loadSync();
  fontsLoaded = true;
}

export interface DocumentImageOptions {
  /** Holder's name in the visual zone (default from the MRZ). */
  name?: string;
  /** Width in pixels (default 1200 for a passport, 1000 for a card). */
  width?: number;
  format: 'png' | 'jpeg';
  /** Box-blur radius in pixels applied to the finished page (0: none). */
  blur?: number;
  /** Rotates the finished page by this many degrees (positive: clockwise), white corners. */
  rotateDegrees?: number;
  /** A JPEG (a face) pasted, scaled, into the photo box. */
  photo?: Buffer;
  /** JPEG quality, default 90. */
  quality?: number;
}

export interface PassportImageOptions extends DocumentImageOptions {
  mrzLines: readonly [string, string];
}

export interface IdCardImageOptions extends DocumentImageOptions {
  mrzLines: readonly [string, string, string];
}

function nameFromMrz(field: string): { surname: string; given: string } {
  const [surname = '', given = ''] = field.split('<<');
  return { surname: surname.replaceAll('<', ' ').trim(), given: given.replaceAll('<', ' ').trim() };
}

function text(ctx: Context, font: string, size: number, color: string, s: string, x: number, y: number) {
  ctx.font = `${size}px ${font}`;
  ctx.fillStyle = color;
  ctx.fillText(s, x, y);
}

/**
 * Pitch of the MRZ characters, in em: DejaVu Sans Mono's cell is 0.602 em; MRZ printing
 * (OCR-B at 10 characters per inch) leaves more room between characters, which OCR needs.
 */
const mrzPitch = 0.8;

/** An MRZ line in DejaVu Sans Mono, one character per `mrzPitch` cell. */
function mrzText(ctx: Context, size: number, s: string, x: number, y: number) {
  for (let i = 0; i < s.length; i++) text(ctx, 'DocMono', size, '#000000', s[i]!, x + i * size * mrzPitch, y);
}

/** A photo box: the given JPEG scaled into it, else a drawn silhouette. */
function photoBox(ctx: Context, img: Bitmap, x: number, y: number, w: number, h: number, photo?: Buffer) {
  ctx.fillStyle = '#d8dde3';
  ctx.fillRect(x, y, w, h);
  if (photo) {
    const decoded = jpeg.decode(photo, { useTArray: true, maxMemoryUsageInMB: 256 });
    // Cover: scale so the photo fills the box, centred (nearest neighbour, deterministic).
    const scale = Math.max(w / decoded.width, h / decoded.height);
    const ox = (decoded.width - w / scale) / 2;
    const oy = (decoded.height - h / scale) / 2;
    for (let j = 0; j < h; j++) {
      const sy = Math.min(decoded.height - 1, Math.floor(oy + j / scale));
      for (let i = 0; i < w; i++) {
        const sx = Math.min(decoded.width - 1, Math.floor(ox + i / scale));
        const s = (sy * decoded.width + sx) * 4;
        const d = ((y + j) * img.width + (x + i)) * 4;
        img.data[d] = decoded.data[s]!;
        img.data[d + 1] = decoded.data[s + 1]!;
        img.data[d + 2] = decoded.data[s + 2]!;
        img.data[d + 3] = 255;
      }
    }
  } else {
    // A silhouette: a head and shoulders, cut to the box.
    const head = { x: w / 2, y: h * 0.38, r: w * 0.22 };
    const body = { x: w / 2, y: h * 1.05, r: w * 0.45 };
    const inside = (c: { x: number; y: number; r: number }, i: number, j: number) =>
      (i - c.x) ** 2 + (j - c.y) ** 2 <= c.r ** 2;
    for (let j = 0; j < h; j++) {
      for (let i = 0; i < w; i++) {
        if (!inside(head, i, j) && !inside(body, i, j)) continue;
        const d = ((y + j) * img.width + (x + i)) * 4;
        img.data[d] = 0x8a;
        img.data[d + 1] = 0x94;
        img.data[d + 2] = 0xa0;
      }
    }
  }
  ctx.strokeStyle = '#333333';
  ctx.lineWidth = 2;
  ctx.strokeRect(x, y, w, h);
}

/** Box blur, `radius` pixels, separable, in place on RGB. */
function boxBlur(img: Bitmap, radius: number): void {
  const r = Math.max(0, Math.round(radius));
  if (r === 0) return;
  const { width: w, height: h } = img;
  const src = img.data;
  const tmp = new Uint8Array(src.length);
  const pass = (from: Uint8Array, to: Uint8Array, horizontal: boolean) => {
    const [outer, inner] = horizontal ? [h, w] : [w, h];
    for (let o = 0; o < outer; o++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        const at = (k: number) => {
          const kk = Math.min(inner - 1, Math.max(0, k));
          return horizontal ? (o * w + kk) * 4 + c : (kk * w + o) * 4 + c;
        };
        for (let k = -r; k <= r; k++) sum += from[at(k)]!;
        for (let i = 0; i < inner; i++) {
          to[at(i)] = Math.round(sum / (2 * r + 1));
          sum += from[at(i + r + 1)]! - from[at(i - r)]!;
        }
      }
    }
  };
  pass(src, tmp, true);
  pass(tmp, src, false);
}

/** Rotation about the centre, bilinear, onto a white canvas that holds the whole page. */
function rotate(img: Bitmap, degrees: number): Bitmap {
  if (!degrees) return img;
  const { width: w, height: h } = img;
  const a = (degrees * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const ow = Math.ceil(Math.abs(w * cos) + Math.abs(h * sin));
  const oh = Math.ceil(Math.abs(w * sin) + Math.abs(h * cos));
  const out = PImage.make(ow, oh);
  const cx = w / 2;
  const cy = h / 2;
  const src = img.data;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // Inverse mapping: where in the source this output pixel comes from.
      const dx = x - ow / 2;
      const dy = y - oh / 2;
      const sx = cos * dx + sin * dy + cx;
      const sy = -sin * dx + cos * dy + cy;
      const d = (y * ow + x) * 4;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const inX0 = x0 >= 0 && x0 < w;
      const inX1 = x0 + 1 >= 0 && x0 + 1 < w;
      const inY0 = y0 >= 0 && y0 < h;
      const inY1 = y0 + 1 >= 0 && y0 + 1 < h;
      const i00 = inX0 && inY0 ? (y0 * w + x0) * 4 : -1;
      const i10 = inX1 && inY0 ? (y0 * w + x0 + 1) * 4 : -1;
      const i01 = inX0 && inY1 ? ((y0 + 1) * w + x0) * 4 : -1;
      const i11 = inX1 && inY1 ? ((y0 + 1) * w + x0 + 1) * 4 : -1;
      for (let c = 0; c < 3; c++) {
        const v =
          (i00 < 0 ? 255 : src[i00 + c]!) * (1 - fx) * (1 - fy) +
          (i10 < 0 ? 255 : src[i10 + c]!) * fx * (1 - fy) +
          (i01 < 0 ? 255 : src[i01 + c]!) * (1 - fx) * fy +
          (i11 < 0 ? 255 : src[i11 + c]!) * fx * fy;
        out.data[d + c] = Math.round(v);
      }
      out.data[d + 3] = 255;
    }
  }
  return out;
}

function encode(img: Bitmap, format: 'png' | 'jpeg', quality = 90): Buffer {
  const data = Buffer.from(img.data.buffer, img.data.byteOffset, img.width * img.height * 4);
  if (format === 'jpeg') return jpeg.encode({ data, width: img.width, height: img.height }, quality).data;
  const png = new PNG({ width: img.width, height: img.height });
  data.copy(png.data);
  return PNG.sync.write(png, { colorType: 2 });
}

function finish(img: Bitmap, options: DocumentImageOptions): Buffer {
  let page = img;
  if (options.rotateDegrees) page = rotate(page, options.rotateDegrees);
  if (options.blur) boxBlur(page, options.blur);
  return encode(page, options.format, options.quality);
}

/** The background of a data page: pale with a few guilloche-like curves. */
function background(ctx: Context, w: number, h: number, tint: string) {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = tint;
  ctx.fillRect(0, 0, w, Math.round(h * 0.7));
  ctx.strokeStyle = '#e3d9ee';
  ctx.lineWidth = 1;
  for (let k = 0; k < 6; k++) {
    ctx.beginPath();
    for (let x = 0; x <= w; x += 8) {
      const y = h * 0.12 + k * h * 0.09 + Math.sin(x / 37 + k) * h * 0.02;
      if (x === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.stroke();
  }
}

/**
 * A passport data page (TD3): header, photo box, visual zone and the two MRZ lines at the
 * bottom in DejaVu Sans Mono, on a white band, large enough for OCR.
 */
export function passportImage(options: PassportImageOptions): Buffer {
  loadFonts();
  const w = options.width ?? 1200;
  const h = Math.round(w * 0.7);
  const img = PImage.make(w, h);
  const ctx = img.getContext('2d');
  const u = w / 1200;
  background(ctx, w, h, '#f4f1f8');
  const { surname, given } = nameFromMrz(options.mrzLines[0].slice(5));
  const name = options.name ?? `${given} ${surname}`;
  const l2 = options.mrzLines[1];
  text(ctx, 'DocSansBold', 34 * u, '#1d2a5b', 'PASSPORT  PASSEPORT', 60 * u, 70 * u);
  text(ctx, 'DocSans', 24 * u, '#1d2a5b', `UTOPIA  ${l2.slice(10, 13)}`, 760 * u, 70 * u);
  photoBox(
    ctx,
    img,
    Math.round(60 * u),
    Math.round(110 * u),
    Math.round(300 * u),
    Math.round(380 * u),
    options.photo,
  );
  const fields: [string, string][] = [
    [
      'Type / Type',
      `P    Code ${options.mrzLines[0].slice(2, 5)}    No. ${l2.slice(0, 9).replaceAll('<', '')}`,
    ],
    ['Surname / Nom', surname],
    ['Given names / Prénoms', given],
    ['Name', name],
    ['Date of birth / Date de naissance', l2.slice(13, 19)],
    ['Sex / Sexe', l2.slice(20, 21)],
    ['Date of expiry / Date d’expiration', l2.slice(21, 27)],
  ];
  let y = 130 * u;
  for (const [label, value] of fields) {
    text(ctx, 'DocSans', 16 * u, '#555566', label, 400 * u, y);
    text(ctx, 'DocSansBold', 26 * u, '#111111', value, 400 * u, y + 30 * u);
    y += 56 * u;
  }
  const size = Math.floor((w - 100 * u) / (44 * mrzPitch));
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, Math.round(h - 2.9 * size), w, Math.round(2.9 * size));
  const x0 = 50 * u;
  mrzText(ctx, size, options.mrzLines[0], x0, h - 1.55 * size);
  mrzText(ctx, size, options.mrzLines[1], x0, h - 0.35 * size);
  return finish(img, options);
}

/** An identity card (TD1): front data on top, the three 30-character MRZ lines below. */
export function idCardImage(options: IdCardImageOptions): Buffer {
  loadFonts();
  const w = options.width ?? 860;
  const h = Math.round(w * 0.63);
  const img = PImage.make(w, h);
  const ctx = img.getContext('2d');
  const u = w / 1000;
  background(ctx, w, h, '#eef5f1');
  const [l1, l2, l3] = options.mrzLines;
  const { surname, given } = nameFromMrz(l3);
  const name = options.name ?? `${given} ${surname}`;
  text(ctx, 'DocSansBold', 30 * u, '#1b4d3e', 'IDENTITY CARD  UTOPIA', 40 * u, 55 * u);
  photoBox(
    ctx,
    img,
    Math.round(40 * u),
    Math.round(80 * u),
    Math.round(180 * u),
    Math.round(220 * u),
    options.photo,
  );
  const fields: [string, string][] = [
    ['Name', name],
    ['Document No.', l1.slice(5, 14).replaceAll('<', '')],
    ['Date of birth', l2.slice(0, 6)],
    ['Expiry', l2.slice(8, 14)],
  ];
  let y = 100 * u;
  for (const [label, value] of fields) {
    text(ctx, 'DocSans', 15 * u, '#555566', label, 250 * u, y);
    text(ctx, 'DocSansBold', 24 * u, '#111111', value, 250 * u, y + 28 * u);
    y += 54 * u;
  }
  const size = Math.floor((w - 80 * u) / (30 * mrzPitch));
  const band = Math.round(3.9 * size);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, h - band, w, band);
  const x0 = 40 * u;
  mrzText(ctx, size, l1, x0, h - 2.55 * size);
  mrzText(ctx, size, l2, x0, h - 1.4 * size);
  mrzText(ctx, size, l3, x0, h - 0.25 * size);
  return finish(img, options);
}

/** A picture that is no document: gradients and shapes, no text. */
export function plainPhoto(options: { width?: number; format?: 'png' | 'jpeg' } = {}): Buffer {
  const w = options.width ?? 800;
  const h = Math.round(w * 0.75);
  const img = PImage.make(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = (y * w + x) * 4;
      img.data[d] = Math.round((120 * x) / w + 60);
      img.data[d + 1] = Math.round((150 * y) / h + 70);
      img.data[d + 2] = Math.round(200 - (100 * (x + y)) / (w + h));
      img.data[d + 3] = 255;
    }
  }
  const ctx = img.getContext('2d');
  ctx.fillStyle = '#3a6b35';
  ctx.beginPath();
  ctx.moveTo(0, h);
  for (let x = 0; x <= w; x += 10) ctx.lineTo(x, h * 0.7 + Math.sin(x / 60) * h * 0.06);
  ctx.lineTo(w, h);
  ctx.closePath();
  ctx.fill();
  ctx.fillStyle = '#f2d15c';
  ctx.beginPath();
  ctx.arc(w * 0.75, h * 0.25, h * 0.1, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = '#7a4b2a';
  ctx.fillRect(w * 0.2, h * 0.5, w * 0.05, h * 0.25);
  ctx.fillStyle = '#2f5a2a';
  ctx.beginPath();
  ctx.arc(w * 0.225, h * 0.45, h * 0.12, 0, Math.PI * 2);
  ctx.fill();
  return encode(img, options.format ?? 'jpeg');
}

/** Width and height of a baseline or progressive JPEG, from its SOF marker. */
function jpegSize(bytes: Uint8Array): { width: number; height: number } {
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) throw new Error('not a JPEG');
    const marker = bytes[i + 1]!;
    const length = (bytes[i + 2]! << 8) | bytes[i + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (bytes[i + 5]! << 8) | bytes[i + 6]!, width: (bytes[i + 7]! << 8) | bytes[i + 8]! };
    }
    i += 2 + length;
  }
  throw new Error('JPEG without a frame header');
}

/** A one-page PDF showing the JPEG (kept as DCTDecode), page sized to the image at 150 dpi. */
export async function pdfWith(jpegBytes: Uint8Array): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.setCreationDate(new Date(0));
  doc.setModificationDate(new Date(0));
  // A copy of its own: pdf-lib misreads views into a larger ArrayBuffer (pooled Buffers).
  const image = await doc.embedJpg(new Uint8Array(jpegBytes));
  const { width, height } = jpegSize(jpegBytes);
  const page = doc.addPage([(width * 72) / 150, (height * 72) / 150]);
  page.drawImage(image, { x: 0, y: 0, width: page.getWidth(), height: page.getHeight() });
  return doc.save({ useObjectStreams: false });
}

/**
 * A one-page PDF with a raw image as FlateDecode (RGB or grey, 8 bits), for the PNG path of
 * `pdfFirstPageImage`.
 */
export async function pdfWithRaw(
  pixels: Uint8Array,
  width: number,
  height: number,
  gray = false,
): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.setCreationDate(new Date(0));
  doc.setModificationDate(new Date(0));
  // flateStream deflates the raw pixels itself.
  const raw = doc.context.flateStream(pixels, {
    Type: 'XObject',
    Subtype: 'Image',
    Width: PDFNumber.of(width),
    Height: PDFNumber.of(height),
    BitsPerComponent: 8,
    ColorSpace: PDFName.of(gray ? 'DeviceGray' : 'DeviceRGB'),
  });
  const ref = doc.context.register(raw);
  const page = doc.addPage([width, height]);
  const name = page.node.newXObject('Im', ref);
  page.pushOperators(
    pushGraphicsState(),
    concatTransformationMatrix(width, 0, 0, height, 0, 0),
    drawObject(name),
    popGraphicsState(),
  );
  return doc.save({ useObjectStreams: false });
}

/** A small valid PNG whose IHDR declares 100,000 × 100,000 pixels (its data is not that). */
export function pngBomb(): Buffer {
  const png = new PNG({ width: 1, height: 1 });
  png.data.fill(255);
  const bytes = PNG.sync.write(png, { colorType: 2 });
  // IHDR data begins at 16: width, height (big endian); its CRC follows the 13 bytes at 29.
  const out = Buffer.from(bytes);
  out.writeUInt32BE(100_000, 16);
  out.writeUInt32BE(100_000, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

export interface MrzFixture {
  name: string;
  /** The file as uploaded: a PNG, a JPEG or a PDF. */
  bytes: Uint8Array;
  kind: 'png' | 'jpeg' | 'pdf';
  /** The MRZ a reader must find; `[]` for a picture without one. */
  mrzLines: readonly string[];
}

/**
 * The OCR fixtures (the OCR test and `pnpm bench:ocr`): clean passport and identity card
 * (PNG), a blurred passport photo and one rotated by 2.5° (JPEG), the blurred one inside a
 * PDF, and a picture with no MRZ.
 */
export async function mrzFixtures(): Promise<MrzFixture[]> {
  const blurred = passportImage({ mrzLines: specimenTd3, format: 'jpeg', blur: 2, quality: 80 });
  return [
    {
      name: 'td3-clean',
      bytes: passportImage({ mrzLines: specimenTd3, format: 'png' }),
      kind: 'png',
      mrzLines: specimenTd3,
    },
    {
      name: 'td1-clean',
      bytes: idCardImage({ mrzLines: specimenTd1, format: 'png' }),
      kind: 'png',
      mrzLines: specimenTd1,
    },
    { name: 'td3-blurred', bytes: blurred, kind: 'jpeg', mrzLines: specimenTd3 },
    {
      name: 'td3-rotated',
      bytes: passportImage({ mrzLines: specimenTd3, format: 'jpeg', rotateDegrees: 2.5, quality: 85 }),
      kind: 'jpeg',
      mrzLines: specimenTd3,
    },
    { name: 'td3-pdf', bytes: await pdfWith(blurred), kind: 'pdf', mrzLines: specimenTd3 },
    { name: 'plain-photo', bytes: plainPhoto(), kind: 'jpeg', mrzLines: [] },
  ];
}
export * from './faces.js';
