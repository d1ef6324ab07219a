import { ruleThresholdBounds, watchListLimits } from '@ledger/contracts';
import t from 'tap';
import {
  defaultRuleAmountsText,
  defaultRuleModes,
  defaultRuleThresholds,
  ruleIds,
  watchListEntriesMax,
} from '../fraud/rules.js';
import { currencies } from '../ledger/money.js';
import { decideSettings, type SettingsInput, settingsDataLengthMax } from './decide.js';
import {
  defaultCashApprovalMinText,
  defaultLimitsText,
  defaultSettings,
  evolveSettings,
  foldSettings,
  initialSettingsState,
  type SettingsEvent,
  settingsText,
} from './settings.js';

// Given events / when ChangeSettings / then SettingsChanged or invalid_settings.

const now = new Date('2026-03-01T09:00:00.000Z');
const eur = { transferAmountMax: '2000.00', dailyDebitMax: '5000.00', unverifiedDailyDebitMax: '100.00' };
const change = (settings: SettingsInput) => ({ type: 'ChangeSettings' as const, settings, now });

function accepted(input: SettingsInput, state = initialSettingsState()): SettingsEvent[] {
  const decision = decideSettings(change(input), state);
  if (decision.status !== 'accepted') throw new Error(JSON.stringify(decision.rejection));
  return decision.events;
}

function errors(input: SettingsInput) {
  const decision = decideSettings(change(input), initialSettingsState());
  if (decision.status !== 'rejected') throw new Error('accepted');
  return decision.rejection.errors;
}

t.test('defaults: every currency, the documented amounts, coherent', async (t) => {
  const state = initialSettingsState();
  t.equal(state.status, 'default');
  t.same(settingsText(state.settings).limits, defaultLimitsText);
  t.same(Object.keys(state.settings.limits).sort(), [...currencies].sort());
  t.same(state.settings.limits.EUR, {
    transferAmountMax: 10_000_00n,
    dailyDebitMax: 25_000_00n,
    unverifiedDailyDebitMax: 250_00n,
  });
  t.equal(state.settings.limits.JPY.transferAmountMax, 1_500_000n, 'JPY has no decimals');
  t.equal(state.settings.limits.KWD.unverifiedDailyDebitMax, 75_000n, 'KWD has three');
  for (const currency of currencies) {
    const l = state.settings.limits[currency];
    t.ok(l.unverifiedDailyDebitMax <= l.dailyDebitMax && l.transferAmountMax <= l.dailyDebitMax, currency);
  }
});

t.test(
  'a change holds the whole new settings, in minor units; unnamed currencies take defaults',
  async (t) => {
    const events = accepted({ limits: { EUR: eur } });
    t.equal(events.length, 1);
    const [event] = events;
    t.equal(event?.type, 'SettingsChanged');
    t.same(event?.data.settings.limits.EUR, {
      transferAmountMax: '200000',
      dailyDebitMax: '500000',
      unverifiedDailyDebitMax: '10000',
    });
    t.same(event?.data.settings.limits.USD, {
      transferAmountMax: '1000000',
      dailyDebitMax: '2500000',
      unverifiedDailyDebitMax: '25000',
    });
    t.same(JSON.parse(JSON.stringify(events)), events, 'plain JSON: no bigint in an event');
    const state = foldSettings(events);
    t.match(state, { status: 'set', changedAt: now.toISOString() });
    t.same(settingsText(state.settings).limits.EUR, eur);
    t.same(state.settings.limits.USD, defaultSettings().limits.USD);
  },
);

t.test('a change replaces, never patches; setting what is in force records nothing', async (t) => {
  const first = foldSettings(
    accepted({
      limits: { EUR: eur, JPY: { transferAmountMax: '1', dailyDebitMax: '2', unverifiedDailyDebitMax: '0' } },
    }),
  );
  t.same(
    accepted(
      {
        limits: {
          EUR: eur,
          JPY: { transferAmountMax: '1', dailyDebitMax: '2', unverifiedDailyDebitMax: '0' },
        },
      },
      first,
    ),
    [],
  );
  const second = accepted({ limits: { EUR: eur } }, first).reduce(evolveSettings, first);
  t.same(second.settings.limits.JPY, defaultSettings().limits.JPY, 'JPY left out: back to its default');
  // Writing the defaults down the first time is an explicit choice, and recorded.
  t.equal(accepted({ limits: {} }).length, 1);
});

