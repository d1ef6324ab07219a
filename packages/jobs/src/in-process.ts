import type { JsonObject } from '@ledger/eventstore';
import type { Logger } from 'pino';
import {
  backoffDelayMs,
  checkIntegerIn,
  checkJob,
  checkRetryPolicy,
  type EnqueueOptions,
  type Job,
  type JobHandler,
  type JobQueue,
  jobLimits,
  type RetryPolicy,
} from './queue.js';

export interface InProcessJobQueueOptions {
  retry?: RetryPolicy;
  logger: Logger;
  /** Most jobs held (waiting, running or waiting to retry); enqueue waits for room beyond it. */
  queueLengthMax?: number;
  /**
   * Most jobs enqueued with a delay and not yet due (hold expiries, days ahead), counted apart:
   * they must not take the room of jobs due now. Enqueueing more delayed jobs waits as above.
   */
  scheduledLengthMax?: number;
  /** How long enqueue waits for room before failing. */
  enqueueTimeoutMs?: number;
  /** Finished job ids remembered for deduplication. */
  finishedIdsMax?: number;
}

/** The longest timer Node runs as asked (2^31 − 1 ms, about 24.8 days). */
const timerMsMax = 2_147_483_647;

interface Entry {
  key: string;
  job: Job;
}

interface QueueState {
  handler: JobHandler | undefined;
  concurrency: number;
  running: number;
  ready: Entry[];
}

/**
 * Jobs in this process, for the embedded default (no Redis): the same contract as
 * BullMqJobQueue (dedupe by jobId, attempts with exponential backoff, bounded concurrency,
 * delayed jobs on a timer), bounded in memory. Not durable: jobs not yet run when the
 * process stops (delayed ones included) are lost, and close() reports how many.
 */
export class InProcessJobQueue implements JobQueue {
  readonly #retry: RetryPolicy;
  readonly #logger: Logger;
  readonly #queueLengthMax: number;
  readonly #scheduledLengthMax: number;
  /** Keys of jobs enqueued with a delay that is not over yet (also in #held). */
  readonly #scheduled = new Set<string>();
  readonly #enqueueTimeoutMs: number;
  readonly #finishedIdsMax: number;
  readonly #queues = new Map<string, QueueState>();
  /** Keys of jobs held: waiting, running or delayed. */
  readonly #held = new Set<string>();
  /** Keys of finished jobs, oldest first (a Set keeps insertion order). */
  readonly #finished = new Set<string>();
  readonly #timers = new Map<NodeJS.Timeout, Entry>();
  readonly #roomWaiters = new Set<() => void>();
  readonly #idleWaiters = new Set<() => void>();
  #running = 0;
  #closed = false;

