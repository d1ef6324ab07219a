import type { EventStore } from '@ledger/eventstore';
import type { Logger } from '@ledger/platform';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { auditProjection } from '@ledger/projection-audit';
import { kycProjection } from '@ledger/projection-kyc';
import { notificationsProjection } from '@ledger/projection-notifications';
import { packsProjection } from '@ledger/projection-packs';
import { supportProjection } from '@ledger/projection-support';
import { usersProjection } from '@ledger/projection-users';
import {
  type OpenLockSession,
  type Projection,
  type RunningProjection,
  runProjection,
  type SubscriberStatus,
} from '@ledger/readmodel';
import type { Kysely } from 'kysely';
import { chainCheckpointsName, chainCheckpointsProjection } from './chain-checkpoints.js';

export {
  type ChainCheckpointsOptions,
  chainCheckpointsName,
  chainCheckpointsProjection,
  chainCheckpointsSchema,
  checkpointEveryMin,
} from './chain-checkpoints.js';

/** Every read model the projector runs by default. */
export const defaultProjections: readonly Projection[] = [
  auditProjection,
  usersProjection,
  accountsProjection,
  transactionsProjection,
  kycProjection,
  packsProjection,
  supportProjection,
];

/**
 * Every read model the projector runs by default on `store`: defaultProjections, and those
 * that read the log while projecting (in-app notifications look up account owners).
 */
export function defaultProjectionsFor(store: EventStore): readonly Projection[] {
  return [...defaultProjections, notificationsProjection({ store })];
}

/**
 * How long a projection waits after a small batch before reading again, while events keep
 * coming: each batch costs a transaction, a checkpoint and a few statements per projection,
 * so under load ten transfers a batch instead of two cut that cost fivefold. A read model
 * (and a read-your-writes GET) trails the log by at most this much more, only under load.
 */
export const projectorLingerMsDefault = 20;

export interface StartProjectorOptions {
  db: Kysely<any>;
  store: EventStore;
  logger: Logger;
  projections?: readonly Projection[];
  batchSize?: number;
  /** See projectorLingerMsDefault; 0 reads again at once. */
  lingerMs?: number;
  lockRetryMs?: number;
  /** Sessions for the projections' advisory locks: pgLockSessions(databaseUrl) on PostgreSQL. */
  lockSessions?: OpenLockSession;
  /** What a projection whose version changed does: 'fail' (default) or 'reset' (rebuild in place from 0). */
  onVersionChange?: 'fail' | 'reset';
  /**
   * Record a chain checkpoint every this many events (CHECKPOINT_EVERY; chain-checkpoints.ts);
   * unset: none. The recorder runs beside the projections (one active instance, as each of
   * them), shows in status() and stop(), not in waitFor().
   */
  chainCheckpointEvery?: number;
}

export interface Projector {
  /** Stops every projection (each after its batch in hand) and releases their locks. */
  stop(): Promise<void>;
  /** True once every projection's checkpoint is ≥ position (read-your-writes); false after timeoutMs. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean>;
  /** Each projection's state: 'active', or 'standby' while another instance holds its lock, ... */
  status(): Record<string, SubscriberStatus>;
  /** Resolves when all are stopped; rejects as soon as one fails (its error is logged). */
  readonly done: Promise<void>;
}

/**
 * Runs each projection into its PostgreSQL read model (DESIGN §6). Returns at once; each
 * projection migrates, then becomes active or waits on standby on its own.
 */
export function startProjector(options: StartProjectorOptions): Projector {
  const projections = options.projections ?? defaultProjectionsFor(options.store);
  const names = new Set<string>();
  for (const projection of projections) {
    if (names.has(projection.name)) throw new RangeError(`two projections named "${projection.name}"`);
    if (projection.name === chainCheckpointsName)
      throw new RangeError(`"${chainCheckpointsName}" is the chain checkpoint recorder's name`);
    names.add(projection.name);
  }
  const running = new Map<string, RunningProjection>();
  for (const projection of projections) {
    running.set(
      projection.name,
      runProjection({
        db: options.db,
        store: options.store,
        projection,
        logger: options.logger,
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
        lingerMs: options.lingerMs ?? projectorLingerMsDefault,
        ...(options.lockRetryMs === undefined ? {} : { lockRetryMs: options.lockRetryMs }),
        ...(options.onVersionChange === undefined ? {} : { onVersionChange: options.onVersionChange }),
        ...(options.lockSessions === undefined ? {} : { lockSessions: options.lockSessions }),
      }),
    );
  }
  const readModels = [...running.values()];
  if (options.chainCheckpointEvery !== undefined) {
    running.set(
      chainCheckpointsName,
      runProjection({
        db: options.db,
        store: options.store,
        projection: chainCheckpointsProjection({
          db: options.db,
          store: options.store,
          every: options.chainCheckpointEvery,
        }),
        logger: options.logger,
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
        lingerMs: options.lingerMs ?? projectorLingerMsDefault,
        ...(options.lockRetryMs === undefined ? {} : { lockRetryMs: options.lockRetryMs }),
        ...(options.lockSessions === undefined ? {} : { lockSessions: options.lockSessions }),
      }),
    );
  }
  const runners = [...running.values()];
  const done = Promise.all(runners.map((r) => r.done)).then(() => {});
  done.catch(() => {});
  return {
    async stop() {
      await Promise.all(runners.map((r) => r.stop()));
    },
    async waitFor(position, timeoutMs) {
      const reached = await Promise.all(readModels.map((r) => r.waitFor(position, timeoutMs)));
      return reached.every(Boolean);
    },
    status: () => Object.fromEntries([...running].map(([name, r]) => [name, r.status()])),
    done,
  };
}
