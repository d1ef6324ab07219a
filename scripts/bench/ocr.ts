/**
 * OCR (issue #16): how long one page takes and whether the MRZ comes out exactly.
 *
 *   pnpm bench:ocr
 *
 * One engine (one tesseract worker, what the KYC worker runs) over the generated fixtures of
 * `@ledger/documents/testing`: clean passport (TD3) and identity card (TD1), a blurred and a
 * 2.5° rotated passport photo (JPEG), the blurred one inside a PDF. Each fixture is read
 * BENCH_ROUNDS (3) times after one warm-up page (the worker's start, reported apart). Time per
 * page: from the file's bytes to the OCR text (for the PDF, the image's extraction included).
 * A page's MRZ is exact when `mrzLinesFromText` (letters and digits put back where the MRZ
 * layout allows only one) gives the expected lines; `raw` says whether tesseract's own text
 * already held them verbatim.
 *
 * Progress on stderr; the last line of stdout is one JSON object. Target: ≤ 3,000 ms per page
 * on 2 cores.
 */
import { createOcrEngine, mrzLinesFromText, pdfFirstPageImage } from '@ledger/documents';
import { mrzFixtures } from '@ledger/documents/testing';
import { envInt, log, note } from './common.js';

const rounds = envInt('BENCH_ROUNDS', 3, 1, 50);
const targetMs = 3_000;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

const fixtures = (await mrzFixtures()).filter((f) => f.mrzLines.length > 0);
const engine = await createOcrEngine({ logger: (msg, err) => note(`ocr: ${msg} ${String(err ?? '')}`) });
let exitCode = 0;
try {
  let t0 = performance.now();
  await engine.recognize(Buffer.from(fixtures[0]!.bytes), { mrz: true });
  note(`worker start + first page: ${Math.round(performance.now() - t0)} ms`);

  const all: number[] = [];
  let exactFields = 0;
  let fields = 0;
  const exactByFixture = new Map<string, boolean>();
  for (const fixture of fixtures) {
    const times: number[] = [];
    let exact = true;
    let raw = true;
    for (let round = 0; round < rounds; round++) {
      t0 = performance.now();
      let image: Buffer = Buffer.from(fixture.bytes) as Buffer;
      if (fixture.kind === 'pdf') {
        const page = await pdfFirstPageImage(fixture.bytes);
        if (!page.ok) throw new Error(`${fixture.name}: ${page.reason}`);
        image = Buffer.from(page.image);
      }
      const { text } = await engine.recognize(image, { mrz: true });
      times.push(performance.now() - t0);
      const lines = mrzLinesFromText(text);
      const verbatim = text.split('\n').map((l) => l.replace(/\s+/g, ''));
      fixture.mrzLines.forEach((want, i) => {
        fields++;
        if (lines[i] === want) exactFields++;
        else exact = false;
        if (!verbatim.includes(want)) raw = false;
      });
      if (round === 0 && lines.join() !== fixture.mrzLines.join())
        note(`  ${fixture.name} read: ${JSON.stringify(lines)}`);
    }
    all.push(...times);
    exactByFixture.set(fixture.name, exact);
    const sorted = [...times].sort((a, b) => a - b);
    note(
      `${fixture.name.padEnd(12)} ${fixture.kind.padEnd(4)} p50 ${Math.round(percentile(sorted, 50))} ms/page, max ${Math.round(sorted.at(-1)!)} ms; MRZ exact: ${exact}, raw tesseract text exact: ${raw}`,
    );
  }
  const sorted = all.sort((a, b) => a - b);
  const result = {
    ocrMsPerPageP50: Math.round(percentile(sorted, 50)),
    ocrMsPerPageMax: Math.round(sorted.at(-1)!),
    pages: sorted.length,
    exactFields,
    fields,
    fixtures: fixtures.length,
    exactFixtures: [...exactByFixture.values()].filter(Boolean).length,
    cleanExact: exactByFixture.get('td3-clean') === true && exactByFixture.get('td1-clean') === true,
    targetMsPerPage: targetMs,
  };
  if (!result.cleanExact || result.ocrMsPerPageP50 > targetMs) exitCode = 1;
  log(JSON.stringify(result));
} catch (error) {
  note(String(error instanceof Error ? error.stack : error));
  exitCode = 1;
} finally {
  await engine.close();
}
process.exit(exitCode);
