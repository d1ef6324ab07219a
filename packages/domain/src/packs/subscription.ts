import type { FeeWaiver, PackEvent, SubscriptionStatus } from '@ledger/contracts';
import { type Currency, fromMinorUnits, isCurrency, toMinorUnits } from '../ledger/money.js';
import { type Pack, periodFeeOf } from './pack.js';
import { calendarDaysBetween, nextAttemptAfter, periodOf, proRata } from './periods.js';

/**
 * A subscription (`subscription-<id>`): one account's pack, its periods and what it owes.
 * Every amount it charges is a charge with a key (`p<n>`: period n's fee; `c<n>`: the
 * pro-rata of the n-th pack change), collected by a transfer whose id the application
 * derives from (subscription, key, attempt): a re-run, a second scheduler or a crash
 * repeats the same attempt, and the store answers the same transfer, never a second one.
 *
 * The account's one pack slot (`account-pack-<accountId>`) is taken in the same append as
 * the start and released with the cancellation: one live subscription per account.
 */

export interface Charge {
  key: string;
  /** Minor units: > 0 collected from the account, < 0 refunded to it. */
  amount: bigint;
  dueAt: Date;
  /** Attempts that failed so far (the next attempt's number). */
  failures: number;
  firstFailedAt: Date | null;
}

export interface Subscription {
  id: string;
  packId: string;
  packVersion: number;
  accountId: string;
  ownerId: string;
  currency: Currency;
  status: SubscriptionStatus;
  startedAt: Date;
  period: number;
  periodStart: Date;
  periodEnd: Date;
  /** What the current period costs: its fee as charged, moved by pack changes. */
  feeBasis: bigint;
  changes: number;
  /** Due and not yet paid, oldest first. */
  outstanding: Charge[];
  cancelledAt: Date | null;
  /** Cancelled: the benefits last until then (the end of the period it was cancelled in). */
  endsAt: Date | null;
}

export type SubscriptionState = { status: 'none' } | { status: 'exists'; subscription: Subscription };

export const initialSubscriptionState = (): SubscriptionState => ({ status: 'none' });

type SubscriptionEvent = Extract<
  PackEvent,
  {
    type:
      | 'SubscriptionStarted'
      | 'SubscriptionPeriodStarted'
      | 'SubscriptionPackChanged'
      | 'SubscriptionChargePaid'
      | 'SubscriptionChargeFailed'
      | 'SubscriptionSuspended'
      | 'SubscriptionCancelled';
  }
>;

const withoutCharge = (outstanding: Charge[], key: string) => outstanding.filter((c) => c.key !== key);

function addCharge(outstanding: Charge[], key: string, amount: bigint, dueAt: Date): Charge[] {
  if (amount === 0n) return outstanding;
  return [...outstanding, { key, amount, dueAt, failures: 0, firstFailedAt: null }];
}

export function evolveSubscription(state: SubscriptionState, event: SubscriptionEvent): SubscriptionState {
  if (event.type === 'SubscriptionStarted') {
    const d = event.data;
    if (!isCurrency(d.currency)) throw new RangeError(`subscription currency ${d.currency}`);
    const startedAt = new Date(d.startedAt);
    const fee = fromMinorUnits(d.fee);
    return {
      status: 'exists',
      subscription: {
        id: d.subscriptionId,
        packId: d.packId,
        packVersion: d.packVersion,
        accountId: d.accountId,
        ownerId: d.ownerId,
        currency: d.currency,
        status: 'active',
        startedAt,
        period: 0,
        periodStart: startedAt,
        periodEnd: new Date(d.periodEnd),
        feeBasis: fee,
        changes: 0,
        outstanding: addCharge([], 'p0', fee, startedAt),
        cancelledAt: null,
        endsAt: null,
      },
    };
  }
  if (state.status === 'none') throw new Error(`${event.type} before SubscriptionStarted`);
  const s = state.subscription;
  const next = (patch: Partial<Subscription>): SubscriptionState => ({
    status: 'exists',
    subscription: { ...s, ...patch },
  });
  switch (event.type) {
    case 'SubscriptionPeriodStarted': {
      const d = event.data;
      const fee = fromMinorUnits(d.fee);
      const periodStart = new Date(d.periodStart);
      return next({
        period: d.period,
        periodStart,
        periodEnd: new Date(d.periodEnd),
        packId: d.packId,
        packVersion: d.packVersion,
        feeBasis: fee,
        outstanding: addCharge(s.outstanding, `p${d.period}`, fee, periodStart),
      });
    }
    case 'SubscriptionPackChanged': {
      const d = event.data;
      return next({
        packId: d.toPackId,
        packVersion: d.toPackVersion,
        feeBasis: fromMinorUnits(d.toFee),
        changes: d.change + 1,
        outstanding: addCharge(s.outstanding, `c${d.change}`, fromMinorUnits(d.adjustment), new Date(d.at)),
      });
    }
    case 'SubscriptionChargePaid': {
      const outstanding = withoutCharge(s.outstanding, event.data.key);
      const pastDue = outstanding.some((c) => c.failures > 0);
      return next({
        outstanding,
        status: s.status === 'past_due' && !pastDue ? 'active' : s.status,
      });
    }
    case 'SubscriptionChargeFailed': {
      const d = event.data;
      const at = new Date(d.at);
      const outstanding =
        d.nextAttemptAt === null
          ? withoutCharge(s.outstanding, d.key)
          : s.outstanding.map((c) =>
              c.key === d.key
                ? {
                    ...c,
                    failures: d.attempt + 1,
                    firstFailedAt: c.firstFailedAt ?? at,
                    dueAt: new Date(d.nextAttemptAt!),
                  }
                : c,
            );
      return next({ outstanding, status: s.status === 'active' ? 'past_due' : s.status });
    }
    case 'SubscriptionSuspended':
      return next({ status: 'suspended', outstanding: [] });
    case 'SubscriptionCancelled':
      return next({
        status: 'cancelled',
        cancelledAt: new Date(event.data.at),
        endsAt: new Date(event.data.endsAt),
      });
  }
}

