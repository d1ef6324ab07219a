import fc from 'fast-check';
import { parse } from 'mrz';
import t from 'tap';
import { validHolder } from '../testing/index.js';
import {
  buildTd1,
  buildTd3,
  extractMrz,
  illegibleCheckDigits,
  type MrzPerson,
  type MrzResult,
  mrzCheckDigit,
} from './mrz.js';

const now = new Date('2026-12-06T10:00:00Z');

const td3 = ['P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<', 'L898902C36UTO7408122F1204159ZE184226B<<<<<10'];
const td1 = [
  'I<UTOD231458907<<<<<<<<<<<<<<<',
  '7408122F1204159UTO<<<<<<<<<<<6',
  'ERIKSSON<<ANNA<MARIA<<<<<<<<<<',
];

const anna = {
  surname: 'ERIKSSON',
  givenNames: 'ANNA MARIA',
  nationality: 'UTO',
  issuingState: 'UTO',
  dateOfBirth: '1974-08-12',
  expiryDate: '2012-04-15',
  sex: 'female',
} as const;

function found(result: MrzResult) {
  if (!result.found) throw new Error('no MRZ found');
  return result;
}

const replaceAt = (line: string, at: number, char: string) => line.slice(0, at) + char + line.slice(at + 1);

t.test('mrzCheckDigit', async (t) => {
  t.equal(mrzCheckDigit('L898902C3'), '6');
  t.equal(mrzCheckDigit('740812'), '2');
  t.equal(mrzCheckDigit('120415'), '9');
  t.equal(mrzCheckDigit('D23145890'), '7');
  t.equal(mrzCheckDigit(''), '0');
  t.equal(mrzCheckDigit('<<<'), '0');
  t.throws(() => mrzCheckDigit('a'), RangeError);
});

t.test('the ICAO TD3 specimen', async (t) => {
  const result = found(extractMrz(td3.join('\n'), { now }));
  t.same(result, {
    found: true,
    format: 'TD3',
    lines: td3,
    valid: true,
    corrected: false,
    invalidFields: [],
    fields: { ...anna, documentNumber: 'L898902C3' },
  });
});

t.test('the ICAO TD1 specimen', async (t) => {
  const result = found(extractMrz(td1.join('\n'), { now }));
  t.same(result, {
    found: true,
    format: 'TD1',
    lines: td1,
    valid: true,
    corrected: false,
    invalidFields: [],
    fields: { ...anna, documentNumber: 'D23145890' },
  });
});

t.test('the builders reproduce the specimens', async (t) => {
  t.same(buildTd3({ ...anna, documentNumber: 'L898902C3', personalNumber: 'ZE184226B' }), td3);
  t.same(buildTd1({ ...anna, documentNumber: 'D23145890' }), td1);
});

t.test('a tampered check digit is found, invalid and named, never corrected', async (t) => {
  const td3Digits: Array<[number, string]> = [
    [9, 'documentNumberCheckDigit'],
    [19, 'dateOfBirthCheckDigit'],
    [27, 'expiryDateCheckDigit'],
    [42, 'personalNumberCheckDigit'],
    [43, 'compositeCheckDigit'],
  ];
  for (const [at, name] of td3Digits) {
    for (let digit = 0; digit < 10; digit++) {
      if (String(digit) === td3[1]![at]) continue;
      const result = found(extractMrz(`${td3[0]}\n${replaceAt(td3[1]!, at, String(digit))}`, { now }));
      t.equal(result.valid, false, `TD3 ${name} = ${digit}: invalid`);
      t.equal(result.corrected, false);
      t.ok(result.invalidFields.includes(name), `TD3 ${name} = ${digit} named`);
    }
  }
  const td1Digits: Array<[number, number, string]> = [
    [0, 14, 'documentNumberCheckDigit'],
    [1, 6, 'dateOfBirthCheckDigit'],
    [1, 14, 'expiryDateCheckDigit'],
    [1, 29, 'compositeCheckDigit'],
  ];
  for (const [line, at, name] of td1Digits) {
    for (let digit = 0; digit < 10; digit++) {
      if (String(digit) === td1[line]![at]) continue;
      const lines = [...td1];
      lines[line] = replaceAt(lines[line]!, at, String(digit));
      const result = found(extractMrz(lines.join('\n'), { now }));
      t.equal(result.valid, false, `TD1 ${name} = ${digit}: invalid`);
      t.equal(result.corrected, false);
      t.ok(result.invalidFields.includes(name), `TD1 ${name} = ${digit} named`);
    }
  }
  const tampered = found(extractMrz(`${td3[0]}\n${replaceAt(td3[1]!, 19, '3')}`, { now }));
  t.same(tampered.invalidFields, ['dateOfBirthCheckDigit', 'compositeCheckDigit']);
  t.same(tampered.fields, { ...anna, documentNumber: 'L898902C3' }, 'the fields are still read');
});

