/**
 * ISO 7064 MOD 97-10, the check of IBANs and of the bank's own account numbers: the whole
 * number is ≡ 1 mod 97, so a mistyped character or two swapped neighbours are caught. Pure.
 */

/** The remainder mod 97 of `text`: '0'..'9' are digits, 'A'..'Z' count as 10..35 (two digits). */
export function mod97(text: string): number {
  let remainder = 0;
  for (const char of text) {
    const code = char.charCodeAt(0);
    const value = code <= 57 ? code - 48 : code - 55;
    remainder = value < 10 ? (remainder * 10 + value) % 97 : (remainder * 100 + value) % 97;
  }
  return remainder;
}

/** The two check digits that make `text` followed by them ≡ 1 mod 97. */
export function mod97CheckDigits(text: string): string {
  return String(98 - mod97(`${text}00`)).padStart(2, '0');
}