/** Whether the pack's benefits apply at `now`: active or past due; cancelled until its end. */
export function benefitsApply(subscription: Subscription, now: Date): boolean {
  if (subscription.status === 'active' || subscription.status === 'past_due') return true;
  return subscription.status === 'cancelled' && subscription.endsAt !== null && now < subscription.endsAt;
}

/** Whether new periods begin: until it is suspended or cancelled. */
const renews = (s: Subscription) => s.status === 'active' || s.status === 'past_due';

/**
 * When the scheduler next has work on it: the next period's start, or a charge's next
 * attempt (null: never again).
 */
export function nextFeeAt(subscription: Subscription): Date | null {
  const times = subscription.outstanding.map((c) => c.dueAt.getTime());
  if (renews(subscription)) times.push(subscription.periodEnd.getTime());
  return times.length === 0 ? null : new Date(Math.min(...times));
}

/** The one next thing a subscription needs at `now`, oldest first; null: nothing yet. */
export type SubscriptionWork =
  /** The current period has ended: the next one begins (its fee from the pack as it is now). */
  | { type: 'start_period'; period: number }
  /** A charge is due: collect it with attempt `attempt`. */
  | { type: 'collect'; charge: Charge; attempt: number };

export function nextWork(subscription: Subscription, now: Date): SubscriptionWork | null {
  const due = subscription.outstanding
    .filter((c) => c.dueAt <= now)
    .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime())[0];
  const rollsOver = renews(subscription) && subscription.periodEnd <= now;
  // In time order: a charge due before the period ended is collected before the next begins.
  if (rollsOver && (due === undefined || due.dueAt >= subscription.periodEnd)) {
    return { type: 'start_period', period: subscription.period + 1 };
  }
  return due === undefined ? null : { type: 'collect', charge: due, attempt: due.failures };
}

export type SubscriptionRejection =
  | 'already_subscribed'
  | 'pack_retired'
  | 'pack_not_found'
  | 'currency_mismatch'
  | 'subscription_not_found'
  /** Suspended or cancelled: it no longer changes pack. */
  | 'subscription_inactive';

export interface SubscriptionDecision {
  events: SubscriptionEvent[];
  rejection?: SubscriptionRejection;
}

const reject = (rejection: SubscriptionRejection): SubscriptionDecision => ({ events: [], rejection });

/** Whether a pack takes new subscriptions (and pack changes to it). */
function checkPack(pack: Pack | null, currency: Currency): SubscriptionRejection | null {
  if (pack === null || pack.status === 'draft') return 'pack_not_found';
  if (pack.status === 'retired') return 'pack_retired';
  if (pack.currency !== currency) return 'currency_mismatch';
  return null;
}

/** The start: period 0 begins now, its fee (or its waiver) charged at once. */
export function decideStart(command: {
  subscriptionId: string;
  pack: Pack | null;
  account: { id: string; ownerId: string; currency: Currency };
  /** The subscription holding the account's pack slot, if any. */
  holder: Subscription | null;
  now: Date;
}): SubscriptionDecision {
  const { pack, account, holder, now } = command;
  if (holder !== null) return reject('already_subscribed');
  const refused = checkPack(pack, account.currency);
  if (refused !== null || pack === null) return reject(refused ?? 'pack_not_found');
  const { fee, waiver } = periodFeeOf(pack, 0);
  return {
    events: [
      {
        type: 'SubscriptionStarted',
        data: {
          subscriptionId: command.subscriptionId,
          packId: pack.id,
          packVersion: pack.version,
          accountId: account.id,
          ownerId: account.ownerId,
          currency: account.currency,
          startedAt: now.toISOString(),
          periodEnd: periodOf(now, 0).end.toISOString(),
          fee: toMinorUnits(fee),
          waiver,
        },
      },
    ],
  };
}

