import { parse } from 'mrz';

/**
 * The machine-readable zone (ICAO 9303) of passports (TD3: two lines of 44) and identity cards
 * (TD1: three lines of 30), found in noisy OCR text. OCR confuses some letters and digits of the
 * MRZ font (O/0, I/1, B/8, S/5, Z/2, G/6). Such a character is read the other way only in a
 * reading of the whole zone that every check digit confirms, and only where the field's kind
 * says which way: a letter in a digit-only field (dates, check digits) or a digit in a
 * letter-only one (names, country codes) has a single reading; in fields that may hold both
 * (document and personal numbers) letters are tried as digits and the check digits must pick
 * exactly one reading. A check digit that is a digit is never changed: a tampered one stays.
 */

export type MrzFormat = 'TD1' | 'TD3';

export interface MrzFields {
  surname: string;
  givenNames: string;
  documentNumber: string;
  nationality: string;
  issuingState: string;
  /** YYYY-MM-DD; '' when the MRZ's date is not a calendar date. */
  dateOfBirth: string;
  /** YYYY-MM-DD; '' when the MRZ's date is not a calendar date. */
  expiryDate: string;
  sex: 'male' | 'female' | 'unspecified';
}

export type MrzResult =
  | { found: false }
  | {
      found: true;
      format: MrzFormat;
      lines: string[];
      /** Every check digit, the composite included, passes and both dates are calendar dates. */
      valid: boolean;
      /** Some characters were read the other way (see above). */
      corrected: boolean;
      /**
       * What fails: `documentNumberCheckDigit`, `dateOfBirthCheckDigit`, `expiryDateCheckDigit`,
       * `personalNumberCheckDigit` (TD3), `compositeCheckDigit`, or `dateOfBirth` / `expiryDate`
       * for a date that does not exist.
       */
      invalidFields: string[];
      fields: MrzFields;
    };

// ---------------------------------------------------------------------------------------------
// Check digits and builders

function charValue(char: string): number {
  const code = char.charCodeAt(0);
  if (char === '<') return 0;
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 90) return code - 55;
  throw new RangeError(`not an MRZ character: ${JSON.stringify(char)}`);
}

/** The ICAO 9303 check digit (weights 7, 3, 1; A=10 … Z=35; < = 0) of MRZ characters. */
export function mrzCheckDigit(s: string): string {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += charValue(s[i]!) * ([7, 3, 1] as const)[i % 3]!;
  return String(sum % 10);
}

/** What a zone is built from: the same fields a zone gives back (dates as calendar dates). */
export type MrzPerson = MrzFields;

