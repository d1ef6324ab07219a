import assert from 'node:assert/strict';
import {
  defaultRuleModes,
  defaultRuleThresholds,
  isRuleMode,
  type RuleAmountName,
  type RuleId,
  type RuleMode,
  type RuleThresholds,
  ruleAmountNames,
  ruleIds,
  type WatchEntry,
} from '../fraud/rules.js';
import {
  type Currency,
  currencies,
  formatAmount,
  fromMinorUnits,
  type MinorUnits,
  parseAmount,
  toMinorUnits,
} from '../ledger/money.js';

/**
 * The bank's settings (`bank-settings` stream): events, state, evolve. Pure.
 *
 * One event type, SettingsChanged, carrying the whole new settings, so any position of the
 * stream says on its own what was in force (an auditor needs no earlier event), and a
 * change is a replacement, never a patch. Amounts are minor-unit strings in events, bigint
 * in the state, major-unit decimal strings in the API (the ledger's three forms of money).
 *
 * Limits and cashApprovalMin have behaviour, and so do the fraud and AML rules' settings
 * (`ruleThresholds`, `rules`, `watchList`: fraud/rules.ts's RulePolicy); `fees` holds the
 * place API.md gives it and is an empty object until it gets fields.
 */

export interface CurrencyLimits {
  /** Largest single customer transfer (codes `transfer`, `external`). */
  transferAmountMax: bigint;
  /** A customer account's limited debits per UTC day (see Account.dailyDebits). */
  dailyDebitMax: bigint;
  /** The same daily total for an owner whose KYC is not verified; over it: kyc_required. */
  unverifiedDailyDebitMax: bigint;
}

export type LimitName = keyof CurrencyLimits;
export const limitNames = [
  'transferAmountMax',
  'dailyDebitMax',
  'unverifiedDailyDebitMax',
] as const satisfies readonly LimitName[];

export interface BankSettings {
  /** Every currency the bank holds has limits: those never set are the defaults. */
  limits: Readonly<Record<Currency, CurrencyLimits>>;
  /**
   * Per currency: a cash deposit or withdrawal at the desk of more than this (strictly)
   * waits for a manager's approval. Cash is not held to the customer transfer limits.
   */
  cashApprovalMin: Readonly<Record<Currency, bigint>>;
  /** Reserved: no fee is charged from settings yet. */
  fees: Readonly<Record<string, never>>;
  /** The fraud and AML rules' thresholds; amounts per currency, every currency. */
  ruleThresholds: Readonly<RuleThresholds>;
  /** Every rule's mode: `active`, `shadow` (records, changes nothing) or `off`. */
  rules: Readonly<Record<RuleId, RuleMode>>;
  /**
   * Names and IBANs a payment may not go to (sanctioned_payee), as the director entered them
   * (IBANs normalised). Parties on sanctions lists, not customers: kept in the log in clear,
   * like the rest of the settings, so every decision replays from the log alone.
   */
  watchList: readonly Readonly<WatchEntry>[];
  /**
   * Days a customer's personal data is kept after the relationship ended (their last
   * account closed) before a director may erase it: AML record keeping, five years.
   */
  retentionDays: number;
}

/** Five years, leap days included (AML record keeping after the relationship ends). */
export const defaultRetentionDays = 1827;
/** A century: anything longer is a typo. */
export const retentionDaysMax = 36_500;

/** Major units per currency, written as a director would type them. */
type LimitsText = Record<LimitName, string>;

/**
 * The limits in force until a director sets others: conservative retail defaults, about
 * the same value in every currency (EUR 10 000 per transfer, 25 000 a day, 250 a day
 * before KYC). The unverified cap is low on purpose: until the bank knows who the
 * customer is, little money may leave (AML: simplified due diligence only for low amounts).
 */