t.test('a zero unverified cap is a policy; zero for the others is refused', async (t) => {
  t.equal(accepted({ limits: { EUR: { ...eur, unverifiedDailyDebitMax: '0' } } }).length, 1);
  t.same(errors({ limits: { EUR: { ...eur, transferAmountMax: '0.00' } } }), [
    { path: 'limits.EUR.transferAmountMax', message: 'must be > 0' },
  ]);
});

t.test('invalid_settings names every bad field', async (t) => {
  t.same(errors({ limits: { XYZ: eur } }), [{ path: 'limits.XYZ', message: 'unknown currency' }]);
  t.same(
    errors({ limits: { EUR: { ...eur, dailyDebitMax: '-5' } } }).map((e) => e.path),
    ['limits.EUR.dailyDebitMax'],
  );
  t.same(
    errors({ limits: { EUR: { ...eur, transferAmountMax: '1e3', unverifiedDailyDebitMax: '1.234' } } }),
    [
      { path: 'limits.EUR.transferAmountMax', message: 'must be plain decimal notation, e.g. "1000.00"' },
      { path: 'limits.EUR.unverifiedDailyDebitMax', message: "more decimals than the currency's exponent" },
    ],
  );
  t.same(errors({ limits: { EUR: { ...eur, dailyDebitMax: 5000 } } }), [
    { path: 'limits.EUR.dailyDebitMax', message: 'must be a decimal string, e.g. "1000.00"' },
  ]);
  t.same(
    errors({
      limits: { JPY: { transferAmountMax: '1.5', dailyDebitMax: '10', unverifiedDailyDebitMax: '1' } },
    }),
    [{ path: 'limits.JPY.transferAmountMax', message: "more decimals than the currency's exponent" }],
  );
  t.same(
    errors({ limits: { EUR: { ...eur, dailyDebitMax: '1000000000000000.00' } } }).map((e) => e.path),
    ['limits.EUR.dailyDebitMax'],
  );
  t.same(errors({ limits: { EUR: { transferAmountMax: '1.00', dailyDebitMax: '1.00' } } }), [
    { path: 'limits.EUR.unverifiedDailyDebitMax', message: 'must be a decimal string, e.g. "1000.00"' },
  ]);
  t.same(errors({ limits: { EUR: { ...eur, perWeek: '1.00' } } }), [
    { path: 'limits.EUR.perWeek', message: 'unknown limit' },
  ]);
  t.same(errors({ limits: {}, fees: { wire: '1.00' } }), [
    { path: 'fees.wire', message: 'no such setting yet' },
  ]);
  // A limit that could never bind is a typo.
  t.same(errors({ limits: { EUR: { ...eur, transferAmountMax: '5000.01' } } }), [
    { path: 'limits.EUR.transferAmountMax', message: 'must not exceed dailyDebitMax' },
  ]);
  t.same(errors({ limits: { EUR: { ...eur, unverifiedDailyDebitMax: '5000.01' } } }), [
    { path: 'limits.EUR.unverifiedDailyDebitMax', message: 'must not exceed dailyDebitMax' },
  ]);
});

