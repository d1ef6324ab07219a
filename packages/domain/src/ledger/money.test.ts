import fc from 'fast-check';
import t from 'tap';
import {
  amountMaxMinor,
  currencies,
  currencyExponents,
  exponentOf,
  formatAmount,
  fromMinorUnits,
  isCurrency,
  parseAmount,
  toMinorUnits,
} from './money.js';

t.test('ISO 4217 exponents', async (t) => {
  t.match(currencyExponents, { DZD: 2, EUR: 2, USD: 2, GBP: 2, CHF: 2, JPY: 0, KWD: 3 });
  t.ok(isCurrency('EUR'));
  t.notOk(isCurrency('eur'));
  t.notOk(isCurrency('XXX'));
  t.notOk(isCurrency('toString'), 'not fooled by Object.prototype');
  t.notOk(isCurrency(978));
  t.throws(() => exponentOf('XXX' as never), /unknown currency/);
});

t.test('parseAmount accepts plain decimals with at most the exponent in decimals', async (t) => {
  const ok = (text: string, currency: string, amount: bigint) =>
    t.same(parseAmount(text, currency), { ok: true, amount }, `${text} ${currency}`);
  ok('10.50', 'EUR', 10_50n);
  ok('10.5', 'EUR', 10_50n);
  ok('10', 'EUR', 10_00n);
  ok('0.01', 'EUR', 1n);
  ok('1250', 'JPY', 1250n);
  ok('1.234', 'KWD', 1234n);
  ok('0.001', 'KWD', 1n);
  ok('999999999999999.99', 'EUR', 99_999_999_999_999_999n);
  ok('999999999999999', 'JPY', 999_999_999_999_999n);
  ok('999999999999999.999', 'KWD', 999_999_999_999_999_999n);
});

t.test('parseAmount refuses, each with its own reason', async (t) => {
  const no = (text: unknown, currency: string, reason: string) =>
    t.same(
      parseAmount(text, currency),
      { ok: false, reason },
      `${typeof text} ${String(text).slice(0, 24)} ${currency}`,
    );
  no(10.5, 'EUR', 'not_a_string');
  no(10, 'EUR', 'not_a_string');
  no(10n, 'EUR', 'not_a_string');
  no(null, 'EUR', 'not_a_string');
  no(undefined, 'EUR', 'not_a_string');
  no({ amount: '1' }, 'EUR', 'not_a_string');
  no('10.00', 'XXX', 'unsupported_currency');
  no('10.00', 'eur', 'unsupported_currency');
  for (const text of [
    '1e3',
    '1E3',
    '',
    ' 1',
    '1 ',
    '+5',
    '1.',
    '.5',
    '01',
    '00.5',
    '1,50',
    '0x10',
    'NaN',
    'Infinity',
    '١٢',
  ]) {
    no(text, 'EUR', 'malformed');
  }
  no('-5', 'EUR', 'negative');
  no('-0.01', 'EUR', 'negative');
  no('0', 'EUR', 'zero');
  no('0.00', 'EUR', 'zero');
  no('0.000', 'KWD', 'zero');
  no('1.234', 'EUR', 'too_many_decimals');
  no('1.0', 'JPY', 'too_many_decimals');
  no('1.2345', 'KWD', 'too_many_decimals');
  no('1000000000000000', 'EUR', 'too_large');
  no('1000000000000000.00', 'EUR', 'too_large');
  no('100000000000000000000', 'EUR', 'too_large');
  no('9'.repeat(100_000), 'EUR', 'too_large');
  t.equal(amountMaxMinor('EUR'), 99_999_999_999_999_999n);
  t.equal(amountMaxMinor('JPY'), 999_999_999_999_999n);
});

t.test('formatAmount writes the currency exponent, sign kept', async (t) => {
  t.equal(formatAmount(125000n, 'EUR'), '1250.00');
  t.equal(formatAmount(5n, 'EUR'), '0.05');
  t.equal(formatAmount(0n, 'EUR'), '0.00');
  t.equal(formatAmount(-1050n, 'USD'), '-10.50');
  t.equal(formatAmount(-5n, 'EUR'), '-0.05');
  t.equal(formatAmount(1250n, 'JPY'), '1250');
  t.equal(formatAmount(1n, 'KWD'), '0.001');
  t.equal(formatAmount(99_999_999_999_999_999n, 'EUR'), '999999999999999.99');
});

t.test('format and parse are inverse for every positive amount up to the maximum', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...currencies), fc.bigInt({ min: 1n, max: 10n ** 18n }), (currency, raw) => {
      const minor = ((raw - 1n) % amountMaxMinor(currency)) + 1n;
      const parsed = parseAmount(formatAmount(minor, currency), currency);
      return parsed.ok && parsed.amount === minor;
    }),
    { numRuns: 500 },
  );
  t.pass('round trip holds');
});

t.test('minor units in events are plain integer strings', async (t) => {
  t.equal(toMinorUnits(125000n), '125000');
  t.equal(fromMinorUnits('125000'), 125000n);
  t.equal(fromMinorUnits('-7'), -7n);
  for (const bad of ['1.00', '1e3', '', ' 1', '01', '0x1']) {
    t.throws(() => fromMinorUnits(bad), /malformed/, JSON.stringify(bad));
  }
});
