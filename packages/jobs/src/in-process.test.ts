import pino from 'pino';
import t from 'tap';
import { InProcessJobQueue } from './in-process.js';
import type { Job } from './queue.js';

const testTimeoutMs = 20_000;

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function captureLogger() {
  const lines: { level: number; msg: string; attempt?: number; delayMs?: number }[] = [];
  return {
    logger: pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
    lines,
  };
}

t.test(
  'a failing job is retried with exponential backoff, then succeeds',
  { timeout: testTimeoutMs },
  async (t) => {
    const { logger, lines } = captureLogger();
    const jobs = new InProcessJobQueue({ logger, retry: { attempts: 4, backoffDelayMs: 30 } });
    t.teardown(() => jobs.close());
    const runs: { attempt: number; at: number; data: unknown }[] = [];
    await jobs.process(
      'mail',
      async (job: Job) => {
        runs.push({ attempt: job.attempt, at: performance.now(), data: job.data });
        if (job.attempt < 3) throw new Error(`smtp down (attempt ${job.attempt})`);
      },
      { concurrency: 1 },
    );
    await jobs.enqueue('mail', 'welcome', { to: 'a@example.com' }, { jobId: 'welcome-1' });
    await until('the third attempt', () => runs.length === 3);
    t.same(
      runs.map((r) => r.attempt),
      [1, 2, 3],
    );
    t.same(runs[2]!.data, { to: 'a@example.com' });
    // Exponential: 30 ms before the first retry, 60 ms before the second.
    t.ok(runs[1]!.at - runs[0]!.at >= 29, `first backoff ${runs[1]!.at - runs[0]!.at} ms`);
    t.ok(runs[2]!.at - runs[1]!.at >= 59, `second backoff ${runs[2]!.at - runs[1]!.at} ms`);
    t.same(
      lines.filter((l) => l.msg === 'job failed; will retry').map((l) => [l.attempt, l.delayMs]),
      [
        [1, 30],
        [2, 60],
      ],
    );
  },
);

