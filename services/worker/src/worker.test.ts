import type { EventStore } from '@ledger/eventstore';
import type { DispatchRule, Job } from '@ledger/jobs';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { exitWithin, spawnService, testRedisUrl, uniquePrefix, until as waitUntil } from '@ledger/testkit';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { dispatchRules, type Processor, startWorker } from './index.js';

const testTimeoutMs = 60_000;
const waitMs = 10_000;
const exitWaitMs = 10_000;
const logger = createLogger({ level: 'silent', name: 'worker-test' });

const until = (what: string, condition: () => boolean, timeoutMs = waitMs) =>
  waitUntil(what, condition, timeoutMs);

async function fixture(t: Test) {
  const { db, store, url } = await openTestStore('worker_test', t);
  return { db, store, url };
}

async function append(store: EventStore, types: string[]): Promise<bigint> {
  let last = 0n;
  for (const type of types) {
    last = (
      await store.append([{ streamId: 'kyc-1', expectedVersion: 'any', events: [{ type, data: { type } }] }])
    ).position;
  }
  return last;
}

const rules: DispatchRule[] = [
  { eventType: 'KycSubmitted', queue: 'ocr', job: 'ocr-scan', toData: (e) => ({ streamId: e.streamId }) },
];

function recordingProcessor(seen: Job[]): Processor {
  return {
    queue: 'ocr',
    concurrency: 2,
    handler: async (job) => {
      seen.push(job);
    },
  };
}

t.test('the production dispatch rules: hold expiry and the clearing rail', async (t) => {
  t.same(
    dispatchRules().map((r) => [r.eventType, r.queue, r.job]),
    [
      ['TransferPending', 'holds', 'ledger.expire-hold'],
      ['TransferPending', 'clearing', 'clearing.submit'],
      // An external transfer held for review goes to the rail once approved.
      ['TransferReviewed', 'clearing', 'clearing.submit'],
    ],
  );
});

for (const mode of ['bullmq', 'in-process'] as const) {
  t.test(
    `startWorker (${mode}): dispatched events are processed once; stop closes everything`,
    { timeout: testTimeoutMs },
    async (t) => {
      const f = await fixture(t);
      const prefix = uniquePrefix('worker-test');
      if (mode === 'bullmq') {
        t.teardown(async () => {
          const redis = new Redis(testRedisUrl);
          const keys = await redis.keys(`${prefix}*`);
          if (keys.length > 0) await redis.del(...keys);
          await redis.quit();
        });
      }
      const seen: Job[] = [];
      const worker = await startWorker({
        db: f.db,
        store: f.store,
        logger,
        ...(mode === 'bullmq' ? { redisUrl: testRedisUrl, redisPrefix: prefix } : {}),
        rules,
        processors: [recordingProcessor(seen)],
      });
      t.teardown(() => worker.stop());
      t.equal(worker.jobs.constructor.name, mode === 'bullmq' ? 'BullMqJobQueue' : 'InProcessJobQueue');
      const last = await append(f.store, ['KycSubmitted', 'KycVerified', 'KycSubmitted']);
      t.ok(await worker.dispatcher.waitFor(last, waitMs));
      await until('two jobs', () => seen.length === 2);
      t.same(seen.map((j) => [j.queue, j.name, j.data]).sort(), [
        ['ocr', 'ocr-scan', { streamId: 'kyc-1' }],
        ['ocr', 'ocr-scan', { streamId: 'kyc-1' }],
      ]);
      t.equal(new Set(seen.map((j) => j.id)).size, 2);
      await worker.stop();
      t.equal(worker.dispatcher.status(), 'stopped');
      await t.resolves(worker.done);
    },
  );
}

t.test('startWorker fails fast when REDIS_URL points nowhere', { timeout: testTimeoutMs }, async (t) => {
  const f = await fixture(t);
  await t.rejects(
    startWorker({ db: f.db, store: f.store, logger, redisUrl: 'redis://127.0.0.1:1' }),
    /Redis|ECONNREFUSED/,
  );
});

t.test(
  'pnpm start:worker starts on PostgreSQL and Redis and exits 0 on SIGTERM',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const service = await spawnService({
      entry: 'services/worker/src/main.ts',
      env: { DATABASE_URL: f.url, REDIS_URL: testRedisUrl },
      startedMessage: 'worker started',
      teardown: (fn) => t.teardown(fn),
    });
    t.match(service.output(), /"queue":"bullmq"/);
    service.child.kill('SIGTERM');
    const code = await exitWithin(service.exit, exitWaitMs);
    if (code !== 0) t.comment(service.output());
    t.equal(code, 0, `exits 0 within ${exitWaitMs} ms`);
  },
);

t.test(
  'pnpm start:worker refuses a bad configuration with a message and exit 1',
  { timeout: testTimeoutMs },
  async (t) => {
    const service = await spawnService({
      entry: 'services/worker/src/main.ts',
      env: { DATABASE_URL: 'postgres://127.0.0.1/x', REDIS_URL: 'http://nope' },
      teardown: (fn) => t.teardown(fn),
    });
    t.equal(await exitWithin(service.exit, exitWaitMs), 1);
    t.match(service.output(), /REDIS_URL: must be a URL starting with redis:\/\//);
    t.notMatch(service.output(), /\n\s+at /, 'no stack trace');
  },
);
