import assert from 'node:assert/strict';
import { type Currency, formatAmount, isCurrency } from '@ledger/domain/ledger';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';

/**
 * The trial balance (DESIGN §4): per currency Σ posted debits and credits, and Σ pending
 * ones, over every account. The one implementation behind GET /api/audit/trial-balance, the
 * benchmark's final check and any other reader: "now" comes from the accounts read model
 * (through the LedgerTotalsReadModel port, so this package does not depend on projections);
 * a point in time is folded from the event store itself, not from today's read-model rows.
 *
 * The cut: `atPosition` keeps events at or below that global position, and the rest of the
 * append that position falls in; `asOf` keeps events recorded at or before that time. The
 * legs of a transfer are one append, so they share a position range and a recordedAt: a cut
 * never splits a transfer, and a correct ledger is balanced in every cut.
 *
 * Cost of a cut: linear in the log up to it. Each call reads the global log from position 0
 * in pages of pageSize (one indexed range query each) and keeps one currency per account in
 * memory. Positions and recording times rise together except for the microseconds between a
 * writer's statement start and its transaction id, so an `asOf` scan stops at the first
 * event recorded more than asOfScanMarginMs after asOf. A caller's `signal` (the API's
 * handler deadline) aborts the fold between pages, and callers run at most
 * foldsConcurrentMax at once per process (the API answers 429 above that). A store too
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

/** One currency of the trial balance, in minor units. */
export interface TrialBalanceLine extends CurrencyTotals {
  currency: Currency;
  /** debits = credits and pendingDebits = pendingCredits. */
  balanced: boolean;
}

export type TrialBalanceCut = { atPosition: bigint } | { asOf: Date };

export interface TrialBalance {
  /** read_model: the accounts read model now; events: folded from the event store up to a cut. */
  source: 'read_model' | 'events';
  /** The `asOf` of the cut; null for the read model and for an `atPosition` cut. */
  asOf: Date | null;
  /** Last global position included (the read model: its checkpoint); 0 when none. */
  position: bigint;
  /** Every currency balanced. */
  balanced: boolean;
  /** In currency order. */
  currencies: TrialBalanceLine[];
}

/** Per currency sums over every account of the accounts read model, minor units. */
export interface LedgerTotals {
  currency: Currency;
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

/**
 * The port to the accounts read model, implemented where the read model lives
 * (@ledger/projection-accounts' ledgerTotalsReadModel) and handed in by the composition root.
 * `snapshot` reads the totals and the position they stand at in one consistent snapshot.
 */
export interface LedgerTotalsReadModel {
  snapshot(): Promise<{ totals: readonly LedgerTotals[]; position: bigint }>;
}

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

const isBalanced = (t: CurrencyTotals) => t.debits === t.credits && t.pendingDebits === t.pendingCredits;

const byCurrency = (a: { currency: Currency }, b: { currency: Currency }) =>
  a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0;

export function trialBalanceLines(totals: Iterable<[Currency, CurrencyTotals]>): TrialBalanceLine[] {
  return [...totals].map(([currency, t]) => ({ currency, ...t, balanced: isBalanced(t) })).sort(byCurrency);
}

/** Folds the log up to the cut; `position` is the last event included (0 when none). */
export async function trialBalanceAt(
  store: Pick<EventStore, 'readAll'>,
  cut: TrialBalanceCut,
  signal?: AbortSignal,
): Promise<{ lines: TrialBalanceLine[]; position: bigint }> {
  const totals = new Map<Currency, CurrencyTotals>();
  const currencyOfAccount = new Map<string, Currency>();
  const asOfMs = 'asOf' in cut ? cut.asOf.getTime() : null;
  // A position inside an append would split its transfers: the cut runs on to the end of
  // that append. One read from the position is that append whole (a page of the log never
  // ends inside an append).
  let end: bigint | null = null;
  if ('atPosition' in cut) {
    const from = await store.readAll({ after: cut.atPosition > 0n ? cut.atPosition - 1n : 0n, limit: 1 });
    const first = from[0];
    end =
      first !== undefined && first.globalPosition <= cut.atPosition
        ? from.at(-1)!.globalPosition
        : cut.atPosition;
  }
  let after = 0n;
  let position = 0n;
  for (;;) {
    if (signal?.aborted) throw new FoldAborted('trial balance fold aborted');
    const events = await store.readAll({ after, limit: trialBalanceFold.pageSize });
    let done = events.length < trialBalanceFold.pageSize;
    for (const event of events) {
      after = event.globalPosition;
      if (end !== null && event.globalPosition > end) {
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
    }
    if (done) break;
  }
  return { lines: trialBalanceLines(totals), position };
}

/**
 * The read model's totals now, in one snapshot with the position they stand at. The
 * projector's batches end on append boundaries (the store never delivers half an append),
 * so a snapshot never falls between the legs of a transfer: an imbalance is real.
 */
async function fromReadModel(readModel: LedgerTotalsReadModel): Promise<TrialBalance> {
  const read = async () => {
    const { totals, position } = await readModel.snapshot();
    const lines = trialBalanceLines(
      totals.map((t): [Currency, CurrencyTotals] => [
        t.currency,
        {
          debits: t.debitsPosted,
          credits: t.creditsPosted,
          pendingDebits: t.debitsPending,
          pendingCredits: t.creditsPending,
        },
      ]),
    );
    return { lines, position };
  };
  const { lines, position } = await read();
  return answer('read_model', null, position, lines);
}

function answer(
  source: TrialBalance['source'],
  asOf: Date | null,
  position: bigint,
  currencies: TrialBalanceLine[],
): TrialBalance {
  return { source, asOf, position, balanced: currencies.every((l) => l.balanced), currencies };
}

/** Now, from the read model; or up to a cut, folded from the event store. */
export type TrialBalanceQuery =
  | { readModel: LedgerTotalsReadModel }
  | { store: Pick<EventStore, 'readAll'>; cut: TrialBalanceCut; signal?: AbortSignal };

/**
 * The trial balance. A fold (a `cut`) may throw FoldAborted when its `signal` aborts; the
 * caller bounds how many folds run at once (trialBalanceFold.foldsConcurrentMax).
 */
export async function trialBalance(query: TrialBalanceQuery): Promise<TrialBalance> {
  if ('readModel' in query) return fromReadModel(query.readModel);
  const { lines, position } = await trialBalanceAt(query.store, query.cut, query.signal);
  return answer('events', 'asOf' in query.cut ? query.cut.asOf : null, position, lines);
}

/** A trial-balance line as the Audit API shows it: amounts as decimal strings. */
export interface TrialBalanceLineView {
  currency: string;
  debits: string;
  credits: string;
  pendingDebits: string;
  pendingCredits: string;
  balanced: boolean;
}

export interface TrialBalanceView {
  source: TrialBalance['source'];
  asOf: string | null;
  position: string;
  balanced: boolean;
  currencies: TrialBalanceLineView[];
}

/** The JSON of a trial balance (contracts' trialBalanceSchema): decimals, positions as text, UTC times. */
export function trialBalanceView(balance: TrialBalance): TrialBalanceView {
  return {
    source: balance.source,
    asOf: balance.asOf?.toISOString() ?? null,
    position: balance.position.toString(),
    balanced: balance.balanced,
    currencies: balance.currencies.map((l) => ({
      currency: l.currency,
      debits: formatAmount(l.debits, l.currency),
      credits: formatAmount(l.credits, l.currency),
      pendingDebits: formatAmount(l.pendingDebits, l.currency),
      pendingCredits: formatAmount(l.pendingCredits, l.currency),
      balanced: l.balanced,
    })),
  };
}
