import t from 'tap';
import {
  idCardImage,
  passportImage,
  plainPhoto,
  pngBomb,
  specimenTd1,
  specimenTd3,
} from '../testing/index.js';
import {
  createOcrEngine,
  declaredImageSize,
  mrzLinesFromText,
  OcrBusy,
  OcrClosed,
  OcrImageRejected,
  OcrTimeout,
} from './ocr.js';

// One engine (one tesseract worker) per test; images are generated once.
const td3 = passportImage({ mrzLines: specimenTd3, format: 'png' });

async function noWorkerPortLeft(): Promise<boolean> {
  for (let i = 0; i < 40; i++) {
    if (!process.getActiveResourcesInfo().includes('MessagePort')) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

t.test('reads a generated passport MRZ exactly, then close() leaves no worker', async (t) => {
  const logged: string[] = [];
  const engine = await createOcrEngine({ logger: (msg) => logged.push(msg) });
  const { text, confidence } = await engine.recognize(td3, { mrz: true });
  t.same(mrzLinesFromText(text), specimenTd3);
  t.ok(confidence > 0 && confidence <= 100, `confidence ${confidence}`);
  t.match(engine.stats(), { workerAlive: true, workersStarted: 1, waiting: 0 });
  // Plain text mode on the same worker, then back to MRZ mode.
  const plain = await engine.recognize(td3);
  t.match(plain.text, /PASSPORT/);
  t.same(mrzLinesFromText((await engine.recognize(td3, { mrz: true })).text), specimenTd3);
  t.equal(engine.stats().workersStarted, 1, 'one worker reused');
  await engine.close();
  t.equal(engine.stats().workerAlive, false);
  t.ok(await noWorkerPortLeft(), 'no worker thread port left open');
  await t.rejects(engine.recognize(td3), OcrClosed);
  t.same(logged, []);
});

t.test('a time-out rejects with OcrTimeout; the next call gets a new worker and works', async (t) => {
  const engine = await createOcrEngine();
  t.teardown(() => engine.close());
  await t.rejects(engine.recognize(td3, { mrz: true, timeoutMs: 5 }), OcrTimeout);
  t.equal(engine.stats().workerAlive, false, 'the timed-out worker is gone');
  // Warm worker, then a time-out in the middle of recognising.
  t.ok((await engine.recognize(td3, { mrz: true })).text.length > 0);
  await t.rejects(engine.recognize(td3, { mrz: true, timeoutMs: 30 }), OcrTimeout);
  t.equal(engine.stats().workerAlive, false);
  const { text } = await engine.recognize(td3, { mrz: true });
  t.same(mrzLinesFromText(text), specimenTd3);
  t.ok(engine.stats().workersStarted >= 2);
});

t.test('calls run one at a time; the queue is bounded', async (t) => {
  const engine = await createOcrEngine({ maxQueue: 2 });
  t.teardown(() => engine.close());
  const card = idCardImage({ mrzLines: specimenTd1, format: 'png' });
  const first = engine.recognize(card, { mrz: true });
  const second = engine.recognize(card, { mrz: true });
  const third = engine.recognize(card, { mrz: true });
  t.equal(engine.stats().waiting, 2);
  await t.rejects(engine.recognize(card, { mrz: true }), OcrBusy);
  for (const result of await Promise.all([first, second, third])) {
    t.same(mrzLinesFromText(result.text), specimenTd1);
  }
  t.equal(engine.stats().workersStarted, 1);
});

t.test('hostile images reject without harming the worker', async (t) => {
  const engine = await createOcrEngine();
  t.teardown(() => engine.close());
  t.same(declaredImageSize(pngBomb()), { width: 100_000, height: 100_000 });
  await t.rejects(engine.recognize(pngBomb()), OcrImageRejected);
  await t.rejects(engine.recognize(pngBomb(), { mrz: true }), OcrImageRejected);
  await t.rejects(engine.recognize(Buffer.from('not an image at all')), OcrImageRejected);
  await t.rejects(engine.recognize(td3.subarray(0, 200), { mrz: true }), OcrImageRejected);
  const { text } = await engine.recognize(plainPhoto(), { mrz: true });
  t.same(mrzLinesFromText(text), []);
  t.equal(engine.stats().workersStarted, 1);
});

t.test('mrzLinesFromText', async (t) => {
  t.same(mrzLinesFromText(''), []);
  // Letters and digits swapped back only where the layout fixes the kind.
  t.same(
    mrzLinesFromText(
      'noise\nP<UT0ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UT0740B122F12041S9ZE184226B<<<<<1O\n',
    ),
    specimenTd3,
  );
  t.same(mrzLinesFromText(`${specimenTd1.join('\n')}\n`), specimenTd1);
  t.same(mrzLinesFromText('I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\n'), []);
});