t.test('cashApprovalMin: per currency, defaults like the limits, > 0, replaced with the rest', async (t) => {
  const defaults = initialSettingsState().settings;
  t.same(settingsText(defaults).cashApprovalMin, defaultCashApprovalMinText);
  t.same(Object.keys(defaultCashApprovalMinText).sort(), [...currencies].sort());
  for (const currency of ['EUR', 'USD', 'GBP', 'CHF'] as const)
    t.equal(defaults.cashApprovalMin[currency], 10_000_00n, `${currency} 10 000`);
  for (const currency of currencies) {
    t.equal(
      defaults.cashApprovalMin[currency],
      defaults.limits[currency].transferAmountMax,
      `${currency}: the value of the per-transfer limit`,
    );
  }

  const events = accepted({ limits: {}, cashApprovalMin: { EUR: '5000.00', JPY: '700000' } });
  t.same(events[0]?.data.settings.cashApprovalMin, {
    ...Object.fromEntries(currencies.map((c) => [c, String(defaults.cashApprovalMin[c])])),
    EUR: '500000',
    JPY: '700000',
  });
  const state = foldSettings(events);
  t.equal(state.settings.cashApprovalMin.EUR, 5_000_00n);
  t.equal(state.settings.cashApprovalMin.USD, 10_000_00n, 'a currency left out keeps its default');
  t.same(
    accepted({ limits: {}, cashApprovalMin: { EUR: '5000.00', JPY: '700000' } }, state),
    [],
    'no change',
  );
  const back = accepted({ limits: {} }, state).reduce(evolveSettings, state);
  t.equal(back.settings.cashApprovalMin.EUR, 10_000_00n, 'left out of a change: back to the default');

  t.same(errors({ limits: {}, cashApprovalMin: { EUR: '0' } }), [
    { path: 'cashApprovalMin.EUR', message: 'must be > 0' },
  ]);
  t.same(errors({ limits: {}, cashApprovalMin: { EUR: '-1.00', XYZ: '1', JPY: '1.5', USD: 100 } }), [
    { path: 'cashApprovalMin.EUR', message: 'must not be negative' },
    { path: 'cashApprovalMin.XYZ', message: 'unknown currency' },
    { path: 'cashApprovalMin.JPY', message: "more decimals than the currency's exponent" },
    { path: 'cashApprovalMin.USD', message: 'must be a decimal string, e.g. "1000.00"' },
  ]);

  // An event written before cashApprovalMin existed: the defaults.
  const older = foldSettings([
    {
      type: 'SettingsChanged',
      data: {
        settings: {
          limits: { EUR: { transferAmountMax: '1', dailyDebitMax: '2', unverifiedDailyDebitMax: '0' } },
          fees: {},
          ruleThresholds: {},
        },
        at: now.toISOString(),
      },
    },
  ]);
  t.same(older.settings.cashApprovalMin, defaults.cashApprovalMin);
});

t.test('programmer errors: a corrupt event throws', async (t) => {
  const bad = {
    type: 'SettingsChanged',
    data: { settings: { limits: { EUR: { ...eur } }, fees: {}, ruleThresholds: {} }, at: now.toISOString() },
  } as SettingsEvent;
  t.throws(() => foldSettings([bad]), /malformed minor-unit amount/);
  t.throws(
    () => evolveSettings(initialSettingsState(), { type: 'Other' } as never),
    /unhandled settings event/,
  );
  t.throws(
    () => decideSettings({ type: 'Other' } as never, initialSettingsState()),
    /unhandled settings command/,
  );
});

t.test('rule settings: the defaults, every currency and rule, in the API form', async (t) => {
  const { settings } = initialSettingsState();
  t.same(settings.ruleThresholds, defaultRuleThresholds());
  t.same(settings.rules, defaultRuleModes());
  t.same(settings.watchList, []);
  const text = settingsText(settings);
  for (const name of ['reviewAmountMin', 'structuringThreshold', 'newPayeeAmountMin'] as const) {
    t.same(
      text.ruleThresholds[name],
      Object.fromEntries(currencies.map((c) => [c, defaultRuleAmountsText[c][name]])),
      `${name}: major units, every currency`,
    );
  }
  t.match(text.ruleThresholds, {
    velocityCount: 10,
    velocityWindowMinutes: 60,
    structuringCount: 3,
    dormantDays: 180,
    outlierZ: 3.5,
    reviewTimeoutHours: 72,
  });
  t.same(Object.keys(text.rules), [...ruleIds]);
  t.same(text.watchList, []);
});

