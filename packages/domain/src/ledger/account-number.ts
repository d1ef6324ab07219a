import { mod97, mod97CheckDigits } from './check-digits.js';

/**
 * The bank's own account numbers: its prefix, random digits, and two ISO 7064 MOD 97-10
 * check digits (as IBANs use them). Pure: the random digits come from the caller.
 */

export const accountNumberPrefix = '7300';
export const accountNumberRandomDigits = 12;
export const accountNumberLength = accountNumberPrefix.length + accountNumberRandomDigits + 2;
const accountNumberPattern = new RegExp(`^[0-9]{${accountNumberLength}}$`);
const randomDigitsPattern = new RegExp(`^[0-9]{${accountNumberRandomDigits}}$`);

/** The check digits of `digits`: the whole number then is ≡ 1 mod 97. */
export const checkDigits = (digits: string): string => mod97CheckDigits(digits);

/** The account number made of `randomDigits` (accountNumberRandomDigits of them). */
export function accountNumberFrom(randomDigits: string): string {
  if (!randomDigitsPattern.test(randomDigits)) {
    throw new RangeError(`an account number takes ${accountNumberRandomDigits} random digits`);
  }
  const body = accountNumberPrefix + randomDigits;
  return body + checkDigits(body);
}

export type ParsedAccountNumber =
  | { ok: true; accountNumber: string }
  | { ok: false; reason: 'malformed' | 'check_digits' };

/**
 * Spaces are allowed for readability ("7300 1234 5678 9012 34"); a single mistyped digit
 * or two swapped neighbours change the remainder, so the check digits catch them.
 */
export function parseAccountNumber(text: string): ParsedAccountNumber {
  if (text.length > accountNumberLength * 2) return { ok: false, reason: 'malformed' };
  const compact = text.replaceAll(' ', '');
  if (!accountNumberPattern.test(compact) || !compact.startsWith(accountNumberPrefix)) {
    return { ok: false, reason: 'malformed' };
  }
  return mod97(compact) === 1 ? { ok: true, accountNumber: compact } : { ok: false, reason: 'check_digits' };
}