/** Upper-case MRZ characters: accents dropped, spaces, hyphens and apostrophes as `<`. */
function mrzText(value: string): string {
  const text = value
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .replace(/[\s\-']+/g, '<');
  if (!/^[A-Z0-9<]*$/.test(text)) throw new RangeError(`not writable in an MRZ: ${JSON.stringify(value)}`);
  return text;
}

function pad(value: string, length: number): string {
  if (value.length > length) throw new RangeError(`${JSON.stringify(value)} is longer than ${length}`);
  return value.padEnd(length, '<');
}

function yymmdd(date: string): string {
  const match = /^\d{2}(\d{2})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) throw new RangeError(`not a YYYY-MM-DD date: ${date}`);
  return match[1]! + match[2]! + match[3]!;
}

function sexCode(sex: MrzPerson['sex']): string {
  return sex === 'male' ? 'M' : sex === 'female' ? 'F' : '<';
}

/** The name field: SURNAME<<GIVEN<NAMES, cut to `length` as ICAO truncates (given names first). */
function nameField(surname: string, givenNames: string, length: number): string {
  const last = mrzText(surname.trim());
  const first = mrzText(givenNames.trim());
  const full = first === '' ? last : `${last}<<${first}`;
  return pad(full.slice(0, length), length);
}

/** The two lines of a passport (TD3) with every check digit computed. */
export function buildTd3(person: MrzPerson & { personalNumber?: string; documentCode?: string }): string[] {
  const line1 = pad(mrzText(person.documentCode ?? 'P'), 2) + pad(mrzText(person.issuingState), 3);
  const names = nameField(person.surname, person.givenNames, 39);
  const documentNumber = pad(mrzText(person.documentNumber), 9);
  const personal = pad(mrzText(person.personalNumber ?? ''), 14);
  const part1 = documentNumber + mrzCheckDigit(documentNumber);
  const birth = yymmdd(person.dateOfBirth);
  const part2 = birth + mrzCheckDigit(birth);
  const expiry = yymmdd(person.expiryDate);
  const personalCheck = /^<*$/.test(personal) ? '<' : mrzCheckDigit(personal);
  const part3 = expiry + mrzCheckDigit(expiry) + personal + personalCheck;
  const composite = mrzCheckDigit(part1 + part2 + part3);
  const nationality = pad(mrzText(person.nationality), 3);
  return [line1 + names, part1 + nationality + part2 + sexCode(person.sex) + part3 + composite];
}

/**
 * The three lines of an identity card (TD1) with every check digit computed. A document number
 * longer than 9 continues in the optional field, followed by its check digit (ICAO 9303-5 §4.2.4).
 */
export function buildTd1(
  person: MrzPerson & { optional1?: string; optional2?: string; documentCode?: string },
): string[] {
  const number = mrzText(person.documentNumber);
  let numberPart: string;
  if (number.length <= 9) {
    const padded = pad(number, 9);
    numberPart = padded + mrzCheckDigit(padded) + pad(mrzText(person.optional1 ?? ''), 15);
  } else {
    const tail = number.slice(9) + mrzCheckDigit(number);
    numberPart = number.slice(0, 9) + '<' + pad(tail + '<' + mrzText(person.optional1 ?? ''), 15);
  }
  const line1 =
    pad(mrzText(person.documentCode ?? 'I'), 2) + pad(mrzText(person.issuingState), 3) + numberPart;
  const birth = yymmdd(person.dateOfBirth);
  const expiry = yymmdd(person.expiryDate);
  const optional2 = pad(mrzText(person.optional2 ?? ''), 11);
  const line2Start = birth + mrzCheckDigit(birth) + sexCode(person.sex) + expiry + mrzCheckDigit(expiry);
  const nationality = pad(mrzText(person.nationality), 3);
  const composite = mrzCheckDigit(
    numberPart + birth + mrzCheckDigit(birth) + expiry + mrzCheckDigit(expiry) + optional2,
  );
  return [
    line1,
    line2Start + nationality + optional2 + composite,
    nameField(person.surname, person.givenNames, 30),
  ];
}

// ---------------------------------------------------------------------------------------------
// Layouts

/** N: digits only; A: letters only; X: either; '-': left as read. */
type Kind = 'N' | 'A' | 'X' | '-';

interface Check {
  name: string;
  /** Positions [line, column] of the data, in order. */
  data: Array<[number, number]>;
  digit: [number, number];
  /** Another accepted data sequence (TD1's long document number may include the filler). */
  alternative?: Array<[number, number]>;
  /** An empty personal number may carry `<` or `0`. */
  emptyMayBeFiller?: boolean;
}

interface Layout {
  format: MrzFormat;
  kinds: Kind[][];
  checks: Check[];
}

function range(line: number, start: number, end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let c = start; c < end; c++) out.push([line, c]);
  return out;
}

function kindsOf(length: number, spans: Array<[number, number, Kind]>): Kind[] {
  const kinds = new Array<Kind>(length).fill('-');
  for (const [start, end, kind] of spans) kinds.fill(kind, start, end);
  return kinds;
}

const td3Layout: Layout = {
  format: 'TD3',
  kinds: [
    kindsOf(44, [[0, 44, 'A']]),
    kindsOf(44, [
      [0, 9, 'X'],
      [9, 10, 'N'],
      [10, 13, 'A'],
      [13, 20, 'N'],
      [21, 28, 'N'],
      [28, 42, 'X'],
      [42, 44, 'N'],
    ]),
  ],
  checks: [
    { name: 'documentNumberCheckDigit', data: range(1, 0, 9), digit: [1, 9] },
    { name: 'dateOfBirthCheckDigit', data: range(1, 13, 19), digit: [1, 19] },
    { name: 'expiryDateCheckDigit', data: range(1, 21, 27), digit: [1, 27] },
    { name: 'personalNumberCheckDigit', data: range(1, 28, 42), digit: [1, 42], emptyMayBeFiller: true },
    {
      name: 'compositeCheckDigit',
      data: [...range(1, 0, 10), ...range(1, 13, 20), ...range(1, 21, 43)],
      digit: [1, 43],
    },
  ],
};

