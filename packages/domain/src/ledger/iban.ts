import { mod97, mod97CheckDigits } from './check-digits.js';

/**
 * IBANs (ISO 13616): two letters of country, two check digits, then the national account
 * number (BBAN) of up to 30 letters and digits. The check digits make the whole number,
 * rearranged (first four characters moved to the end, letters as 10..35), ≡ 1 mod 97
 * (ISO 7064 MOD 97-10): a mistyped character or two swapped neighbours are caught. Pure.
 */

/** The longest IBAN (ISO 13616: 34 characters), and the shortest any country uses (Norway). */
export const ibanLengthMax = 34;
export const ibanLengthMin = 15;
/** Longest text looked at: an IBAN printed in groups of four, with spaces. */
const ibanTextLengthMax = 64;

const ibanPattern = /^[A-Z]{2}[0-9]{2}[A-Z0-9]+$/;

export type ParsedIban =
  | { ok: true; iban: string }
  | { ok: false; reason: 'malformed' | 'length' | 'check_digits' };

/**
 * Normalises (spaces dropped, upper case) and checks an IBAN. Each country's exact length
 * is not checked here: the check digits already catch a dropped or doubled character in
 * all but 1 case in 97, and the beneficiary's bank refuses what is left (a return).
 */
export function parseIban(text: string): ParsedIban {
  if (text.length > ibanTextLengthMax) return { ok: false, reason: 'length' };
  const iban = text.replaceAll(' ', '').toUpperCase();
  if (!ibanPattern.test(iban)) return { ok: false, reason: 'malformed' };
  if (iban.length < ibanLengthMin || iban.length > ibanLengthMax) return { ok: false, reason: 'length' };
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  return mod97(rearranged) === 1 ? { ok: true, iban } : { ok: false, reason: 'check_digits' };
}

/** Check digits for a country and BBAN: how a valid IBAN is made (tests, examples). */
export function ibanCheckDigits(country: string, bban: string): string {
  return mod97CheckDigits(`${bban}${country}`.toUpperCase());
}