t.test('OCR noise the check digits confirm is corrected', async (t) => {
  const expected = { ...anna, documentNumber: 'L898902C3' };
  const noisy: Array<[string, string, boolean]> = [
    ['O for 0 in the birth date', `${td3[0]}\n${td3[1]!.replace('7408122', '74O8122')}`, true],
    ['I for 1 and O for 0 in the expiry date', `${td3[0]}\n${td3[1]!.replace('1204159', 'I2O4159')}`, true],
    ['B for 8 in the document number', `${td3[0]}\n${td3[1]!.replace('L898902C3', 'LB98902C3')}`, true],
    ['O for 0 in the document number', `${td3[0]}\n${td3[1]!.replace('L898902C3', 'L8989O2C3')}`, true],
    [
      'S for 5 in a check digit, G for 6',
      `${td3[0]}\n${td3[1]!.replace('C36UTO', 'C3GUTO').replace('59ZE', 'S9ZE')}`,
      true,
    ],
    ['0 for O in the names, 1 for I', `${td3[0]!.replace('ERIKSSON', 'ER1KSS0N')}\n${td3[1]}`, true],
    ['0 for O in the nationality', `${td3[0]}\n${td3[1]!.replace('6UTO7', '6UT07')}`, true],
    [
      'spaces inside the lines',
      'P<UTO ERIKSSON<<ANNA<MARIA <<<<<<<<<<<<<<<<<<<\nL898902C3 6 UTO 7408122 F 1204159 ZE184226B <<<<<1 0',
      false,
    ],
    [
      'guillemets for fillers',
      `${td3[0]!.replace('<<ANNA', '«<ANNA')}\n${td3[1]!.replace('B<<<<<', 'B<‹<<<')}`,
      false,
    ],
    ['a lower-case line', `${td3[0]!.toLowerCase()}\n${td3[1]}`, false],
    [
      'garbage lines around it',
      `PASSPORT  PASSEPORT  UTOPIA\nSurname / Nom\nERIKSSON\nGiven names: ANNA MARIA\nPlace of birth ZENITH, UTO\n\n${td3[0]}\n\n${td3[1]}\n©~ .. ,\n`,
      false,
    ],
    [
      'everything at once',
      `Type P  Code UTO\n  p<uto ERIKSS0N<<ANNA<MAR1A<<<<<<<<<<<<<<<<<<<\nLB989O2C36UTO74O8122F12O4159ZE184226B<<<<<10  \n   ~~ \n`,
      true,
    ],
  ];
  for (const [name, text, corrected] of noisy) {
    const result = found(extractMrz(text, { now }));
    t.same(
      { valid: result.valid, fields: result.fields, lines: result.lines },
      { valid: true, fields: expected, lines: td3 },
      name,
    );
    t.equal(result.corrected, corrected, `${name}: corrected ${corrected}`);
  }
  const card = found(
    extractMrz(`${td1[0]!.replace('D2314', 'D23I4')}\n${td1[1]!.replace('7408', '74O8')}\n${td1[2]}`, {
      now,
    }),
  );
  t.same(
    [card.valid, card.corrected, card.fields.documentNumber, card.lines],
    [true, true, 'D23145890', td1],
  );
});

