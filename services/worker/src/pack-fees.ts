import { randomUUID } from 'node:crypto';
import { type Ledger, settleSubscription } from '@ledger/application';
import type { BullMqJobQueue, Job, JobHandler } from '@ledger/jobs';
import type { Logger } from '@ledger/platform';
import { dueSubscriptionIds, packsProjection } from '@ledger/projection-packs';
import { type Kysely, sql } from 'kysely';

/**
 * The packs' fee scheduler (issue #19): `packs.settle-due` (queue `packs`) settles every
 * subscription the packs read model has due (dueSubscriptionIds): a period that began, a
 * charge due, a dunning retry. settleSubscription does the work and makes it safe to do
 * twice: each charge's attempt is a transfer whose id derives from (subscription, charge,
 * attempt), and each step is appended at the stream's expected version, so a second
 * scheduler, a re-run or a crash never charges twice.
 *
 * With Redis the job is a BullMQ job scheduler, one run per interval for the whole bank;
 * in the embedded default (in-process jobs) a timer in this process runs it.
 */

export const packFeesQueue = 'packs';
export const settleDueJob = 'packs.settle-due';
/** The BullMQ job scheduler's id: every worker upserts the same one. */
export const settleDueSchedulerId = 'packs-settle-due';
/** Who the scheduler's events name as their actor. */
export const packFeesActorId = 'system:pack-fees';
/** Default of PACK_FEES_INTERVAL_MS. */
export const packFeesIntervalMsDefault = 60_000;
/** Subscriptions read from the queue at a time. */
export const settleDueBatchSize = 100;
/** Subscriptions one run settles at most; the rest wait for the next run. */
export const settleDueMax = 1_000;
/** dueSubscriptionIds reads at most this many at once. */
const dueLimitMax = 1_000;

export interface SettleDueResult {
  /** Subscriptions settled without an error (whether or not they had work). */
  settled: number;
  /** Subscriptions whose settling threw (logged; the next run tries them again). */
  failed: number;
}

/**
 * One run: the subscriptions due at `now()` (read once for the run), a page at a time, each
 * settled on its own: an error on one is logged and the run goes on. Bounded: at most
 * `max` subscriptions. A page repeats the ones this run did (the read model may not have
 * caught up with them yet, or one keeps failing): they are skipped, and the next page asks
 * for that many more, so a stuck head never hides the rest. Stops early when `stopped`
 * aborts. A database whose packs read model does not exist yet has nothing due.
 */
export async function settleDueSubscriptions(options: {
  db: Kysely<any>;
  ledger: Ledger;
  logger: Logger;
  now: () => Date;
  /** Why this run: the job's id, or the timer's run id (in the events' metadata). */
  runId?: string;
  batchSize?: number;
  max?: number;
  stopped?: AbortSignal;
}): Promise<SettleDueResult> {
  const { db, ledger, logger, stopped } = options;
  const batchSize = options.batchSize ?? settleDueBatchSize;
  const max = options.max ?? settleDueMax;
  const at = options.now();
  const runId = options.runId ?? randomUUID();
  const metadata = { actorId: packFeesActorId, correlationId: runId, jobId: runId };
  const result: SettleDueResult = { settled: 0, failed: 0 };
  const { rows } = await sql<{ found: boolean }>`
    SELECT to_regclass(${`${packsProjection.schema}.subscriptions`}) IS NOT NULL AS found`.execute(db);
  if (!rows[0]?.found) return result;
  const seen = new Set<string>();
  while (seen.size < max && !stopped?.aborted) {
    const limit = Math.min(dueLimitMax, seen.size + batchSize);
    const ids = await dueSubscriptionIds(db, { now: at, limit });
    const fresh = ids.filter((id) => !seen.has(id)).slice(0, max - seen.size);
    if (fresh.length === 0) break;
    for (const id of fresh) {
      if (stopped?.aborted) break;
      seen.add(id);
      try {
        await settleSubscription(ledger, id, at, metadata);
        result.settled++;
      } catch (error) {
        result.failed++;
        logger.warn({ err: error, subscriptionId: id, runId }, 'subscription not settled; next run retries');
      }
    }
    // The read model had no more than this page: the run has seen every one due.
    if (ids.length < limit || limit === dueLimitMax) break;
  }
  return result;
}

export interface PackFeesOptions {
  db: Kysely<any>;
  ledger: Ledger;
  logger: Logger;
  now: () => Date;
  /** PACK_FEES_INTERVAL_MS. */
  intervalMs: number;
}

/** The `packs` queue's processor: one run per job, one job at a time in this process. */
export function packFeesProcessor(options: Omit<PackFeesOptions, 'intervalMs'>): {
  queue: string;
  concurrency: number;
  handler: JobHandler;
} {
  return {
    queue: packFeesQueue,
    concurrency: 1,
    handler: async (job: Job) => {
      const result = await settleDueSubscriptions({ ...options, runId: job.id });
      if (result.settled > 0 || result.failed > 0) {
        options.logger.info({ ...result, jobId: job.id }, 'pack fees settled');
      }
    },
  };
}

export interface PackFeesScheduler {
  /** Stops the timer (after a run in hand); the BullMQ scheduler stays for the other workers. */
  stop(): Promise<void>;
}

/**
 * Schedules the runs: on BullMQ, upserts the job scheduler (its processor is registered by
 * the caller with the other processors); in process, a timer: a run, a pause of
 * `intervalMs`, the next run (one at a time, whatever a run takes).
 */
export async function schedulePackFees(
  options: PackFeesOptions & { bullmq?: BullMqJobQueue | undefined },
): Promise<PackFeesScheduler> {
  const { bullmq, intervalMs, logger } = options;
  if (bullmq !== undefined) {
    await bullmq.repeat(
      packFeesQueue,
      settleDueJob,
      {},
      { schedulerId: settleDueSchedulerId, everyMs: intervalMs },
    );
    return { stop: async () => {} };
  }
  const stopper = new AbortController();
  const stopped = stopper.signal;
  const loop = (async () => {
    while (!stopped.aborted) {
      await pause(intervalMs, stopped);
      if (stopped.aborted) break;
      const runId = randomUUID();
      try {
        const result = await settleDueSubscriptions({ ...options, runId, stopped });
        if (result.settled > 0 || result.failed > 0) logger.info({ ...result, runId }, 'pack fees settled');
      } catch (error) {
        logger.warn({ err: error, nextInMs: intervalMs }, 'pack fees not settled');
      }
    }
  })();
  return {
    async stop() {
      stopper.abort();
      await loop;
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
