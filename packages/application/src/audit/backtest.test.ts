import { createTransfer, externalTransfer, fundedAccount } from '@ledger/application/testing';
import {
  defaultRuleModes,
  defaultRuleThresholds,
  type RuleId,
  type RuleThresholds,
  type WatchEntry,
} from '@ledger/domain';
import type { CreateTransferCommand } from '@ledger/domain/ledger';
import type { EventStore, SqlClient } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import { until } from '@ledger/testkit';
import t from 'tap';
import { createLedger, runTransferCommand } from '../ledger/index.js';
import {
  applyThresholdOverride,
  type BacktestReport,
  backtestReportView,
  backtestRule,
  minorTextToMajor,
  parseWatchList,
} from './backtest.js';

// The backtest of one fraud rule over a history made through the ledger's real transfer
// commands (with no rules, but for three transfers made with rules, so that the history's
// own flags are there to compare), designed so that what each rule fires is known exactly.
// Each account below plays one rule; amounts are chosen so that no other account reaches
// the thresholds of a rule it does not play (the comments say where one does).

const { store, database } = await openTestStore('application_backtest', t);
const ledger = createLedger(store);
const meta = { actorId: 'test' };

const minute = 60_000;
const hour = 60 * minute;
/** The history's clock: transfers are dated from here on, days in the past. */
const t0 = Date.now() - 20 * 24 * hour;
const at = (ms: number) => new Date(t0 + ms);

let attempts = 0;
async function transfer(command: CreateTransferCommand, expect: 'accepted' | 'rejected' = 'accepted') {
  const outcome = await runTransferCommand(ledger, command, meta);
  // Thrown, not asserted: tap's root test ends at its first assertion outside a subtest.
  if (outcome.status !== expect) throw new Error(`${command.amount}: ${JSON.stringify(outcome)}`);
  attempts += 1;
  return command.transferId;
}
const pay = (from: string, to: string, amount: bigint, when: number, extra = {}) =>
  transfer(createTransfer(from, to, amount, { now: at(when), ...extra }));

const rich = () => fundedAccount(ledger, 1_000_000_00n, meta);
const payee = () => fundedAccount(ledger, 0n, meta);

// structuring (default: band [900.00, 1000.00), 3 within 24 h, this one counted).
const s1 = await rich();
const s2 = await rich();
const sPayee = await payee();
const structuring = {
  first950: await pay(s1, sPayee, 950_00n, 0), // band, count 1
  out500: await pay(s1, sPayee, 500_00n, hour), // not in the band
  band990: await pay(s1, sPayee, 990_00n, 2 * hour), // count 2
  band99999: await pay(s1, sPayee, 999_99n, 3 * hour), // count 3: fires
  at1000: await pay(s1, sPayee, 1000_00n, 4 * hour), // at the threshold: not in the band
  band900: await pay(s1, sPayee, 900_00n, 5 * hour), // count 4: fires
  late950: await pay(s1, sPayee, 950_00n, 30 * hour), // the others are older than 24 h: count 1
  s2a: await pay(s2, sPayee, 920_00n, 0), // count 1
  s2b: await pay(s2, sPayee, 930_00n, 30 * minute), // count 2
};

// velocity (default: more than 10 within 60 min, this one counted): 12 in 12 minutes, and 10.
const v1 = await rich();
const v2 = await rich();
const vPayee = await payee();
const velocity = { v1: [] as string[], v2: [] as string[] };
for (let i = 0; i < 12; i += 1) velocity.v1.push(await pay(v1, vPayee, 10_00n, 2 * 24 * hour + i * minute));
for (let i = 0; i < 10; i += 1) velocity.v2.push(await pay(v2, vPayee, 10_00n, 2 * 24 * hour + i * minute));

// new_payee_large (default: a first payment to a payee of 2000.00 or more), two hours apart.
const n1 = await rich();
const [p1, p2, p3] = [await payee(), await payee(), await payee()];
const newPayee = {
  p1First: await pay(n1, p1, 2500_00n, 4 * 24 * hour), // fires
  p1Again: await pay(n1, p1, 3000_00n, 4 * 24 * hour + 2 * hour), // known payee
  p2Below: await pay(n1, p2, 1999_99n, 4 * 24 * hour + 4 * hour), // below; paid, so p2 is known
  p2Again: await pay(n1, p2, 2000_00n, 4 * 24 * hour + 6 * hour), // known payee
  // A hold does not make its payee known (nothing was paid): both fire.
  p3Hold: await pay(n1, p3, 2000_00n, 4 * 24 * hour + 8 * hour, { mode: 'two-phase' }),
  p3Again: await pay(n1, p3, 2100_00n, 4 * 24 * hour + 10 * hour),
};

