import type { JsonObject } from '@ledger/eventstore';
import { type ConnectionOptions, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  checkIntegerIn,
  checkJob,
  checkRetryPolicy,
  type EnqueueOptions,
  type JobHandler,
  type JobQueue,
  jobLimits,
  type RetryPolicy,
} from './queue.js';

export interface BullMqJobQueueOptions {
  redisUrl: string;
  /** Redis key prefix; tests use a unique one each. Default 'ledger'. */
  prefix?: string;
  retry?: RetryPolicy;
  logger: Logger;
  /** An enqueue that Redis does not acknowledge in time fails instead of hanging. */
  enqueueTimeoutMs?: number;
  /** How long a worker's lock on a job lasts (renewed at half): a dead worker's job is taken back after it. */
  lockMs?: number;
}

const enqueueTimeoutMsDefault = 10_000;
/** Finished runs of a repeated job kept in Redis (each run is a new job; see repeat). */
const repeatedKeptCount = 100;
const lockMsDefault = 30_000;
/**
 * While Redis is away, the connection that watches for its return tries again after
 * 100 ms × the attempt, at most this long: a return is noticed within about this bound.
 */
const watchRetryMsMax = 2_000;

/**
 * Jobs on Redis through BullMQ: durable, shared by every worker process, deduplicated by
 * jobId for as long as finished jobs are kept (jobLimits.keepCompleted*).
 *
 * Connections: each Queue and Worker gets connection *options*, not a shared client, so
 * BullMQ owns what it opens and close() releases all of it (a client passed in is not
 * closed by worker.close(), and would keep the process alive).
 */
export class BullMqJobQueue implements JobQueue {
  readonly #connection: ConnectionOptions;
  readonly #prefix: string;
  readonly #retry: RetryPolicy;
  readonly #lockMs: number;
  readonly #logger: Logger;
  readonly #enqueueTimeoutMs: number;
  readonly #queues = new Map<string, Queue>();
  readonly #workers = new Map<string, Worker>();
  readonly #redisUrl: string;
  readonly #reconnectListeners: (() => void)[] = [];
  /** The connection that watches for Redis coming back (opened by onReconnect). */
  #watch: Redis | undefined;
  #closed = false;

