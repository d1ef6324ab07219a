import type { Currency } from '@ledger/domain/ledger';
import type { AppendDeadline, EventStore } from '@ledger/eventstore';
import { KeyedLock } from '../keyed-lock.js';
import { SettingsCache } from '../settings.js';
import { AccountCache, accountCacheSizeMax } from './account-cache.js';

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
  readonly settings: SettingsCache;
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
}

export function createLedger(store: EventStore, options: LedgerOptions = {}): Ledger {
  return {
    store,
    accounts: new AccountCache(options.accountCacheSize ?? accountCacheSizeMax),
    locks: new KeyedLock(),
    settings: new SettingsCache(),
    bankCurrencies: new Set(),
  };
}
