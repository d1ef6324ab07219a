import {
  type ClearingRail,
  clearingRailDefaults,
  createLedger,
  type KycPorts,
  type Ledger,
  type PersonalDataVault,
} from '@ledger/application';
import type { EventStore } from '@ledger/eventstore';
import {
  BullMqJobQueue,
  type DispatchRule,
  eventDispatcher,
  InProcessJobQueue,
  type JobHandler,
  type JobQueue,
  type RetryPolicy,
  runDispatcher,
} from '@ledger/jobs';
import { type Database, type DocumentStorage, type Logger, withTimeout } from '@ledger/platform';
import type { OpenLockSession, RunningSubscriber } from '@ledger/readmodel';
import { Redis } from 'ioredis';
import { type DocumentChecker, kycDispatchRules, kycProcessors, localDocumentChecker } from './kyc-jobs.js';
import {
  holdSweepIntervalMsDefault,
  type LedgerUpkeep,
  ledgerDispatchRules,
  ledgerProcessors,
  startLedgerUpkeep,
} from './ledger-jobs.js';
import { type Mailer, type MailOptions, mailChannel, notificationDispatchRules } from './mail/index.js';
import {
  type PackFeesScheduler,
  packFeesIntervalMsDefault,
  packFeesProcessor,
  schedulePackFees,
} from './pack-fees.js';

export {
  packFeesActorId,
  packFeesIntervalMsDefault,
  packFeesQueue,
  type SettleDueResult,
  settleDueJob,
  settleDueSubscriptions,
} from './pack-fees.js';

/** The clearing rail's configuration as the environment gives it (CLEARING_*). */
export interface ClearingOptions {
  delayMs: number;
  /** IBANs, normalised, whose transfers the rail returns; the rest it settles. */
  returnIbans: readonly string[];
}

const clearingRailOf = (options: ClearingOptions | undefined): ClearingRail =>
  options === undefined
    ? clearingRailDefaults
    : { delayMs: options.delayMs, returnIbans: new Set(options.returnIbans) };

/** Which events become which jobs, in production (the KYC check where the worker has the vault). */
export function dispatchRules(
  options: { clearing?: ClearingOptions; kyc?: KycOptions | undefined; mail?: MailOptions | undefined } = {},
): DispatchRule[] {
  return [
    ...ledgerDispatchRules({ clearing: clearingRailOf(options.clearing) }),
    ...(options.kyc === undefined ? [] : kycDispatchRules()),
    // Notification mails (issue #18): where the worker has the mail options.
    ...(options.mail === undefined ? [] : notificationDispatchRules()),
  ];
}

/** What the KYC check needs: the vault (documents and fields are sealed) and the documents. */
export interface KycOptions {
  vault: PersonalDataVault;
  documents: DocumentStorage;
  /** The checker (default: the local one: OCR, MRZ, face); tests may give another. */
  checker?: DocumentChecker;
}

/** A handler for one queue. */
export interface Processor {
  queue: string;
  concurrency: number;
  handler: JobHandler;
}

/** The production processors. */
export function processors(
  options: Pick<StartWorkerOptions, 'store' | 'ledger' | 'logger' | 'clearing' | 'now'> & {
    kyc?: { ports: KycPorts; checker: DocumentChecker } | undefined;
  },
): Processor[] {
  const now = options.now ?? (() => new Date());
  return [
    ...ledgerProcessors({
      ledger: options.ledger ?? createLedger(options.store),
      logger: options.logger,
      clearing: clearingRailOf(options.clearing),
      now,
    }),
    ...(options.kyc === undefined
      ? []
      : kycProcessors({
          ports: options.kyc.ports,
          checker: options.kyc.checker,
          logger: options.logger,
          now,
        })),
  ];
}

export interface StartWorkerOptions {
  db: Database['db'];
  store: EventStore;
  /** The ledger's context over `store` (caches, locks); made from it when absent. */
  ledger?: Ledger;
  logger: Logger;
  /** Set: BullMQ on this Redis. Unset: the in-process queue (embedded default). */
  redisUrl?: string | undefined;
  /** The notification mails' SMTP server (SMTP_URL); unset: DATA_DIR/outbox (see `mail`). */
  smtpUrl?: string | undefined;
  /** Set: the worker sends notification mails (queue `notifications`; services/worker/src/mail). */
  mail?: MailOptions | undefined;
  /** The simulated clearing rail (CLEARING_DELAY_MS, CLEARING_RETURN_IBANS); default: settle after 5 s. */
  clearing?: ClearingOptions;
  /** The clock of job handlers (hold expiry, clearing); default: the system clock. */
  now?: () => Date;
  /** Set: the worker checks KYC documents (needs the vault: DATA_KEY). */
  kyc?: KycOptions | undefined;
  /** HOLD_SWEEP_INTERVAL_MS: how often the dispatcher's holder sweeps for overdue holds. */
  holdSweepIntervalMs?: number;
  /** PACK_FEES_INTERVAL_MS: how often the packs' fee scheduler settles due subscriptions. */
  packFeesIntervalMs?: number;
  /** JOB_LOCK_MS: BullMQ's job lock (a dead worker's job is taken back after it). */
  jobLockMs?: number;
  /** Default dispatchRules() / processors(); tests pass their own. */
  rules?: readonly DispatchRule[];
  processors?: readonly Processor[];
  /** BullMQ key prefix (default 'ledger'); tests use a unique one. */
  redisPrefix?: string;
  retry?: RetryPolicy;
  lockRetryMs?: number;
  /** Sessions for the dispatcher's advisory lock: pgLockSessions(databaseUrl) on PostgreSQL. */
  lockSessions?: OpenLockSession;
}

