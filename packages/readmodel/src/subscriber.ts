import {
  abortableSleep,
  type EventStore,
  limits,
  type RecordedEvent,
  type Subscription,
} from '@ledger/eventstore';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import {
  advanceCheckpoint,
  ensureCheckpoint,
  migrateCheckpoints,
  readCheckpoint,
  resetCheckpoint,
} from './checkpoints.js';
import { type AdvisoryLock, advisoryLock, type OpenLockSession, poolLockSession } from './lock.js';
import { isTransientError } from './transient.js';

/** Bounds, with the unit last. */
export const subscriberLimits = {
  batchSizeDefault: 500,
  batchSizeMax: limits.subscriptionBatchSizeMax,
  lockRetryMsDefault: 1000,
  lockRetryMsMin: 10,
  lockRetryMsMax: 60_000,
  /** waitFor is for read-your-writes: a caller waiting longer than this is a bug. */
  waitForTimeoutMsMax: 60_000,
  nameLengthMax: 128,
  /**
   * After a transient failure (a lost database connection, a lost lock session, another
   * instance taking over) the subscriber starts over after this long, doubling per failure
   * in a row up to retryDelayMsMax. It retries for as long as it runs: an outage shows as
   * lag (readiness), not as a dead process.
   */
  retryDelayMsFirst: 100,
  /** The longest wait between two attempts after transient failures (see retryDelayMsFirst). */
  retryDelayMsMax: 5_000,
} as const;

/** 'retrying': a transient failure stopped it; it starts over (lock, checkpoint) after a backoff. */
export type SubscriberStatus = 'starting' | 'standby' | 'active' | 'retrying' | 'stopped' | 'failed';

/** The wait before attempt `failures + 1` after `failures` transient failures in a row. */
export function retryDelayMs(failures: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(subscriberLimits.retryDelayMsFirst * 2 ** exponent, subscriberLimits.retryDelayMsMax);
}

export interface CheckpointedSubscriberOptions {
  db: Kysely<any>;
  store: EventStore;
  /** Checkpoint row name; also the advisory lock key (`'projection:' + name`). */
  name: string;
  /** Meaning of the state this subscriber builds; stored with the checkpoint. */
  version: number;
  logger: Logger;
  batchSize?: number;
  /** See SubscribeOptions.lingerMs: fewer, larger batches while events keep coming. */
  lingerMs?: number;
  lockRetryMs?: number;
  /**
   * Where the advisory lock's session comes from: pgLockSessions(databaseUrl) in services;
   * default a connection held out of the Kysely pool (see poolLockSession).
   */
  lockSessions?: OpenLockSession;
  /**
   * When the stored checkpoint has another version: 'fail' (the default) stops with
   * SubscriberVersionMismatch; 'reset' calls resetState and replays from 0n.
   */
  onVersionChange?: 'fail' | 'reset';
  /** Drops the state built by an older version (for onVersionChange 'reset'), in a transaction. */
  resetState?: (tx: Kysely<any>) => Promise<void>;
  /**
   * false: batch transactions commit without waiting for their WAL flush (see
   * advanceCheckpoint). Only for state rebuilt from the events alone (projections): a crash
   * can lose the last batches, which are then applied again. Default true.
   */
  synchronousCommit?: boolean;
  /** Runs once this instance is active, before it reads anything (migrations). */
  prepare?: () => Promise<void>;
  /**
   * Effects outside the database (enqueueing jobs), run before the batch transaction: the
   * checkpoint moves only after it resolves, so a crash in between redoes them (they must
   * be idempotent). Keeps no transaction open across calls to other systems.
   */
  beforeTransaction?: (events: readonly RecordedEvent[]) => Promise<void>;
  /**
   * Applies one batch inside the transaction that also moves the checkpoint to the batch's
   * last position. Throwing rolls both back and stops the subscriber.
   */
  handleBatch: (tx: Kysely<any>, events: readonly RecordedEvent[]) => Promise<void>;
  /**
   * True for a batch handleBatch would do nothing with: the checkpoint then moves by one
   * statement of its own (still compare-and-set) instead of a transaction around it.
   */
  ignores?: (events: readonly RecordedEvent[]) => boolean;
  /**
   * Errors, besides isTransientError's (a lost connection, a lost lock), after which the
   * subscriber starts over with backoff instead of failing: the dispatcher's queue outage.
   */
  isTransient?: (error: unknown) => boolean;
}

