import assert from 'node:assert/strict';
import type { RecentDebit } from '../fraud/rules.js';
import { type Currency, fromMinorUnits, type MinorUnits } from './money.js';

/**
 * The account aggregate (`account-<id>` stream): events, state, evolve. Pure.
 *
 * Four running totals as in TigerBeetle. Amounts in events are minor-unit strings
 * (`MinorUnits`), parsed back with BigInt here. Every leg names its transfer (and repeats
 * its reference), so a statement line or a point-in-time balance is a fold over this stream
 * alone. As stored, these events are @ledger/contracts' accountEventSchemas (see
 * stored-events.ts): read them back with parseAccountEvent.
 */

export const customerAccountTypes = ['checking', 'savings'] as const;
export type CustomerAccountType = (typeof customerAccountTypes)[number];
/** Bank-owned accounts, one of each per currency. */
export const bankAccountTypes = ['cash', 'clearing', 'fee-income', 'suspense'] as const;
export type BankAccountType = (typeof bankAccountTypes)[number];
export type AccountType = CustomerAccountType | BankAccountType;

export const transferCodes = ['transfer', 'deposit', 'withdrawal', 'external', 'fee', 'reversal'] as const;
export type TransferCode = (typeof transferCodes)[number];

/**
 * The codes of customer-initiated debits: transfer limits apply to them, and the daily
 * debit total counts them. Cash at the desk is paid out by staff who see the customer;
 * fees and reversals are the bank's own corrections. None of those is limited or counted.
 */
export const limitedTransferCodes = ['transfer', 'external'] as const satisfies readonly TransferCode[];
export const isLimitedCode = (code: TransferCode): boolean =>
  (limitedTransferCodes as readonly TransferCode[]).includes(code);

export type LegSide = 'debit' | 'credit';

interface LegData {
  accountId: string;
  transferId: string;
  side: LegSide;
  /** The other account of the transfer: the statement line's counterparty. */
  counterpartyAccountId: string;
  code: TransferCode;
  /** The transfer's reference, repeated on its legs: a statement line needs the leg alone. */
  reference: string | null;
  at: string;
  /**
   * Debit legs of limited codes only: whom the transfer pays, as the fraud rules key payees
   * (payeeKey: `acct:<id>`, `iban:<IBAN>`). Absent on legs written before the rules existed.
   */
  payee?: string;
}

export type AccountEvent =
  | {
      type: 'AccountOpened';
      data: {
        accountId: string;
        kind: 'customer';
        accountType: CustomerAccountType;
        ownerId: string;
        currency: Currency;
        debitsMustNotExceedCredits: true;
        /** How far below zero the available balance may go; "0" = no overdraft. */
        overdraftLimit: MinorUnits;
        openedAt: string;
        /**
         * The account number, reserved in the same append: added by the application, which
         * draws it (the decider leaves it out).
         */
        accountNumber?: string;
      };
    }
  | {
      type: 'AccountOpened';
      data: {
        accountId: string;
        kind: 'bank';
        accountType: BankAccountType;
        ownerId: null;
        currency: Currency;
        debitsMustNotExceedCredits: false;
        overdraftLimit: null;
        openedAt: string;
      };
    }
  | { type: 'AccountFrozen'; data: { accountId: string; reason: string; at: string } }
  | { type: 'AccountUnfrozen'; data: { accountId: string; reason: string; at: string } }
  | { type: 'AccountClosed'; data: { accountId: string; at: string } }
  /** A two-phase transfer reserved `amount` on this account. */
  | { type: 'AccountLegPending'; data: LegData & { amount: MinorUnits } }
  /**
   * `amount` posted; `releasedPending` leaves the pending total: "0" for a single-phase
   * transfer, the whole pending amount when a hold is posted (fully or partially).
   */
  | { type: 'AccountLegPosted'; data: LegData & { amount: MinorUnits; releasedPending: MinorUnits } }
  /** A hold ended without moving money: `amount` leaves the pending total. */
  | {
      type: 'AccountLegReleased';
      data: LegData & { amount: MinorUnits; reason: 'voided' | 'expired' | 'returned' };
    };

export type AccountEventType = AccountEvent['type'];

