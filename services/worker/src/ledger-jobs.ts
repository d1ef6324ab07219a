import assert from 'node:assert/strict';
import {
  type ClearingRail,
  clearExternalTransfer,
  clearingActorId,
  type ExpiryResult,
  expirePendingTransfer,
  holdExpiryActorId,
  jobMetadata,
  type Ledger,
  transferStreamId,
} from '@ledger/application';
import { parseTransferEvent, type TransferEvent } from '@ledger/domain/ledger';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import { type DispatchRule, dispatchJobId, type Job, type JobHandler } from '@ledger/jobs';
import type { Logger } from '@ledger/platform';
import { transactionsProjection } from '@ledger/projection-accounts';
import { readCheckpoints } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';

/**
 * The ledger's scheduled work (DESIGN §4):
 * - `ledger.expire-hold` (queue `holds`): a two-phase transfer with a timeout is expired by a
 *   job delayed until its expiresAt.
 * - `clearing.submit` (queue `clearing`): an external transfer goes to the clearing rail,
 *   which answers `delayMs` after the transfer was made: it settles or returns it.
 * Both jobs come from the transfer's TransferPending event (jobId from its event id), and
 * both are idempotent: a transfer that has already ended is the expected no-op.
 */

export const holdsQueue = 'holds';
export const expireHoldJob = 'ledger.expire-hold';
export const clearingQueue = 'clearing';
export const clearingSubmitJob = 'clearing.submit';
/** Jobs of each queue run at once in one worker process. */
const holdsConcurrency = 4;
const clearingConcurrency = 4;

type Pending = Extract<TransferEvent, { type: 'TransferPending' }>['data'];

/** TransferPending data, parsed (a corrupt event fails the dispatch loudly). */
function pendingData(event: RecordedEvent): Pending {
  const parsed = parseTransferEvent(event);
  assert(parsed.type === 'TransferPending', `${event.eventId}: ${event.type} is not TransferPending`);
  return parsed.data;
}

type Reviewed = Extract<TransferEvent, { type: 'TransferReviewed' }>['data'];

/** TransferReviewed data, parsed. */
function reviewedData(event: RecordedEvent): Reviewed {
  const parsed = parseTransferEvent(event);
  assert(parsed.type === 'TransferReviewed', `${event.eventId}: ${event.type} is not TransferReviewed`);
  return parsed.data;
}

/** What links a job's events to their cause: the event id and the request's correlation. */
function causeOf(event: RecordedEvent) {
  const { correlationId } = event.metadata;
  return {
    transferId: parseTransferEvent(event).data.transferId,
    causationId: event.eventId,
    ...(typeof correlationId === 'string' ? { correlationId } : {}),
  };
}

export function ledgerDispatchRules(options: { clearing: ClearingRail }): DispatchRule[] {
  const { delayMs } = options.clearing;
  return [
    {
      eventType: 'TransferPending',
      queue: holdsQueue,
      job: expireHoldJob,
      when: (event) => typeof pendingData(event).expiresAt === 'string',
      toData: (event) => ({ ...causeOf(event), expiresAt: pendingData(event).expiresAt }),
      runAt: (event) => new Date(pendingData(event).expiresAt ?? event.recordedAt),
    },
    {
      eventType: 'TransferPending',
      queue: clearingQueue,
      job: clearingSubmitJob,
      // One held for review goes to the rail once a manager approves it (below).
      when: (event) => {
        const data = pendingData(event);
        return data.code === 'external' && data.review === undefined;
      },
      toData: causeOf,
      // From when the transfer was made, not when the dispatcher saw it: after a pause,
      // overdue answers come at once.
      runAt: (event) => new Date(Date.parse(event.recordedAt) + delayMs),
    },
    {
      eventType: 'TransferReviewed',
      queue: clearingQueue,
      job: clearingSubmitJob,
      when: (event) => {
        const data = reviewedData(event);
        return data.code === 'external' && data.decision === 'approved';
      },
      toData: causeOf,
      runAt: (event) => new Date(Date.parse(event.recordedAt) + delayMs),
    },
  ];
}