export const defaultLimitsText: Readonly<Record<Currency, LimitsText>> = {
  CHF: { transferAmountMax: '10000.00', dailyDebitMax: '25000.00', unverifiedDailyDebitMax: '250.00' },
  DZD: {
    transferAmountMax: '1500000.00',
    dailyDebitMax: '4000000.00',
    unverifiedDailyDebitMax: '40000.00',
  },
  EUR: { transferAmountMax: '10000.00', dailyDebitMax: '25000.00', unverifiedDailyDebitMax: '250.00' },
  GBP: { transferAmountMax: '10000.00', dailyDebitMax: '25000.00', unverifiedDailyDebitMax: '250.00' },
  JPY: { transferAmountMax: '1500000', dailyDebitMax: '4000000', unverifiedDailyDebitMax: '40000' },
  KWD: { transferAmountMax: '3000.000', dailyDebitMax: '7500.000', unverifiedDailyDebitMax: '75.000' },
  MAD: {
    transferAmountMax: '100000.00',
    dailyDebitMax: '250000.00',
    unverifiedDailyDebitMax: '2500.00',
  },
  TND: {
    transferAmountMax: '30000.000',
    dailyDebitMax: '75000.000',
    unverifiedDailyDebitMax: '750.000',
  },
  USD: { transferAmountMax: '10000.00', dailyDebitMax: '25000.00', unverifiedDailyDebitMax: '250.00' },
};

/**
 * The cash desk's approval threshold until a director sets another: the value of the
 * per-transfer limit (EUR 10 000), about where cash becomes an AML matter (the EU's
 * reporting threshold for cash is EUR 10 000).
 */
export const defaultCashApprovalMinText: Readonly<Record<Currency, string>> = {
  CHF: '10000.00',
  DZD: '1500000.00',
  EUR: '10000.00',
  GBP: '10000.00',
  JPY: '1500000',
  KWD: '3000.000',
  MAD: '100000.00',
  TND: '30000.000',
  USD: '10000.00',
};

/** A trusted constant (the defaults) in minor units: no user input reaches this. */
function minorOfText(text: string, currency: Currency): bigint {
  const parsed = parseAmount(text, currency);
  assert(parsed.ok, `default limit ${text} ${currency} is not an amount`);
  return parsed.amount;
}

export function defaultSettings(): BankSettings {
  const limits = Object.fromEntries(
    currencies.map((currency) => {
      const text = defaultLimitsText[currency];
      return [
        currency,
        {
          transferAmountMax: minorOfText(text.transferAmountMax, currency),
          dailyDebitMax: minorOfText(text.dailyDebitMax, currency),
          unverifiedDailyDebitMax: minorOfText(text.unverifiedDailyDebitMax, currency),
        },
      ];
    }),
  ) as Record<Currency, CurrencyLimits>;
  const cashApprovalMin = Object.fromEntries(
    currencies.map((currency) => [currency, minorOfText(defaultCashApprovalMinText[currency], currency)]),
  ) as Record<Currency, bigint>;
  return {
    limits,
    cashApprovalMin,
    fees: {},
    ruleThresholds: defaultRuleThresholds(),
    rules: defaultRuleModes(),
    watchList: [],
    retentionDays: defaultRetentionDays,
  };
}

/**
 * The rule thresholds as events hold them: amounts in minor-unit strings. Every field is
 * optional: events written before the rules read their settings hold `{}`, and a field or a
 * currency an event does not name has its default (like the limits).
 */
export interface RuleThresholdsData {
  reviewAmountMin?: Partial<Record<Currency, MinorUnits>>;
  velocityCount?: number;
  velocityWindowMinutes?: number;
  structuringThreshold?: Partial<Record<Currency, MinorUnits>>;
  structuringCount?: number;
  newPayeeAmountMin?: Partial<Record<Currency, MinorUnits>>;
  dormantDays?: number;
  outlierZ?: number;
  reviewTimeoutHours?: number;
}

/** The thresholds that are counts (whole numbers); outlierZ is the one fraction. */
export type RuleCountName =
  | 'velocityCount'
  | 'velocityWindowMinutes'
  | 'structuringCount'
  | 'dormantDays'
  | 'reviewTimeoutHours';
export const ruleCountNames = [
  'velocityCount',
  'velocityWindowMinutes',
  'structuringCount',
  'dormantDays',
  'reviewTimeoutHours',
] as const satisfies readonly RuleCountName[];