  constructor(options: InProcessJobQueueOptions) {
    this.#retry = options.retry ?? {
      attempts: jobLimits.attemptsDefault,
      backoffDelayMs: jobLimits.backoffDelayMsDefault,
    };
    checkRetryPolicy(this.#retry);
    this.#logger = options.logger;
    this.#queueLengthMax = options.queueLengthMax ?? 10_000;
    this.#scheduledLengthMax = options.scheduledLengthMax ?? 100_000;
    this.#enqueueTimeoutMs = options.enqueueTimeoutMs ?? 30_000;
    this.#finishedIdsMax = options.finishedIdsMax ?? jobLimits.keepCompletedCount;
    checkIntegerIn('queueLengthMax', this.#queueLengthMax, 1, 1_000_000);
    checkIntegerIn('scheduledLengthMax', this.#scheduledLengthMax, 1, 1_000_000);
    checkIntegerIn('enqueueTimeoutMs', this.#enqueueTimeoutMs, 0, 600_000);
    checkIntegerIn('finishedIdsMax', this.#finishedIdsMax, 1, 10_000_000);
  }

  #state(queue: string): QueueState {
    let state = this.#queues.get(queue);
    if (!state) {
      state = { handler: undefined, concurrency: 0, running: 0, ready: [] };
      this.#queues.set(queue, state);
    }
    return state;
  }

  async enqueue(queue: string, name: string, data: JsonObject, opts: EnqueueOptions): Promise<void> {
    checkJob(queue, name, data, opts);
    const key = `${queue}\u0000${opts.jobId}`;
    const delayMs = opts.delayMs ?? 0;
    const full = () =>
      delayMs > 0
        ? this.#scheduled.size >= this.#scheduledLengthMax
        : this.#held.size - this.#scheduled.size >= this.#queueLengthMax;
    while (!this.#closed && full() && !this.#known(key)) {
      if (!(await this.#waitForRoom())) {
        const [what, max] =
          delayMs > 0 ? ['delayed', this.#scheduledLengthMax] : ['due', this.#queueLengthMax];
        throw new Error(`in-process job queue full (${max} ${what}) for ${this.#enqueueTimeoutMs} ms`);
      }
    }
    if (this.#closed) throw new Error('job queue is closed');
    if (this.#known(key)) return;
    this.#held.add(key);
    // A copy: the caller's object must not change the job after the fact.
    const job: Job = { id: opts.jobId, queue, name, data: structuredClone(data), attempt: 1 };
    if (delayMs > 0) {
      this.#scheduled.add(key);
      this.#later({ key, job }, Date.now() + delayMs);
    } else this.#ready({ key, job });
  }

  #ready(entry: Entry): void {
    if (this.#scheduled.delete(entry.key)) {
      // Its delay is over: room for another delayed job.
      for (const wake of [...this.#roomWaiters]) wake();
    }
    this.#state(entry.job.queue).ready.push(entry);
    this.#pump(entry.job.queue);
  }

  /**
   * Makes `entry` ready at `runAt` (ms since the epoch). Node fires a timer longer than
   * timerMsMax at once, so a longer wait is a chain of timers. Held meanwhile (counted in
   * queueLengthMax, deduped); lost if the queue closes first, as any job not yet run.
   */
  #later(entry: Entry, runAt: number): void {
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        if (this.#closed) return;
        if (Date.now() < runAt) this.#later(entry, runAt);
        else this.#ready(entry);
      },
      Math.min(Math.max(runAt - Date.now(), 0), timerMsMax),
    );
    this.#timers.set(timer, entry);
  }

  #known(key: string): boolean {
    return this.#held.has(key) || this.#finished.has(key);
  }

  #waitForRoom(): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (room: boolean) => {
        clearTimeout(timer);
        this.#roomWaiters.delete(onRoom);
        resolve(room);
      };
      const onRoom = () => done(true);
      const timer = setTimeout(() => done(false), this.#enqueueTimeoutMs);
      this.#roomWaiters.add(onRoom);
    });
  }

  async process(queue: string, handler: JobHandler, opts: { concurrency: number }): Promise<void> {
    checkIntegerIn('concurrency', opts.concurrency, 1, jobLimits.concurrencyMax);
    if (this.#closed) throw new Error('job queue is closed');
    const state = this.#state(queue);
    if (state.handler) throw new Error(`queue "${queue}" already has a handler`);
    state.handler = handler;
    state.concurrency = opts.concurrency;
    this.#pump(queue);
  }

  #pump(queue: string): void {
    const state = this.#state(queue);
    const handler = state.handler;
    if (!handler) return;
    while (!this.#closed && state.running < state.concurrency && state.ready.length > 0) {
      const entry = state.ready.shift()!;
      state.running++;
      this.#running++;
      void this.#run(handler, entry).finally(() => {
        state.running--;
        this.#running--;
        if (this.#running === 0) for (const wake of [...this.#idleWaiters]) wake();
        this.#pump(queue);
      });
    }
  }

  async #run(handler: JobHandler, entry: Entry): Promise<void> {
    const { job } = entry;
    try {
      await handler({ ...job });
      this.#finish(entry.key);
    } catch (error) {
      if (this.#closed) {
        this.#logger.warn(
          { err: error, queue: job.queue, jobId: job.id, job: job.name },
          'job failed while closing',
        );
        return;
      }
      if (job.attempt < this.#retry.attempts) {
        const delayMs = backoffDelayMs(this.#retry, job.attempt);
        this.#logger.warn(
          { err: error, queue: job.queue, jobId: job.id, job: job.name, attempt: job.attempt, delayMs },
          'job failed; will retry',
        );
        job.attempt++;
        this.#later(entry, Date.now() + delayMs);
        return;
      }
      this.#logger.error(
        { err: error, queue: job.queue, jobId: job.id, job: job.name, attempt: job.attempt },
        'job failed; no attempts left',
      );
      this.#finish(entry.key);
    }
  }

  #finish(key: string): void {
    this.#held.delete(key);
    this.#finished.add(key);
    if (this.#finished.size > this.#finishedIdsMax) {
      const oldest = this.#finished.values().next().value;
      if (oldest !== undefined) this.#finished.delete(oldest);
    }
    for (const wake of [...this.#roomWaiters]) wake();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers.keys()) clearTimeout(timer);
    this.#timers.clear();
    for (const wake of [...this.#roomWaiters]) wake();
    if (this.#running > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#idleWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, jobLimits.closeTimeoutMs);
        this.#idleWaiters.add(done);
      });
    }
    const notRun = this.#held.size - this.#running;
    if (notRun > 0)
      this.#logger.warn({ jobs: notRun }, 'in-process job queue closed with jobs not run; they are lost');
  }
}
