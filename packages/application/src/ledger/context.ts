import type { Currency } from '@ledger/domain/ledger';
import { type AppendDeadline, type EventStore, snapshotsOf } from '@ledger/eventstore';
import { KeyedLock } from '../keyed-lock.js';
import { PackBenefitsCache } from '../packs/benefits-cache.js';
import { SettingsCache } from '../settings.js';
import { AccountCache, accountCacheSizeMax } from './account-cache.js';
import { SnapshotWriter, type Warn } from './snapshot-writer.js';
import { TransferBatcher } from './transfer-batcher.js';
import { runTransferAlone } from './transfers.js';

/**
 * What the ledger's commands and queries work on: the event store, and this process's
 * caches and locks. Made once at the composition root (the API, the worker, a benchmark, a
 * test fixture) and handed to every use case: no state hides in module-level maps, and two
 * ledgers on one store behave as two processes would.
 */
export interface Ledger {
  readonly store: EventStore;
  readonly accounts: AccountCache;
  readonly locks: KeyedLock;
  /** New transfers decided and appended together per account (hot accounts). */
  readonly transfers: TransferBatcher;
  readonly settings: SettingsCache;
  /** Which pack each recently read account has (the transfer limits' benefits). */
  readonly packs: PackBenefitsCache;
  /** Currencies whose bank-owned accounts this process knows to exist. */
  readonly bankCurrencies: Set<Currency>;
  /** The caller's deadline, for one request's commands (see underDeadline); none by default. */
  readonly deadline?: AppendDeadline | undefined;
}

/**
 * The same ledger (store, caches, locks) for one caller whose commands stop at `deadline`:
 * past it, a command appends nothing (runCommand's `deadline`).
 */
export function underDeadline(ledger: Ledger, deadline: AppendDeadline | undefined): Ledger {
  return deadline === undefined ? ledger : { ...ledger, deadline };
}

export interface LedgerOptions {
  /** Folded accounts kept (default accountCacheSizeMax). */
  accountCacheSize?: number;
  /** Events between an account's snapshots (default snapshotEveryEvents). */
  snapshotEvery?: number;
  /** Where an ignored snapshot or a failed snapshot write is told; default: a process warning. */
  warn?: Warn;
}

/** Account snapshots are read and written where the store keeps them (not on KurrentDB). */
export function createLedger(store: EventStore, options: LedgerOptions = {}): Ledger {
  const snapshots = snapshotsOf(store);
  const { warn, snapshotEvery } = options;
  return {
    store,
    accounts: new AccountCache(options.accountCacheSize ?? accountCacheSizeMax, {
      ...(snapshots === undefined ? {} : { snapshots: new SnapshotWriter(snapshots, warn) }),
      ...(snapshotEvery === undefined ? {} : { snapshotEvery }),
      ...(warn === undefined ? {} : { warn }),
    }),
    locks: new KeyedLock(),
    transfers: new TransferBatcher(runTransferAlone),
    settings: new SettingsCache(),
    packs: new PackBenefitsCache(),
    bankCurrencies: new Set(),
  };
}