/** Settings as events hold them: minor-unit strings. */
export interface SettingsData {
  limits: Partial<Record<Currency, Record<LimitName, MinorUnits>>>;
  /** Absent from the events written before it existed (then: the defaults). */
  cashApprovalMin?: Partial<Record<Currency, MinorUnits>>;
  fees: Record<string, never>;
  ruleThresholds: RuleThresholdsData;
  /** Absent from the events written before it existed (then: every rule `active`). */
  rules?: Partial<Record<RuleId, RuleMode>>;
  /** Absent from the events written before it existed (then: empty). */
  watchList?: WatchEntry[];
  /** Absent from the events written before it existed (then: the default). */
  retentionDays?: number;
}

export type SettingsEvent = { type: 'SettingsChanged'; data: { settings: SettingsData; at: string } };
export type SettingsEventType = SettingsEvent['type'];

export type SettingsState =
  | { status: 'default'; settings: BankSettings }
  | { status: 'set'; settings: BankSettings; changedAt: string };

export const initialSettingsState = (): SettingsState => ({ status: 'default', settings: defaultSettings() });

export function toSettingsData(settings: BankSettings): SettingsData {
  const limits: SettingsData['limits'] = {};
  const cashApprovalMin: Partial<Record<Currency, MinorUnits>> = {};
  for (const currency of currencies) {
    const l = settings.limits[currency];
    limits[currency] = {
      transferAmountMax: toMinorUnits(l.transferAmountMax),
      dailyDebitMax: toMinorUnits(l.dailyDebitMax),
      unverifiedDailyDebitMax: toMinorUnits(l.unverifiedDailyDebitMax),
    };
    cashApprovalMin[currency] = toMinorUnits(settings.cashApprovalMin[currency]);
  }
  const t = settings.ruleThresholds;
  const amountsData = (name: RuleAmountName) =>
    Object.fromEntries(currencies.map((currency) => [currency, toMinorUnits(t[name][currency])])) as Record<
      Currency,
      MinorUnits
    >;
  const ruleThresholds: Required<RuleThresholdsData> = {
    reviewAmountMin: amountsData('reviewAmountMin'),
    velocityCount: t.velocityCount,
    velocityWindowMinutes: t.velocityWindowMinutes,
    structuringThreshold: amountsData('structuringThreshold'),
    structuringCount: t.structuringCount,
    newPayeeAmountMin: amountsData('newPayeeAmountMin'),
    dormantDays: t.dormantDays,
    outlierZ: t.outlierZ,
    reviewTimeoutHours: t.reviewTimeoutHours,
  };
  return {
    limits,
    cashApprovalMin,
    fees: {},
    ruleThresholds,
    rules: Object.fromEntries(ruleIds.map((id) => [id, settings.rules[id]])) as Record<RuleId, RuleMode>,
    watchList: settings.watchList.map(watchEntryCopy),
    retentionDays: settings.retentionDays,
  };
}

/** An entry with only the fields it has (no `name: undefined` to tell apart from none). */
function watchEntryCopy(entry: Readonly<WatchEntry>): WatchEntry {
  return {
    ...(entry.name === undefined ? {} : { name: entry.name }),
    ...(entry.iban === undefined ? {} : { iban: entry.iban }),
  };
}

/** An event's thresholds over the defaults: what an event does not name keeps its default. */
function ruleThresholdsFromData(data: RuleThresholdsData | undefined): RuleThresholds {
  const thresholds = defaultRuleThresholds();
  for (const name of ruleAmountNames) {
    for (const currency of currencies) {
      const amount = data?.[name]?.[currency];
      if (amount !== undefined) thresholds[name][currency] = fromMinorUnits(amount);
    }
  }
  for (const name of ruleCountNames) {
    const count = data?.[name];
    if (count === undefined) continue;
    assert(Number.isSafeInteger(count) && count > 0, `ruleThresholds.${name} ${count} is not a count`);
    thresholds[name] = count;
  }
  const outlierZ = data?.outlierZ;
  if (outlierZ !== undefined) {
    assert(Number.isFinite(outlierZ) && outlierZ > 0, `ruleThresholds.outlierZ ${outlierZ} is not a z`);
    thresholds.outlierZ = outlierZ;
  }
  return thresholds;
}

