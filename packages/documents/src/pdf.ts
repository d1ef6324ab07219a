/**
 * The picture inside a scanned PDF, without a rendering engine: pdf-lib (pure JS) parses the
 * file and the first page's largest image XObject is taken out as it is. A JPEG
 * (DCTDecode) keeps its bytes; 8-bit RGB or grey pixels (FlateDecode, with or without PNG
 * predictors) become a PNG. Anything else is refused with a reason; nothing here throws,
 * whatever the bytes.
 *
 * Bounds: the PDF at most `pdfMaxBytes`, the image's stream at most `pdfImageMaxStreamBytes`
 * and at most `pdfImageMaxPixels` (declared Width × Height, checked before inflating; the
 * inflated size is capped at what those dimensions need). Pages beyond the first are never
 * read.
 */
import { inflateSync } from 'node:zlib';
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFNumber, PDFRawStream, type PDFRef } from 'pdf-lib';
import { PNG } from 'pngjs';

export type PdfImageFailure = 'pdf_without_image' | 'pdf_unreadable' | 'pdf_image_unsupported';

export type PdfFirstPageImage =
  | { ok: true; image: Buffer; type: 'jpeg' | 'png'; width: number; height: number }
  | { ok: false; reason: PdfImageFailure; detail: string };

export const pdfMaxBytes = 16 * 1024 * 1024;
export const pdfImageMaxStreamBytes = 16 * 1024 * 1024;
export const pdfImageMaxPixels = 40_000_000;
/** Form XObjects followed inside one another, looking for images. */
const maxFormDepth = 3;

const N = {
  XObject: PDFName.of('XObject'),
  Resources: PDFName.of('Resources'),
  Subtype: PDFName.of('Subtype'),
  Image: PDFName.of('Image'),
  Form: PDFName.of('Form'),
  Width: PDFName.of('Width'),
  Height: PDFName.of('Height'),
  BitsPerComponent: PDFName.of('BitsPerComponent'),
  ColorSpace: PDFName.of('ColorSpace'),
  Filter: PDFName.of('Filter'),
  DecodeParms: PDFName.of('DecodeParms'),
  Predictor: PDFName.of('Predictor'),
  Colors: PDFName.of('Colors'),
  Columns: PDFName.of('Columns'),
  DCTDecode: PDFName.of('DCTDecode'),
  FlateDecode: PDFName.of('FlateDecode'),
  DeviceRGB: PDFName.of('DeviceRGB'),
  DeviceGray: PDFName.of('DeviceGray'),
  ICCBased: PDFName.of('ICCBased'),
  N: PDFName.of('N'),
};

const fail = (reason: PdfImageFailure, detail: string): PdfFirstPageImage => ({ ok: false, reason, detail });

interface Candidate {
  stream: PDFRawStream;
  width: number;
  height: number;
}

function num(dict: PDFDict, key: PDFName): number | undefined {
  const v = dict.lookup(key);
  return v instanceof PDFNumber ? v.asNumber() : undefined;
}

/** The image XObjects of a resource dictionary, following form XObjects a few levels. */
function collectImages(resources: unknown, depth: number, seen: Set<unknown>, out: Candidate[]): void {
  if (!(resources instanceof PDFDict) || seen.has(resources)) return;
  seen.add(resources);
  const xobjects = resources.lookup(N.XObject);
  if (!(xobjects instanceof PDFDict)) return;
  for (const [, ref] of xobjects.entries()) {
    const object = resources.context.lookup(ref as PDFRef);
    if (!(object instanceof PDFRawStream) || seen.has(object)) continue;
    seen.add(object);
    const subtype = object.dict.lookup(N.Subtype);
    if (subtype === N.Image) {
      const width = num(object.dict, N.Width);
      const height = num(object.dict, N.Height);
      if (width && height && width > 0 && height > 0) out.push({ stream: object, width, height });
    } else if (subtype === N.Form && depth < maxFormDepth) {
      collectImages(object.dict.lookup(N.Resources), depth + 1, seen, out);
    }
  }
}

/** The colour components of a colour space this module can turn into a PNG, else undefined. */
function components(colorSpace: unknown): 1 | 3 | undefined {
  if (colorSpace === N.DeviceGray) return 1;
  if (colorSpace === N.DeviceRGB) return 3;
  if (colorSpace instanceof PDFArray && colorSpace.size() === 2 && colorSpace.lookup(0) === N.ICCBased) {
    const profile = colorSpace.lookup(1);
    const n = profile instanceof PDFRawStream ? num(profile.dict, N.N) : undefined;
    return n === 1 ? 1 : n === 3 ? 3 : undefined;
  }
  return undefined;
}

/** Undo PNG row predictors (PDF Predictor ≥ 10): each row starts with its filter type. */
function unpredict(data: Uint8Array, rowBytes: number, rows: number, bpp: number): Uint8Array | undefined {
  if (data.length < (rowBytes + 1) * rows) return undefined;
  const out = new Uint8Array(rowBytes * rows);
  for (let r = 0; r < rows; r++) {
    const type = data[r * (rowBytes + 1)]!;
    const src = r * (rowBytes + 1) + 1;
    const dst = r * rowBytes;
    for (let i = 0; i < rowBytes; i++) {
      const x = data[src + i]!;
      const a = i >= bpp ? out[dst + i - bpp]! : 0;
      const b = r > 0 ? out[dst - rowBytes + i]! : 0;
      const c = r > 0 && i >= bpp ? out[dst - rowBytes + i - bpp]! : 0;
      let v: number;
      switch (type) {
        case 0:
          v = x;
          break;
        case 1:
          v = x + a;
          break;
        case 2:
          v = x + b;
          break;
        case 3:
          v = x + ((a + b) >> 1);
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          return undefined;
      }
      out[dst + i] = v & 0xff;
    }
  }
  return out;
}