export interface RunningSubscriber {
  /** Stops after the batch in hand, releases the lock; resolves when done (also after a failure). */
  stop(): Promise<void>;
  /** The committed checkpoint as this instance knows it (refreshed from the table while on standby). */
  position(): bigint;
  /** Resolves true once the checkpoint is ≥ position, false after timeoutMs or when stopped. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean>;
  status(): SubscriberStatus;
  /**
   * Resolves when stopped by stop(); rejects with the error that stopped it otherwise: only
   * a bug (a batch that throws, a version mismatch), never a transient failure.
   */
  readonly done: Promise<void>;
}

export class SubscriberVersionMismatch extends Error {
  override readonly name = 'SubscriberVersionMismatch';
  constructor(
    readonly subscriber: string,
    readonly storedVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `"${subscriber}" was built by version ${storedVersion} but this code is version ${codeVersion}: ` +
        'rebuild it (run it once with onVersionChange "reset", or rebuild into a fresh schema and swap)',
    );
  }
}

const namePattern = /^[a-z][a-z0-9_.:-]*$/;

function checkIntegerIn(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

export function checkSubscriberName(name: string): void {
  if (!namePattern.test(name) || name.length > subscriberLimits.nameLengthMax) {
    throw new RangeError(
      `name "${name}" must match ${namePattern}, at most ${subscriberLimits.nameLengthMax} characters`,
    );
  }
}

/**
 * The runtime shared by projections and the job dispatcher: one active instance per name
 * (a PostgreSQL advisory lock; others wait on standby), a catch-up subscription from the
 * stored checkpoint, and one transaction per batch holding the batch's effects and the
 * checkpoint move. A crash between batches therefore redoes nothing twice and loses
 * nothing; an error rolls the batch back and stops the subscriber loudly.
 *
 * A transient failure (isTransientError: the database connection or the lock session lost,
 * the checkpoint moved by an instance that took over) is not a bug: it is logged at warn,
 * the lock session is closed, and after a backoff (retryDelayMs) the subscriber starts
 * over: a new lock session, standby until the lock is free, then on from the stored
 * checkpoint. The rolled-back batch is applied again, once.
 *
 * On PGlite (one connection, one process) there is no one to exclude: no lock is taken.
 */
export function runCheckpointedSubscriber(options: CheckpointedSubscriberOptions): RunningSubscriber {
  const { db, store, name, version, logger } = options;
  const batchSize = options.batchSize ?? subscriberLimits.batchSizeDefault;
  const lockRetryMs = options.lockRetryMs ?? subscriberLimits.lockRetryMsDefault;
  const synchronousCommit = options.synchronousCommit ?? true;
  checkSubscriberName(name);
  checkIntegerIn('version', version, 1, 2 ** 31 - 1);
  checkIntegerIn('batchSize', batchSize, 1, subscriberLimits.batchSizeMax);
  checkIntegerIn(
    'lockRetryMs',
    lockRetryMs,
    subscriberLimits.lockRetryMsMin,
    subscriberLimits.lockRetryMsMax,
  );
  const lockKey = `projection:${name}`;
  const exclusive = db.getExecutor().adapter.supportsMultipleConnections !== false;

  const stopper = new AbortController();
  let status: SubscriberStatus = 'starting';
  let position = 0n;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };

  // Each attempt to run, up to its failure: what a transient failure starts over from.
  const attempt = async (onProgress: () => void) => {
    let session: AdvisoryLock | undefined;
    try {
      await migrateCheckpoints(db);
      position = (await readCheckpoint(db, name))?.position ?? 0n;
      if (exclusive) {
        session = advisoryLock(await (options.lockSessions?.() ?? poolLockSession(db)), lockKey);
        while (!stopper.signal.aborted && !(await session.tryLock())) {
          if (status !== 'standby') {
            status = 'standby';
            logger.info({ subscriber: name, lockRetryMs }, 'standby: another instance is active');
          }
          await abortableSleep(lockRetryMs, stopper.signal);
          if (stopper.signal.aborted) break;
          position = (await readCheckpoint(db, name))?.position ?? position;
          onProgress();
          wake();
        }
      }
      if (stopper.signal.aborted) return;

      let stored = await ensureCheckpoint(db, name, version);
      if (stored.version !== version) {
        if (options.onVersionChange !== 'reset' || !options.resetState) {
          throw new SubscriberVersionMismatch(name, stored.version, version);
        }
        logger.warn(
          { subscriber: name, from: stored.version, to: version },
          'new version: rebuilding from 0',
        );
        const resetState = options.resetState;
        await db.transaction().execute(async (tx) => {
          await resetState(tx);
          await resetCheckpoint(tx, name, version);
        });
        stored = { position: 0n, version };
      }
      await options.prepare?.();
      if (stopper.signal.aborted) return;

      let checkpoint = stored.position;
      position = checkpoint;
      status = 'active';
      wake();
      logger.info({ subscriber: name, position: checkpoint.toString() }, 'active');

      const subscription: Subscription = store.subscribe({
        after: checkpoint,
        batchSize,
        ...(options.lingerMs === undefined ? {} : { lingerMs: options.lingerMs }),
        onEvents: async (events) => {
          const last = events[events.length - 1]!.globalPosition;
          await options.beforeTransaction?.(events);
          if (options.ignores?.(events)) {
            await advanceCheckpoint(db, { name, from: checkpoint, to: last }, { synchronousCommit });
          } else {
            await db.transaction().execute(async (tx) => {
              await options.handleBatch(tx, events);
              await advanceCheckpoint(tx, { name, from: checkpoint, to: last }, { synchronousCommit });
            });
          }
          checkpoint = last;
          position = last;
          onProgress();
          wake();
        },
      });
      // The lock lives with its session: check the session is alive as often as standby
      // instances try to take over, and stop if it is not (the checkpoint's compare-and-set
      // already keeps a second writer from committing anything).
      const heartbeatStop = new AbortController();
      const heartbeatSignal = AbortSignal.any([stopper.signal, heartbeatStop.signal]);
      const heartbeat = (async () => {
        while (!heartbeatSignal.aborted) {
          await abortableSleep(lockRetryMs, heartbeatSignal);
          if (!heartbeatSignal.aborted && session) {
            await session.ping();
            onProgress();
          }
        }
      })();
      heartbeat.catch(() => {}); // observed below
      try {
        await Promise.race([subscription.done, heartbeat]);
      } finally {
        // Whichever ended first, end the other, and let no ping run on a released session.
        heartbeatStop.abort();
        await subscription.stop();
        await heartbeat.catch(() => {});
      }
      await heartbeat;
      await subscription.done;
    } finally {
      await session?.release();
    }
  };

  const isTransient = (error: unknown) => isTransientError(error) || options.isTransient?.(error) === true;
  const run = async () => {
    let failures = 0;
    for (;;) {
      try {
        await attempt(() => {
          failures = 0;
        });
        return;
      } catch (error) {
        // Stopping while the database is away: a stop, not a failure.
        if (stopper.signal.aborted && isTransient(error)) return;
        if (!isTransient(error)) throw error;
        failures++;
        const delayMs = retryDelayMs(failures);
        status = 'retrying';
        logger.warn(
          { err: error, subscriber: name, position: position.toString(), failures, delayMs },
          'transient failure; starting over after a backoff',
        );
        await abortableSleep(delayMs, stopper.signal);
        if (stopper.signal.aborted) return;
      }
    }
  };

  const done = run().then(
    () => {
      status = 'stopped';
      wake();
      logger.info({ subscriber: name, position: position.toString() }, 'stopped');
    },
    (error: unknown) => {
      status = 'failed';
      stopper.abort();
      wake();
      logger.error({ err: error, subscriber: name, position: position.toString() }, 'stopped by an error');
      throw error;
    },
  );
  // Observed through `done` or the log; an unobserved failure must not crash the process
  // from here (the owner decides: the projector service exits on it).
  done.catch(() => {});

  return {
    async stop() {
      stopper.abort();
      await done.catch(() => {});
    },
    position: () => position,
    status: () => status,
    done,
    async waitFor(target: bigint, timeoutMs: number) {
      checkIntegerIn('timeoutMs', timeoutMs, 0, subscriberLimits.waitForTimeoutMsMax);
      const deadline = Date.now() + timeoutMs;
      while (position < target) {
        if (status === 'stopped' || status === 'failed') return false;
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) return false;
        await new Promise<void>((resolve) => {
          const wakeUp = () => {
            clearTimeout(timer);
            waiters.delete(wakeUp);
            resolve();
          };
          const timer = setTimeout(wakeUp, remainingMs);
          waiters.add(wakeUp);
        });
      }
      return true;
    },
  };
}