// large_amount (default: 5000.00 or more). Both first payments to their payee, so they are
// new_payee_large too; the refusal is judged (the decider judges before funds), the
// same-account refusal is not (refused before the rules).
const l1 = await rich();
const lPayee = await payee();
const r1 = await fundedAccount(ledger, 100_00n, meta);
const large = {
  at5000: await pay(l1, lPayee, 5000_00n, 6 * 24 * hour), // fires (and new payee)
  below: await pay(l1, lPayee, 4999_99n, 6 * 24 * hour + hour), // below; known payee
  refused: await transfer(createTransfer(r1, lPayee, 6000_00n, { now: at(6 * 24 * hour) }), 'rejected'),
};
await runTransferCommand(ledger, createTransfer(r1, r1, 6000_00n, { now: at(6 * 24 * hour) }), meta);

// Made with the rules, as the use cases make them: the history's own flags. The first is
// held for large_amount (and new_payee_large) as the backtest says too; the second was held
// under a lower threshold of its time, which the backtest's does not reach.
const l2 = await rich();
const rules = (thresholds: RuleThresholds) => ({
  policy: { thresholds, modes: defaultRuleModes(), watchList: [] },
  settingsVersion: '0',
});
const lowered = defaultRuleThresholds();
lowered.reviewAmountMin.EUR = 100_00n;
const history = {
  held7000: await pay(l2, lPayee, 7000_00n, 8 * 24 * hour, { rules: rules(defaultRuleThresholds()) }),
  held200: await pay(l2, lPayee, 200_00n, 8 * 24 * hour + hour, { rules: rules(lowered) }),
};

// sanctioned_payee: an external transfer to a name and IBAN a watch list may hold.
const e1 = await rich();
const external = await externalTransfer(
  ledger,
  {
    from: e1,
    beneficiary: { iban: 'DE89370400440532013000', name: 'Acme Shell Co' },
    amount: 50_00n,
    reference: null,
  },
  meta,
);
attempts += 1;

/** Every event stored, visible yet or not (count and last position): what "nothing was written" compares. */
async function stored(sql: SqlClient): Promise<{ count: bigint; last: bigint }> {
  const [row] = await sql.query<{ count: string; last: string | null }>(
    'SELECT count(*)::text AS count, max(global_position)::text AS last FROM es.events',
  );
  return { count: BigInt(row!.count), last: BigInt(row!.last ?? '0') };
}

/**
 * The head once every stored event is visible: readers see positions below the oldest
 * transaction still open on the server, which another test's database may hold back.
 */
async function settledHead(store: EventStore, sql: SqlClient): Promise<bigint> {
  const { last } = await stored(sql);
  await until('every stored event visible', async () => (await store.headPosition()) >= last, 20_000);
  return last;
}

const run = (ruleId: RuleId, overrides: string[] = [], watchList: WatchEntry[] = [], examplesMax = 10) => {
  let thresholds = defaultRuleThresholds();
  for (const text of overrides) {
    const applied = applyThresholdOverride(thresholds, text);
    if (!applied.ok) throw new Error(applied.message);
    thresholds = applied.value;
  }
  return backtestRule(store, { ruleId, thresholds, watchList, examplesMax });
};
const ids = (report: BacktestReport) => report.examples.map((e) => e.transferId);

t.test(
  'structuring: the transfers in the band that complete the pattern, judged before their own legs',
  async (t) => {
    const head = await settledHead(store, database.sql);
    const before = await stored(database.sql);
    const report = await run('structuring');
    t.equal(report.attempts, attempts, 'every customer transfer, the judged refusal included');
    t.equal(report.notJudged, 1, 'the same-account refusal is not judged');
    t.equal(report.fired, 2);
    t.equal(report.accounts, 1);
    t.same(ids(report), [structuring.band99999, structuring.band900]);
    t.same(
      report.examples.map((e) => e.figures),
      [
        { count: '3', structuringCount: '3', amount: '99999', structuringThreshold: '100000' },
        { count: '4', structuringCount: '3', amount: '90000', structuringThreshold: '100000' },
      ],
    );
    t.match(report.examples[0], { amount: 999_99n, currency: 'EUR', code: 'transfer', recorded: 'posted' });
    t.equal(report.examples[0]!.at, at(3 * hour).toISOString());
    t.equal(report.history.flagged, 0);
    t.equal(report.firedOnly, 2);
    t.equal(report.position, head, 'the whole log was read');
    t.same(await stored(database.sql), before, 'nothing was written');

    const two = await run('structuring', ['structuringCount=2']);
    t.equal(two.fired, 4, 's1: 990, 999.99, 900; s2: its second');
    t.same(ids(two), [structuring.band990, structuring.band99999, structuring.band900, structuring.s2b]);

    const higher = await run('structuring', ['structuringThreshold.EUR=1000.01']);
    t.equal(higher.fired, 2, '1000.00 is in the band now, 900.00 no longer');
    t.same(ids(higher), [structuring.band99999, structuring.at1000]);

    const otherCurrency = await run('structuring', ['structuringThreshold.USD=1.00']);
    t.equal(otherCurrency.fired, 2, 'another currency changes nothing here');

    const one = await run('structuring', [], [], 1);
    t.same(ids(one), [structuring.band99999], 'the first example only');
    t.equal(one.fired, 2, 'counted all the same');
    t.same((await run('structuring', [], [], 0)).examples, []);
  },
);

