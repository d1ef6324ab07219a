import t from 'tap';
import { ibanCheckDigits, ibanLengthMax, parseIban } from './iban.js';

t.test('valid IBANs, normalised: spaces dropped, upper case', async (t) => {
  // Published examples (ISO 13616 registry and national banks).
  for (const text of [
    'GB82 WEST 1234 5698 7654 32',
    'DE89370400440532013000',
    'FR1420041010050500013M02606',
    'NO9386011117947',
    'fr14 2004 1010 0505 0001 3m02 606',
    'MT84MALT011000012345MTLCAST001S',
  ]) {
    const parsed = parseIban(text);
    t.ok(parsed.ok, text);
    if (parsed.ok) t.equal(parsed.iban, text.replaceAll(' ', '').toUpperCase());
  }
});

t.test('the mod-97 check catches a mistyped character and swapped neighbours', async (t) => {
  t.same(parseIban('GB82WEST12345698765433'), { ok: false, reason: 'check_digits' });
  t.same(parseIban('GB82WEST12345698765423'), { ok: false, reason: 'check_digits' });
  t.same(parseIban('GB28WEST12345698765432'), { ok: false, reason: 'check_digits' });
  t.same(parseIban('DE89370400440532013001'), { ok: false, reason: 'check_digits' });
});

t.test('malformed and out-of-range lengths', async (t) => {
  for (const text of [
    '',
    'GB',
    '1234WEST12345698765432',
    'GBXXWEST12345698765432',
    'GB82-WEST-1234',
    'GB82WÉST12345698765432',
  ]) {
    t.same(parseIban(text), { ok: false, reason: 'malformed' }, JSON.stringify(text));
  }
  t.same(parseIban('GB82WEST1234'), { ok: false, reason: 'length' });
  t.same(parseIban(`GB00${'1'.repeat(ibanLengthMax - 3)}`), { ok: false, reason: 'length' });
  t.same(parseIban(' '.repeat(65)), { ok: false, reason: 'length' });
});

t.test('ibanCheckDigits makes valid IBANs', async (t) => {
  t.equal(ibanCheckDigits('GB', 'WEST12345698765432'), '82');
  const bban = 'BANK0000000000000001';
  t.ok(parseIban(`FR${ibanCheckDigits('FR', bban)}${bban}`).ok);
});
