import assert from 'node:assert/strict';

/**
 * Money: bigint minor units inside, decimal strings at the edges. Never a JS number, so
 * nothing is ever rounded. Two string forms exist and must not be confused:
 * - API amounts are major units with the currency's exponent ("1250.00" EUR);
 * - event amounts are minor units ("125000"), because the event store refuses bigint.
 */

/** ISO 4217 minor-unit exponents of the currencies the bank holds. */
export const currencyExponents = {
  CHF: 2,
  DZD: 2,
  EUR: 2,
  GBP: 2,
  JPY: 0,
  KWD: 3,
  MAD: 2,
  TND: 3,
  USD: 2,
} as const satisfies Record<string, number>;

export type Currency = keyof typeof currencyExponents;
export const currencies = Object.keys(currencyExponents) as Currency[];

export function isCurrency(value: unknown): value is Currency {
  return typeof value === 'string' && Object.hasOwn(currencyExponents, value);
}

export function exponentOf(currency: Currency): number {
  const exponent = currencyExponents[currency];
  assert(exponent !== undefined, `unknown currency ${String(currency)}`);
  return exponent;
}

/** API.md: at most "999999999999999.99", i.e. at most 15 digits before the point. */
export const amountIntegerDigitsMax = 15;

/** The largest amount one transfer may move, in minor units (999999999999999.99 for EUR). */
export function amountMaxMinor(currency: Currency): bigint {
  return 10n ** BigInt(amountIntegerDigitsMax + exponentOf(currency)) - 1n;
}

export type AmountError =
  /** A JSON number (or anything but a string): money never travels as a float. */
  | 'not_a_string'
  | 'unsupported_currency'
  /** Not plain decimal notation: "1e3", "1,5", " 1", "+1", "1.", ".5", "01". */
  | 'malformed'
  | 'negative'
  | 'zero'
  /** More decimals than the currency's exponent: "1.234" EUR, "1.0" JPY. */
  | 'too_many_decimals'
  /** More than 15 digits before the point. */
  | 'too_large';

export type ParsedAmount = { ok: true; amount: bigint } | { ok: false; reason: AmountError };

const decimalPattern = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;
const negativePattern = /^-(0|[1-9][0-9]*)(?:\.[0-9]+)?$/;
/** Longer input is refused before any regex or BigInt work. */
export const amountTextLengthMax = 64;

/**
 * Parses an API amount (major units, decimal string) into minor units. Moved amounts are
 * > 0, so "0" is refused; each refusal has its own reason for the 400's message.
 */
export function parseAmount(text: unknown, currency: string): ParsedAmount {
  if (typeof text !== 'string') return { ok: false, reason: 'not_a_string' };
  if (!isCurrency(currency)) return { ok: false, reason: 'unsupported_currency' };
  if (text.length > amountTextLengthMax) return { ok: false, reason: 'too_large' };
  const match = decimalPattern.exec(text);
  if (match === null) {
    return { ok: false, reason: negativePattern.test(text) ? 'negative' : 'malformed' };
  }
  const integer = match[1]!;
  const fraction = match[2] ?? '';
  const exponent = exponentOf(currency);
  if (fraction.length > exponent) return { ok: false, reason: 'too_many_decimals' };
  if (integer.length > amountIntegerDigitsMax) return { ok: false, reason: 'too_large' };
  const amount = BigInt(integer + fraction.padEnd(exponent, '0'));
  if (amount === 0n) return { ok: false, reason: 'zero' };
  return { ok: true, amount };
}

/** Minor units → API decimal string: 125000n EUR → "1250.00"; negatives keep their sign. */
export function formatAmount(minor: bigint, currency: Currency): string {
  const exponent = exponentOf(currency);
  const sign = minor < 0n ? '-' : '';
  const digits = (minor < 0n ? -minor : minor).toString().padStart(exponent + 1, '0');
  if (exponent === 0) return sign + digits;
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/** Minor units as they are written into events: a plain decimal integer string. */
export type MinorUnits = string;

export function toMinorUnits(amount: bigint): MinorUnits {
  return amount.toString();
}

const minorPattern = /^-?(0|[1-9][0-9]*)$/;

/** Reads an event's amount back; a malformed one is a corrupt event, not a user error. */
export function fromMinorUnits(text: MinorUnits): bigint {
  assert(minorPattern.test(text), `malformed minor-unit amount ${JSON.stringify(text)}`);
  return BigInt(text);
}