function toPng(pixels: Uint8Array, width: number, height: number, comps: 1 | 3): Buffer {
  const colorType = comps === 1 ? 0 : 2;
  const png = new PNG({ width, height, colorType, inputColorType: colorType, inputHasAlpha: false });
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, width * height * comps);
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false });
}

function extract({ stream, width, height }: Candidate): PdfFirstPageImage {
  const dict = stream.dict;
  const bytes = stream.contents;
  if (bytes.length > pdfImageMaxStreamBytes) {
    return fail('pdf_image_unsupported', `image stream of ${bytes.length} bytes`);
  }
  let filter = dict.lookup(N.Filter);
  let parms = dict.lookup(N.DecodeParms);
  if (filter instanceof PDFArray) {
    if (filter.size() !== 1) return fail('pdf_image_unsupported', 'image with a chain of filters');
    filter = filter.lookup(0);
    parms = parms instanceof PDFArray ? parms.lookup(0) : parms;
  }
  if (filter === N.DCTDecode) {
    if (bytes[0] !== 0xff || bytes[1] !== 0xd8)
      return fail('pdf_unreadable', 'DCTDecode image that is no JPEG');
    return { ok: true, image: Buffer.from(bytes), type: 'jpeg', width, height };
  }
  if (filter !== N.FlateDecode) {
    const name = filter instanceof PDFName ? filter.decodeText() : 'no filter';
    return fail('pdf_image_unsupported', `image encoded with ${name}`);
  }
  const comps = components(dict.lookup(N.ColorSpace));
  if (!comps) return fail('pdf_image_unsupported', 'image colour space other than 8-bit RGB or grey');
  if (num(dict, N.BitsPerComponent) !== 8)
    return fail('pdf_image_unsupported', 'image not 8 bits per component');
  const predictor = parms instanceof PDFDict ? (num(parms, N.Predictor) ?? 1) : 1;
  if (parms instanceof PDFDict && predictor >= 10) {
    const colors = num(parms, N.Colors) ?? 1;
    const columns = num(parms, N.Columns) ?? 1;
    if (colors !== comps || columns !== width) return fail('pdf_image_unsupported', 'predictor parameters');
  } else if (predictor !== 1) {
    return fail('pdf_image_unsupported', `predictor ${predictor}`);
  }
  const rowBytes = width * comps;
  const expected = predictor >= 10 ? (rowBytes + 1) * height : rowBytes * height;
  let inflated: Uint8Array;
  try {
    inflated = inflateSync(bytes, { maxOutputLength: expected });
  } catch (err) {
    // Too much output, or not zlib data.
    return fail('pdf_unreadable', `image data: ${err instanceof Error ? err.message : String(err)}`);
  }
  const pixels = predictor >= 10 ? unpredict(inflated, rowBytes, height, comps) : inflated;
  if (!pixels || pixels.length < rowBytes * height)
    return fail('pdf_unreadable', 'image data shorter than its size');
  return { ok: true, image: toPng(pixels, width, height, comps), type: 'png', width, height };
}

/** The first page's largest image, as a JPEG or a PNG; or why not. Never throws. */
export async function pdfFirstPageImage(pdf: Uint8Array): Promise<PdfFirstPageImage> {
  try {
    if (pdf.length > pdfMaxBytes) return fail('pdf_unreadable', `PDF of ${pdf.length} bytes`);
    let doc: PDFDocument;
    try {
      // pdf-lib reads some views from the start of their ArrayBuffer: hand it its own copy
      // when the bytes are a view into a larger buffer (Node's pooled Buffers are).
      const own =
        pdf.byteOffset === 0 && pdf.byteLength === pdf.buffer.byteLength ? pdf : new Uint8Array(pdf);
      doc = await PDFDocument.load(own, { updateMetadata: false, throwOnInvalidObject: false });
    } catch (err) {
      const encrypted = err instanceof Error && /encrypt/i.test(err.message);
      return fail('pdf_unreadable', encrypted ? 'encrypted PDF' : 'not a readable PDF');
    }
    const page = doc.getPages()[0];
    if (!page) return fail('pdf_unreadable', 'PDF without pages');
    const candidates: Candidate[] = [];
    collectImages(page.node.Resources(), 0, new Set(), candidates);
    if (candidates.length === 0) return fail('pdf_without_image', 'the first page has no image');
    const largest = candidates.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
    if (largest.width * largest.height > pdfImageMaxPixels) {
      return fail('pdf_image_unsupported', `image of ${largest.width}×${largest.height} pixels`);
    }
    return extract(largest);
  } catch (err) {
    return fail('pdf_unreadable', `PDF structure: ${err instanceof Error ? err.message : String(err)}`);
  }
}