/** Job data as ledgerDispatchRules made it; anything else is a bug (the job fails loudly). */
function causeIn(job: Job): { transferId: string; causationId: string; correlationId?: string } {
  const { transferId, causationId, correlationId } = job.data;
  assert(typeof transferId === 'string' && typeof causationId === 'string', `job ${job.id}: bad data`);
  return {
    transferId,
    causationId,
    ...(typeof correlationId === 'string' ? { correlationId } : {}),
  };
}

export interface LedgerProcessorOptions {
  /** The worker's ledger context (its own caches and locks). */
  ledger: Ledger;
  logger: Logger;
  clearing: ClearingRail;
  now: () => Date;
}

export interface LedgerProcessor {
  queue: string;
  concurrency: number;
  handler: JobHandler;
}

/** Cause of a job's events, with the job's id. */
type JobCause = ReturnType<typeof causeIn> & { jobId: string };

/**
 * Expires one hold now (by this clock): what the expiry job does, and what the sweep does
 * in its place. Idempotent: a hold that ended is 'already_ended'.
 */
function holdExpirer(ledger: Ledger, now: () => Date) {
  return async (cause: JobCause): Promise<{ expiry: ExpiryResult; at: Date }> => {
    const at = now();
    const expiry = await expirePendingTransfer(
      ledger,
      { transferId: cause.transferId, now: at },
      jobMetadata(holdExpiryActorId, {
        eventId: cause.causationId,
        correlationId: cause.correlationId,
        jobId: cause.jobId,
      }),
    );
    return { expiry, at };
  };
}

export function ledgerProcessors(options: LedgerProcessorOptions): LedgerProcessor[] {
  const { ledger, logger, now } = options;
  const metadataOf = (actorId: string, job: Job) => {
    const cause = causeIn(job);
    return jobMetadata(actorId, {
      eventId: cause.causationId,
      correlationId: cause.correlationId,
      jobId: job.id,
    });
  };
  const expire = holdExpirer(ledger, now);
  return [
    {
      queue: holdsQueue,
      concurrency: holdsConcurrency,
      handler: async (job) => {
        const { transferId } = causeIn(job);
        const { expiry, at } = await expire({ ...causeIn(job), jobId: job.id });
        if (expiry.result === 'not_due') {
          // This clock is behind the one that set expiresAt: fail the attempt, so the queue
          // retries it with backoff (attempts and delays: the worker's RetryPolicy).
          throw new Error(
            `hold ${transferId} expires at ${expiry.expiresAt}, not yet at ${at.toISOString()}: retrying`,
          );
        }
        logger.info({ transferId, jobId: job.id, result: expiry.result }, 'hold expiry');
      },
    },
    {
      queue: clearingQueue,
      concurrency: clearingConcurrency,
      handler: async (job) => {
        const { transferId } = causeIn(job);
        const cleared = await clearExternalTransfer(
          ledger,
          { transferId, rail: options.clearing, now: now() },
          metadataOf(clearingActorId, job),
        );
        logger.info({ transferId, jobId: job.id, result: cleared.result }, 'clearing rail answered');
      },
    },
  ];
}

/** Pending transfers are read from the transactions read model this many at a time. */
const rearmPageSize = 500;
/** Events of $all read at a time past the read model's checkpoint. */
const rearmEventsPageSize = 1000;
/** The events that end a pending transfer (checked against the domain's event types). */
const transferEndedTypes: ReadonlySet<string> = new Set([
  'PendingTransferPosted',
  'PendingTransferVoided',
  'PendingTransferExpired',
  'PendingTransferReturned',
] satisfies TransferEvent['type'][]);

/** Events of a transfer stream: a held one has at most its creation, review and end. */
const transferEventsMax = 8;

