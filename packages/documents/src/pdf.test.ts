import { deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { PNG } from 'pngjs';
import t from 'tap';
import { passportImage, pdfWith, pdfWithRaw, plainPhoto, specimenTd3 } from '../testing/index.js';
import { pdfFirstPageImage } from './pdf.js';

/** A one-page PDF whose page shows one image XObject made of `contents` and `dict`. */
async function pdfWithStream(contents: Uint8Array, dict: Record<string, unknown>): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const stream = doc.context.stream(contents, { Type: 'XObject', Subtype: 'Image', ...dict } as never);
  const ref = doc.context.register(stream);
  const page = doc.addPage([200, 200]);
  page.node.newXObject('Im', ref);
  return doc.save();
}

t.test('a JPEG inside comes out byte for byte', async (t) => {
  const photo = plainPhoto({ width: 320 });
  const passport = passportImage({ mrzLines: specimenTd3, format: 'jpeg', width: 600 });
  // Two images on the page: the larger is taken.
  const doc = await PDFDocument.create();
  const page = doc.addPage([600, 600]);
  page.drawImage(await doc.embedJpg(photo), { x: 0, y: 0, width: 100, height: 75 });
  page.drawImage(await doc.embedJpg(passport), { x: 0, y: 100, width: 500, height: 350 });
  doc.addPage().drawImage(await doc.embedJpg(plainPhoto({ width: 1000 })));
  const result = await pdfFirstPageImage(await doc.save());
  t.ok(result.ok);
  if (!result.ok) return;
  t.equal(result.type, 'jpeg');
  t.ok(result.image.equals(passport), 'the same bytes');
  t.match(result, { width: 600, height: 420 });

  const single = await pdfFirstPageImage(await pdfWith(photo));
  t.ok(single.ok && single.image.equals(photo));
});

t.test('8-bit RGB and grey pixels become a PNG', async (t) => {
  const w = 40;
  const h = 30;
  const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 7) % 256);
  const gray = new Uint8Array(w * h).map((_, i) => (i * 3) % 256);
  for (const [pixels, isGray] of [
    [rgb, false],
    [gray, true],
  ] as const) {
    const result = await pdfFirstPageImage(await pdfWithRaw(pixels, w, h, isGray));
    t.ok(result.ok, `gray=${isGray}`);
    if (!result.ok) continue;
    t.equal(result.type, 'png');
    const png = PNG.sync.read(result.image);
    t.match(png, { width: w, height: h });
    const comps = isGray ? 1 : 3;
    let same = true;
    for (let p = 0; p < w * h; p++) {
      for (let c = 0; c < 3; c++) {
        if (png.data[p * 4 + c] !== pixels[p * comps + (isGray ? 0 : c)]) same = false;
      }
    }
    t.ok(same, 'the same pixels');
  }

  // PNG predictors (Predictor 15): the IDAT data of a PNG is exactly that.
  const source = passportImage({ mrzLines: specimenTd3, format: 'png', width: 300 });
  const idat: Buffer[] = [];
  for (let i = 8; i < source.length; ) {
    const length = source.readUInt32BE(i);
    if (source.toString('latin1', i + 4, i + 8) === 'IDAT') idat.push(source.subarray(i + 8, i + 8 + length));
    i += 12 + length;
  }
  const decoded = PNG.sync.read(source);
  const predicted = await pdfWithStream(Buffer.concat(idat), {
    Width: decoded.width,
    Height: decoded.height,
    BitsPerComponent: 8,
    ColorSpace: 'DeviceRGB',
    Filter: 'FlateDecode',
    DecodeParms: { Predictor: 15, Colors: 3, Columns: decoded.width },
  });
  const result = await pdfFirstPageImage(predicted);
  t.ok(result.ok);
  if (result.ok) t.same(PNG.sync.read(result.image).data, decoded.data, 'predictors undone');
});

t.test('refusals, with a reason, never a throw', async (t) => {
  const textOnly = await PDFDocument.create();
  const font = await textOnly.embedFont(StandardFonts.Helvetica);
  textOnly.addPage().drawText('Passport: see attached', { font, x: 50, y: 700 });
  const cases: [string, Uint8Array | Promise<Uint8Array>, string][] = [
    ['empty', new Uint8Array(0), 'pdf_unreadable'],
    ['garbage', Buffer.from('%PDF-1.7\n\u0000\u0001 not really a pdf at all'), 'pdf_unreadable'],
    ['random bytes', new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24), 'pdf_unreadable'],
    ['text only', textOnly.save(), 'pdf_without_image'],
    [
      'a declared 100000×100000 image',
      pdfWithStream(plainPhoto({ width: 64 }), {
        Width: 100_000,
        Height: 100_000,
        BitsPerComponent: 8,
        ColorSpace: 'DeviceRGB',
        Filter: 'DCTDecode',
      }),
      'pdf_image_unsupported',
    ],
    [
      'JPEG 2000',
      pdfWithStream(new Uint8Array(64), { Width: 8, Height: 8, Filter: 'JPXDecode' }),
      'pdf_image_unsupported',
    ],
    [
      '1-bit',
      pdfWithStream(new Uint8Array(64), {
        Width: 8,
        Height: 8,
        BitsPerComponent: 1,
        ColorSpace: 'DeviceGray',
        Filter: 'FlateDecode',
      }),
      'pdf_image_unsupported',
    ],
    [
      'a zlib bomb',
      pdfWithStream(deflateSync(Buffer.alloc(50_000_000)), {
        Width: 100,
        Height: 100,
        BitsPerComponent: 8,
        ColorSpace: 'DeviceGray',
        Filter: 'FlateDecode',
      }),
      'pdf_unreadable',
    ],
    [
      'a DCTDecode stream that is no JPEG',
      pdfWithStream(Buffer.from('hello'), { Width: 8, Height: 8, Filter: 'DCTDecode' }),
      'pdf_unreadable',
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    const result = await pdfFirstPageImage(await bytes);
    t.match(result, { ok: false, reason }, name);
    if (!result.ok) t.ok(result.detail.length > 0, `${name}: ${result.detail}`);
  }

  // Encrypted: the trailer names an /Encrypt dictionary.
  const plain = Buffer.from(await pdfWith(plainPhoto({ width: 64 })));
  const encrypted = Buffer.from(plain.toString('latin1').replace('/Root', '/Encrypt 1 0 R\n/Root'), 'latin1');
  t.match(await pdfFirstPageImage(encrypted), {
    ok: false,
    reason: 'pdf_unreadable',
    detail: 'encrypted PDF',
  });

  // Truncated at every tenth of its length: an answer each time, never a throw.
  const whole = await pdfWith(passportImage({ mrzLines: specimenTd3, format: 'jpeg', width: 400 }));
  for (let k = 1; k < 10; k++) {
    const result = await pdfFirstPageImage(whole.subarray(0, Math.floor((whole.length * k) / 10)));
    t.ok(typeof result.ok === 'boolean', `truncated to ${k}/10: ${result.ok ? result.type : result.reason}`);
    if (result.ok && result.type === 'jpeg')
      t.doesNotThrow(() => jpeg.decode(result.image, { tolerantDecoding: true }));
  }
});

t.test('a PDF that is a view into a larger buffer', async (t) => {
  const photo = plainPhoto({ width: 64 });
  const pdf = await pdfWith(photo);
  const pool = Buffer.alloc(pdf.length + 1000, 0x20);
  pool.set(pdf, 500);
  const result = await pdfFirstPageImage(pool.subarray(500, 500 + pdf.length));
  t.ok(result.ok && result.image.equals(photo));
});