/** Every account event type, once: what readers of account streams accept and projections handle. */
export const accountEventTypes = [
  'AccountOpened',
  'AccountFrozen',
  'AccountUnfrozen',
  'AccountClosed',
  'AccountLegPending',
  'AccountLegPosted',
  'AccountLegReleased',
] as const satisfies readonly AccountEventType[];
// A type added to AccountEvent but not listed above fails here.
type UnlistedAccountEvent = Exclude<AccountEventType, (typeof accountEventTypes)[number]>;
const _everyAccountEventListed: UnlistedAccountEvent extends never ? true : UnlistedAccountEvent = true;

export interface AccountFlags {
  /** Customer accounts: the available balance may not go below −overdraftLimit. */
  debitsMustNotExceedCredits: boolean;
  overdraftLimit: bigint;
}

/**
 * What an account sent out on one UTC day, for the daily debit limit. It is folded from
 * the account's own legs, so the decider sees it as of the version the append expects:
 * two concurrent transfers cannot both fit under the limit (the loser is decided again).
 * - A debit leg of a limited code (`transfer`, `external`) counts its amount on the day of
 *   its `at`: a single-phase transfer when posted, a two-phase one when the hold is made
 *   (the hold reserves the allowance, as it reserves the funds).
 * - A hold made on the tracked day gives its amount back when voided or expired; posted,
 *   only the posted part stays counted (a partial post gives back the rest).
 * - Ending a hold made on an earlier day changes nothing: it counted on its own day.
 * - A leg of a later day starts that day at 0. A leg dated before the tracked day (clocks of
 *   two writers a moment apart around midnight) counts on the tracked day: the total only
 *   errs on the side of the limit.
 * - Credits, other codes and reversals (even of an outgoing transfer) never change it.
 */
export interface DailyDebits {
  /** The UTC date (`YYYY-MM-DD`) `total` is for; null before the first counted leg. */
  day: string | null;
  total: bigint;
  /** Holds counted in `total` and still pending, by transfer id: what ending them gives back. */
  holds: ReadonlyMap<string, bigint>;
}

/** The UTC date of an instant, `YYYY-MM-DD`: the day a daily limit is counted in. */
export const utcDayOf = (at: Date | string): string =>
  (typeof at === 'string' ? new Date(at) : at).toISOString().slice(0, 10);

/**
 * What the account sent out (limited codes) on the UTC day of `now`. A total tracked for a
 * later day than `now`'s (a writer's clock ahead of this one) counts too: never less than used.
 */
export function dailyDebitsOn(account: Account, now: Date): bigint {
  const { day, total } = account.dailyDebits;
  return day !== null && day >= utcDayOf(now) ? total : 0n;
}

/**
 * What the fraud rules read of an account's past (RuleContext), folded from its own debit
 * legs of limited codes, so loading it costs nothing more than the account and it is as
 * current as the version the append expects: two concurrent transfers cannot both slip
 * under a velocity count (the loser is decided again). Bounded: see the constants below.
 * - `recent`: each debit when made (a hold when reserved, a single-phase transfer when
 *   posted), voided or not: attempts count toward velocity and structuring.
 * - `knownPayees`: payees actually paid (a posted debit): a held payment that a manager
 *   rejected does not make its payee known.
 */
export interface DebitActivity {
  /** Newest last; none older than recentDebitsDays before the newest; at most recentDebitsKept. */
  recent: readonly RecentDebit[];
  /** Payee keys, oldest first; at most knownPayeesKept (the oldest forgotten first). */
  knownPayees: ReadonlySet<string>;
  /** The last debit (limited codes), when made; null before the first. */
  lastDebitAt: string | null;
}

/** Days of debits kept: the rules' longest window (amount_outlier's 90 days). */
export const recentDebitsDays = 90;
/**
 * Debits kept at most: the outlier's sample is the newest this many within 90 days, and
 * velocityCount and structuringCount are bounded below it by the settings.
 */
export const recentDebitsKept = 1000;
/** Payees remembered at most: one forgotten counts as new again (a review, never a miss). */
export const knownPayeesKept = 1000;

const emptyActivity = (): DebitActivity => ({ recent: [], knownPayees: new Set(), lastDebitAt: null });

export interface Account {
  status: 'active' | 'frozen' | 'closed';
  id: string;
  kind: 'customer' | 'bank';
  accountType: AccountType;
  ownerId: string | null;
  currency: Currency;
  flags: AccountFlags;
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  dailyDebits: DailyDebits;
  debitActivity: DebitActivity;
  openedAt: string;
}

