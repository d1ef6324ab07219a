import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { canonicalJson, NotJsonSerializable } from './canonical-json.js';
import { chainHash, genesisHash, hashedText } from './hash.js';

t.test('RFC 8785 examples', async (t) => {
  // RFC 8785 §3.2.2 (sorting and values) and Appendix B (numbers).
  t.equal(
    canonicalJson({
      // biome-ignore lint/correctness/noPrecisionLoss: the RFC's own example of a rounded literal
      numbers: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001],
      string: '\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/',
      literals: [null, true, false],
    }),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
  // Keys sort by UTF-16 code units, not by code points or locale.
  t.equal(
    canonicalJson({
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    }),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
  for (const [value, text] of [
    [0, '0'],
    [-0, '0'],
    [1e21, '1e+21'],
    [1e-7, '1e-7'],
    [9007199254740991, '9007199254740991'],
    [-1.5e-300, '-1.5e-300'],
  ] as const) {
    t.equal(canonicalJson(value), text, `number ${text}`);
  }
});

t.test('what JSON would silently change is refused, naming the path', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ a: { b: 1n } }, /\$\.a\.b: bigint/],
    [{ a: [1, undefined] }, /\$\.a\[1\]: undefined in an array/],
    [{ a: Number.POSITIVE_INFINITY }, /not a finite number/],
    [{ d: new Date(0) }, /Date is not a plain object/],
    [{ m: new Map() }, /Map is not a plain object/],
    [{ s: Symbol('x') }, /symbol has no JSON form/],
    [{ s: '\ud800' }, /lone UTF-16 surrogate/],
    [undefined, /undefined has no JSON form/],
  ];
  for (const [value, message] of cases) {
    t.throws(() => canonicalJson(value), NotJsonSerializable);
    t.throws(() => canonicalJson(value), { message });
  }
  t.equal(
    canonicalJson({ a: undefined, b: 1 }),
    '{"b":1}',
    'an absent optional property is left out, as JSON does',
  );
  t.equal(canonicalJson(Object.assign(Object.create(null), { z: 1, a: 2 })), '{"a":2,"z":1}');
  const nested = (levels: number): unknown => (levels === 0 ? 1 : [nested(levels - 1)]);
  t.equal(canonicalJson(nested(64)), `${'['.repeat(64)}1${']'.repeat(64)}`, 'a value 64 levels down is kept');
  t.throws(() => canonicalJson(nested(65)), { message: /\$(\[0\]){65}: nested deeper than 64/ });
});

t.test('canonical JSON parses back to the same value and is stable under key order', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const text = canonicalJson(value);
      const again = canonicalJson(JSON.parse(text));
      return text === again;
    }),
    { numRuns: 500 },
  );
  t.equal(canonicalJson({ b: 1, a: { d: 2, c: 3 } }), canonicalJson({ a: { c: 3, d: 2 }, b: 1 }));
});

t.test('strings and keys are quoted as JSON.stringify quotes them, or refused', async (t) => {
  let refused = 0;
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => {
      let text: string;
      try {
        text = canonicalJson({ [s]: s });
      } catch (error) {
        refused++;
        return error instanceof NotJsonSerializable && (s.includes('\u0000') || !s.isWellFormed());
      }
      return text === JSON.stringify({ [s]: s }) && !s.includes('\u0000') && s.isWellFormed();
    }),
    { numRuns: 2000 },
  );
  t.ok(refused > 0, `some generated strings were refused (${refused})`);
  const samples = ['plain', 'quote " and \\ backslash', 'tab\tnewline\n\u001f', 'é \u2028 \u{1F600}'];
  for (const [i, s] of samples.entries()) t.equal(canonicalJson([s]), JSON.stringify([s]), `sample ${i}`);
});

t.test('the chain hash is sha256(previous ‖ canonical JSON) and depends on every hashed field', async (t) => {
  const event = {
    eventId: '00000000-0000-4000-8000-000000000001',
    streamId: 'account-1',
    streamVersion: 0n,
    type: 'Opened',
    schemaVersion: 1,
    data: { currency: 'EUR' },
    metadata: { actorId: 'u' },
    recordedAt: '2026-01-01T00:00:00.000Z',
  };
  const text = hashedText(event);
  t.equal(
    text,
    '{"data":{"currency":"EUR"},"eventId":"00000000-0000-4000-8000-000000000001","metadata":{"actorId":"u"},"recordedAt":"2026-01-01T00:00:00.000Z","schemaVersion":1,"streamId":"account-1","streamVersion":0,"type":"Opened"}',
  );
  const first = chainHash(genesisHash, event);
  t.equal(first.toString('hex'), createHash('sha256').update(text).digest('hex'));
  const second = chainHash(first, { ...event, streamVersion: 1n });
  t.equal(
    second.toString('hex'),
    createHash('sha256')
      .update(first)
      .update(hashedText({ ...event, streamVersion: 1n }))
      .digest('hex'),
  );
  const variants = [
    { ...event, eventId: '00000000-0000-4000-8000-000000000002' },
    { ...event, streamId: 'account-2' },
    { ...event, streamVersion: 1n },
    { ...event, type: 'Closed' },
    { ...event, schemaVersion: 2 },
    { ...event, data: { currency: 'USD' } },
    { ...event, metadata: { actorId: 'v' } },
    { ...event, recordedAt: '2026-01-01T00:00:00.001Z' },
  ];
  for (const variant of variants)
    t.not(chainHash(genesisHash, variant).toString('hex'), first.toString('hex'));
});
