import assert from 'node:assert/strict';
import {
  type ClearingRail,
  clearExternalTransfer,
  clearingActorId,
  expirePendingTransfer,
  holdExpiryActorId,
  jobMetadata,
  type Ledger,
  transferStreamId,
} from '@ledger/application';
import { parseTransferEvent, type TransferEvent } from '@ledger/domain/ledger';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import type { DispatchRule, Job, JobHandler } from '@ledger/jobs';
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

/** What links a job's events to their cause: the event id and the request's correlation. */
function causeOf(event: RecordedEvent) {
  const { correlationId } = event.metadata;
  return {
    transferId: pendingData(event).transferId,
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
      when: (event) => pendingData(event).code === 'external',
      toData: causeOf,
      // From when the transfer was made, not when the dispatcher saw it: after a pause,
      // overdue answers come at once.
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
  return [
    {
      queue: holdsQueue,
      concurrency: holdsConcurrency,
      handler: async (job) => {
        const { transferId } = causeIn(job);
        const at = now();
        const expiry = await expirePendingTransfer(
          ledger,
          { transferId, now: at },
          metadataOf(holdExpiryActorId, job),
        );
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

/**
 * Re-arms the scheduled work of every transfer still pending (DESIGN §4): its expiry and
 * clearing jobs are enqueued again from its TransferPending event, under the dispatcher's
 * job ids, so a job the queue still holds is not doubled and one the queue lost (the
 * in-process queue across a restart, a Redis that lost its data) is made again. The jobs
 * are idempotent: a transfer that ended meanwhile is their expected no-op.
 *
 * The pending transfers are those of the transactions read model, paged by id, and those
 * made after its checkpoint (a projector that lags, or lost its last batches in a crash:
 * read models commit without waiting for their flush), found in $all from the checkpoint
 * to the head as it is now; later ones are the dispatcher's own. Stops between transfers
 * when `stopped` aborts. Resolves to the number of transfers whose events were dispatched
 * again.
 */
export async function rearmPendingTransfers(options: {
  db: Kysely<any>;
  store: EventStore;
  dispatch: (event: RecordedEvent) => Promise<number>;
  stopped: AbortSignal;
}): Promise<number> {
  const { db, store, dispatch, stopped } = options;
  // The checkpoint first: the read model holds at least what it says.
  const checkpoint =
    (await readCheckpoints(db)).find((c) => c.name === transactionsProjection.name)?.position ?? 0n;
  const head = await store.headPosition();
  const rearmed = new Set<string>();
  /** Dispatches again the TransferPending of each transfer (a page of ids: read together). */
  const rearm = async (ids: readonly string[]) => {
    const firsts = await Promise.all(
      ids.filter((id) => !rearmed.has(id)).map((id) => store.readStream(transferStreamId(id), { limit: 1 })),
    );
    for (const [first] of firsts) {
      if (stopped.aborted) return;
      if (first?.type !== 'TransferPending') continue;
      const { transferId } = pendingData(first);
      rearmed.add(transferId);
      await dispatch(first);
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
       WHERE status = 'pending' AND id > ${after}::uuid ORDER BY id LIMIT ${rearmPageSize}`.execute(db);
    await rearm(rows.map((row) => row.id));
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
    await rearm(ids.slice(i, i + rearmPageSize));
  }
  return rearmed.size;
}