/** An event's settings; a currency it does not name (added to the bank later) has its defaults. */
function fromSettingsData(data: SettingsData): BankSettings {
  const defaults = defaultSettings();
  const limits = { ...defaults.limits };
  for (const currency of currencies) {
    const l = data.limits[currency];
    if (l === undefined) continue;
    limits[currency] = {
      transferAmountMax: fromMinorUnits(l.transferAmountMax),
      dailyDebitMax: fromMinorUnits(l.dailyDebitMax),
      unverifiedDailyDebitMax: fromMinorUnits(l.unverifiedDailyDebitMax),
    };
  }
  const cashApprovalMin = { ...defaults.cashApprovalMin };
  for (const currency of currencies) {
    const min = data.cashApprovalMin?.[currency];
    if (min !== undefined) cashApprovalMin[currency] = fromMinorUnits(min);
  }
  // A rule added to the bank after the event was written is active, as it is by default.
  const rules = defaultRuleModes();
  for (const id of ruleIds) {
    const mode = data.rules?.[id];
    if (mode === undefined) continue;
    assert(isRuleMode(mode), `rules.${id} ${JSON.stringify(mode)} is not a rule mode`);
    rules[id] = mode;
  }
  const watchList = (data.watchList ?? []).map(watchEntryCopy);
  const retentionDays = data.retentionDays ?? defaults.retentionDays;
  return {
    limits,
    cashApprovalMin,
    fees: {},
    ruleThresholds: ruleThresholdsFromData(data.ruleThresholds),
    rules,
    watchList,
    retentionDays,
  };
}

export function evolveSettings(_state: SettingsState, event: SettingsEvent): SettingsState {
  switch (event.type) {
    case 'SettingsChanged':
      return { status: 'set', settings: fromSettingsData(event.data.settings), changedAt: event.data.at };
    default: {
      const unexpected: never = event.type;
      throw new assert.AssertionError({ message: `unhandled settings event ${JSON.stringify(unexpected)}` });
    }
  }
}

export function foldSettings(events: readonly SettingsEvent[]): SettingsState {
  return events.reduce(evolveSettings, initialSettingsState());
}

/** The rule thresholds in the API's form: amounts in major units, every currency; counts as numbers. */
export type RuleThresholdsText = Omit<RuleThresholds, RuleAmountName> &
  Record<RuleAmountName, Record<Currency, string>>;

/** The API's form: major-unit decimal strings, every currency. */
export function settingsText(settings: BankSettings): {
  limits: Record<Currency, LimitsText>;
  cashApprovalMin: Record<Currency, string>;
  fees: Record<string, never>;
  ruleThresholds: RuleThresholdsText;
  rules: Record<RuleId, RuleMode>;
  watchList: WatchEntry[];
  retentionDays: number;
} {
  const limits = Object.fromEntries(
    currencies.map((currency) => {
      const l = settings.limits[currency];
      return [
        currency,
        {
          transferAmountMax: formatAmount(l.transferAmountMax, currency),
          dailyDebitMax: formatAmount(l.dailyDebitMax, currency),
          unverifiedDailyDebitMax: formatAmount(l.unverifiedDailyDebitMax, currency),
        },
      ];
    }),
  ) as Record<Currency, LimitsText>;
  const cashApprovalMin = Object.fromEntries(
    currencies.map((currency) => [currency, formatAmount(settings.cashApprovalMin[currency], currency)]),
  ) as Record<Currency, string>;
  const t = settings.ruleThresholds;
  const amountsText = (name: RuleAmountName) =>
    Object.fromEntries(
      currencies.map((currency) => [currency, formatAmount(t[name][currency], currency)]),
    ) as Record<Currency, string>;
  return {
    limits,
    cashApprovalMin,
    fees: {},
    ruleThresholds: {
      reviewAmountMin: amountsText('reviewAmountMin'),
      velocityCount: t.velocityCount,
      velocityWindowMinutes: t.velocityWindowMinutes,
      structuringThreshold: amountsText('structuringThreshold'),
      structuringCount: t.structuringCount,
      newPayeeAmountMin: amountsText('newPayeeAmountMin'),
      dormantDays: t.dormantDays,
      outlierZ: t.outlierZ,
      reviewTimeoutHours: t.reviewTimeoutHours,
    },
    rules: Object.fromEntries(ruleIds.map((id) => [id, settings.rules[id]])) as Record<RuleId, RuleMode>,
    watchList: settings.watchList.map(watchEntryCopy),
    retentionDays: settings.retentionDays,
  };
}