/**
 * The approval of an external transfer held for review, if a manager gave it: from then on
 * its scheduled work is the clearing rail's, dispatched from that event. Null otherwise
 * (read only for held external transfers: anything else has its work in TransferPending).
 */
async function approvalOf(store: EventStore, first: RecordedEvent): Promise<RecordedEvent | null> {
  const data = pendingData(first);
  if (data.review === undefined || data.code !== 'external') return null;
  const events = await store.readStream(transferStreamId(data.transferId), { limit: transferEventsMax });
  return (
    events.find(
      (event) => event.type === 'TransferReviewed' && reviewedData(event).decision === 'approved',
    ) ?? null
  );
}

/**
 * Visits the TransferPending event of every transfer still pending (or held for review),
 * once each, with the approval of an external one held for review (approvalOf). The pending
 * transfers are those of the transactions read model, paged by id, and those made after its
 * checkpoint (a projector that lags, or lost its last batches in a crash: read models commit
 * without waiting for their flush), found in $all from the checkpoint to the head as it is
 * now; later ones are the dispatcher's own. Stops between transfers when `stopped` aborts.
 *
 * `known` keeps TransferPending events from one scan to the next (an event never changes),
 * so a periodic scan reads from the store only the transfers it has not seen; at the end of
 * a whole scan it keeps only those still pending, at most knownMax.
 */
async function forEachPendingTransfer(
  options: {
    db: Kysely<any>;
    store: EventStore;
    stopped: AbortSignal;
    known?: Map<string, RecordedEvent>;
  },
  visit: (first: RecordedEvent, approval: RecordedEvent | null) => Promise<void>,
): Promise<void> {
  const { db, store, stopped, known } = options;
  // The checkpoint first: the read model holds at least what it says.
  const checkpoint =
    (await readCheckpoints(db)).find((c) => c.name === transactionsProjection.name)?.position ?? 0n;
  const head = await store.headPosition();
  const visited = new Set<string>();
  /** Visits the TransferPending of each transfer (a page of ids: read together). */
  const visitAll = async (ids: readonly string[]) => {
    const fresh = ids.filter((id) => !visited.has(id));
    const firsts = await Promise.all(
      fresh.map(
        async (id) => known?.get(id) ?? (await store.readStream(transferStreamId(id), { limit: 1 }))[0],
      ),
    );
    for (const first of firsts) {
      if (stopped.aborted) return;
      if (first?.type !== 'TransferPending') continue;
      const { transferId } = pendingData(first);
      visited.add(transferId);
      if (known !== undefined && known.size < knownMax) known.set(transferId, first);
      await visit(first, await approvalOf(store, first));
    }
  };

  const table = sql.id(transactionsProjection.schema, 'transactions');
  // A new database: the projector has not made the read model yet.
  const { rows: exists } = await sql<{ found: boolean }>`
    SELECT to_regclass(${`${transactionsProjection.schema}.transactions`}) IS NOT NULL AS found`.execute(db);
  let after = '00000000-0000-0000-0000-000000000000';
  while (exists[0]?.found && !stopped.aborted) {
    const { rows } = await sql<{ id: string }>`
      SELECT id::text AS id FROM ${table}
       WHERE status IN ('pending', 'held_for_review') AND id > ${after}::uuid
       ORDER BY id LIMIT ${rearmPageSize}`.execute(db);
    await visitAll(rows.map((row) => row.id));
    if (rows.length < rearmPageSize) break;
    after = rows[rows.length - 1]!.id;
  }

  // Past the checkpoint: transfers made there and not ended by the head (ids only: the
  // scan is as long as the read model is behind).
  const madeSince = new Set<string>();
  let position = checkpoint;
  while (position < head && !stopped.aborted) {
    const page = await store.readAll({ after: position, limit: rearmEventsPageSize });
    if (page.length === 0) break;
    for (const event of page) {
      if (event.globalPosition > head) break;
      if (event.type === 'TransferPending') madeSince.add(pendingData(event).transferId);
      else if (transferEndedTypes.has(event.type))
        madeSince.delete(parseTransferEvent(event).data.transferId);
    }
    position = page[page.length - 1]!.globalPosition;
  }
  const ids = [...madeSince];
  for (let i = 0; i < ids.length && !stopped.aborted; i += rearmPageSize) {
    await visitAll(ids.slice(i, i + rearmPageSize));
  }
  // A whole scan: what it did not visit has ended.
  if (known !== undefined && !stopped.aborted) {
    for (const id of known.keys()) if (!visited.has(id)) known.delete(id);
  }
}