t.test('rule settings: partial input over the defaults, minor units in the event, folded back', async (t) => {
  const events = accepted({
    limits: {},
    ruleThresholds: {
      reviewAmountMin: { EUR: '7500.50', JPY: '1000000' },
      velocityCount: 5,
      outlierZ: 4.25,
    },
    rules: { velocity: 'shadow', amount_outlier: 'off' },
    watchList: [
      { name: '  Ivan Example ' },
      { iban: 'de89 3704 0044 0532 0130 00' },
      { name: 'X', iban: 'GB29NWBK' },
    ],
  });
  const data = events[0]!.data.settings;
  t.equal(data.ruleThresholds.reviewAmountMin?.EUR, '750050');
  t.equal(data.ruleThresholds.reviewAmountMin?.USD, '500000', 'a currency left out: its default');
  t.equal(data.ruleThresholds.structuringThreshold?.KWD, '300000');
  t.match(data.ruleThresholds, { velocityCount: 5, velocityWindowMinutes: 60, outlierZ: 4.25 });
  t.same(data.rules, { ...defaultRuleModes(), velocity: 'shadow', amount_outlier: 'off' });
  t.same(data.watchList, [
    { name: 'Ivan Example' },
    { iban: 'DE89370400440532013000' },
    { name: 'X', iban: 'GB29NWBK' },
  ]);
  t.same(JSON.parse(JSON.stringify(events)), events, 'plain JSON: no bigint in an event');

  const state = foldSettings(events);
  t.equal(state.settings.ruleThresholds.reviewAmountMin.EUR, 7_500_50n);
  t.equal(state.settings.ruleThresholds.reviewAmountMin.JPY, 1_000_000n);
  t.equal(state.settings.ruleThresholds.reviewAmountMin.GBP, 5_000_00n);
  t.equal(state.settings.ruleThresholds.dormantDays, 180);
  t.equal(state.settings.rules.velocity, 'shadow');
  t.equal(state.settings.rules.large_amount, 'active');
  const text = settingsText(state.settings);
  t.equal(text.ruleThresholds.reviewAmountMin.EUR, '7500.50');
  t.equal(text.ruleThresholds.outlierZ, 4.25);
  t.same(text.watchList, data.watchList);

  t.same(
    accepted(
      {
        limits: {},
        ruleThresholds: {
          reviewAmountMin: { EUR: '7500.50', JPY: '1000000' },
          velocityCount: 5,
          outlierZ: 4.25,
        },
        rules: { velocity: 'shadow', amount_outlier: 'off', large_amount: 'active' },
        watchList: [
          { name: 'Ivan Example' },
          { iban: 'DE89370400440532013000' },
          { name: 'X', iban: 'gb29 nwbk' },
        ],
      },
      state,
    ),
    [],
    'the same settings written otherwise: no change',
  );
  const back = accepted({ limits: {} }, state).reduce(evolveSettings, state);
  t.same(back.settings.ruleThresholds, defaultRuleThresholds(), 'left out of a change: the defaults');
  t.same(back.settings.rules, defaultRuleModes());
  t.same(back.settings.watchList, []);
  t.equal(
    accepted({ limits: {}, watchList: [{ name: 'A' }, { name: 'A' }] }).length,
    1,
    'duplicates are fine',
  );
});

t.test('rule settings: an event written before they existed folds to the defaults', async (t) => {
  const older = foldSettings([
    {
      type: 'SettingsChanged',
      data: {
        settings: {
          limits: {},
          cashApprovalMin: { EUR: '100' },
          fees: {},
          ruleThresholds: {},
          retentionDays: 10,
        },
        at: now.toISOString(),
      },
    },
  ]);
  t.same(older.settings.ruleThresholds, defaultRuleThresholds());
  t.same(older.settings.rules, defaultRuleModes());
  t.same(older.settings.watchList, []);
  // A currency or a rule added to the bank after an event: its default.
  const partial = foldSettings([
    {
      type: 'SettingsChanged',
      data: {
        settings: {
          limits: {},
          fees: {},
          ruleThresholds: { reviewAmountMin: { EUR: '100' }, dormantDays: 30 },
          rules: { velocity: 'off' },
        },
        at: now.toISOString(),
      },
    },
  ]);
  t.equal(partial.settings.ruleThresholds.reviewAmountMin.EUR, 100n);
  t.equal(partial.settings.ruleThresholds.reviewAmountMin.USD, defaultRuleThresholds().reviewAmountMin.USD);
  t.equal(partial.settings.ruleThresholds.dormantDays, 30);
  t.equal(partial.settings.ruleThresholds.velocityCount, 10);
  t.same(partial.settings.rules, { ...defaultRuleModes(), velocity: 'off' });
  const corrupt = (ruleThresholds: object, rules?: object) =>
    foldSettings([
      {
        type: 'SettingsChanged',
        data: { settings: { limits: {}, fees: {}, ruleThresholds, ...(rules ? { rules } : {}) }, at: '' },
      } as SettingsEvent,
    ]);
  t.throws(() => corrupt({ reviewAmountMin: { EUR: '1.5' } }), /malformed minor-unit amount/);
  t.throws(() => corrupt({ velocityCount: 1.5 }), /not a count/);
  t.throws(() => corrupt({ outlierZ: 'x' }), /not a z/);
  t.throws(() => corrupt({}, { velocity: 'loud' }), /not a rule mode/);
});

