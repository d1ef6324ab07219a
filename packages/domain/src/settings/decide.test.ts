import t from 'tap';
import { currencies } from '../ledger/money.js';
import { decideSettings, type SettingsInput } from './decide.js';
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