export type AccountState = { status: 'none' } | Account;

export const initialAccountState = (): AccountState => ({ status: 'none' });

/** Posted balance, credit-normal: credits − debits. */
export function balanceOf(account: Account): bigint {
  return account.creditsPosted - account.debitsPosted;
}

/** What may still be spent: the posted balance less outgoing holds (incoming holds don't count). */
export function availableBalanceOf(account: Account): bigint {
  return balanceOf(account) - account.debitsPending;
}

function opened(state: AccountState, event: AccountEvent): Account {
  // An event before AccountOpened, or a leg on a closed account, is a corrupt stream.
  assert(state.status !== 'none', `${event.type} on an account stream without AccountOpened`);
  assert(
    state.id === event.data.accountId,
    `${event.type} for ${event.data.accountId} on account ${state.id}`,
  );
  return state;
}

function takingLeg(state: AccountState, event: AccountEvent): Account {
  const account = opened(state, event);
  assert(account.status !== 'closed', `${event.type} on closed account ${account.id}`);
  return account;
}

/** The daily total as of a debit leg's day: a later day starts from 0 (see DailyDebits). */
function dailyDebitsAt(account: Account, at: string): DailyDebits {
  const day = utcDayOf(at);
  const tracked = account.dailyDebits;
  return tracked.day !== null && tracked.day >= day ? tracked : { day, total: 0n, holds: new Map() };
}

/**
 * Applies a leg to the daily debit total: `counted` is added (a new hold, a single-phase
 * debit); `ended` names a hold that ended, of which `kept` stays counted (what was posted).
 */
function countDailyDebit(
  account: Account,
  leg: LegData,
  change: { counted: bigint; hold: boolean } | { ended: string; kept: bigint },
): Account {
  if (leg.side !== 'debit' || !isLimitedCode(leg.code)) return account;
  const tracked = dailyDebitsAt(account, leg.at);
  if ('counted' in change) {
    const holds = change.hold ? new Map(tracked.holds).set(leg.transferId, change.counted) : tracked.holds;
    return { ...account, dailyDebits: { day: tracked.day, total: tracked.total + change.counted, holds } };
  }
  const held = tracked.holds.get(change.ended);
  // A hold of an earlier day (no longer tracked) counted on its own day: nothing to change.
  if (held === undefined)
    return tracked === account.dailyDebits ? account : { ...account, dailyDebits: tracked };
  const holds = new Map(tracked.holds);
  holds.delete(change.ended);
  const total = tracked.total - held + change.kept;
  assert(total >= 0n, `daily debits of ${account.id} would become ${total}`);
  return { ...account, dailyDebits: { day: tracked.day, total, holds } };
}

/** The payee a debit leg names: recorded, or (legs before payees were) its counterparty account. */
function payeeOf(leg: LegData): string | null {
  if (leg.payee !== undefined) return leg.payee;
  return leg.code === 'transfer' ? `acct:${leg.counterpartyAccountId}` : null;
}

/**
 * Applies a debit leg of a limited code to the account's debit activity: `made` when the
 * debit is made (a hold reserved, a single-phase transfer posted), `paid` when money went
 * to the payee (a single-phase transfer, a hold posted). Anything else changes nothing.
 */
function recordDebit(account: Account, leg: LegData, amount: bigint, made: boolean, paid: boolean): Account {
  if (leg.side !== 'debit' || !isLimitedCode(leg.code)) return account;
  const activity = account.debitActivity;
  const payee = payeeOf(leg);
  let { recent, knownPayees, lastDebitAt } = activity;
  if (made) {
    const oldestMs = Date.parse(leg.at) - recentDebitsDays * 86_400_000;
    let first = 0;
    while (first < recent.length && Date.parse(recent[first]!.at) < oldestMs) first += 1;
    first = Math.max(first, recent.length + 1 - recentDebitsKept);
    recent = [...recent.slice(first), { amount, at: leg.at, payeeKey: payee ?? '' }];
    lastDebitAt = lastDebitAt !== null && lastDebitAt > leg.at ? lastDebitAt : leg.at;
  }
  if (paid && payee !== null && !knownPayees.has(payee)) {
    const next = new Set(knownPayees).add(payee);
    if (next.size > knownPayeesKept) next.delete(next.values().next().value as string);
    knownPayees = next;
  }
  if (recent === activity.recent && knownPayees === activity.knownPayees) return account;
  return { ...account, debitActivity: { recent, knownPayees, lastDebitAt } };
}

