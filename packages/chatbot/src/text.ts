import model from 'wink-eng-lite-web-model';
import winkNLP from 'wink-nlp';

/**
 * Text preparation for both languages: wink-nlp tokenises (its English model expands
 * contractions, "what's" → "what is", and keeps "l'argent" one token, split below), then
 * tokens are lower-cased, stripped of accents, split on apostrophes, corrected against the
 * training vocabulary (typos) and lightly stemmed. The stemmer is one for English and French
 * alike: both are in one model, so all that matters is that training and asking agree.
 */

const nlp = winkNLP(model, []);
const its = nlp.its;

/** Longest text we prepare; the API refuses more than 1,000 characters anyway. */
export const preparedTextLengthMax = 2_000;

export function stripAccents(text: string): string {
  return text.normalize('NFD').replace(/\p{M}+/gu, '');
}

/** Lower-case words without accents, apostrophes split off ("l'argent" → "l", "argent"). */
export function words(text: string): string[] {
  const clipped = text.slice(0, preparedTextLengthMax).normalize('NFKC').toLowerCase();
  const out: string[] = [];
  const doc = nlp.readDoc(clipped);
  const normals = doc.tokens().out(its.normal) as string[];
  const types = doc.tokens().out(its.type) as string[];
  for (let i = 0; i < normals.length; i++) {
    const type = types[i];
    if (type !== 'word' && type !== 'number' && type !== 'alpha') continue;
    for (const piece of stripAccents(normals[i]!).split(/[^a-z0-9]+/)) {
      if (piece.length > 0) out.push(piece);
    }
  }
  return out;
}

/** Words carrying no intent in either language (question words and negations are kept). */
export const stopWords: ReadonlySet<string> = new Set([
  // English
  'a',
  'an',
  'the',
  'is',
  'are',
  'am',
  'be',
  'been',
  'it',
  'this',
  'that',
  'to',
  'of',
  'in',
  'on',
  'at',
  'for',
  'with',
  'and',
  'or',
  'so',
  'do',
  'does',
  'did',
  'me',
  'you',
  'your',
  'please',
  'pls',
  'plz',
  'can',
  'could',
  'would',
  'will',
  'just',
  'some',
  'any',
  'there',
  'here',
  'u',
  'r',
  'im',
  'its',
  'ok',
  'okay',
  'hmm',
  'um',
  // French
  'le',
  'la',
  'les',
  'l',
  'un',
  'une',
  'des',
  'de',
  'du',
  'd',
  'et',
  'ou',
  'a',
  'au',
  'aux',
  'en',
  'est',
  'c',
  'ce',
  'ca',
  'cela',
  'j',
  'je',
  'me',
  'm',
  'moi',
  'tu',
  'te',
  't',
  'vous',
  'votre',
  'vos',
  'il',
  'y',
  'qu',
  'que',
  'qui',
  's',
  'se',
  'sur',
  'pour',
  'par',
  'avec',
  'svp',
  'stp',
  'sil',
  'plait',
  'n',
  'ne',
  'bien',
  'bon',
]);

/**
 * Light suffix stripping for English and French (longest suffix first, stem of at least
 * four letters): enough to bring "transfers"/"transferred" and "virements"/"virement"
 * together without a dictionary.
 */
const suffixes = [
  'issements',
  'issement',
  'ements',
  'ations',
  'ement',
  'ation',
  'ments',
  'ement',
  'ingly',
  'ness',
  'ment',
  'ings',
  'ing',
  'ees',
  'ies',
  'ied',
  'eux',
  'ed',
  'es',
  'ee',
  'er',
  'ez',
  'ly',
  'e',
  's',
  'x',
];

export function stem(word: string): string {
  if (word.length <= 4) return word;
  for (const suffix of suffixes) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 4) return word.slice(0, -suffix.length);
  }
  return word;
}

/** Optimal string alignment distance (Damerau–Levenshtein with adjacent swaps), capped. */
export function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    let rowMin = Number.POSITIVE_INFINITY;
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      }
      d[i * cols + j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > cap) return cap + 1;
  }
  return d[rows * cols - 1]!;
}

/** The words of the training set and how often each appears: what typos are corrected to. */
export class Vocabulary {
  private readonly counts = new Map<string, number>();
  private readonly byLength = new Map<number, string[]>();

  add(word: string): void {
    const seen = this.counts.get(word);
    this.counts.set(word, (seen ?? 0) + 1);
    if (seen === undefined) {
      const list = this.byLength.get(word.length) ?? [];
      list.push(word);
      this.byLength.set(word.length, list);
    }
  }

  has(word: string): boolean {
    return this.counts.has(word);
  }

  /**
   * The known word closest to `word` (1 edit for 4–7 letters, 2 from 8), the most frequent
   * on a tie; the word itself when known, too short, or nothing is close enough.
   */
  correct(word: string): string {
    if (this.counts.has(word) || word.length < 4 || /[0-9]/.test(word)) return word;
    const cap = word.length >= 8 ? 2 : 1;
    let best = word;
    let bestDistance = cap + 1;
    let bestCount = 0;
    for (let length = word.length - cap; length <= word.length + cap; length++) {
      for (const candidate of this.byLength.get(length) ?? []) {
        const distance = editDistance(word, candidate, cap);
        const count = this.counts.get(candidate)!;
        if (distance < bestDistance || (distance === bestDistance && count > bestCount)) {
          best = candidate;
          bestDistance = distance;
          bestCount = count;
        }
      }
    }
    return bestDistance <= cap ? best : word;
  }
}

/** Character trigrams of a word with its boundaries marked ("#sol", ...): typo-tolerant features. */
export function charGrams(word: string, n = 4): string[] {
  const padded = `#${word}#`;
  if (padded.length <= n) return [padded];
  const grams: string[] = [];
  for (let i = 0; i + n <= padded.length; i++) grams.push(padded.slice(i, i + n));
  return grams;
}