t.test('velocity: bursts over the count', async (t) => {
  const report = await run('velocity');
  t.equal(report.fired, 2);
  t.same(ids(report), velocity.v1.slice(10));
  t.same(report.examples[0]!.figures, { count: '11', velocityCount: '10', windowMinutes: '60' });

  const nine = await run('velocity', ['velocityCount=9']);
  t.equal(nine.fired, 4);
  t.equal(nine.accounts, 2);
  t.same(ids(nine), [...velocity.v1.slice(9), velocity.v2[9]]);

  const narrow = await run('velocity', ['velocityCount=9', 'velocityWindowMinutes=5']);
  t.equal(narrow.fired, 0, 'at most 6 within 5 minutes');
  const five = await run('velocity', ['velocityCount=5', 'velocityWindowMinutes=5']);
  t.equal(five.fired, 7 + 5, 'the 6th on: 7 of v1, 5 of v2');
});

t.test('new_payee_large: a first payment to a payee; a hold does not make it known', async (t) => {
  const report = await run('new_payee_large');
  const expected = [
    newPayee.p1First,
    newPayee.p3Hold,
    newPayee.p3Again,
    large.at5000,
    large.refused,
    history.held7000,
  ];
  t.equal(report.fired, expected.length);
  t.same(ids(report), expected);
  t.same(
    report.examples.map((e) => e.recorded),
    ['posted', 'pending', 'posted', 'posted', 'refused:insufficient_funds', 'held'],
  );
  t.equal(report.history.flagged, 1, 'the 7000.00 held for both rules');
  t.equal(report.firedAndFlagged, 1);

  const lower = await run('new_payee_large', ['newPayeeAmountMin.EUR=1999.99']);
  t.equal(lower.fired, expected.length + 1);
  t.ok(ids(lower).includes(newPayee.p2Below));
});

t.test('large_amount: the history recorded next to the backtest', async (t) => {
  const report = await run('large_amount');
  t.same(ids(report), [large.at5000, large.refused, history.held7000]);
  t.same(report.history, { judged: 2, flagged: 2, shadow: 0, held: 2, refused: 0 });
  t.equal(report.firedAndFlagged, 1, 'the 7000.00');
  t.equal(report.firedOnly, 2, 'made without rules');
  t.equal(report.flaggedOnly, 1, 'the 200.00, held under the lower threshold of its time');
  t.same(
    report.examples.map((e) => e.flaggedInHistory),
    [false, false, true],
  );

  const lower = await run('large_amount', ['reviewAmountMin.EUR=3000.00']);
  t.same(ids(lower), [newPayee.p1Again, large.at5000, large.below, large.refused, history.held7000]);
  t.equal(lower.flaggedOnly, 1);

  const view = backtestReportView(report, { thresholds: defaultRuleThresholds(), watchList: [] });
  t.equal(view.examples[0]!.amount, '5000.00');
  t.same(view.examples[0]!.figures, { amount: '5000.00', reviewAmountMin: '5000.00' });
  t.equal((view.thresholds.reviewAmountMin as Record<string, string>).EUR, '5000.00');
  t.equal(view.fired, 3);
  t.equal(typeof view.position, 'string');
  t.doesNotThrow(() => JSON.stringify(view), 'no bigint left');
});

