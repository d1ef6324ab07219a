import assert from 'node:assert/strict';
import { type Currency, formatAmount, isCurrency } from '@ledger/domain/ledger';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';

/**
 * The trial balance at a point in time (DESIGN §4, "Point-in-time"), folded from the event
 * store itself, not from today's read-model rows: per currency Σ posted debits and credits,
 * and Σ pending ones, over every account leg in the cut.
 *
 * The cut: `atPosition` keeps events at or below that global position, and the rest of the
 * append that position falls in; `asOf` keeps events recorded at or before that time. The
 * legs of a transfer are one append, so they share a position range and a recordedAt: a cut
 * never splits a transfer, and a correct ledger is balanced in every cut.
 *
 * Cost: linear in the log up to the cut. Each call reads the global log from position 0 in
 * pages of pageSize (one indexed range query each) and keeps one currency per account in
 * memory. Positions and recording times rise together except for the microseconds between a
 * writer's statement start and its transaction id, so an `asOf` scan stops at the first
 * event recorded more than asOfScanMarginMs after asOf. A request that runs past the API's
 * handler timeout (30 s) is aborted through `signal` between pages, and at most
 * foldsConcurrentMax run at once per process (the route answers 429 above that). A store too
 * large for this wants periodic snapshots of the totals; the read model answers "now".
 *
 * The log is read as every reader of $all reads it: only below the oldest transaction still
 * open on the server (DESIGN §3), so a cut in the last moments may end before the newest
 * events. The answer's `position` says where it ended; a client compares it with its own.
 */

export const trialBalanceFold = {
  pageSize: 2000,
  asOfScanMarginMs: 5_000,
  foldsConcurrentMax: 2,
} as const;

export interface CurrencyTotals {
  debits: bigint;
  credits: bigint;
  pendingDebits: bigint;
  pendingCredits: bigint;
}

export interface TrialBalanceLine {
  currency: string;
  debits: string;
  credits: string;
  pendingDebits: string;
  pendingCredits: string;
  balanced: boolean;
}

export type Cut = { atPosition: bigint } | { asOf: Date };

/** The fold stopped because the request was aborted (the handler timeout, a closed socket). */
export class FoldAborted extends Error {
  override readonly name = 'FoldAborted';
}

const legTypes = new Set(['AccountLegPending', 'AccountLegPosted', 'AccountLegReleased']);

function minor(value: unknown, what: string): bigint {
  assert(typeof value === 'string' && /^(0|[1-9][0-9]*)$/.test(value), `${what} is not minor units`);
  return BigInt(value);
}

function dataOf(event: RecordedEvent): Record<string, unknown> {
  assert(
    typeof event.data === 'object' && event.data !== null && !Array.isArray(event.data),
    `${event.type} at ${event.globalPosition} without data`,
  );
  return event.data;
}

/** Adds one event to the totals; other event types pass through. */
export function applyLedgerEvent(
  totals: Map<Currency, CurrencyTotals>,
  currencyOfAccount: Map<string, Currency>,
  event: RecordedEvent,
): void {
  if (event.type === 'AccountOpened') {
    const d = dataOf(event);
    assert(
      typeof d.accountId === 'string' && isCurrency(d.currency),
      'AccountOpened names account and currency',
    );
    currencyOfAccount.set(d.accountId, d.currency);
    return;
  }
  if (!legTypes.has(event.type)) return;
  const d = dataOf(event);
  assert(typeof d.accountId === 'string', `${event.type} names its account`);
  assert(d.side === 'debit' || d.side === 'credit', `${event.type} has a side`);
  const currency = currencyOfAccount.get(d.accountId);
  // AccountOpened comes first on the account's stream, so before any leg in the log.
  assert(
    currency !== undefined,
    `${event.type} at ${event.globalPosition} on unopened account ${d.accountId}`,
  );
  let t = totals.get(currency);
  if (t === undefined) {
    t = { debits: 0n, credits: 0n, pendingDebits: 0n, pendingCredits: 0n };
    totals.set(currency, t);
  }
  const posted = d.side === 'debit' ? 'debits' : 'credits';
  const pending = d.side === 'debit' ? 'pendingDebits' : 'pendingCredits';
  const amount = minor(d.amount, `${event.type}.amount`);
  switch (event.type) {
    case 'AccountLegPending':
      t[pending] += amount;
      break;
    case 'AccountLegReleased':
      t[pending] -= amount;
      break;
    case 'AccountLegPosted':
      t[posted] += amount;
      t[pending] -= minor(d.releasedPending ?? '0', 'AccountLegPosted.releasedPending');
      break;
  }
}

export function trialBalanceLines(totals: Iterable<[Currency, CurrencyTotals]>): TrialBalanceLine[] {
  return [...totals]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([currency, t]) => ({
      currency,
      debits: formatAmount(t.debits, currency),
      credits: formatAmount(t.credits, currency),
      pendingDebits: formatAmount(t.pendingDebits, currency),
      pendingCredits: formatAmount(t.pendingCredits, currency),
      balanced: t.debits === t.credits && t.pendingDebits === t.pendingCredits,
    }));
}

/** Folds the log up to the cut; `position` is the last event included (0 when none). */
export async function trialBalanceAt(
  store: Pick<EventStore, 'readAll'>,
  cut: Cut,
  signal?: AbortSignal,
): Promise<{ lines: TrialBalanceLine[]; position: bigint }> {
  const totals = new Map<Currency, CurrencyTotals>();
  const currencyOfAccount = new Map<string, Currency>();
  const asOfMs = 'asOf' in cut ? cut.asOf.getTime() : null;
  const atPosition = 'atPosition' in cut ? cut.atPosition : null;
  let after = 0n;
  let position = 0n;
  let lastRecordedAt: string | null = null;
  for (;;) {
    if (signal?.aborted) throw new FoldAborted('trial balance fold aborted');
    const events = await store.readAll({ after, limit: trialBalanceFold.pageSize });
    let done = events.length < trialBalanceFold.pageSize;
    for (const event of events) {
      after = event.globalPosition;
      // A position inside an append would split its transfers: the cut runs on to the end
      // of the append, whose events all carry the same recordedAt (one statement).
      if (atPosition !== null && event.globalPosition > atPosition && event.recordedAt !== lastRecordedAt) {
        done = true;
        break;
      }
      if (asOfMs !== null) {
        const recordedMs = Date.parse(event.recordedAt);
        if (recordedMs > asOfMs + trialBalanceFold.asOfScanMarginMs) {
          done = true;
          break;
        }
        if (recordedMs > asOfMs) continue;
      }
      applyLedgerEvent(totals, currencyOfAccount, event);
      position = event.globalPosition;
      lastRecordedAt = event.recordedAt;
    }
    if (done) break;
  }
  return { lines: trialBalanceLines(totals), position };
}
