import { type Account, bankAccountTypes, currencies, customerAccountTypes } from '@ledger/domain/ledger';
import fc from 'fast-check';
import t from 'tap';
import { BadAccountSnapshot, decodeAccountState, encodeAccountState } from './account-snapshot.js';

// An account's state through a snapshot's JSON and back: exact, or refused.

const minor = fc.bigInt({ min: 0n, max: 10n ** 30n });
const account: fc.Arbitrary<Account> = fc.record({
  status: fc.constantFrom('active', 'frozen', 'closed'),
  id: fc.uuid(),
  kind: fc.constantFrom('customer', 'bank'),
  accountType: fc.constantFrom(...customerAccountTypes, ...bankAccountTypes),
  ownerId: fc.option(fc.uuid(), { nil: null }),
  currency: fc.constantFrom(...currencies),
  flags: fc.record({ debitsMustNotExceedCredits: fc.boolean(), overdraftLimit: minor }),
  debitsPosted: minor,
  creditsPosted: minor,
  debitsPending: minor,
  creditsPending: minor,
  dailyDebits: fc.record({
    day: fc.option(
      fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map((d) => d.toISOString().slice(0, 10)),
      { nil: null },
    ),
    total: minor,
    holds: fc.array(fc.tuple(fc.uuid(), minor), { maxLength: 5 }).map((pairs) => new Map(pairs)),
  }),
  debitActivity: fc.record({
    recent: fc.array(
      fc.record({
        amount: minor,
        at: fc
          .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
          .map((d) => d.toISOString()),
        payeeKey: fc.constantFrom('', 'acct:1', 'iban:DE89370400440532013000'),
      }),
      { maxLength: 5 },
    ),
    knownPayees: fc.array(fc.string({ minLength: 1 }), { maxLength: 5 }).map((keys) => new Set(keys)),
    lastDebitAt: fc.option(fc.constant('2026-01-01T00:00:00.000Z'), { nil: null }),
  }),
  openedAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
});

t.test('a state comes back exactly, bigints past 2^53 included, through JSON text', async (t) => {
  fc.assert(
    fc.property(account, (state) => {
      const json = JSON.parse(JSON.stringify(encodeAccountState(state)));
      t.same(decodeAccountState(json), state);
      return true;
    }),
    { numRuns: 200 },
  );
  const big = fc.sample(account, 1)[0]!;
  const state = { ...big, creditsPosted: 2n ** 64n + 1n };
  t.equal(decodeAccountState(encodeAccountState(state)).creditsPosted, 18446744073709551617n);
});

t.test('anything else is refused', async (t) => {
  const good = encodeAccountState(fc.sample(account, 1)[0]!);
  const bad = [
    null,
    [],
    'state',
    { ...good, extra: 1 },
    { ...good, debitsPosted: 12 },
    { ...good, debitsPosted: '-1' },
    { ...good, debitsPosted: '1.5' },
    { ...good, debitsPosted: '007' },
    { ...good, status: 'none' },
    { ...good, currency: 'XXX' },
    { ...good, flags: { debitsMustNotExceedCredits: 'yes', overdraftLimit: '0' } },
    { ...good, dailyDebits: { day: 'today', total: '0', holds: [] } },
    { ...good, dailyDebits: { day: null, total: '0', holds: [['t']] } },
    Object.fromEntries(Object.entries(good).filter(([key]) => key !== 'openedAt')),
  ];
  for (const json of bad)
    t.throws(() => decodeAccountState(json as never), BadAccountSnapshot, JSON.stringify(json));
});
