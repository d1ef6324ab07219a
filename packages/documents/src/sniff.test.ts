import fc from 'fast-check';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import t from 'tap';
import { checkImage, documentLimits, imageDimensions, sniffType } from './sniff.js';

const bytes = (...values: number[]) => Uint8Array.from(values);
const ascii = (text: string) => new TextEncoder().encode(text);

function realPng(width: number, height: number): Uint8Array {
  const png = new PNG({ width, height });
  png.data.fill(200);
  return new Uint8Array(PNG.sync.write(png));
}

function realJpeg(width: number, height: number): Uint8Array {
  const data = Buffer.alloc(width * height * 4, 128);
  return new Uint8Array(jpeg.encode({ width, height, data }, 80).data);
}

/** A PNG signature and an IHDR chunk declaring any size, and nothing else: a decompression bomb's head. */
function pngHeader(width: number, height: number): Uint8Array {
  const out = new Uint8Array(33);
  out.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const view = new DataView(out.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  out.set([8, 6, 0, 0, 0], 24); // depth, colour type, compression, filter, interlace (CRC left zero)
  return out;
}

/** SOI, an APP0 segment, a DHT-like segment (C4, must be skipped), then a SOF0 declaring the size. */
function jpegHeader(width: number, height: number, sof = 0xc0): Uint8Array {
  return bytes(
    0xff,
    0xd8,
    ...[0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0, 0],
    ...[0xff, 0xc4, 0x00, 0x04, 0x00, 0x00],
    ...[0xff, sof, 0x00, 0x11, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x03],
    ...[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1],
  );
}

t.test('sniffType by magic bytes only', async (t) => {
  t.equal(sniffType(realPng(2, 2)), 'png');
  t.equal(sniffType(realJpeg(8, 8)), 'jpeg');
  t.equal(sniffType(ascii('%PDF-1.7\n%âãÏÓ\n')), 'pdf');
  t.equal(sniffType(new Uint8Array(0)), null, 'empty');
  t.equal(sniffType(ascii('<!DOCTYPE html><html></html>')), null, 'HTML');
  t.equal(sniffType(ascii('<html><body>%PDF-</body></html>')), null, 'HTML mentioning PDF');
  t.equal(sniffType(ascii('MZ\x90\x00\x03')), null, 'Windows executable');
  t.equal(sniffType(bytes(0x7f, 0x45, 0x4c, 0x46, 2, 1, 1)), null, 'ELF');
  t.equal(sniffType(ascii('GIF89a\x01\x00\x01\x00')), null, 'GIF');
  t.equal(sniffType(bytes(0x89, 0x50, 0x4e, 0x47)), null, 'truncated PNG signature');
  t.equal(sniffType(bytes(0xff, 0xd8)), null, 'truncated JPEG signature');
  t.equal(sniffType(ascii('%PDF')), null, 'truncated PDF signature');
  t.equal(sniffType(ascii(' %PDF-1.4')), null, 'not at the start');
});

t.test('imageDimensions of real images', async (t) => {
  t.same(imageDimensions(realPng(37, 11), 'png'), { width: 37, height: 11 });
  t.same(imageDimensions(realJpeg(53, 21), 'jpeg'), { width: 53, height: 21 });
  t.equal(imageDimensions(realJpeg(5, 5), 'png'), null, 'a JPEG is not a PNG');
  t.equal(imageDimensions(realPng(5, 5), 'jpeg'), null, 'a PNG is not a JPEG');
});

t.test('imageDimensions from headers alone', async (t) => {
  t.same(imageDimensions(pngHeader(100_000, 100_000), 'png'), { width: 100_000, height: 100_000 });
  t.same(imageDimensions(pngHeader(0xffffffff, 1), 'png'), { width: 0xffffffff, height: 1 });
  t.equal(imageDimensions(pngHeader(0, 10), 'png'), null, 'zero width');
  t.same(imageDimensions(jpegHeader(65_000, 65_000), 'jpeg'), { width: 65_000, height: 65_000 });
  t.same(imageDimensions(jpegHeader(640, 480, 0xc2), 'jpeg'), { width: 640, height: 480 }, 'progressive');
  t.equal(imageDimensions(jpegHeader(640, 0), 'jpeg'), null, 'height by DNL: unreadable');
  for (const notFrame of [0xc4, 0xc8, 0xcc]) {
    const noFrame = jpegHeader(640, 480, notFrame);
    t.equal(imageDimensions(noFrame, 'jpeg'), null, `marker ${notFrame.toString(16)} is not a frame`);
  }
  const fill = bytes(0xff, 0xd8, 0xff, 0xff, 0xff, 0xc0, 0, 17, 8, 0, 10, 0, 20, 3);
  t.same(imageDimensions(fill, 'jpeg'), { width: 20, height: 10 }, 'fill bytes before a marker');
});

t.test('imageDimensions on broken input: null, never a throw', async (t) => {
  const png = realPng(16, 16);
  const jpg = realJpeg(16, 16);
  for (let n = 0; n < 24; n++) t.equal(imageDimensions(png.subarray(0, n), 'png'), null, `PNG cut at ${n}`);
  let nulls = 0;
  for (let n = 0; n < jpg.length; n++) {
    const size = imageDimensions(jpg.subarray(0, n), 'jpeg');
    if (size === null) nulls++;
    else t.same(size, { width: 16, height: 16 }, `JPEG cut at ${n}: the size or nothing`);
  }
  t.ok(nulls > 20, 'a JPEG cut before its frame header is unreadable');
  t.equal(imageDimensions(bytes(0xff, 0xd8, 0xff, 0xe0, 0x00, 0x00), 'jpeg'), null, 'segment length 0');
  t.equal(imageDimensions(bytes(0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff), 'jpeg'), null, 'length past the end');
  t.equal(imageDimensions(bytes(0xff, 0xd8, 0xff, 0xda, 0, 8), 'jpeg'), null, 'scan before any frame');
  t.equal(imageDimensions(bytes(0xff, 0xd8, 0x12, 0x34), 'jpeg'), null, 'no marker');
  t.equal(imageDimensions(bytes(0xff, 0xd8, ...new Array(100_000).fill(0xff)), 'jpeg'), null, 'all fill');
  const restarts = new Array(50_000).fill([0xff, 0xd0]).flat();
  t.equal(imageDimensions(bytes(0xff, 0xd8, ...restarts), 'jpeg'), null, 'markers without a frame');

  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom('png' as const, 'jpeg' as const),
      (junk, type) => {
        const withHead =
          type === 'png' ? [...pngHeader(1, 1).subarray(0, 8), ...junk] : [0xff, 0xd8, ...junk];
        for (const input of [junk, Uint8Array.from(withHead)]) {
          const size = imageDimensions(input, type);
          if (size !== null && !(size.width > 0 && size.height > 0)) return false;
          checkImage(input, type);
        }
        return true;
      },
    ),
  );
});

