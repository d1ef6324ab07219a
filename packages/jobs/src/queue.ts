import type { JsonObject } from '@ledger/eventstore';

/** A job as a handler sees it. */
export interface Job {
  id: string;
  queue: string;
  name: string;
  data: JsonObject;
  /** 1 on the first run, 2 on the first retry, ... */
  attempt: number;
}

/** Throwing (or rejecting) fails this attempt: the job is retried with backoff until attempts run out. */
export type JobHandler = (job: Job) => Promise<void>;

/**
 * Where work leaves the request path (DESIGN §1). Implementations: BullMqJobQueue (Redis,
 * durable, any number of worker processes) and InProcessJobQueue (the embedded default).
 */
export interface JobQueue {
  /**
   * Adds a job unless one with this jobId is already known (waiting, delayed, running, or kept
   * after finishing): enqueueing the same jobId twice runs the job once.
   */
  enqueue(queue: string, name: string, data: JsonObject, opts: EnqueueOptions): Promise<void>;
  /** Runs `handler` for every job of `queue`, at most `concurrency` at once. One handler per queue. */
  process(queue: string, handler: JobHandler, opts: { concurrency: number }): Promise<void>;
  /** Stops taking jobs, waits for running ones (bounded), releases every connection. */
  close(): Promise<void>;
}

export interface EnqueueOptions {
  jobId: string;
  /**
   * Run the job no sooner than this many ms from now (0 or absent: at once), at most
   * jobLimits.delayMsMax. A delayed job is held like a waiting one: same dedupe, same bound.
   */
  delayMs?: number;
}

/** Retry and retention policy; explicit, the same for both implementations. */
export interface RetryPolicy {
  /** Total runs of a job, first included. */
  attempts: number;
  /** Exponential backoff: the n-th retry waits backoffDelayMs × 2^(n-1). */
  backoffDelayMs: number;
}

export const jobLimits = {
  attemptsDefault: 5,
  attemptsMax: 50,
  backoffDelayMsDefault: 1000,
  backoffDelayMsMax: 3_600_000,
  concurrencyMax: 256,
  nameLengthMax: 128,
  jobIdLengthMax: 256,
  dataBytesMax: 64 * 1024,
  /**
   * Finished jobs are kept this long so a re-enqueue of the same id (a dispatcher redoing its
   * last batch after a crash) is still recognised and not run again.
   */
  keepCompletedSeconds: 7 * 24 * 3600,
  keepCompletedCount: 100_000,
  keepFailedSeconds: 30 * 24 * 3600,
  keepFailedCount: 100_000,
  /**
   * Longest delay of a job: above the longest two-phase hold (30 days), whose expiry is a
   * delayed job.
   */
  delayMsMax: 31 * 24 * 3_600_000,
  /** How long close() waits for running jobs. */
  closeTimeoutMs: 10_000,
} as const;

/** The delay before retry `retry` (1 = the first retry). */
export function backoffDelayMs(policy: RetryPolicy, retry: number): number {
  return Math.round(policy.backoffDelayMs * 2 ** (retry - 1));
}

const namePattern = /^[a-z][a-z0-9_.-]*$/i;

export function checkIntegerIn(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

export function checkRetryPolicy(policy: RetryPolicy): void {
  checkIntegerIn('attempts', policy.attempts, 1, jobLimits.attemptsMax);
  checkIntegerIn('backoffDelayMs', policy.backoffDelayMs, 1, jobLimits.backoffDelayMsMax);
}

/** Checks what both implementations require, so a job valid in one is valid in the other. */
export function checkJob(queue: string, name: string, data: JsonObject, opts: EnqueueOptions): void {
  const { jobId } = opts;
  if (opts.delayMs !== undefined) checkIntegerIn('delayMs', opts.delayMs, 0, jobLimits.delayMsMax);
  for (const [what, value] of [
    ['queue', queue],
    ['job name', name],
  ] as const) {
    if (!namePattern.test(value) || value.length > jobLimits.nameLengthMax) {
      throw new RangeError(
        `${what} "${value}" must match ${namePattern}, at most ${jobLimits.nameLengthMax} characters`,
      );
    }
  }
  // BullMQ refuses ids that contain ':' (its key separator) or parse as integers.
  if (
    jobId.length === 0 ||
    jobId.length > jobLimits.jobIdLengthMax ||
    jobId.includes(':') ||
    /^\d+$/.test(jobId)
  ) {
    throw new RangeError(
      `jobId "${jobId}" must be 1..${jobLimits.jobIdLengthMax} characters, without ':', not an integer`,
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(data));
  if (bytes > jobLimits.dataBytesMax) {
    throw new RangeError(`job data is ${bytes} bytes; at most ${jobLimits.dataBytesMax}`);
  }
}
