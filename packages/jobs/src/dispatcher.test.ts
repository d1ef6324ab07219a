import { type EventStore, PostgresEventStore, type RecordedEvent } from '@ledger/eventstore';
import { createLogger, openDatabase } from '@ledger/platform';
import { readCheckpoints } from '@ledger/readmodel';
import { createTestDatabase, testRedisUrl, uniquePrefix } from '@ledger/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { BullMqJobQueue } from './bullmq.js';
import { type DispatchRule, dispatchJobId, runDispatcher } from './dispatcher.js';
import type { Job } from './queue.js';

const testTimeoutMs = 60_000;
const waitMs = 15_000;
const logger = createLogger({ level: 'silent', name: 'dispatcher-test' });

async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = waitMs,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Real PostgreSQL and Redis; BullMQ keys under a prefix of this test only, deleted afterwards. */
async function fixture(t: Test) {
  const testDatabase = await createTestDatabase('jobs_test');
  const database = await openDatabase({
    databaseUrl: testDatabase.url,
    dataDir: '/nonexistent',
    applicationName: 'test',
  });
  const store = await PostgresEventStore.open(database.sql);
  const prefix = uniquePrefix('jobs-test');
  const jobs = new BullMqJobQueue({
    redisUrl: testRedisUrl,
    prefix,
    logger,
    retry: { attempts: 3, backoffDelayMs: 20 },
  });
  const inspect = new Queue('notify', {
    connection: { url: testRedisUrl, maxRetriesPerRequest: null },
    prefix,
  });
  t.teardown(async () => {
    await jobs.close();
    await inspect.close();
    await store.close();
    await database.close();
    await testDatabase.drop();
    const redis = new Redis(testRedisUrl);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  /** Every job BullMQ holds for the queue, in any state. */
  const jobCounts = () =>
    inspect.getJobCounts('completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized');
  return { db: database.db, store, jobs, jobCounts };
}

async function append(store: EventStore, types: string[]): Promise<bigint> {
  let last = 0n;
  for (const [i, type] of types.entries()) {
    last = (
      await store.append([
        { streamId: `acc-${i % 4}`, expectedVersion: 'any', events: [{ type, data: { i } }] },
      ])
    ).position;
  }
  return last;
}

const depositMail = (toData: DispatchRule['toData'] = (e) => ({ eventId: e.eventId })): DispatchRule => ({
  eventType: 'Deposited',
  queue: 'notify',
  job: 'deposit-mail',
  toData,
});

async function expectedIds(store: EventStore): Promise<string[]> {
  const events = await store.readAll({ after: 0n, limit: 10_000 });
  return events.filter((e) => e.type === 'Deposited').map((e) => dispatchJobId(depositMail(), e));
}

t.test(
  'N events become exactly N jobs, with the dispatcher stopped and restarted in the middle',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const processed = new Map<string, number>();
    await f.jobs.process(
      'notify',
      async (job: Job) => {
        processed.set(job.id, (processed.get(job.id) ?? 0) + 1);
      },
      { concurrency: 5 },
    );
    const types = Array.from({ length: 30 }, (_, i) => (i % 3 === 2 ? 'Opened' : 'Deposited'));
    const firstLast = await append(f.store, types);

    // Positions become readable once older transactions on the server (other tests') end.
    let events: RecordedEvent[] = [];
    await until('30 events readable', async () => {
      events = await f.store.readAll({ after: 0n, limit: 100 });
      return events.length === 30;
    });
    // Stop it from inside, at the 10th event, so "the middle" does not depend on timing:
    // the batch in hand (events 9..11) completes, the next one is not read.
    const stopAt = events[9]!;
    let stopping: Promise<void> | undefined;
    const stoppingRule = depositMail((e) => {
      if (e.eventId === stopAt.eventId) stopping = d1.stop();
      return { eventId: e.eventId };
    });
    const d1 = runDispatcher({
      db: f.db,
      store: f.store,
      jobs: f.jobs,
      rules: [stoppingRule],
      logger,
      batchSize: 3,
    });
    await until('d1 asked to stop', () => stopping !== undefined);
    await stopping;
    t.equal(d1.status(), 'stopped');
    const stoppedAt = d1.position();
    t.equal(stoppedAt, events[11]!.globalPosition, 'stopped after the batch in hand');
    t.ok(stoppedAt < firstLast, 'stopped in the middle');

    const last = await append(f.store, ['Deposited', 'Closed', 'Deposited']);
    const d2 = runDispatcher({
      db: f.db,
      store: f.store,
      jobs: f.jobs,
      rules: [depositMail()],
      logger,
      batchSize: 3,
    });
    t.teardown(() => d2.stop());
    t.ok(await d2.waitFor(last, waitMs));
    const expected = await expectedIds(f.store);
    t.equal(expected.length, 22);
    await until('every job processed', () => processed.size === expected.length);
    t.same([...processed.keys()].sort(), [...expected].sort(), 'one job per Deposited event');
    t.ok(
      [...processed.values()].every((n) => n === 1),
      'no job processed twice',
    );
    const counts = await f.jobCounts();
    t.same(counts, { completed: 22, failed: 0, waiting: 0, active: 0, delayed: 0, prioritized: 0 });
    t.equal((await readCheckpoints(f.db)).find((c) => c.name === 'dispatcher')?.position, last);
  },
);

t.test(
  'a batch that fails after enqueueing part of its jobs is redone; the queue drops the repeats',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const processed = new Map<string, number>();
    await f.jobs.process(
      'notify',
      async (job: Job) => {
        processed.set(job.id, (processed.get(job.id) ?? 0) + 1);
      },
      { concurrency: 2 },
    );
    const last = await append(f.store, ['Deposited', 'Deposited', 'Deposited', 'Deposited', 'Deposited']);
    let events: RecordedEvent[] = [];
    await until('5 events readable', async () => {
      events = await f.store.readAll({ after: 0n, limit: 100 });
      return events.length === 5;
    });
    const poison = events[2]!.eventId;
    // A crash between enqueue and commit, made deterministic: the third event's data fails
    // after the first two jobs of the (single) batch are already in Redis.
    const failingRule = depositMail((e: RecordedEvent) => {
      if (e.eventId === poison) throw new Error('crash before commit');
      return { eventId: e.eventId };
    });
    const d1 = runDispatcher({
      db: f.db,
      store: f.store,
      jobs: f.jobs,
      rules: [failingRule],
      logger,
      batchSize: 10,
    });
    await t.rejects(d1.done, /crash before commit/);
    t.equal(
      (await readCheckpoints(f.db)).find((c) => c.name === 'dispatcher')?.position,
      0n,
      'checkpoint not moved',
    );
    await until('the two enqueued jobs processed', () => processed.size === 2);

    const d2 = runDispatcher({
      db: f.db,
      store: f.store,
      jobs: f.jobs,
      rules: [depositMail()],
      logger,
      batchSize: 10,
    });
    t.teardown(() => d2.stop());
    t.ok(await d2.waitFor(last, waitMs));
    await until('all five processed', () => processed.size === 5);
    t.same([...processed.keys()].sort(), (await expectedIds(f.store)).sort());
    t.ok(
      [...processed.values()].every((n) => n === 1),
      'the two re-enqueued jobs did not run again',
    );
    t.same(await f.jobCounts(), {
      completed: 5,
      failed: 0,
      waiting: 0,
      active: 0,
      delayed: 0,
      prioritized: 0,
    });
  },
);

