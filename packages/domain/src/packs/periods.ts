import assert from 'node:assert/strict';

/**
 * A subscription's periods and the pro-rata rule (README, Packs). Periods are calendar
 * months from the start: period n runs from the start plus n months to the start plus n + 1
 * months, at the start's time of day (UTC); a start on the 29th–31st falls on the last day
 * of shorter months (31 Jan → 28 Feb → 31 Mar). Days are UTC calendar days.
 */

const dayMs = 86_400_000;

/** The start plus `months` calendar months, clamped to the month's last day. */
export function addMonths(start: Date, months: number): Date {
  assert(Number.isSafeInteger(months) && months >= 0, 'months is a whole number ≥ 0');
  const year = start.getUTCFullYear();
  const month = start.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(start.getUTCDate(), lastDay);
  return new Date(
    Date.UTC(
      year,
      month,
      day,
      start.getUTCHours(),
      start.getUTCMinutes(),
      start.getUTCSeconds(),
      start.getUTCMilliseconds(),
    ),
  );
}

/** Period n of a subscription that started at `startedAt`. */
export function periodOf(startedAt: Date, n: number): { start: Date; end: Date } {
  return { start: addMonths(startedAt, n), end: addMonths(startedAt, n + 1) };
}

/** Whole UTC calendar days from a's date to b's date (b after a: positive). */
export function calendarDaysBetween(a: Date, b: Date): number {
  const day = (d: Date) => Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return Math.round((day(b) - day(a)) / dayMs);
}

/**
 * The pro-rata of a pack change: (new fee − fee basis) × days left ÷ days in the period, in
 * minor units, always rounded in the customer's favour: a charge rounded down, a refund
 * (negative) rounded up in size. Days left count from the change's date to the period's
 * end date, the change's own day included.
 */
export function proRata(basis: bigint, newFee: bigint, daysLeft: number, periodDays: number): bigint {
  assert(Number.isSafeInteger(periodDays) && periodDays >= 1, 'a period has at least one day');
  assert(
    Number.isSafeInteger(daysLeft) && daysLeft >= 0 && daysLeft <= periodDays,
    'days left in the period',
  );
  const product = (newFee - basis) * BigInt(daysLeft);
  const days = BigInt(periodDays);
  if (product >= 0n) return product / days;
  return -((-product + days - 1n) / days);
}

/**
 * The dunning schedule: after a charge's first failed attempt, retries this many days
 * after it; once the last retry has failed the subscription is suspended.
 */
export const dunningRetryDays = [1, 3, 7] as const;

/** When attempt `failed + 1` is made (null: none is left), `failed` attempts having failed. */
export function nextAttemptAfter(firstFailedAt: Date, failed: number): Date | null {
  const days = dunningRetryDays[failed - 1];
  return days === undefined ? null : new Date(firstFailedAt.getTime() + days * dayMs);
}