t.test('rule thresholds: each bound just inside and just outside', async (t) => {
  for (const [name, { min, max }] of Object.entries(ruleThresholdBounds)) {
    const inside = accepted({ limits: {}, ruleThresholds: { [name]: min } });
    t.equal(foldSettings(inside).settings.ruleThresholds[name as 'velocityCount'], min, `${name} ${min}`);
    t.equal(accepted({ limits: {}, ruleThresholds: { [name]: max } }).length, 1, `${name} ${max}`);
    const step = name === 'outlierZ' ? 0.0001 : 1;
    for (const outside of [min - step, max + step]) {
      t.same(
        errors({ limits: {}, ruleThresholds: { [name]: outside } }).map((e) => e.path),
        [`ruleThresholds.${name}`],
        `${name} ${outside}`,
      );
    }
  }
  t.same(ruleThresholdBounds, {
    velocityCount: { min: 1, max: 1000 },
    velocityWindowMinutes: { min: 1, max: 10_080 },
    structuringCount: { min: 2, max: 1000 },
    dormantDays: { min: 1, max: 3650 },
    reviewTimeoutHours: { min: 1, max: 720 },
    outlierZ: { min: 0.5, max: 100, decimalsMax: 4 },
  });
  t.equal(accepted({ limits: {}, ruleThresholds: { outlierZ: 3.1234 } }).length, 1, '4 decimals');
  t.same(errors({ limits: {}, ruleThresholds: { outlierZ: 3.12345 } }), [
    { path: 'ruleThresholds.outlierZ', message: 'a number from 0.5 to 100 with at most 4 decimals' },
  ]);
  t.same(
    errors({
      limits: {},
      ruleThresholds: {
        velocityCount: 2.5,
        velocityWindowMinutes: '60',
        dormantDays: null,
        outlierZ: Number.NaN,
        reviewTimeoutHours: Number.POSITIVE_INFINITY,
        weekly: 1,
      },
    }),
    [
      { path: 'ruleThresholds.velocityCount', message: 'a whole number from 1 to 1000' },
      { path: 'ruleThresholds.velocityWindowMinutes', message: 'a whole number from 1 to 10080' },
      { path: 'ruleThresholds.dormantDays', message: 'a whole number from 1 to 3650' },
      { path: 'ruleThresholds.outlierZ', message: 'a number from 0.5 to 100 with at most 4 decimals' },
      { path: 'ruleThresholds.reviewTimeoutHours', message: 'a whole number from 1 to 720' },
      { path: 'ruleThresholds.weekly', message: 'unknown threshold' },
    ],
  );
});

t.test('rule thresholds: amounts per currency, > 0, in the currency’s exponent', async (t) => {
  t.same(
    errors({
      limits: {},
      ruleThresholds: {
        reviewAmountMin: { EUR: '0', XYZ: '1', JPY: '1.5' },
        structuringThreshold: { KWD: '1.0001', USD: 100 },
        newPayeeAmountMin: '2000.00',
      },
    }),
    [
      { path: 'ruleThresholds.reviewAmountMin.EUR', message: 'must be > 0' },
      { path: 'ruleThresholds.reviewAmountMin.XYZ', message: 'unknown currency' },
      { path: 'ruleThresholds.reviewAmountMin.JPY', message: "more decimals than the currency's exponent" },
      {
        path: 'ruleThresholds.structuringThreshold.KWD',
        message: "more decimals than the currency's exponent",
      },
      {
        path: 'ruleThresholds.structuringThreshold.USD',
        message: 'must be a decimal string, e.g. "1000.00"',
      },
      {
        path: 'ruleThresholds.newPayeeAmountMin',
        message: 'an object of decimal strings per currency, e.g. {"EUR": "5000.00"}',
      },
    ],
  );
  t.equal(
    foldSettings(accepted({ limits: {}, ruleThresholds: { newPayeeAmountMin: { KWD: '0.001' } } })).settings
      .ruleThresholds.newPayeeAmountMin.KWD,
    1n,
    'the smallest amount',
  );
});