function withPending(account: Account, side: LegSide, delta: bigint): Account {
  const key = side === 'debit' ? 'debitsPending' : 'creditsPending';
  const next = account[key] + delta;
  assert(next >= 0n, `${key} of ${account.id} would become ${next}`);
  return { ...account, [key]: next };
}

export function evolveAccount(state: AccountState, event: AccountEvent): AccountState {
  switch (event.type) {
    case 'AccountOpened': {
      assert(state.status === 'none', `AccountOpened on existing account ${event.data.accountId}`);
      const d = event.data;
      return {
        status: 'active',
        id: d.accountId,
        kind: d.kind,
        accountType: d.accountType,
        ownerId: d.ownerId,
        currency: d.currency,
        flags: {
          debitsMustNotExceedCredits: d.debitsMustNotExceedCredits,
          overdraftLimit: d.overdraftLimit === null ? 0n : fromMinorUnits(d.overdraftLimit),
        },
        debitsPosted: 0n,
        creditsPosted: 0n,
        debitsPending: 0n,
        creditsPending: 0n,
        dailyDebits: { day: null, total: 0n, holds: new Map() },
        debitActivity: emptyActivity(),
        openedAt: d.openedAt,
      };
    }
    case 'AccountFrozen': {
      const account = opened(state, event);
      assert(account.status === 'active', `AccountFrozen on ${account.status} account ${account.id}`);
      return { ...account, status: 'frozen' };
    }
    case 'AccountUnfrozen': {
      const account = opened(state, event);
      assert(account.status === 'frozen', `AccountUnfrozen on ${account.status} account ${account.id}`);
      return { ...account, status: 'active' };
    }
    case 'AccountClosed': {
      const account = opened(state, event);
      assert(account.status !== 'closed', `AccountClosed on closed account ${account.id}`);
      assert(
        balanceOf(account) === 0n && account.debitsPending === 0n && account.creditsPending === 0n,
        `AccountClosed on account ${account.id} with money or holds on it`,
      );
      return { ...account, status: 'closed' };
    }
    case 'AccountLegPending': {
      const account = takingLeg(state, event);
      const amount = fromMinorUnits(event.data.amount);
      assert(amount > 0n, 'a pending leg moves a positive amount');
      const counted = countDailyDebit(withPending(account, event.data.side, amount), event.data, {
        counted: amount,
        hold: true,
      });
      return recordDebit(counted, event.data, amount, true, false);
    }
    case 'AccountLegPosted': {
      const account = takingLeg(state, event);
      const amount = fromMinorUnits(event.data.amount);
      const released = fromMinorUnits(event.data.releasedPending);
      assert(amount > 0n && released >= 0n, 'a posted leg moves a positive amount');
      const next = withPending(account, event.data.side, -released);
      const posted =
        event.data.side === 'debit'
          ? { ...next, debitsPosted: next.debitsPosted + amount }
          : { ...next, creditsPosted: next.creditsPosted + amount };
      // releasedPending "0": single-phase, counted now; otherwise a hold ends with `amount` posted.
      const counted = countDailyDebit(
        posted,
        event.data,
        released === 0n ? { counted: amount, hold: false } : { ended: event.data.transferId, kept: amount },
      );
      return recordDebit(counted, event.data, amount, released === 0n, true);
    }
    case 'AccountLegReleased': {
      const account = takingLeg(state, event);
      const amount = fromMinorUnits(event.data.amount);
      assert(amount > 0n, 'a released leg frees a positive amount');
      return countDailyDebit(withPending(account, event.data.side, -amount), event.data, {
        ended: event.data.transferId,
        kept: 0n,
      });
    }
    default: {
      const unexpected: never = event;
      throw new assert.AssertionError({ message: `unhandled account event ${JSON.stringify(unexpected)}` });
    }
  }
}

export function foldAccount(events: readonly AccountEvent[]): AccountState {
  return events.reduce(evolveAccount, initialAccountState());
}