/**
 * Re-arms the scheduled work of every transfer still pending (DESIGN §4): its expiry and
 * clearing jobs are enqueued again from its TransferPending event, under the dispatcher's
 * job ids, so a job the queue still holds is not doubled and one the queue lost (the
 * in-process queue across a restart, a Redis that lost its data) is made again. The jobs
 * are idempotent: a transfer that ended meanwhile is their expected no-op. The transfers
 * are those forEachPendingTransfer visits. Resolves to the number of transfers whose
 * events were dispatched again.
 */
export async function rearmPendingTransfers(options: {
  db: Kysely<any>;
  store: EventStore;
  dispatch: (event: RecordedEvent) => Promise<number>;
  stopped: AbortSignal;
}): Promise<number> {
  let rearmed = 0;
  await forEachPendingTransfer(options, async (first, approval) => {
    rearmed++;
    await options.dispatch(first);
    if (approval !== null) await options.dispatch(approval);
  });
  return rearmed;
}

/**
 * Default of HOLD_SWEEP_INTERVAL_MS: the worker sweeps for overdue pending transfers this
 * often, so no hold outlives its expiresAt by much more, whatever the queue lost.
 */
export const holdSweepIntervalMsDefault = 30_000;
/** TransferPending events the sweep keeps between sweeps (see forEachPendingTransfer). */
const knownMax = 100_000;

export interface SweepResult {
  /** Holds this sweep expired. */
  expired: number;
  /** External transfers past their clearing time whose jobs were dispatched again. */
  redispatched: number;
}

/**
 * One sweep for pending transfers whose scheduled work is overdue, whatever the queue lost
 * (issue #14): a hold past its expiresAt (by this clock) is expired here, by the expiry
 * job's own use case, and an external transfer past its clearing time has its jobs
 * dispatched again, under the dispatcher's job ids (a job the queue still holds is not
 * doubled). Both are idempotent: a transfer that ended meanwhile (its job ran, another
 * sweep) is the expected no-op, and the append's expected version keeps two expiries of
 * one hold from both applying. The expiries come first: the dispatches wait on the queue,
 * which may be away.
 */
export async function sweepOverdueTransfers(options: {
  db: Kysely<any>;
  store: EventStore;
  ledger: Ledger;
  clearing: ClearingRail;
  now: () => Date;
  dispatch: (event: RecordedEvent) => Promise<number>;
  stopped: AbortSignal;
  logger: Logger;
  known?: Map<string, RecordedEvent>;
}): Promise<SweepResult> {
  const { ledger, clearing, now, dispatch, stopped, logger } = options;
  const expire = holdExpirer(ledger, now);
  const expiryRule = ledgerDispatchRules({ clearing }).find((rule) => rule.job === expireHoldJob)!;
  const at = now().getTime();
  const overdueClearing: RecordedEvent[] = [];
  let expired = 0;
  await forEachPendingTransfer(options, async (first, approval) => {
    const data = pendingData(first);
    if (approval !== null) {
      // Approved: no deadline any more; the rail answers delayMs after the approval.
      if (Date.parse(approval.recordedAt) + clearing.delayMs <= at) overdueClearing.push(approval);
    } else if (data.expiresAt !== null && Date.parse(data.expiresAt) <= at) {
      const { expiry } = await expire({
        ...causeOf(first),
        // The job this expiry stands in for: the same work, whichever path does it.
        jobId: dispatchJobId(expiryRule, first),
      });
      if (expiry.result === 'expired') {
        expired++;
        logger.info({ transferId: data.transferId, expiresAt: data.expiresAt }, 'overdue hold expired');
      }
    } else if (
      data.code === 'external' &&
      data.review === undefined &&
      Date.parse(first.recordedAt) + clearing.delayMs <= at
    ) {
      overdueClearing.push(first);
    }
  });
  for (const first of overdueClearing) {
    if (stopped.aborted) break;
    await dispatch(first);
  }
  return { expired, redispatched: overdueClearing.length };
}