t.test('a reading the check digits do not confirm is not made', async (t) => {
  // O for 0 in the birth date, but the check digit is for another date.
  const wrongDate = found(extractMrz(`${td3[0]}\n${td3[1]!.replace('7408122', '74O8123')}`, { now }));
  t.same([wrongDate.valid, wrongDate.corrected], [false, false]);
  t.equal(wrongDate.lines[1], td3[1]!.replace('7408122', '74O8123'), 'the lines as read');
  t.ok(wrongDate.invalidFields.includes('dateOfBirthCheckDigit'));
  // An ambiguous document number whose check digit no reading satisfies.
  const line = replaceAt(td3[1]!.replace('L898902C3', 'L8989O2C3'), 9, '4');
  const wrongNumber = found(extractMrz(`${td3[0]}\n${line}`, { now }));
  t.same([wrongNumber.valid, wrongNumber.corrected, wrongNumber.lines[1]], [false, false, line]);
  // G and 6 weigh the same modulo 10: no check digit can tell them apart in a document number.
  const g = buildTd3({ ...anna, documentNumber: 'X6123456', expiryDate: '2031-01-01' });
  const misread = found(extractMrz(`${g[0]}\n${g[1]!.replace('X6123456', 'XG123456')}`, { now }));
  t.equal(misread.fields.documentNumber, 'XG123456', 'read as it is: both readings pass');
  // A letter no confusion explains: the line no longer has the shape of an MRZ.
  t.same(extractMrz(`${td3[0]}\n${td3[1]!.replace('7408122', '74D8122')}`, { now }), { found: false });
});

t.test('missing or extra fillers', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['trailing fillers missing', [td3[0]!.slice(0, 41), td3[1]!]],
    ['trailing fillers added', [`${td3[0]}<<`, td3[1]!]],
    ['a filler missing inside', [td3[0]!, td3[1]!.replace('B<<<<<1', 'B<<<<1')]],
    ['a filler added inside', [td3[0]!, td3[1]!.replace('B<<<<<1', 'B<<<<<<1')]],
  ];
  for (const [name, lines] of cases) {
    const result = found(extractMrz(lines.join('\n'), { now }));
    t.same([result.valid, result.lines], [true, td3], name);
  }
  const card = found(
    extractMrz([td1[0]!.slice(0, 28), `${td1[1]}`, td1[2]!.slice(0, 27)].join('\n'), { now }),
  );
  t.same([card.valid, card.lines], [true, td1]);
});

t.test('no MRZ', async (t) => {
  for (const text of [
    '',
    'PASSPORT\nSurname ERIKSSON',
    td3[0]!,
    td1.slice(0, 2).join('\n'),
    'Please find attached the requested documents for the account opening procedure\nBest regards from the team',
    `P${'X'.repeat(43)}\n${'Y'.repeat(44)}`,
  ]) {
    t.same(extractMrz(text, { now }), { found: false }, JSON.stringify(text.slice(0, 30)));
  }
});

t.test('dates', async (t) => {
  const person = (dateOfBirth: string, expiryDate = '2030-01-01'): MrzPerson => ({
    ...anna,
    documentNumber: 'AB1234567',
    dateOfBirth,
    expiryDate,
  });
  const read = (lines: string[]) => found(extractMrz(lines.join('\n'), { now })).fields;
  t.equal(read(buildTd3(person('2020-02-29'))).dateOfBirth, '2020-02-29');
  t.equal(read(buildTd3(person('1930-12-31'))).dateOfBirth, '1930-12-31');
  t.equal(read(buildTd3(person('1926-12-07'))).dateOfBirth, '1926-12-07', 'tomorrow is a century ago');
  t.equal(read(buildTd3(person('2026-12-06'))).dateOfBirth, '2026-12-06', 'born today');
  t.equal(read(buildTd3(person('1990-01-01', '2099-12-31'))).expiryDate, '2099-12-31');
  t.equal(read(buildTd1(person('1955-05-05', '2001-01-01'))).expiryDate, '2001-01-01');
  const impossible = buildTd3(person('1990-02-30'));
  const result = found(extractMrz(impossible.join('\n'), { now }));
  t.same([result.valid, result.invalidFields, result.fields.dateOfBirth], [false, ['dateOfBirth'], '']);
});