  constructor(options: BullMqJobQueueOptions) {
    // ioredis retries a command forever only with maxRetriesPerRequest null, which BullMQ
    // workers require; enqueue is bounded by its own timeout instead.
    this.#connection = { url: options.redisUrl, maxRetriesPerRequest: null };
    this.#redisUrl = options.redisUrl;
    this.#prefix = options.prefix ?? 'ledger';
    this.#lockMs = options.lockMs ?? lockMsDefault;
    this.#retry = options.retry ?? {
      attempts: jobLimits.attemptsDefault,
      backoffDelayMs: jobLimits.backoffDelayMsDefault,
    };
    checkRetryPolicy(this.#retry);
    this.#logger = options.logger;
    this.#enqueueTimeoutMs = options.enqueueTimeoutMs ?? enqueueTimeoutMsDefault;
    checkIntegerIn('enqueueTimeoutMs', this.#enqueueTimeoutMs, 1, 600_000);
  }

  #queue(name: string): Queue {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.#connection, prefix: this.#prefix });
      queue.on('error', (error) =>
        this.#logger.error({ err: error, queue: name }, 'job queue connection error'),
      );
      this.#queues.set(name, queue);
    }
    return queue;
  }

  async enqueue(queue: string, name: string, data: JsonObject, opts: EnqueueOptions): Promise<void> {
    checkJob(queue, name, data, opts);
    if (this.#closed) throw new Error('job queue is closed');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `enqueue of ${opts.jobId} not acknowledged by Redis within ${this.#enqueueTimeoutMs} ms`,
            ),
          ),
        this.#enqueueTimeoutMs,
      );
    });
    try {
      // An id already present returns the existing job: no second job is created.
      await Promise.race([
        this.#queue(queue).add(name, data, {
          jobId: opts.jobId,
          // A delayed job waits in Redis (not in this process): it survives restarts, and any
          // worker runs it once its time has come.
          ...(opts.delayMs ? { delay: opts.delayMs } : {}),
          attempts: this.#retry.attempts,
          backoff: { type: 'exponential', delay: this.#retry.backoffDelayMs },
          removeOnComplete: { age: jobLimits.keepCompletedSeconds, count: jobLimits.keepCompletedCount },
          removeOnFail: { age: jobLimits.keepFailedSeconds, count: jobLimits.keepFailedCount },
        }),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A job `name` in `queue` every `everyMs`, made by Redis (a BullMQ job scheduler), not by
   * this process: one job per interval whatever the number of worker processes, run by
   * whichever worker takes it. Upserted under `schedulerId`: every process may call it at
   * start (the same scheduler, its interval updated), and it outlives the process. Finished
   * runs are kept only a few: they are not deduplicated by id, each is a new run.
   */
  async repeat(
    queue: string,
    name: string,
    data: JsonObject,
    opts: { schedulerId: string; everyMs: number },
  ): Promise<void> {
    checkJob(queue, name, data, { jobId: opts.schedulerId });
    checkIntegerIn('everyMs', opts.everyMs, 1, jobLimits.delayMsMax);
    if (this.#closed) throw new Error('job queue is closed');
    await this.#queue(queue).upsertJobScheduler(
      opts.schedulerId,
      { every: opts.everyMs },
      {
        name,
        data,
        opts: {
          attempts: this.#retry.attempts,
          backoff: { type: 'exponential', delay: this.#retry.backoffDelayMs },
          removeOnComplete: { count: repeatedKeptCount },
          removeOnFail: { count: repeatedKeptCount },
        },
      },
    );
  }

  async process(queue: string, handler: JobHandler, opts: { concurrency: number }): Promise<void> {
    checkIntegerIn('concurrency', opts.concurrency, 1, jobLimits.concurrencyMax);
    if (this.#closed) throw new Error('job queue is closed');
    if (this.#workers.has(queue)) throw new Error(`queue "${queue}" already has a handler`);
    const worker = new Worker(
      queue,
      async (job) => {
        await handler({
          id: job.id ?? '',
          queue,
          name: job.name,
          data: job.data as JsonObject,
          attempt: job.attemptsMade + 1,
        });
      },
      {
        connection: this.#connection,
        prefix: this.#prefix,
        concurrency: opts.concurrency,
        autorun: true,
        // A job whose worker died is taken back after its lock lapses, and run again once;
        // a second stall fails it (then its attempts decide).
        lockDuration: this.#lockMs,
        stalledInterval: this.#lockMs,
        maxStalledCount: 1,
      },
    );
    worker.on('failed', (job, error) => {
      // attemptsMade already counts the attempt that just failed.
      const attempt = job?.attemptsMade ?? 0;
      const final = attempt >= this.#retry.attempts;
      this.#logger[final ? 'error' : 'warn'](
        { err: error, queue, jobId: job?.id, job: job?.name, attempt },
        final ? 'job failed; no attempts left' : 'job failed; will retry',
      );
    });
    worker.on('error', (error) => this.#logger.error({ err: error, queue }, 'job worker error'));
    this.#workers.set(queue, worker);
    await worker.waitUntilReady();
  }

  /**
   * Calls `listener` each time the connection to Redis comes back after it was lost (Redis
   * restarted, the network cut): what the queue held may be gone with it (a Redis without
   * persistence comes back empty), and whoever made those jobs can make them again. Watched
   * on a connection of its own, opened by the first call; the queue's connections come back
   * on their own (an enqueue meanwhile waits for them, bounded by enqueueTimeoutMs).
   */
  onReconnect(listener: () => void): void {
    if (this.#closed) throw new Error('job queue is closed');
    this.#reconnectListeners.push(listener);
    if (this.#watch) return;
    const watch = new Redis(this.#redisUrl, {
      maxRetriesPerRequest: null,
      retryStrategy: (attempt) => Math.min(attempt * 100, watchRetryMsMax),
    });
    let connected = false;
    let lost = false;
    watch.on('ready', () => {
      if (connected && lost) {
        lost = false;
        this.#logger.info('job queue: Redis is back');
        for (const listen of this.#reconnectListeners) listen();
      }
      connected = true;
    });
    watch.on('close', () => {
      if (!connected || lost || this.#closed) return;
      lost = true;
      this.#logger.warn('job queue: Redis connection lost');
    });
    // The queue's own connections log the errors.
    watch.on('error', () => {});
    this.#watch = watch;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.disconnect();
    await Promise.all(
      [...this.#workers.values()].map(async (worker) => {
        // Let running jobs finish; past the bound, force: their lock expires and BullMQ
        // hands them to another worker (a handler must be idempotent anyway).
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), jobLimits.closeTimeoutMs);
        });
        const forced = await Promise.race([worker.close().then(() => false), timedOut]);
        clearTimeout(timer);
        if (forced) await worker.close(true);
      }),
    );
    await Promise.all([...this.#queues.values()].map((queue) => queue.close()));
    this.#workers.clear();
    this.#queues.clear();
  }
}