/** TD1's layout depends on whether the document number continues in the optional field. */
function td1Layout(line1: string): Layout {
  const kinds = [
    kindsOf(30, [
      [0, 5, 'A'],
      [5, 14, 'X'],
      [14, 15, 'N'],
      [15, 30, 'X'],
    ]),
    kindsOf(30, [
      [0, 7, 'N'],
      [8, 15, 'N'],
      [15, 18, 'A'],
      [18, 29, 'X'],
      [29, 30, 'N'],
    ]),
    kindsOf(30, [[0, 30, 'A']]),
  ];
  let documentNumber: Check = { name: 'documentNumberCheckDigit', data: range(0, 5, 14), digit: [0, 14] };
  const optional = line1.slice(15);
  if (line1[14] === '<' && optional[0] !== '<') {
    // The check digit is the last character before the first filler of the optional field.
    const filler = optional.indexOf('<');
    const digitColumn = 15 + (filler === -1 ? 15 : filler) - 1;
    kinds[0]![digitColumn] = 'N';
    documentNumber = {
      name: 'documentNumberCheckDigit',
      data: [...range(0, 5, 14), ...range(0, 15, digitColumn)],
      alternative: range(0, 5, digitColumn),
      digit: [0, digitColumn],
    };
  }
  return {
    format: 'TD1',
    kinds,
    checks: [
      documentNumber,
      { name: 'dateOfBirthCheckDigit', data: range(1, 0, 6), digit: [1, 6] },
      { name: 'expiryDateCheckDigit', data: range(1, 8, 14), digit: [1, 14] },
      {
        name: 'compositeCheckDigit',
        data: [...range(0, 5, 30), ...range(1, 0, 7), ...range(1, 8, 15), ...range(1, 18, 29)],
        digit: [1, 29],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Checking and correcting

type Grid = string[][];

const toDigit: Record<string, string> = { O: '0', I: '1', B: '8', S: '5', Z: '2', G: '6' };
const toLetter: Record<string, string> = { '0': 'O', '1': 'I', '8': 'B', '5': 'S', '2': 'Z', '6': 'G' };

/** Bounded search: at most 2^10 readings of the ambiguous characters of one field. */
const ambiguousMax = 10;
/** Bounded search: at most this many combinations of the fields' readings. */
const combinationsMax = 4096;

function read(grid: Grid, positions: Array<[number, number]>): string {
  return positions.map(([l, c]) => grid[l]![c]!).join('');
}

function passes(grid: Grid, check: Check): boolean {
  const digit = grid[check.digit[0]]![check.digit[1]]!;
  const data = read(grid, check.data);
  if (check.emptyMayBeFiller && /^<*$/.test(data)) return digit === '<' || digit === '0';
  if (!/^[0-9]$/.test(digit) || !/^[A-Z0-9<]*$/.test(data)) return false;
  if (mrzCheckDigit(data) === digit) return true;
  return check.alternative !== undefined && mrzCheckDigit(read(grid, check.alternative)) === digit;
}

function failing(grid: Grid, layout: Layout): string[] {
  return layout.checks.filter((check) => !passes(grid, check)).map((check) => check.name);
}

/** The single reading of letters in digit-only positions and of digits in letter-only ones. */
function unambiguous(grid: Grid, layout: Layout): Grid {
  return grid.map((line, l) =>
    line.map((char, c) => {
      const kind = layout.kinds[l]![c];
      if (kind === 'N') return toDigit[char] ?? char;
      if (kind === 'A') return toLetter[char] ?? char;
      return char;
    }),
  );
}

type Change = Array<[number, number, string]>;

/**
 * Every reading of the ambiguous characters at `positions` (the reading as is first). In fields
 * that may hold letters and digits, only letters are read as digits: reading both ways makes
 * several readings pass the same check digit (B→8 at one place, 8→B at another), and document
 * numbers are mostly digits.
 */
function readings(grid: Grid, positions: Array<[number, number]>, layout: Layout): Change[] | null {
  const ambiguous = positions.filter(
    ([l, c]) => layout.kinds[l]![c] === 'X' && toDigit[grid[l]![c]!] !== undefined,
  );
  if (ambiguous.length > ambiguousMax) return null;
  const out: Change[] = [];
  for (let mask = 0; mask < 1 << ambiguous.length; mask++) {
    const change: Change = [];
    ambiguous.forEach(([l, c], i) => {
      if (mask & (1 << i)) {
        const char = grid[l]![c]!;
        change.push([l, c, toDigit[char]!]);
      }
    });
    out.push(change);
  }
  return out;
}

function unique(positions: Array<[number, number]>): Array<[number, number]> {
  const seen = new Set<string>();
  return positions.filter((p) => !seen.has(String(p)) && seen.add(String(p)) !== undefined);
}

/** The shape of an MRZ: both dates are six digits once letters in them are read as digits. */
function plausible(original: Grid, layout: Layout): boolean {
  const base = unambiguous(original, layout);
  return layout.checks
    .filter((check) => check.name === 'dateOfBirthCheckDigit' || check.name === 'expiryDateCheckDigit')
    .every((check) => /^\d{6}$/.test(read(base, check.data)));
}

function apply(grid: Grid, changes: Change[]): Grid {
  const out = grid.map((line) => [...line]);
  for (const change of changes) for (const [l, c, char] of change) out[l]![c] = char;
  return out;
}

function product(lists: Change[][]): Change[][] | null {
  let combos: Change[][] = [[]];
  for (const list of lists) {
    if (combos.length * list.length > combinationsMax) return null;
    combos = combos.flatMap((combo) => list.map((change) => [...combo, change]));
  }
  return combos;
}

/** Whether putting the right digit in one check digit's place would make the whole zone pass. */
function oneDigitAway(grid: Grid, layout: Layout): boolean {
  return layout.checks.some((check) => {
    const [l, c] = check.digit;
    const sequences = [check.data, ...(check.alternative ? [check.alternative] : [])];
    return sequences.some((data) => {
      const text = read(grid, data);
      if (!/^[A-Z0-9<]*$/.test(text)) return false;
      const fixed = grid.map((line) => [...line]);
      fixed[l]![c] = mrzCheckDigit(text);
      return failing(fixed, layout).length === 0;
    });
  });
}

/**
 * The reading of the MRZ that every check digit confirms, or null. The fields whose own check
 * fails are read every way their ambiguous characters allow (at most 2^10 ways a field, 4096
 * combinations in all). Among the readings every check digit confirms, the composite included,
 * the one with the fewest characters read the other way is accepted if it is the only one so
 * close to the text, and if no reading is instead one digit away from valid in a check digit's
 * place: that reading would be explained as well by a tampered check digit (modulo 10, a
 * document check digit changed by 5 with the composite cannot be told from misread characters),
 * and a tampered check digit must stay visible. For the same reason data that only the composite
 * covers (TD1's optional fields) is never re-read: its only witness is the composite.
 */
function confirmedReading(original: Grid, layout: Layout): Grid | null {
  const base = unambiguous(original, layout);
  if (failing(base, layout).length === 0) return base;

  const lists: Change[][] = [];
  for (const check of layout.checks) {
    if (check.name === 'compositeCheckDigit' || passes(base, check)) continue;
    const all = readings(base, unique([...check.data, ...(check.alternative ?? [])]), layout);
    if (all === null) return null;
    lists.push(all);
  }
  const combinations = product(lists);
  if (combinations === null) return null;
  let best: { grid: Grid; distance: number; unique: boolean } | null = null;
  for (const changes of combinations) {
    const distance = changes.reduce((sum, change) => sum + change.length, 0);
    const grid = apply(base, changes);
    if (failing(grid, layout).length > 0) {
      if (oneDigitAway(grid, layout)) return null;
    } else if (best === null || distance < best.distance) {
      best = { grid, distance, unique: true };
    } else if (distance === best.distance) {
      best.unique = false;
    }
  }
  return best?.unique ? best.grid : null;
}

// ---------------------------------------------------------------------------------------------
// Fields

function isoDate(year: number, month: number, day: number): string | null {
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return null;
  }
  return date.toISOString().slice(0, 10);
}

function mrzDate(raw: string, kind: 'birth' | 'expiry', now: Date): string | null {
  if (!/^\d{6}$/.test(raw)) return null;
  const yy = Number(raw.slice(0, 2));
  const month = Number(raw.slice(2, 4));
  const day = Number(raw.slice(4, 6));
  if (kind === 'expiry') return isoDate(2000 + yy, month, day);
  // A birth date: the latest century that does not put it after `now`.
  const recent = isoDate(2000 + yy, month, day);
  if (recent === null) return isoDate(1900 + yy, month, day);
  return recent <= now.toISOString().slice(0, 10) ? recent : isoDate(1900 + yy, month, day);
}

function words(raw: string): string {
  return raw.replace(/<+/g, ' ').trim();
}

function splitName(raw: string): { surname: string; givenNames: string } {
  const at = raw.indexOf('<<');
  if (at === -1) return { surname: words(raw), givenNames: '' };
  return { surname: words(raw.slice(0, at)), givenNames: words(raw.slice(at + 2)) };
}

/** Names as the `mrz` package reads them, when it can; the same rule applied here otherwise. */
function names(lines: string[], raw: string): { surname: string; givenNames: string } {
  const own = splitName(raw);
  try {
    const parsed = parse(lines);
    const surname = parsed.fields.lastName;
    const givenNames = parsed.fields.firstName;
    return {
      surname: typeof surname === 'string' ? words(surname.replace(/ /g, '<')) : own.surname,
      givenNames: typeof givenNames === 'string' ? words(givenNames.replace(/ /g, '<')) : own.givenNames,
    };
  } catch {
    return own;
  }
}

function sexOf(char: string | undefined): MrzFields['sex'] {
  return char === 'M' ? 'male' : char === 'F' ? 'female' : 'unspecified';
}

function describe(lines: string[], layout: Layout, now: Date): { fields: MrzFields; invalid: string[] } {
  const grid = lines.map((line) => [...line]);
  const invalid = failing(grid, layout);
  const documentCheck = layout.checks[0]!;
  const documentNumber = words(read(grid, documentCheck.data));
  let fields: MrzFields;
  if (layout.format === 'TD3') {
    const [l1, l2] = lines as [string, string];
    fields = {
      ...names(lines, l1.slice(5)),
      documentNumber,
      nationality: words(l2.slice(10, 13)),
      issuingState: words(l1.slice(2, 5)),
      dateOfBirth: mrzDate(l2.slice(13, 19), 'birth', now) ?? '',
      expiryDate: mrzDate(l2.slice(21, 27), 'expiry', now) ?? '',
      sex: sexOf(l2[20]),
    };
  } else {
    const [l1, l2, l3] = lines as [string, string, string];
    fields = {
      ...names(lines, l3),
      documentNumber,
      nationality: words(l2.slice(15, 18)),
      issuingState: words(l1.slice(2, 5)),
      dateOfBirth: mrzDate(l2.slice(0, 6), 'birth', now) ?? '',
      expiryDate: mrzDate(l2.slice(8, 14), 'expiry', now) ?? '',
      sex: sexOf(l2[7]),
    };
  }
  if (fields.dateOfBirth === '') invalid.push('dateOfBirth');
  if (fields.expiryDate === '') invalid.push('expiryDate');
  return { fields, invalid };
}

// ---------------------------------------------------------------------------------------------
// Finding the zone in OCR text

const lessThanLike = /[«‹＜〈⟨≪﹤]/g;

function normaliseLine(raw: string): string {
  return raw
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .replace(lessThanLike, '<')
    .replace(/[^A-Z0-9<]/g, '');
}

/**
 * A read line brought to `target` characters: filler added or removed at the end or, for lines
 * of fixed fields (`inside`), in its longest inner run of filler.
 */
function fitted(line: string, target: number, inside: boolean): string[] {
  const excess = line.length - target;
  if (excess === 0) return [line];
  if (Math.abs(excess) > 4) return [];
  const out: string[] = [];
  if (excess < 0) out.push(line + '<'.repeat(-excess));
  else if (/^<+$/.test(line.slice(target))) out.push(line.slice(0, target));
  let best: { start: number; length: number } | null = null;
  for (const match of line.matchAll(/<+/g)) {
    if (match.index + match[0].length === line.length) continue; // the trailing run: done above
    if (best === null || match[0].length > best.length)
      best = { start: match.index, length: match[0].length };
  }
  if (inside && best !== null) {
    if (excess < 0) {
      out.push(line.slice(0, best.start) + '<'.repeat(-excess) + line.slice(best.start));
    } else if (best.length > excess) {
      out.push(line.slice(0, best.start) + line.slice(best.start + excess));
    }
  }
  return [...new Set(out)];
}

interface Candidate {
  layout: Layout;
  lines: string[];
  /** Index of the candidate's first line among the text's long lines. */
  window: number;
}

function candidates(text: string): Candidate[] {
  const lines = text
    .split(/\r\n|\r|\n/)
    .map(normaliseLine)
    .filter((line) => line.length >= 26);
  const out: Candidate[] = [];
  for (let i = 0; i < lines.length; i++) {
    const [a, b, c] = [lines[i]!, lines[i + 1], lines[i + 2]];
    if (b !== undefined && a.startsWith('P')) {
      for (const l1 of fitted(a, 44, false)) {
        for (const l2 of fitted(b, 44, true)) out.push({ layout: td3Layout, lines: [l1, l2], window: i });
      }
    }
    if (b !== undefined && c !== undefined && /^[IAC]/.test(a)) {
      for (const l1 of fitted(a, 30, true)) {
        for (const l2 of fitted(b, 30, true)) {
          for (const l3 of fitted(c, 30, false))
            out.push({ layout: td1Layout(l1), lines: [l1, l2, l3], window: i });
        }
      }
    }
  }
  return out;
}

/**
 * The MRZ in OCR text: the candidate every check digit confirms (the last one, the MRZ being at
 * the bottom of a document), else the one with the fewest failing checks; `found: false` when
 * nothing in the text has the shape of a TD1 or TD3 zone (lines of the right length, the right
 * document code, both dates six digits once letters in them are read as digits).
 */
export function extractMrz(text: string, options: { now: Date }): MrzResult {
  let best: { result: Extract<MrzResult, { found: true }>; score: number; window: number } | null = null;
  for (const candidate of candidates(text)) {
    const original = candidate.lines.map((line) => [...line]);
    if (!plausible(original, candidate.layout)) continue;
    const confirmed = confirmedReading(original, candidate.layout);
    const chosen = confirmed ?? original;
    const lines = chosen.map((line) => line.join(''));
    const layout = candidate.layout.format === 'TD1' ? td1Layout(lines[0]!) : candidate.layout;
    const { fields, invalid } = describe(lines, layout, options.now);
    const corrected = confirmed !== null && lines.some((line, i) => line !== candidate.lines[i]);
    const result = {
      found: true as const,
      format: layout.format,
      lines,
      valid: invalid.length === 0,
      corrected,
      invalidFields: invalid,
      fields,
    };
    // Lower is better: failing checks first, then corrections; a later window wins a tie (the
    // MRZ is at the bottom), and within a window the first way of fitting the lines.
    const score = invalid.length * 2 + (corrected ? 1 : 0);
    const window = candidate.window;
    if (best === null || score < best.score || (score === best.score && window > best.window)) {
      best = { result, score, window };
    }
  }
  return best === null ? { found: false } : best.result;
}

/**
 * Whether a zone failed only because check digits could not be read (a filler or nothing
 * where a digit stands, as when OCR loses the last character after a run of fillers): such
 * a zone says nothing either way, so it is unreadable, not forged. A digit that is there and
 * wrong is never illegible.
 */
export function illegibleCheckDigits(result: MrzResult): boolean {
  if (!result.found || result.valid || result.invalidFields.length === 0) return false;
  const layout = result.format === 'TD3' ? td3Layout : td1Layout(result.lines[0] ?? '');
  return result.invalidFields.every((field) => {
    const check = layout.checks.find((c) => c.name === field);
    if (check === undefined) return false;
    const char = result.lines[check.digit[0]]?.[check.digit[1]];
    return char === undefined || !/[0-9]/.test(char);
  });
}