/** The next period begins, its fee from the pack as it is now (its version recorded). */
export function decideStartPeriod(subscription: Subscription, pack: Pack): SubscriptionDecision {
  const period = subscription.period + 1;
  const { start, end } = periodOf(subscription.startedAt, period);
  const { fee, waiver } = periodFeeOf(pack, period);
  return {
    events: [
      {
        type: 'SubscriptionPeriodStarted',
        data: {
          subscriptionId: subscription.id,
          period,
          periodStart: start.toISOString(),
          periodEnd: end.toISOString(),
          packId: pack.id,
          packVersion: pack.version,
          fee: toMinorUnits(fee),
          waiver: waiver satisfies FeeWaiver | null,
        },
      },
    ],
  };
}

/**
 * Another pack from now on: the difference of the fees for the days left in the period is
 * charged (or refunded) at once, by the pro-rata rule; the next period costs the new fee.
 */
export function decideChange(subscription: Subscription, pack: Pack | null, now: Date): SubscriptionDecision {
  if (!renews(subscription)) return reject('subscription_inactive');
  if (pack !== null && pack.id === subscription.packId) return reject('already_subscribed');
  const refused = checkPack(pack, subscription.currency);
  if (refused !== null || pack === null) return reject(refused ?? 'pack_not_found');
  const periodDays = calendarDaysBetween(subscription.periodStart, subscription.periodEnd);
  const daysLeft = Math.max(0, Math.min(periodDays, calendarDaysBetween(now, subscription.periodEnd)));
  const adjustment = proRata(subscription.feeBasis, pack.monthlyFee, daysLeft, periodDays);
  return {
    events: [
      {
        type: 'SubscriptionPackChanged',
        data: {
          subscriptionId: subscription.id,
          change: subscription.changes,
          fromPackId: subscription.packId,
          fromPackVersion: subscription.packVersion,
          toPackId: pack.id,
          toPackVersion: pack.version,
          fromFee: toMinorUnits(subscription.feeBasis),
          toFee: toMinorUnits(pack.monthlyFee),
          period: subscription.period,
          daysLeft,
          periodDays,
          adjustment: toMinorUnits(adjustment),
          at: now.toISOString(),
        },
      },
    ],
  };
}

/** Cancelled by its owner: no new period; the benefits last to the end of this one. */
export function decideCancel(subscription: Subscription, by: string, now: Date): SubscriptionDecision {
  if (subscription.status === 'cancelled') return { events: [] };
  const endsAt = subscription.status === 'suspended' ? now : subscription.periodEnd;
  return {
    events: [
      {
        type: 'SubscriptionCancelled',
        data: { subscriptionId: subscription.id, by, at: now.toISOString(), endsAt: endsAt.toISOString() },
      },
    ],
  };
}

/** What collecting a charge came to: paid by its transfer, or refused for `reason`. */
export type CollectionOutcome = { paid: true } | { paid: false; reason: string };

/**
 * Records an attempt: paid, or failed with the next attempt of the dunning schedule; the
 * last failure of a fee suspends a subscription that still renews (a refund that cannot be
 * made is given up, the subscription unchanged).
 */
export function decideCollection(
  subscription: Subscription,
  charge: Charge,
  attempt: number,
  transferId: string,
  outcome: CollectionOutcome,
  now: Date,
): SubscriptionDecision {
  const at = now.toISOString();
  if (outcome.paid) {
    return {
      events: [
        {
          type: 'SubscriptionChargePaid',
          data: {
            subscriptionId: subscription.id,
            key: charge.key,
            transferId,
            amount: toMinorUnits(charge.amount),
            attempt,
            at,
          },
        },
      ],
    };
  }
  const next = nextAttemptAfter(charge.firstFailedAt ?? now, attempt + 1);
  const events: SubscriptionEvent[] = [
    {
      type: 'SubscriptionChargeFailed',
      data: {
        subscriptionId: subscription.id,
        key: charge.key,
        transferId,
        amount: toMinorUnits(charge.amount),
        attempt,
        reason: outcome.reason.slice(0, 64),
        nextAttemptAt: next === null ? null : next.toISOString(),
        at,
      },
    },
  ];
  if (next === null && charge.amount > 0n && renews(subscription)) {
    events.push({
      type: 'SubscriptionSuspended',
      data: { subscriptionId: subscription.id, key: charge.key, at },
    });
  }
  return { events };
}
