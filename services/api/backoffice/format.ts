/** Display helpers: amounts stay decimal strings (never a float), grouped for reading. */

/** "20000.00", "EUR" → "20,000.00 EUR". */
export function money(amount: string | null | undefined, currency?: string): string {
  if (amount === null || amount === undefined) return '—';
  const negative = amount.startsWith('-');
  const [whole = '0', fraction] = (negative ? amount.slice(1) : amount).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '−' : ''}${grouped}${fraction === undefined ? '' : `.${fraction}`}${currency ? ` ${currency}` : ''}`;
}

/** An ISO time as "2026-12-06 18:20:05" (UTC, as the API gives times). */
export function time(iso: string | null | undefined): string {
  if (!iso) return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** A UUID's first block: enough to tell rows apart on screen (the full id is in the title). */
export const short = (id: string | null | undefined) => (id ? id.slice(0, 8) : '—');

/** snake_case → words. */
export const words = (code: string) => code.replace(/_/g, ' ');