t.test(
  'a job that keeps failing stops after its attempts, with an error logged',
  { timeout: testTimeoutMs },
  async (t) => {
    const { logger, lines } = captureLogger();
    const jobs = new InProcessJobQueue({ logger, retry: { attempts: 3, backoffDelayMs: 1 } });
    t.teardown(() => jobs.close());
    let runs = 0;
    await jobs.process(
      'ocr',
      async () => {
        runs++;
        throw new Error('broken image');
      },
      { concurrency: 1 },
    );
    await jobs.enqueue('ocr', 'scan', {}, { jobId: 'scan-1' });
    await until('the final failure', () => lines.some((l) => l.msg === 'job failed; no attempts left'));
    t.equal(runs, 3);
    // Given up means finished: the same id is not taken again.
    await jobs.enqueue('ocr', 'scan', {}, { jobId: 'scan-1' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal(runs, 3);
  },
);

t.test(
  'enqueueing a jobId again runs the job once: waiting, running or finished',
  { timeout: testTimeoutMs },
  async (t) => {
    const { logger } = captureLogger();
    const jobs = new InProcessJobQueue({ logger });
    t.teardown(() => jobs.close());
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Enqueued before any handler: held as waiting.
    await jobs.enqueue('q', 'j', { n: 1 }, { jobId: 'a' });
    await jobs.enqueue('q', 'j', { n: 2 }, { jobId: 'a' });
    await jobs.process(
      'q',
      async (job) => {
        seen.push(`${job.id}:${String(job.data.n)}`);
        await gate;
      },
      { concurrency: 4 },
    );
    await until('a running', () => seen.length === 1);
    await jobs.enqueue('q', 'j', { n: 3 }, { jobId: 'a' }); // while running
    release();
    await jobs.enqueue('q', 'j', { n: 1 }, { jobId: 'b' });
    await until('b done', () => seen.length === 2);
    await jobs.enqueue('q', 'j', { n: 4 }, { jobId: 'a' }); // after it finished
    await jobs.enqueue('other', 'j', { n: 1 }, { jobId: 'a' }); // same id, other queue: another job
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.same(seen, ['a:1', 'b:1'], 'the first data wins; no job ran twice');
    await t.rejects(jobs.enqueue('q', 'j', {}, { jobId: 'has:colon' }), RangeError);
    await t.rejects(jobs.enqueue('q', 'j', {}, { jobId: '123' }), RangeError);
  },
);

t.test('concurrency and queue length are bounded', { timeout: testTimeoutMs }, async (t) => {
  const { logger } = captureLogger();
  const jobs = new InProcessJobQueue({ logger, queueLengthMax: 3, enqueueTimeoutMs: 50 });
  t.teardown(() => jobs.close());
  let running = 0;
  let runningMax = 0;
  let done = 0;
  const gates: (() => void)[] = [];
  await jobs.process(
    'q',
    async () => {
      running++;
      runningMax = Math.max(runningMax, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running--;
      done++;
    },
    { concurrency: 2 },
  );
  for (const id of ['a', 'b', 'c']) await jobs.enqueue('q', 'j', {}, { jobId: id });
  await until('two running', () => gates.length === 2);
  t.equal(runningMax, 2, 'at most `concurrency` at once');
  // Full: the fourth waits for room, and fails after enqueueTimeoutMs.
  await t.rejects(jobs.enqueue('q', 'j', {}, { jobId: 'd' }), /full/);
  const waiting = jobs.enqueue('q', 'j', {}, { jobId: 'e' });
  gates.shift()!();
  await waiting; // room made by a finished job
  // Release every job as it starts, until all have run.
  await until('a, b, c and e done', () => {
    gates.shift()?.();
    return done === 4;
  });
  t.equal(done, 4, 'a, b, c and e ran');
  t.equal(runningMax, 2);
});

t.test(
  'delayed jobs are bounded apart and never take the room of jobs due now',
  { timeout: testTimeoutMs },
  async (t) => {
    const { logger } = captureLogger();
    const jobs = new InProcessJobQueue({
      logger,
      queueLengthMax: 2,
      scheduledLengthMax: 3,
      enqueueTimeoutMs: 50,
    });
    t.teardown(() => jobs.close());
    const ran: string[] = [];
    await jobs.process('q', async (job: Job) => void ran.push(job.id), { concurrency: 1 });
    // Three hold expiries, days ahead: the delayed bound is full, the due one is not.
    for (const id of ['expiry-1', 'expiry-2', 'expiry-3']) {
      await jobs.enqueue('q', 'expire', {}, { jobId: id, delayMs: 3 * 86_400_000 });
    }
    await t.rejects(
      jobs.enqueue('q', 'expire', {}, { jobId: 'expiry-4', delayMs: 86_400_000 }),
      /full \(3 delayed\)/,
    );
    for (const id of ['now-1', 'now-2']) await jobs.enqueue('q', 'mail', {}, { jobId: id });
    await until('the due jobs ran', () => ran.length === 2);
    t.same(ran.sort(), ['now-1', 'now-2'], 'jobs due now run while delayed ones wait');
    // A delayed job that comes due makes room for another delayed one.
    const short = new InProcessJobQueue({ logger, scheduledLengthMax: 1, enqueueTimeoutMs: 5_000 });
    t.teardown(() => short.close());
    const shortRan: string[] = [];
    await short.process('q', async (job: Job) => void shortRan.push(job.id), { concurrency: 1 });
    await short.enqueue('q', 'expire', {}, { jobId: 'first', delayMs: 30 });
    // Waits (the bound is 1) until the first is due, instead of failing.
    await short.enqueue('q', 'expire', {}, { jobId: 'second', delayMs: 30 });
    await until('the second ran', () => shortRan.length === 2);
    t.same(shortRan, ['first', 'second']);
  },
);
