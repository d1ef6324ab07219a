import fc from 'fast-check';
import t from 'tap';
import { currencies } from '../ledger/money.js';
import {
  defaultRuleModes,
  defaultRuleOutcomes,
  defaultRuleThresholds,
  type EvaluationOutcome,
  evaluateRules,
  normalizeWatchIban,
  normalizeWatchName,
  outlierSampleMin,
  payeeKey,
  type RecentDebit,
  type RuleCommand,
  type RuleContext,
  type RuleEvaluation,
  type RuleId,
  type RuleMode,
  type RulePolicy,
  recentDebitsMax,
  robustZ,
  ruleIds,
  type WatchEntry,
} from './rules.js';

// Given an account's history and the policy / when a debit is evaluated / then the outcome,
// the flags and the figures.

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;
const now = new Date('2026-03-01T12:00:00.000Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();

const bob = { accountId: 'acc-bob' };
const command = (fields: Partial<RuleCommand> = {}): RuleCommand => ({
  code: 'transfer',
  amount: 10_000n,
  currency: 'EUR',
  payee: bob,
  now,
  ...fields,
});
const context = (fields: Partial<RuleContext> = {}): RuleContext => ({
  recentDebits: [],
  knownPayees: new Set([payeeKey(bob)]),
  lastDebitAt: ago(day),
  accountOpenedAt: ago(2 * 365 * day),
  ...fields,
});
const debit = (amount: bigint, msAgo: number): RecentDebit => ({
  amount,
  at: ago(msAgo),
  payeeKey: 'acct:x',
});

const modesWith = (modes: Partial<Record<RuleId, RuleMode>>): Record<RuleId, RuleMode> => ({
  ...(Object.fromEntries(ruleIds.map((id) => [id, 'off'])) as Record<RuleId, RuleMode>),
  ...modes,
});
/** The defaults, with only `ruleId` active unless modes say otherwise. */
const policy = (ruleId: RuleId | null, fields: Partial<RulePolicy> = {}): RulePolicy => ({
  thresholds: defaultRuleThresholds(),
  modes: modesWith(ruleId === null ? {} : { [ruleId]: 'active' }),
  watchList: [],
  ...fields,
});
const fired = (evaluation: RuleEvaluation) => evaluation.flags;

t.test('defaults: thresholds per currency, every rule active, sanctions reject', async (t) => {
  const d = defaultRuleThresholds();
  t.equal(d.reviewAmountMin.EUR, 500_000n, 'EUR 5000.00');
  t.equal(d.structuringThreshold.EUR, 100_000n, 'EUR 1000.00');
  t.equal(d.newPayeeAmountMin.EUR, 200_000n, 'EUR 2000.00');
  t.equal(d.reviewAmountMin.JPY, 750_000n, 'JPY has no minor unit');
  t.equal(d.reviewAmountMin.KWD, 1_500_000n, 'KWD has three decimals');
  for (const currency of currencies) {
    t.ok(
      d.structuringThreshold[currency] < d.newPayeeAmountMin[currency] &&
        d.newPayeeAmountMin[currency] < d.reviewAmountMin[currency],
      `${currency}: structuring < new payee < review`,
    );
  }
  const { reviewAmountMin: _r, structuringThreshold: _s, newPayeeAmountMin: _n, ...counts } = d;
  t.same(counts, {
    velocityCount: 10,
    velocityWindowMinutes: 60,
    structuringCount: 3,
    dormantDays: 180,
    outlierZ: 3.5,
    reviewTimeoutHours: 72,
  });
  t.ok(
    ruleIds.every((id) => defaultRuleModes()[id] === 'active'),
    'all active',
  );
  t.ok(
    ruleIds.every((id) => defaultRuleOutcomes[id] === (id === 'sanctioned_payee' ? 'reject' : 'review')),
    'review, but a watch-list hit rejects',
  );
});

t.test('large_amount: amount ≥ reviewAmountMin of its currency (inclusive)', async (t) => {
  const when = (amount: bigint, currency: RuleCommand['currency'] = 'EUR') =>
    evaluateRules(command({ amount, currency }), context(), policy('large_amount'));
  t.same(fired(when(499_999n)), [], '1 minor unit below: nothing');
  const at = when(500_000n);
  t.equal(at.outcome, 'review', 'at the threshold: review');
  t.same(at.flags, ['large_amount']);
  t.same(at.findings, [
    {
      ruleId: 'large_amount',
      mode: 'active',
      outcome: 'review',
      figures: { amount: '500000', reviewAmountMin: '500000' },
    },
  ]);
  t.same(fired(when(500_001n)), ['large_amount'], '1 minor unit above');
  t.same(fired(when(749_999n, 'JPY')), [], 'JPY has its own threshold');
  t.same(fired(when(750_000n, 'JPY')), ['large_amount']);
});

t.test('velocity: more than velocityCount transfers within the window, this one counted', async (t) => {
  const when = (recentDebits: RecentDebit[]) =>
    evaluateRules(command(), context({ recentDebits }), policy('velocity'));
  const inWindow = (n: number) => Array.from({ length: n }, (_, i) => debit(1_000n, (i + 1) * minute));
  t.same(fired(when(inWindow(8))), [], '9 with this one: nothing');
  t.same(fired(when(inWindow(9))), [], '10 with this one: not more than 10');
  const over = when(inWindow(10));
  t.same(over.flags, ['velocity'], '11 with this one: more than 10');
  t.same(over.findings[0]?.figures, { count: '11', velocityCount: '10', windowMinutes: '60' });

  const nine = inWindow(9);
  t.same(fired(when([debit(1_000n, 60 * minute), ...nine])), ['velocity'], 'exactly 60 min ago is within');
  t.same(fired(when([debit(1_000n, 60 * minute + 1), ...nine])), [], '1 ms older is not');
  t.same(
    fired(when([debit(1_000n, 60 * minute), ...nine.slice(1)])),
    [],
    'the edge one alone does not tip it',
  );
});

t.test('the history is capped: only the newest recentDebitsMax debits are read', async (t) => {
  const many = Array.from({ length: recentDebitsMax + 5 }, () => debit(1_000n, minute));
  const thresholds = { ...defaultRuleThresholds(), velocityCount: recentDebitsMax + 1 };
  const evaluation = evaluateRules(
    command(),
    context({ recentDebits: many }),
    policy('velocity', { thresholds }),
  );
  t.same(evaluation.flags, [], `${recentDebitsMax} read + this one is not more than ${recentDebitsMax + 1}`);
  const lower = { ...thresholds, velocityCount: recentDebitsMax };
  const fires = evaluateRules(
    command(),
    context({ recentDebits: many }),
    policy('velocity', { thresholds: lower }),
  );
  t.equal(fires.findings[0]?.figures['count'], String(recentDebitsMax + 1));
});

t.test('structuring: structuringCount in [90 %, 100 %) of the threshold within 24 h', async (t) => {
  // EUR threshold 1000.00: the band is 900.00 .. 999.99.
  const when = (amount: bigint, recentDebits: RecentDebit[]) =>
    evaluateRules(command({ amount }), context({ recentDebits }), policy('structuring'));
  const two = [debit(95_000n, hour), debit(99_999n, 2 * hour)];
  t.same(fired(when(89_999n, two)), [], 'this one 1 minor unit under the band');
  const low = when(90_000n, two);
  t.same(low.flags, ['structuring'], 'at 90 % of the threshold');
  t.same(low.findings[0]?.figures, {
    count: '3',
    structuringCount: '3',
    amount: '90000',
    structuringThreshold: '100000',
  });
  t.same(fired(when(99_999n, two)), ['structuring'], '1 minor unit under the threshold');
  t.same(fired(when(100_000n, two)), [], 'at the threshold it is not below it');
  t.same(fired(when(100_001n, two)), [], 'above the threshold');

  t.same(fired(when(95_000n, two.slice(1))), [], '2 with this one: not yet 3');
  t.same(fired(when(95_000n, [...two, debit(91_000n, 3 * hour)])), ['structuring'], '4 with this one');
  t.same(
    fired(when(95_000n, [debit(89_999n, hour), debit(100_000n, hour), ...two.slice(1)])),
    [],
    'debits outside the band do not count',
  );
  t.same(
    fired(when(95_000n, [debit(95_000n, 24 * hour), ...two.slice(1)])),
    ['structuring'],
    '24 h ago is within',
  );
  t.same(fired(when(95_000n, [debit(95_000n, 24 * hour + 1), ...two.slice(1)])), [], '1 ms older is not');
});

t.test('new_payee_large: a first transfer to a payee ≥ newPayeeAmountMin (inclusive)', async (t) => {
  const carol = { accountId: 'acc-carol' };
  const when = (amount: bigint, payee: RuleCommand['payee'] = carol) =>
    evaluateRules(command({ amount, payee }), context(), policy('new_payee_large'));
  t.same(fired(when(199_999n)), [], '1 minor unit below');
  const at = when(200_000n);
  t.same(at.flags, ['new_payee_large'], 'at the threshold');
  t.same(at.findings[0]?.figures, { amount: '200000', newPayeeAmountMin: '200000' });
  t.same(fired(when(200_001n)), ['new_payee_large'], '1 minor unit above');
  t.same(fired(when(900_000n, bob)), [], 'a payee paid before is not new');

  const iban = 'DE89370400440532013000';
  const known = context({ knownPayees: new Set([payeeKey({ iban })]) });
  const external = command({
    code: 'external',
    amount: 900_000n,
    payee: { iban: 'de89 3704 0044 0532 0130 00' },
  });
  t.same(
    evaluateRules(external, known, policy('new_payee_large')).flags,
    [],
    'an IBAN is known however typed',
  );
  t.equal(payeeKey({ iban: 'de89 3704' }), 'iban:DE893704');
  t.equal(payeeKey({ accountId: 'a', iban: 'DE89' }), 'acct:a', 'an account inside the bank by its id');
  t.throws(() => payeeKey({ name: 'nobody' }), 'a payee without account or IBAN is a bug');
});

t.test('dormant_account: a debit after more than dormantDays without one', async (t) => {
  const when = (fields: Partial<RuleContext>) =>
    evaluateRules(command(), context(fields), policy('dormant_account'));
  t.same(fired(when({ lastDebitAt: ago(180 * day - 1) })), [], '1 ms short of 180 days');
  t.same(fired(when({ lastDebitAt: ago(180 * day) })), [], 'exactly 180 days: not after them');
  const after = when({ lastDebitAt: ago(180 * day + 1) });
  t.same(after.flags, ['dormant_account'], '1 ms after 180 days');
  t.same(after.findings[0]?.figures, { idleDays: '180', dormantDays: '180', since: 'last_debit' });

  const never = (openedMsAgo: number) => when({ lastDebitAt: null, accountOpenedAt: ago(openedMsAgo) });
  t.same(fired(never(180 * day)), [], 'never debited: counted from the opening');
  t.same(never(400 * day).findings[0]?.figures, { idleDays: '400', dormantDays: '180', since: 'opened' });
  t.same(fired(when({ lastDebitAt: ago(3 * day), accountOpenedAt: ago(900 * day) })), [], 'recently active');
});

t.test('amount_outlier: robust z against the last 90 days, with at least 20 debits', async (t) => {
  const when = (amount: bigint, recentDebits: RecentDebit[], outlierZ = 3.5) =>
    evaluateRules(
      command({ amount }),
      context({ recentDebits }),
      policy('amount_outlier', { thresholds: { ...defaultRuleThresholds(), outlierZ } }),
    );
  const amounts = (...groups: [count: number, amount: bigint][]) =>
    groups.flatMap(([count, amount]) =>
      Array.from({ length: count }, (_, i) => debit(amount, (i + 1) * hour)),
    );

  // Median 100.00, every deviation 10.00: MAD 1000, z = 0.6745 × (x − 10000) / 1000.
  const twenty = amounts([10, 9_000n], [10, 11_000n]);
  t.equal(
    robustZ(
      20_000n,
      twenty.map((d) => d.amount),
    ).z,
    '6.745',
    'z by hand, exact',
  );
  // z ≥ 3.5 ⇔ x ≥ 10000 + 3.5 × 1000 / 0.6745 = 15189.03…
  t.same(fired(when(15_189n, twenty)), [], 'just below z 3.5');
  const above = when(15_190n, twenty);
  t.same(above.flags, ['amount_outlier'], 'just above z 3.5');
  const figures = above.findings[0]?.figures;
  t.match(figures, { amount: '15190', median: '10000', mad: '1000', outlierZ: '3.5', sampleSize: '20' });
  t.equal(figures?.['z'], '3.5006', 'z in the figures: 0.6745 × 5.19, rounded toward zero');
  // x = 15000: z = 0.6745 × 5 = 3.3725 exactly.
  t.same(fired(when(15_000n, twenty, 3.3725)), ['amount_outlier'], 'z exactly outlierZ fires (≥)');
  t.same(fired(when(15_000n, twenty, 3.3726)), [], 'outlierZ a ten-thousandth above z does not');
  t.same(fired(when(15_001n, twenty, 3.3725)), ['amount_outlier'], 'a minor unit more does');
  t.same(fired(when(1n, twenty)), [], 'only unusually large amounts');

  // The sample size: 19, 20, 21 debits, each with median 100.00 and MAD 10.00.
  t.same(fired(when(100_000n, amounts([9, 9_000n], [1, 10_000n], [9, 11_000n]))), [], '19 debits: too few');
  t.same(fired(when(100_000n, amounts([10, 9_000n], [1, 10_000n], [10, 11_000n]))), ['amount_outlier'], '21');
  const old = (msAgo: number) => [...twenty.slice(1), debit(9_000n, msAgo)];
  t.same(fired(when(100_000n, old(90 * day))), ['amount_outlier'], 'a debit exactly 90 days old counts');
  t.same(fired(when(100_000n, old(90 * day + 1))), [], '1 ms older does not: 19 left');

  // MAD 0 (15 of 20 at the median): the mean absolute deviation, 2500, × 1.2533.
  // z ≥ 3.5 ⇔ x ≥ 10000 + 3.5 × 1.2533 × 2500 = 20966.375
  const flat = amounts([15, 10_000n], [5, 20_000n]);
  t.same(fired(when(20_966n, flat)), [], 'MAD 0: just below');
  t.same(fired(when(20_967n, flat)), ['amount_outlier'], 'MAD 0: just above');
  t.match(when(20_967n, flat).findings[0]?.figures, { mad: '0', meanAbsoluteDeviation: '2500' });
  // Halves stay exact: an even sample's median between two amounts.
  t.match(robustZ(10n, [1n, 2n]), { median: '1.5', mad: '0.5' });

  // Every debit the same: any amount above it fires, nothing else.
  const same = amounts([outlierSampleMin, 10_000n]);
  t.same(fired(when(10_000n, same)), [], 'at the median');
  t.same(fired(when(9_999n, same)), [], 'below it');
  const up = when(10_001n, same);
  t.same(up.flags, ['amount_outlier'], '1 minor unit above it');
  t.equal(up.findings[0]?.figures['z'], 'Infinity');
});

t.test('sanctioned_payee: the beneficiary name or IBAN on the watch list rejects', async (t) => {
  const watchList: WatchEntry[] = [
    { name: 'José  Müller' },
    { iban: 'DE89 3704 0044 0532 0130 00' },
    { name: '   ' },
    {},
  ];
  const when = (payee: RuleCommand['payee']) =>
    evaluateRules(command({ code: 'external', payee }), context(), policy('sanctioned_payee', { watchList }));
  const byName = when({ iban: 'FR1420041010050500013M02606', name: ' jose\tMULLER ' });
  t.equal(byName.outcome, 'reject', 'case, accents and whitespace do not count');
  t.same(byName.findings, [
    {
      ruleId: 'sanctioned_payee',
      mode: 'active',
      outcome: 'reject',
      figures: { matchedOn: 'name', watchListEntry: '0' },
    },
  ]);
  const byIban = when({ iban: 'de89370400440532013000', name: 'Someone Else' });
  t.same(byIban.findings[0]?.figures, { matchedOn: 'iban', watchListEntry: '1' });
  t.equal(
    when({ iban: 'FR1420041010050500013M02606', name: 'Jose Mueller' }).outcome,
    'allow',
    'no fuzzy match',
  );
  t.equal(
    when({ iban: 'FR1420041010050500013M02606', name: '' }).outcome,
    'allow',
    'a blank entry matches nothing',
  );
  t.equal(when({ accountId: 'acc-x' }).outcome, 'allow', 'neither name nor IBAN: nothing to match');
  t.equal(normalizeWatchName('Straße ﬁsh'), normalizeWatchName('STRASSE FISH'), 'ß and ligatures fold');
  t.equal(normalizeWatchName('محمد  علي'), 'محمد علي', 'other scripts are kept, not dropped');
  t.equal(normalizeWatchIban(' gb82\u00a0west 1234 5698 7654 32 '), 'GB82WEST12345698765432');
});

t.test('modes: active decides, shadow only records, off is not evaluated', async (t) => {
  const big = command({ amount: 600_000n });
  const withModes = (modes: Partial<Record<RuleId, RuleMode>>) =>
    evaluateRules(big, context(), policy(null, { modes: modesWith(modes) }));
  const active = withModes({ large_amount: 'active' });
  t.same([active.outcome, active.flags, active.shadow], ['review', ['large_amount'], []]);
  const shadow = withModes({ large_amount: 'shadow' });
  t.same(
    [shadow.outcome, shadow.flags, shadow.shadow],
    ['allow', [], ['large_amount']],
    'shadow changes nothing',
  );
  t.equal(shadow.findings[0]?.mode, 'shadow', 'but records what it would have done');
  t.equal(shadow.findings[0]?.outcome, 'review');
  const off = withModes({ large_amount: 'off' });
  t.same([off.outcome, off.flags, off.shadow, off.findings], ['allow', [], [], []]);
  t.doesNotThrow(
    () =>
      evaluateRules(
        big,
        context({ recentDebits: [{ amount: 1n, at: 'not a date', payeeKey: 'x' }] }),
        policy(null),
      ),
    'rules that are off do not even read the history',
  );
});

t.test('reject beats review; flags keep the order of ruleIds', async (t) => {
  const evaluation = evaluateRules(
    command({
      code: 'external',
      amount: 600_000n,
      payee: { iban: 'DE89370400440532013000', name: 'Ann Bad' },
    }),
    context({ lastDebitAt: ago(365 * day) }),
    { thresholds: defaultRuleThresholds(), modes: defaultRuleModes(), watchList: [{ name: 'ann bad' }] },
  );
  t.equal(evaluation.outcome, 'reject');
  t.same(evaluation.flags, ['large_amount', 'new_payee_large', 'dormant_account', 'sanctioned_payee']);
  t.same(
    evaluation.findings.map((f) => f.ruleId),
    evaluation.flags,
  );
  const shadowed = evaluateRules(
    command({ amount: 600_000n, payee: { accountId: 'acc-bob', name: 'Ann Bad' } }),
    context(),
    {
      thresholds: defaultRuleThresholds(),
      modes: modesWith({ large_amount: 'active', sanctioned_payee: 'shadow' }),
      watchList: [{ name: 'Ann Bad' }],
    },
  );
  t.same(
    [shadowed.outcome, shadowed.shadow],
    ['review', ['sanctioned_payee']],
    'a shadow reject rejects nothing',
  );
});

t.test('programmer errors are assertions', async (t) => {
  t.throws(() => evaluateRules(command({ amount: 0n }), context(), policy('large_amount')));
  t.throws(() => evaluateRules(command({ now: new Date(Number.NaN) }), context(), policy('large_amount')));
  t.throws(() =>
    evaluateRules(
      command(),
      context({ recentDebits: [{ amount: 1n, at: 'yesterday', payeeKey: 'x' }] }),
      policy('velocity'),
    ),
  );
  t.throws(() =>
    evaluateRules(
      command(),
      context(),
      policy('velocity', { thresholds: { ...defaultRuleThresholds(), velocityCount: -1 } }),
    ),
  );
});

// Properties over arbitrary histories, thresholds, watch lists and modes.

const rank: Record<EvaluationOutcome, number> = { allow: 0, review: 1, reject: 2 };
const names = ['Ann Bad', 'ann bad', 'Bob Good', 'José'];
const ibans = ['DE89370400440532013000', 'de89 3704 0044 0532 0130 00', 'GB82WEST12345698765432'];
const arbitraryPayee = fc.oneof(
  fc.record({ accountId: fc.constantFrom('acc-bob', 'acc-carol') }, { requiredKeys: ['accountId'] }),
  fc.record({ iban: fc.constantFrom(...ibans), name: fc.constantFrom(...names) }),
);
const arbitraryCommand = fc.record({
  code: fc.constantFrom('transfer' as const, 'external' as const),
  amount: fc.bigInt({ min: 1n, max: 2_000_000n }),
  currency: fc.constantFrom(...currencies),
  payee: arbitraryPayee,
  now: fc.constant(now),
});
const msAgo = fc.integer({ min: 0, max: 400 * day });
const arbitraryContext = fc.record({
  recentDebits: fc.array(
    fc.record({
      amount: fc.bigInt({ min: 1n, max: 2_000_000n }),
      at: msAgo.map(ago),
      payeeKey: fc.constantFrom('acct:acc-bob', 'acct:acc-carol'),
    }),
    { maxLength: 40 },
  ),
  knownPayees: fc
    .subarray(['acct:acc-bob', 'acct:acc-carol', `iban:${ibans[0]}`])
    .map((keys) => new Set(keys)),
  lastDebitAt: fc.option(msAgo.map(ago), { nil: null }),
  accountOpenedAt: msAgo.map((ms) => ago(ms + 400 * day)),
});
const amountPerCurrency = fc
  .bigInt({ min: 1n, max: 1_000_000n })
  .map(
    (amount) =>
      Object.fromEntries(currencies.map((c) => [c, amount])) as Record<(typeof currencies)[number], bigint>,
  );
const arbitraryThresholds = fc.record({
  reviewAmountMin: amountPerCurrency,
  velocityCount: fc.integer({ min: 0, max: 30 }),
  velocityWindowMinutes: fc.integer({ min: 0, max: 60 * 24 * 30 }),
  structuringThreshold: amountPerCurrency,
  structuringCount: fc.integer({ min: 0, max: 5 }),
  newPayeeAmountMin: amountPerCurrency,
  dormantDays: fc.integer({ min: 0, max: 400 }),
  outlierZ: fc.double({ min: -5, max: 10, noNaN: true }),
  reviewTimeoutHours: fc.constant(72),
});
const arbitraryWatchList = fc.array(
  fc.record({ name: fc.constantFrom(...names), iban: fc.constantFrom(...ibans) }, { requiredKeys: [] }),
  { maxLength: 3 },
);
const arbitraryModes = fc
  .tuple(...ruleIds.map(() => fc.constantFrom<RuleMode>('active', 'shadow', 'off')))
  .map((modes) => Object.fromEntries(ruleIds.map((id, i) => [id, modes[i]])) as Record<RuleId, RuleMode>);

t.test('property: with every rule off, everything is allowed', async (t) => {
  fc.assert(
    fc.property(
      arbitraryCommand,
      arbitraryContext,
      arbitraryThresholds,
      arbitraryWatchList,
      (c, x, thresholds, watchList) => {
        const evaluation = evaluateRules(c, x, { thresholds, modes: modesWith({}), watchList });
        return (
          evaluation.outcome === 'allow' && evaluation.findings.length === 0 && evaluation.flags.length === 0
        );
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('property: active → shadow never makes the outcome stricter; shadow never decides', async (t) => {
  fc.assert(
    fc.property(
      arbitraryCommand,
      arbitraryContext,
      arbitraryThresholds,
      arbitraryWatchList,
      arbitraryModes,
      fc.constantFrom(...ruleIds),
      (c, x, thresholds, watchList, modes, ruleId) => {
        const asActive = evaluateRules(c, x, {
          thresholds,
          watchList,
          modes: { ...modes, [ruleId]: 'active' },
        });
        const asShadow = evaluateRules(c, x, {
          thresholds,
          watchList,
          modes: { ...modes, [ruleId]: 'shadow' },
        });
        const asOff = evaluateRules(c, x, { thresholds, watchList, modes: { ...modes, [ruleId]: 'off' } });
        return (
          rank[asShadow.outcome] <= rank[asActive.outcome] &&
          asShadow.outcome === asOff.outcome &&
          asShadow.flags.join() === asOff.flags.join()
        );
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});