t.test('sanctioned_payee: the watch list given, names and IBANs normalised', async (t) => {
  t.equal((await run('sanctioned_payee')).fired, 0, 'an empty watch list');
  const byName = await run('sanctioned_payee', [], [{ name: 'ACME  shell co' }]);
  t.same(ids(byName), [external.id]);
  t.same(byName.examples[0]!.figures, { matchedOn: 'name', watchListEntry: '0' });
  t.equal(byName.examples[0]!.code, 'external');
  const byIban = await run(
    'sanctioned_payee',
    [],
    [{ name: 'Someone Else' }, { iban: 'de89 3704 0044 0532 0130 00' }],
  );
  t.same(byIban.examples[0]!.figures, { matchedOn: 'iban', watchListEntry: '1' });
});

t.test('pages and progress: the same report whatever the page size', async (t) => {
  const thresholds = defaultRuleThresholds();
  const whole = await backtestRule(store, {
    ruleId: 'structuring',
    thresholds,
    watchList: [],
    examplesMax: 10,
  });
  const seen: number[] = [];
  const paged = await backtestRule(store, {
    ruleId: 'structuring',
    thresholds,
    watchList: [],
    examplesMax: 10,
    pageSize: 7,
    progressEvery: 50,
    onProgress: ({ events }) => seen.push(events),
  });
  t.same(paged, whole);
  t.ok(seen.length >= Math.floor(whole.events / 50) && seen.length > 0, 'told every 50 events');
  t.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]!));
});

t.test('threshold overrides: names, currencies and values checked', async (t) => {
  const base = defaultRuleThresholds();
  const ok = (text: string) => {
    const r = applyThresholdOverride(base, text);
    if (!r.ok) throw new Error(r.message);
    return r.value;
  };
  t.equal(ok('reviewAmountMin.EUR=3000.00').reviewAmountMin.EUR, 3000_00n);
  t.equal(ok('reviewAmountMin.JPY=3000').reviewAmountMin.JPY, 3000n);
  t.equal(ok('velocityCount=5').velocityCount, 5);
  t.equal(ok('outlierZ=3.0').outlierZ, 3);
  t.equal(ok('outlierZ=2.75').outlierZ, 2.75);
  t.equal(base.reviewAmountMin.EUR, 5000_00n, 'the base is not changed');
  for (const [text, message] of [
    ['nope=1', /unknown threshold/],
    ['reviewTimeoutHours=5', /unknown threshold/],
    ['velocityCount', /name=value/],
    ['reviewAmountMin=3000', /per currency/],
    ['reviewAmountMin.XYZ=3000', /unknown currency/],
    ['reviewAmountMin.EUR=3000.001', /too_many_decimals/],
    ['reviewAmountMin.EUR=0', /greater than 0/],
    ['reviewAmountMin.EUR=-5', /not an amount/],
    ['velocityCount=0', /from 1 to 1000/],
    ['velocityCount=2.5', /whole number/],
    ['velocityCount=1e3', /whole number/],
    ['structuringCount=1', /from 2 to 1000/],
    ['outlierZ=0.1', /from 0.5 to 100/],
    ['outlierZ=3.12345', /at most 4 decimals/],
    ['outlierZ=abc', /a number/],
    ['velocityCount.EUR=3', /unknown threshold/],
  ] as const) {
    const r = applyThresholdOverride(base, text);
    t.notOk(r.ok, text);
    if (!r.ok) t.match(r.message, message, text);
  }
});

t.test('watch list files and amounts in major units', async (t) => {
  t.same(parseWatchList('[{"name":" Acme "},{"iban":"de89 3704"}]'), {
    ok: true,
    value: [{ name: 'Acme' }, { iban: 'DE893704' }],
  });
  for (const bad of ['{', '{}', '[{"nick":"x"}]', '[{}]', '[1]']) t.notOk(parseWatchList(bad).ok, bad);
  t.equal(minorTextToMajor('95000', 'EUR'), '950.00');
  t.equal(minorTextToMajor('5', 'EUR'), '0.05');
  t.equal(minorTextToMajor('12345.5', 'EUR'), '123.455');
  t.equal(minorTextToMajor('7.5', 'JPY'), '7.5');
  t.equal(minorTextToMajor('1500', 'KWD'), '1.500');
  t.equal(minorTextToMajor('-250', 'EUR'), '-2.50');
});

t.test('an empty log', async (t) => {
  const empty = await openTestStore('application_backtest_empty', t);
  const report = await backtestRule(empty.store, {
    ruleId: 'velocity',
    thresholds: defaultRuleThresholds(),
    watchList: [],
    examplesMax: 10,
  });
  t.match(report, { position: 0n, events: 0, attempts: 0, fired: 0, examples: [] });
});