t.test('rules: a mode per known rule id', async (t) => {
  const all = Object.fromEntries(ruleIds.map((id) => [id, 'shadow']));
  t.same(foldSettings(accepted({ limits: {}, rules: all })).settings.rules, all);
  t.same(errors({ limits: {}, rules: { velocity: 'loud', speeding: 'off', structuring: null } }), [
    { path: 'rules.velocity', message: 'one of active, shadow, off' },
    { path: 'rules.speeding', message: 'unknown rule' },
    { path: 'rules.structuring', message: 'one of active, shadow, off' },
  ]);
});

t.test('watch list: entries with a name or an IBAN, free text, bounded', async (t) => {
  t.equal(watchListLimits.entriesMax, watchListEntriesMax, 'the HTTP bound is the rules’ bound');
  const name200 = 'N'.repeat(200);
  t.same(foldSettings(accepted({ limits: {}, watchList: [{ name: name200 }] })).settings.watchList, [
    { name: name200 },
  ]);
  t.same(
    foldSettings(accepted({ limits: {}, watchList: [{ iban: ` ${'A1'.repeat(17)}\t` }] })).settings.watchList,
    [{ iban: 'A1'.repeat(17) }],
    '34 after normalising',
  );
  t.same(
    errors({
      limits: {},
      watchList: [
        { name: 'N'.repeat(201) },
        { iban: 'A'.repeat(35) },
        {},
        { name: 'evil\u202egnp.exe' },
        { name: 'a\u0000b' },
        { name: 'line\nbreak' },
        { name: 'x\u0085y' },
        { name: '\ud800' },
        { name: 'iso\u2066late' },
        { iban: 'DE89-3704' },
        { iban: 'DÉ89' },
        { iban: '   ' },
        { name: '  ' },
        { name: 5 },
        'Ivan',
        { name: 'A', colour: 'red' },
      ],
    }),
    [
      { path: 'watchList.0.name', message: 'from 1 to 200 characters' },
      { path: 'watchList.1.iban', message: 'letters and digits, at most 34 without spaces' },
      { path: 'watchList.2', message: 'a name or an iban' },
      { path: 'watchList.3.name', message: 'contains a bidirectional override' },
      { path: 'watchList.4.name', message: 'contains a control character or line break' },
      { path: 'watchList.5.name', message: 'contains a control character or line break' },
      { path: 'watchList.6.name', message: 'contains a control character or line break' },
      { path: 'watchList.7.name', message: 'contains a lone surrogate (not valid Unicode)' },
      { path: 'watchList.8.name', message: 'contains a bidirectional override' },
      { path: 'watchList.9.iban', message: 'letters and digits, at most 34 without spaces' },
      { path: 'watchList.10.iban', message: 'letters and digits, at most 34 without spaces' },
      { path: 'watchList.11.iban', message: 'letters and digits, at most 34 without spaces' },
      { path: 'watchList.12.name', message: 'from 1 to 200 characters' },
      { path: 'watchList.13.name', message: 'must be a string' },
      { path: 'watchList.14', message: 'an object {name?, iban?}' },
      { path: 'watchList.15.colour', message: 'unknown field' },
    ],
  );
  t.same(errors({ limits: {}, watchList: { name: 'Ivan' } }), [
    { path: 'watchList', message: 'an array of {name?, iban?}' },
  ]);
  const full = Array.from({ length: watchListEntriesMax }, (_, i) => ({ iban: `XX${i}` }));
  t.equal(accepted({ limits: {}, watchList: full }).length, 1, `${watchListEntriesMax} entries`);
  t.same(errors({ limits: {}, watchList: [...full, { iban: 'XX' }] }), [
    { path: 'watchList', message: `at most ${watchListEntriesMax} entries` },
  ]);
  // Within every bound, yet more than an event may hold.
  const huge = Array.from({ length: watchListEntriesMax }, () => ({ name: 'N'.repeat(200) }));
  t.match(errors({ limits: {}, watchList: huge }), [
    { path: 'watchList', message: new RegExp(`more than ${settingsDataLengthMax}`) },
  ]);
});