export interface Worker {
  jobs: JobQueue;
  /** Stops the dispatcher (after its batch in hand), then the queue (after running jobs, bounded). */
  stop(): Promise<void>;
  /** Rejects when the dispatcher stops on an error (logged); resolves once stopped. */
  readonly done: Promise<void>;
  dispatcher: RunningSubscriber;
}

const redisPingTimeoutMs = 5_000;

/** Fails fast, with a clear message, when REDIS_URL points nowhere. */
async function checkRedis(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: redisPingTimeoutMs,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await withTimeout(
      redis.connect().then(() => redis.ping()),
      redisPingTimeoutMs,
      'Redis',
    );
  } catch (error) {
    const where = new URL(redisUrl);
    where.password = '';
    throw new Error(`Redis at ${where.host} did not answer: ${(error as Error).message}`, { cause: error });
  } finally {
    redis.disconnect();
  }
}

/**
 * The worker (DESIGN §1): the dispatcher turns events into jobs (one active instance per
 * database), and this process consumes them: BullMQ with REDIS_URL (any number of worker
 * processes), else an in-process queue.
 */
export async function startWorker(options: StartWorkerOptions): Promise<Worker> {
  const { logger } = options;
  let jobs: JobQueue;
  let redisJobs: BullMqJobQueue | undefined;
  if (options.redisUrl) {
    await checkRedis(options.redisUrl);
    jobs = redisJobs = new BullMqJobQueue({
      redisUrl: options.redisUrl,
      logger,
      ...(options.redisPrefix === undefined ? {} : { prefix: options.redisPrefix }),
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      ...(options.jobLockMs === undefined ? {} : { lockMs: options.jobLockMs }),
    });
  } else {
    jobs = new InProcessJobQueue({
      logger,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
    });
  }
  // One ledger context for the job handlers and the sweep.
  const ledger = options.ledger ?? createLedger(options.store);
  const kycPorts: KycPorts | undefined =
    options.kyc === undefined
      ? undefined
      : { store: options.store, vault: options.kyc.vault, documents: options.kyc.documents };
  const checker =
    kycPorts === undefined ? undefined : (options.kyc?.checker ?? localDocumentChecker(kycPorts, logger));
  let mailer: Mailer | undefined;
  let packFees: PackFeesScheduler | undefined;
  try {
    const kyc = kycPorts === undefined || checker === undefined ? undefined : { ports: kycPorts, checker };
    for (const processor of options.processors ?? processors({ ...options, ledger, kyc })) {
      await jobs.process(processor.queue, processor.handler, { concurrency: processor.concurrency });
    }
    // Notification mails (issue #18), with the production processors: its processor enqueues
    // (one mail job per notification), so it is made here, with the queue.
    if (options.mail !== undefined && options.processors === undefined) {
      const channel = mailChannel({
        ...options.mail,
        smtpUrl: options.smtpUrl,
        store: options.store,
        ledger,
        db: options.db,
        jobs,
        logger,
        attempts: options.retry?.attempts,
      });
      mailer = channel.mailer;
      const { queue, handler, concurrency } = channel.processor;
      await jobs.process(queue, handler, { concurrency });
    }
    // The packs' fee scheduler (pack-fees.ts), with the production processors: on BullMQ
    // its runs are jobs of the `packs` queue, made by a job scheduler; in process, a timer.
    if (options.processors === undefined) {
      const feeOptions = { db: options.db, ledger, logger, now: options.now ?? (() => new Date()) };
      if (redisJobs !== undefined) {
        const { queue, handler, concurrency } = packFeesProcessor(feeOptions);
        await jobs.process(queue, handler, { concurrency });
      }
      packFees = await schedulePackFees({
        ...feeOptions,
        intervalMs: options.packFeesIntervalMs ?? packFeesIntervalMsDefault,
        bullmq: redisJobs,
      });
    }
  } catch (error) {
    await packFees?.stop();
    mailer?.close();
    await jobs.close();
    throw error;
  }
  const rules = options.rules ?? dispatchRules(options);
  const dispatcher = runDispatcher({
    db: options.db,
    store: options.store,
    jobs,
    rules,
    logger,
    ...(options.lockRetryMs === undefined ? {} : { lockRetryMs: options.lockRetryMs }),
    ...(options.lockSessions === undefined ? {} : { lockSessions: options.lockSessions }),
  });
  // With the ledger's rules: what pending transfers still need (expiry, clearing) is made
  // again from the ledger, so no queue (in process, or a Redis that lost its data) holds
  // the only copy: re-armed at start and whenever Redis comes back, and overdue holds
  // swept (startLedgerUpkeep). In the background: the worker serves jobs meanwhile.
  let upkeep: LedgerUpkeep | undefined;
  if (options.rules === undefined) {
    upkeep = startLedgerUpkeep({
      db: options.db,
      store: options.store,
      ledger,
      logger,
      clearing: clearingRailOf(options.clearing),
      now: options.now ?? (() => new Date()),
      dispatch: eventDispatcher(jobs, rules, logger),
      sweeping: () => dispatcher.status() === 'active',
      sweepIntervalMs: options.holdSweepIntervalMs ?? holdSweepIntervalMsDefault,
    });
    const { rearm } = upkeep;
    redisJobs?.onReconnect(() => rearm('reconnect'));
  }
  let stopping: Promise<void> | undefined;
  return {
    jobs,
    dispatcher,
    done: dispatcher.done,
    stop() {
      stopping ??= (async () => {
        // The dispatchers first: nothing is enqueued into a closing queue.
        await packFees?.stop();
        await upkeep?.stop();
        await dispatcher.stop();
        await jobs.close();
        await checker?.close();
        mailer?.close();
      })();
      return stopping;
    },
  };
}
