import { createLogger } from '@ledger/platform';
import { testRedisUrl, uniquePrefix, until as waitUntil } from '@ledger/testkit';
import { Redis } from 'ioredis';
import pino from 'pino';
import t, { type Test } from 'tap';
import { BullMqJobQueue } from './bullmq.js';
import { InProcessJobQueue } from './in-process.js';
import { type Job, type JobQueue, jobLimits } from './queue.js';

// Delayed jobs (enqueue's delayMs), the same contract on BullMQ (real Redis) and in process.
// Order, not timing, is asserted: a delayed job runs after an undelayed one enqueued later.

const testTimeoutMs = 30_000;
const waitMs = 10_000;
const logger = createLogger({ level: 'silent', name: 'delay-test' });

const until = (what: string, condition: () => boolean, timeoutMs = waitMs) =>
  waitUntil(what, condition, timeoutMs, 5);

function queueFor(t: Test, mode: 'bullmq' | 'in-process'): JobQueue {
  if (mode === 'in-process') {
    const jobs = new InProcessJobQueue({ logger, retry: { attempts: 2, backoffDelayMs: 10 } });
    t.teardown(() => jobs.close());
    return jobs;
  }
  const prefix = uniquePrefix('delay-test');
  const jobs = new BullMqJobQueue({
    redisUrl: testRedisUrl,
    prefix,
    logger,
    retry: { attempts: 2, backoffDelayMs: 10 },
  });
  t.teardown(async () => {
    await jobs.close();
    const redis = new Redis(testRedisUrl);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  return jobs;
}

for (const mode of ['bullmq', 'in-process'] as const) {
  t.test(`${mode}: a delayed job runs after its delay, once`, { timeout: testTimeoutMs }, async (t) => {
    const jobs = queueFor(t, mode);
    const ran: Job[] = [];
    await jobs.process(
      'timers',
      async (job) => {
        ran.push(job);
      },
      { concurrency: 2 },
    );
    const enqueuedAt = Date.now();
    await jobs.enqueue('timers', 'later', { n: 1 }, { jobId: 'later-1', delayMs: 300 });
    // The same id again, delayed or not, is the same job.
    await jobs.enqueue('timers', 'later', { n: 2 }, { jobId: 'later-1' });
    await jobs.enqueue('timers', 'now', { n: 3 }, { jobId: 'now-1' });
    await until('both jobs', () => ran.length === 2);
    t.same(
      ran.map((j) => [j.id, j.data]),
      [
        ['now-1', { n: 3 }],
        ['later-1', { n: 1 }],
      ],
      'the undelayed job first; the delayed one with its first data',
    );
    // A lower bound only (timers may be late, never early by more than a clock tick).
    t.ok(Date.now() - enqueuedAt >= 290, 'not before its delay');
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.equal(ran.length, 2, 'each ran once');
  });

  t.test(`${mode}: delays are bounded`, { timeout: testTimeoutMs }, async (t) => {
    const jobs = queueFor(t, mode);
    for (const delayMs of [-1, 1.5, jobLimits.delayMsMax + 1]) {
      await t.rejects(jobs.enqueue('timers', 'bad', {}, { jobId: 'bad-1', delayMs }), RangeError);
    }
  });
}

t.test(
  'in-process: a failing delayed job is retried; delayed jobs left at close are lost, and logged',
  {
    timeout: testTimeoutMs,
  },
  async (t) => {
    const lines: { msg: string; jobs?: number }[] = [];
    const jobs = new InProcessJobQueue({
      logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
      retry: { attempts: 3, backoffDelayMs: 5 },
    });
    t.teardown(() => jobs.close());
    const attempts: number[] = [];
    await jobs.process(
      'timers',
      async (job) => {
        attempts.push(job.attempt);
        if (job.attempt === 1) throw new Error('not yet');
      },
      { concurrency: 1 },
    );
    await jobs.enqueue('timers', 'soon', {}, { jobId: 'soon-1', delayMs: 20 });
    await until('the retry', () => attempts.length === 2);
    t.same(attempts, [1, 2]);
    // Longer than one Node timer can wait (2^31 − 1 ms): held on a chain of timers, not run early.
    await jobs.enqueue('timers', 'far', {}, { jobId: 'far-1', delayMs: jobLimits.delayMsMax });
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.same(attempts, [1, 2], 'the far job did not run');
    await jobs.close();
    t.match(lines, [{ msg: 'job failed; will retry' }, { msg: /closed with jobs not run/, jobs: 1 }]);
  },
);