t.test('checkImage refuses decompression bombs before decoding', async (t) => {
  t.same(checkImage(realPng(30, 20), 'png'), { ok: true, width: 30, height: 20 });
  t.same(checkImage(realJpeg(30, 20), 'jpeg'), { ok: true, width: 30, height: 20 });
  const pngBomb = pngHeader(100_000, 100_000);
  t.ok(pngBomb.length < 100, 'the bomb is tiny');
  t.same(checkImage(pngBomb, 'png'), { ok: false, reason: 'too_many_pixels' });
  t.same(checkImage(jpegHeader(65_000, 65_000), 'jpeg'), { ok: false, reason: 'too_many_pixels' });
  t.same(checkImage(pngHeader(documentLimits.sideMax + 1, 1), 'png'), {
    ok: false,
    reason: 'too_many_pixels',
  });
  t.same(checkImage(pngHeader(1, documentLimits.sideMax + 1), 'png'), {
    ok: false,
    reason: 'too_many_pixels',
  });
  t.same(checkImage(pngHeader(7000, 6000), 'png'), { ok: false, reason: 'too_many_pixels' }, '42 Mpx');
  t.same(checkImage(pngHeader(8000, 5000), 'png'), { ok: true, width: 8000, height: 5000 }, '40 Mpx exactly');
  t.same(checkImage(pngHeader(12_000, 3000), 'png'), { ok: true, width: 12_000, height: 3000 });
  t.same(checkImage(ascii('not an image'), 'png'), { ok: false, reason: 'unreadable' });
  t.same(checkImage(new Uint8Array(0), 'jpeg'), { ok: false, reason: 'unreadable' });
  t.equal(documentLimits.bytesMax, 16 * 1024 * 1024);
});
