import type { EventStore, JsonObject, RecordedEvent } from '@ledger/eventstore';
import { type OpenLockSession, type RunningSubscriber, runCheckpointedSubscriber } from '@ledger/readmodel';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { JobQueue } from './queue.js';

/** Turns each event of `eventType` (that `when` accepts) into one job `job` on `queue`. */
export interface DispatchRule {
  eventType: string;
  queue: string;
  job: string;
  /** Absent: every event of the type makes a job. */
  when?(event: RecordedEvent): boolean;
  toData(event: RecordedEvent): JsonObject;
  /**
   * When the job is due; absent, or already past: at once. Derived from the event, not from
   * the clock, so a dispatcher catching up after a pause enqueues overdue jobs at once.
   */
  runAt?(event: RecordedEvent): Date;
}

export interface RunDispatcherOptions {
  db: Kysely<any>;
  store: EventStore;
  jobs: JobQueue;
  rules: readonly DispatchRule[];
  logger: Logger;
  batchSize?: number;
  lockRetryMs?: number;
  /** Sessions for the advisory lock: pgLockSessions(databaseUrl) in services. */
  lockSessions?: OpenLockSession;
}

/** Checkpoint name (in readmodel.checkpoints) and lock key of the dispatcher. */
export const dispatcherName = 'dispatcher';
const dispatcherVersion = 1;
const enqueueAttempts = 5;
const enqueueRetryFirstMs = 100;

/**
 * An enqueue that still failed after its retries: the queue (Redis) is away, which says
 * nothing about the event. The dispatcher starts over after a backoff rather than stop.
 */
export class EnqueueFailed extends Error {
  override readonly name = 'EnqueueFailed';
  constructor(
    readonly jobId: string,
    cause: unknown,
  ) {
    super(`job ${jobId} was not enqueued after ${enqueueAttempts} attempts`, { cause });
  }
}

/** The job id of `rule` for `event`: the same event always gives the same id, so BullMQ dedupes. */
export function dispatchJobId(rule: DispatchRule, event: RecordedEvent): string {
  return `${rule.job}-${event.eventId}`;
}

/**
 * Enqueues the jobs `rules` make of one event (job ids from the event: enqueueing the same
 * event again is a no-op for the queue). Redis may blink: each enqueue is retried a few
 * times with backoff before the error is thrown. Resolves to the number of jobs enqueued.
 */
export function eventDispatcher(
  jobs: JobQueue,
  rules: readonly DispatchRule[],
  logger: Logger,
): (event: RecordedEvent) => Promise<number> {
  const byType = new Map<string, DispatchRule[]>();
  const seen = new Set<string>();
  for (const rule of rules) {
    const key = `${rule.eventType}\u0000${rule.queue}\u0000${rule.job}`;
    if (seen.has(key))
      throw new RangeError(`duplicate dispatch rule ${rule.eventType} → ${rule.queue}/${rule.job}`);
    seen.add(key);
    byType.set(rule.eventType, [...(byType.get(rule.eventType) ?? []), rule]);
  }

  const enqueue = async (rule: DispatchRule, event: RecordedEvent): Promise<boolean> => {
    if (rule.when !== undefined && !rule.when(event)) return false;
    const jobId = dispatchJobId(rule, event);
    const data = rule.toData(event);
    const runAt = rule.runAt?.(event);
    for (let attempt = 1; ; attempt++) {
      try {
        // Computed at each try: a retry after a wait asks for that much less delay.
        const delayMs = runAt === undefined ? 0 : Math.max(0, Math.ceil(runAt.getTime() - Date.now()));
        await jobs.enqueue(rule.queue, rule.job, data, { jobId, ...(delayMs > 0 ? { delayMs } : {}) });
        return true;
      } catch (error) {
        if (error instanceof RangeError) throw error;
        if (attempt >= enqueueAttempts) throw new EnqueueFailed(jobId, error);
        const delayMs = enqueueRetryFirstMs * 2 ** (attempt - 1);
        logger.warn({ err: error, jobId, attempt, delayMs }, 'enqueue failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  };

  return async (event) => {
    let enqueued = 0;
    for (const rule of byType.get(event.type) ?? []) if (await enqueue(rule, event)) enqueued++;
    return enqueued;
  };
}

/**
 * The outbox dispatcher (DESIGN §1): the event store is the outbox. A checkpointed
 * subscription that enqueues every job of a batch, then moves its checkpoint, so a job is never lost (the checkpoint moves only after the enqueue) and
 * never doubled (a batch redone after a crash enqueues the same job ids again, which the
 * queue ignores). One active dispatcher per database (advisory lock; others on standby).
 * An enqueue that still fails after its retries (EnqueueFailed), like a lost database
 * connection, leaves the checkpoint where it was, and the dispatcher starts over from it
 * after a backoff (see runCheckpointedSubscriber); a bad job (RangeError) stops it.
 */
export function runDispatcher(options: RunDispatcherOptions): RunningSubscriber {
  const { jobs, logger } = options;
  const dispatch = eventDispatcher(jobs, options.rules, logger);

  return runCheckpointedSubscriber({
    db: options.db,
    store: options.store,
    name: dispatcherName,
    version: dispatcherVersion,
    logger,
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    ...(options.lockRetryMs === undefined ? {} : { lockRetryMs: options.lockRetryMs }),
    ...(options.lockSessions === undefined ? {} : { lockSessions: options.lockSessions }),
    // Outside the checkpoint's transaction: no database transaction stays open while Redis
    // answers (on PGlite it would lock out every other query, job handlers' included).
    beforeTransaction: async (events) => {
      for (const event of events) await dispatch(event);
    },
    handleBatch: async () => {},
    isTransient: (error) => error instanceof EnqueueFailed,
  });
}
