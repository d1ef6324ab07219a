import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import t from 'tap';
import { idCardImage, mrzFixtures, passportImage, specimenTd1, specimenTd3 } from '../testing/index.js';
import { createOcrEngine, mrzLinesFromText } from './ocr.js';
import { pdfFirstPageImage } from './pdf.js';

// OCR over the generated documents, one engine for the whole file (one tesseract worker).
const engine = await createOcrEngine({ timeoutMsPerPage: 60_000 });
t.teardown(() => engine.close());

async function readMrz(bytes: Uint8Array, kind: 'png' | 'jpeg' | 'pdf'): Promise<string[]> {
  let image: Buffer = Buffer.from(bytes);
  if (kind === 'pdf') {
    const page = await pdfFirstPageImage(bytes);
    if (!page.ok) throw new Error(page.reason);
    image = page.image;
  }
  return mrzLinesFromText((await engine.recognize(image, { mrz: true })).text);
}

for (const fixture of await mrzFixtures()) {
  t.test(fixture.name, async (t) => {
    t.same(await readMrz(fixture.bytes, fixture.kind), fixture.mrzLines);
  });
}

t.test('another tilt, a real photo in the box', async (t) => {
  const faceApi = dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'));
  const photo = readFileSync(join(faceApi, 'demo', 'sample1.jpg'));
  const tilted = passportImage({ mrzLines: specimenTd3, format: 'jpeg', rotateDegrees: -2 });
  t.same(await readMrz(tilted, 'jpeg'), specimenTd3, 'TD3 rotated −2°');
  const withPhoto = passportImage({ mrzLines: specimenTd3, format: 'jpeg', photo });
  t.same(await readMrz(withPhoto, 'jpeg'), specimenTd3, 'TD3 with a photo');
});

// Known weakness: an identity card as a JPEG. Tesseract's English LSTM reads DejaVu Sans
// Mono's `UTOD` as `UTO0D` (one character too many, so no 30-character line), whatever the
// width, tilt or softening tried; the clean PNG above reads exactly.
t.test(
  'TD1 as a JPEG',
  { todo: 'DejaVu Sans Mono "UTOD" comes out as "UTO0D"; an OCR-B model or font would be needed' },
  async (t) => {
    const card = idCardImage({ mrzLines: specimenTd1, format: 'jpeg', width: 960 });
    t.same(await readMrz(card, 'jpeg'), specimenTd1);
  },
);