t.test('BullMQ jobs retry with backoff and dedupe by jobId', { timeout: testTimeoutMs }, async (t) => {
  const f = await fixture(t);
  const attempts: { id: string; attempt: number; at: number }[] = [];
  await f.jobs.process(
    'notify',
    async (job: Job) => {
      attempts.push({ id: job.id, attempt: job.attempt, at: Date.now() });
      if (job.attempt < 3) throw new Error('smtp down');
    },
    { concurrency: 1 },
  );
  await f.jobs.enqueue('notify', 'mail', { n: 1 }, { jobId: 'mail-a' });
  await f.jobs.enqueue('notify', 'mail', { n: 2 }, { jobId: 'mail-a' });
  await until('three attempts', async () => (await f.jobCounts()).completed === 1);
  t.same(
    attempts.map((a) => [a.id, a.attempt]),
    [
      ['mail-a', 1],
      ['mail-a', 2],
      ['mail-a', 3],
    ],
  );
  // Exponential backoff of 20 ms: ≥ 20 ms, then ≥ 40 ms (BullMQ's timers are coarse, so only lower bounds).
  t.ok(attempts[1]!.at - attempts[0]!.at >= 19);
  t.ok(attempts[2]!.at - attempts[1]!.at >= 39);
  await f.jobs.enqueue('notify', 'mail', { n: 3 }, { jobId: 'mail-a' });
  t.equal((await f.jobCounts()).completed, 1, 'a finished id is not run again');
  t.equal(attempts.length, 3);
});