export interface LedgerUpkeepOptions {
  db: Kysely<any>;
  store: EventStore;
  ledger: Ledger;
  logger: Logger;
  clearing: ClearingRail;
  now: () => Date;
  /** Enqueues the jobs of an event (eventDispatcher over the ledger's rules). */
  dispatch: (event: RecordedEvent) => Promise<number>;
  /** Whether this process sweeps now: the dispatcher's lock holder does, a standby does not. */
  sweeping: () => boolean;
  /** HOLD_SWEEP_INTERVAL_MS. */
  sweepIntervalMs: number;
}

export interface LedgerUpkeep {
  /**
   * Re-arms every pending transfer (rearmPendingTransfers) in the background: at start, and
   * when the queue's connection comes back (it may have come back empty). One re-arm at a
   * time: asked during one, it runs once more after it (the asks in between are one).
   */
  rearm(reason: 'start' | 'reconnect'): void;
  /** Stops the sweeps and any re-arm between transfers; resolves once they have. */
  stop(): Promise<void>;
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

/**
 * What keeps the ledger's scheduled work from depending on the queue alone (DESIGN §4;
 * docs/design.md, "Hold expiry after a queue loss"): the re-arm at start and after the
 * queue reconnects, and a sweep every `sweepIntervalMs` for overdue pending transfers while
 * this process holds the dispatcher's lock. One sweep at a time (a loop, the next pause
 * begins when a sweep ends); a failed sweep is logged and the next one tries again.
 */
export function startLedgerUpkeep(options: LedgerUpkeepOptions): LedgerUpkeep {
  const { db, store, ledger, logger, clearing, now, dispatch, sweeping, sweepIntervalMs } = options;
  const stopper = new AbortController();
  const stopped = stopper.signal;

  let rearming: Promise<void> | undefined;
  let again = false;
  const rearm = (reason: 'start' | 'reconnect') => {
    if (stopped.aborted) return;
    if (rearming !== undefined) {
      again = true;
      return;
    }
    rearming = (async () => {
      do {
        again = false;
        try {
          const transfers = await rearmPendingTransfers({ db, store, dispatch, stopped });
          logger.info({ transfers, reason }, 'pending transfers re-armed');
        } catch (error) {
          logger.warn({ err: error, reason }, 'pending transfers not re-armed');
        }
      } while (again && !stopped.aborted);
      rearming = undefined;
    })();
  };

  const known = new Map<string, RecordedEvent>();
  const sweeps = (async () => {
    while (!stopped.aborted) {
      await pause(sweepIntervalMs, stopped);
      if (stopped.aborted || !sweeping()) continue;
      try {
        const swept = await sweepOverdueTransfers({
          db,
          store,
          ledger,
          clearing,
          now,
          dispatch,
          stopped,
          logger,
          known,
        });
        if (swept.expired > 0 || swept.redispatched > 0) logger.info(swept, 'overdue transfers swept');
      } catch (error) {
        logger.warn({ err: error, nextInMs: sweepIntervalMs }, 'overdue transfers not swept');
      }
    }
  })();

  rearm('start');
  return {
    rearm,
    async stop() {
      stopper.abort();
      await Promise.all([rearming, sweeps]);
    },
  };
}