t.test('generated documents round-trip', async (t) => {
  const person: MrzPerson = {
    surname: 'Dupont-Lefèvre',
    givenNames: 'Jean Émile',
    documentNumber: '24FR51736',
    nationality: 'FRA',
    issuingState: 'FRA',
    dateOfBirth: '1988-03-09',
    expiryDate: '2034-11-30',
    sex: 'male',
  };
  const expected = {
    ...person,
    surname: 'DUPONT LEFEVRE',
    givenNames: 'JEAN EMILE',
  };
  const passport = buildTd3(person);
  t.same(found(extractMrz(passport.join('\n'), { now })).fields, expected);
  t.equal(found(extractMrz(passport.join('\n'), { now })).valid, true);
  const card = buildTd1({ ...person, documentNumber: 'X4RF12345' });
  t.same(found(extractMrz(card.join('\n'), { now })).fields, { ...expected, documentNumber: 'X4RF12345' });
  const long = buildTd1({ ...person, documentNumber: 'D23145890734' });
  t.equal(long[0], 'I<FRAD23145890<7349<<<<<<<<<<<', 'a long document number continues (ICAO example)');
  const longRead = found(extractMrz(long.join('\n'), { now }));
  t.same([longRead.valid, longRead.fields.documentNumber], [true, 'D23145890734']);
  const mrz = parse(long);
  t.equal(mrz.documentNumber, 'D23145890734', 'the mrz package reads it the same');
  const unspecified = buildTd3({ ...person, sex: 'unspecified', givenNames: '' });
  t.same(
    [
      found(extractMrz(unspecified.join('\n'), { now })).fields.sex,
      found(extractMrz(unspecified.join('\n'), { now })).fields.givenNames,
    ],
    ['unspecified', ''],
  );
  t.throws(() => buildTd3({ ...person, documentNumber: 'ABCDEFGHIJ' }), RangeError, 'too long for TD3');
  t.throws(() => buildTd3({ ...person, surname: 'O’Brien!' }), RangeError);
  t.throws(() => buildTd3({ ...person, dateOfBirth: '9.3.1988' }), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Properties

const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const alnum = `${letters}0123456789`;
const word = (max: number) => fc.string({ unit: fc.constantFrom(...letters), minLength: 1, maxLength: max });
const arbitraryDate = (from: string, to: string) =>
  fc
    .date({ min: new Date(`${from}T00:00:00Z`), max: new Date(`${to}T00:00:00Z`), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10));
const arbitraryPerson: fc.Arbitrary<MrzPerson & { personalNumber: string }> = fc.record({
  surname: fc.array(word(8), { minLength: 1, maxLength: 2 }).map((w) => w.join(' ')),
  givenNames: fc.array(word(8), { minLength: 0, maxLength: 2 }).map((w) => w.join(' ')),
  documentNumber: fc.string({ unit: fc.constantFrom(...alnum), minLength: 1, maxLength: 9 }),
  nationality: fc.constantFrom('FRA', 'DEU', 'D', 'UTO', 'GBR', 'ITA', 'ESP', 'BEL', 'CHE'),
  issuingState: fc.constantFrom('FRA', 'D', 'UTO', 'GBR'),
  // Within a century before `now`: the MRZ's two-digit year then reads back to the same date.
  dateOfBirth: arbitraryDate('1926-12-07', '2026-12-06'),
  expiryDate: arbitraryDate('2000-01-01', '2099-12-31'),
  sex: fc.constantFrom('male' as const, 'female' as const, 'unspecified' as const),
  personalNumber: fc
    .string({ unit: fc.constantFrom(...alnum, '<'), maxLength: 14 })
    .map((s) => s.replace(/<+$/, '')),
});

const expectedFields = (p: MrzPerson) => ({
  surname: p.surname,
  givenNames: p.givenNames,
  documentNumber: p.documentNumber,
  nationality: p.nationality,
  issuingState: p.issuingState,
  dateOfBirth: p.dateOfBirth,
  expiryDate: p.expiryDate,
  sex: p.sex,
});

t.test('property: every TD3 built by buildTd3 extracts exactly', async (t) => {
  fc.assert(
    fc.property(arbitraryPerson, (person) => {
      const lines = buildTd3(person);
      const result = found(extractMrz(lines.join('\n'), { now }));
      t.same(
        { format: result.format, lines: result.lines, valid: result.valid, corrected: result.corrected },
        { format: 'TD3', lines, valid: true, corrected: false },
      );
      t.same(result.fields, expectedFields(person));
      const details = parse(lines).details.filter((d) => d.field?.endsWith('CheckDigit'));
      return result.fields.documentNumber === person.documentNumber && details.every((d) => d.valid);
    }),
    { numRuns: 300 },
  );
});

t.test('property: every TD1 built by buildTd1 extracts exactly', async (t) => {
  fc.assert(
    fc.property(arbitraryPerson, (person) => {
      fc.pre(person.surname.length + 2 + person.givenNames.length <= 30); // else cut to fit
      const lines = buildTd1(person);
      const result = found(extractMrz(lines.join('\n'), { now }));
      t.same([result.format, result.lines, result.valid, result.corrected], ['TD1', lines, true, false]);
      t.same(result.fields, expectedFields(person));
      return parse(lines)
        .details.filter((d) => d.field?.endsWith('CheckDigit'))
        .every((d) => d.valid);
    }),
    { numRuns: 200 },
  );
});

t.test('property: letters misread in the dates are read back, in noise', async (t) => {
  const asLetter: Record<string, string> = { '0': 'O', '1': 'I', '8': 'B', '5': 'S', '2': 'Z', '6': 'G' };
  fc.assert(
    fc.property(
      arbitraryPerson,
      fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
      (person, flips) => {
        const lines = buildTd3(person);
        const positions = [13, 14, 15, 16, 17, 18, 21, 22, 23, 24, 25, 26];
        let noisy = lines[1]!;
        positions.forEach((at, i) => {
          const letter = asLetter[noisy[at]!];
          if (flips[i] && letter) noisy = replaceAt(noisy, at, letter);
        });
        const text = `OCR output\n${lines[0]!.toLowerCase()}\n${noisy.replace(/(.{11})/, '$1 ')}\n`;
        const result = found(extractMrz(text, { now }));
        t.same([result.valid, result.lines, result.corrected], [true, lines, noisy !== lines[1]]);
        t.same(result.fields, expectedFields(person));
      },
    ),
    { numRuns: 200 },
  );
});

t.test('property: a tampered check digit is never corrected into validity', async (t) => {
  const asLetter: Record<string, string> = { '0': 'O', '1': 'I', '8': 'B', '5': 'S', '2': 'Z', '6': 'G' };
  fc.assert(
    fc.property(
      arbitraryPerson,
      fc.constantFrom(9, 19, 27, 42, 43),
      fc.integer({ min: 1, max: 9 }),
      fc.array(fc.boolean(), { minLength: 23, maxLength: 23 }),
      (person, at, shift, flips) => {
        const lines = buildTd3(person);
        const original = lines[1]![at]!;
        if (original === '<') return;
        const tampered = replaceAt(lines[1]!, at, String((Number(original) + shift) % 10));
        t.equal(found(extractMrz(`${lines[0]}\n${tampered}`, { now })).valid, false, tampered);
        // The same, read with digits of the document and personal numbers misread as letters.
        let noisy = tampered;
        flips.forEach((flip, i) => {
          const column = i < 9 ? i : 28 + i - 9;
          const letter = asLetter[noisy[column]!];
          if (flip && letter) noisy = replaceAt(noisy, column, letter);
        });
        const result = found(extractMrz(`${lines[0]}\n${noisy}`, { now }));
        // Misread letters may happen to satisfy the tampered digit as read (check digits are no
        // seal), but no reading the other way is ever made to reach validity.
        t.notOk(result.valid && result.corrected, `${tampered} read ${noisy}`);
      },
    ),
    { numRuns: 1000 },
  );
});

t.test('property: one document or personal number digit misread as a letter is read back', async (t) => {
  const asLetter: Record<string, string> = { '0': 'O', '1': 'I', '8': 'B', '5': 'S', '2': 'Z', '6': 'G' };
  const digits = (min: number, max: number) =>
    fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
  // Numbers of digits (the usual case): always read back.
  const numeric = fc.record({ documentNumber: digits(6, 9), personalNumber: digits(0, 14) });
  fc.assert(
    fc.property(arbitraryPerson, numeric, fc.nat(22), (someone, numbers, i) => {
      const lines = buildTd3({ ...someone, ...numbers });
      const column = i < 9 ? i : 28 + i - 9;
      const letter = asLetter[lines[1]![column]!];
      if (!letter) return;
      const noisy = replaceAt(lines[1]!, column, letter);
      const result = found(extractMrz(`${lines[0]}\n${noisy}`, { now }));
      // G and 6 weigh the same modulo 10: that misread passes its check digit as it is.
      if (letter === 'G') t.same([result.valid, result.corrected], [true, false]);
      else
        t.same(
          [result.valid, result.corrected, result.lines],
          [true, true, lines],
          `${lines[1]} read ${noisy}`,
        );
    }),
    { numRuns: 500 },
  );
  // Numbers with letters: read back, or left invalid when the readings are ambiguous; never misread.
  fc.assert(
    fc.property(arbitraryPerson, fc.nat(22), (person, i) => {
      const lines = buildTd3(person);
      const column = i < 9 ? i : 28 + i - 9;
      const letter = asLetter[lines[1]![column]!];
      if (!letter || letter === 'G') return;
      const noisy = replaceAt(lines[1]!, column, letter);
      const result = found(extractMrz(`${lines[0]}\n${noisy}`, { now }));
      if (result.valid) t.same([result.corrected, result.lines], [true, lines], `${lines[1]} read ${noisy}`);
      else t.same([result.corrected, result.lines], [false, [lines[0], noisy]]);
    }),
    { numRuns: 500 },
  );
});

t.test('check digits that could not be read make the zone illegible, not forged', async (t) => {
  const [l1, l2] = buildTd3(validHolder) as [string, string];
  // What OCR returned for a blurred scan: the last character lost after the fillers.
  const lost = extractMrz(`${l1}\n${l2.slice(0, 43)}\n`, { now: new Date('2026-01-01') });
  t.match(lost, { found: true, valid: false, invalidFields: ['compositeCheckDigit'] });
  t.ok(illegibleCheckDigits(lost), 'unreadable');
  const wrong = `${l2.slice(0, 43)}${(Number(l2[43]) + 1) % 10}`;
  const forged = extractMrz(`${l1}\n${wrong}\n`, { now: new Date('2026-01-01') });
  t.match(forged, { found: true, valid: false });
  t.notOk(illegibleCheckDigits(forged), 'a wrong digit is a forgery');
  t.notOk(illegibleCheckDigits(extractMrz(`${l1}\n${l2}\n`, { now: new Date('2026-01-01') })), 'valid');
  t.notOk(illegibleCheckDigits({ found: false }));
  // A card (TD1) whose composite check digit, the last of its second line, was not read.
  const [c1, c2, c3] = buildTd1(validHolder) as [string, string, string];
  const card = extractMrz(`${c1}\n${c2.slice(0, 29)}\n${c3}\n`, { now: new Date('2026-01-01') });
  t.match(card, { found: true, format: 'TD1', valid: false, invalidFields: ['compositeCheckDigit'] });
  t.ok(illegibleCheckDigits(card), 'TD1: unreadable too');
});
