import assert from 'node:assert/strict';
import { hasAtMostDecimals, ruleThresholdBounds, textProblem, watchListLimits } from '@ledger/contracts';
import {
  defaultRuleModes,
  defaultRuleThresholds,
  isRuleId,
  isRuleMode,
  normalizeWatchIban,
  type RuleId,
  type RuleMode,
  type RuleThresholds,
  ruleAmountNames,
  type WatchEntry,
  watchListEntriesMax,
} from '../fraud/rules.js';
import { type AmountError, type Currency, isCurrency, parseAmount } from '../ledger/money.js';
import {
  type BankSettings,
  type CurrencyLimits,
  defaultRetentionDays,
  defaultSettings,
  type LimitName,
  limitNames,
  retentionDaysMax,
  ruleCountNames,
  type SettingsEvent,
  type SettingsState,
  toSettingsData,
} from './settings.js';

/**
 * The settings decider: validates a director's whole new settings and decides the
 * SettingsChanged that replaces the old ones. Pure: the clock comes in on the command.
 */

/** Settings as the API receives them (shape checked by the HTTP schema, values here). */
export interface SettingsInput {
  /** Per currency; a currency not named gets the bank's defaults. */
  limits: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>>;
  /** Per currency, major units; a currency not named (or none) gets the bank's default. */
  cashApprovalMin?: Readonly<Record<string, unknown>> | undefined;
  fees?: Readonly<Record<string, unknown>> | undefined;
  /**
   * The rule thresholds; a threshold left out (or all), or a currency left out of an amount,
   * gets the bank's default: like the limits, the body is the whole new settings.
   */
  ruleThresholds?: Readonly<Record<string, unknown>> | undefined;
  /** Mode per rule id; a rule left out (or all) is `active`, its default. */
  rules?: Readonly<Record<string, unknown>> | undefined;
  /** `[{name?, iban?}]`; left out: empty. */
  watchList?: unknown;
  /** Unset: the default (five years). */
  retentionDays?: unknown;
}

export type SettingsCommand = { type: 'ChangeSettings'; settings: SettingsInput; now: Date };

export interface SettingsFieldError {
  /** Within the settings document, e.g. `limits.EUR.dailyDebitMax`. */
  path: string;
  message: string;
}

export type SettingsRejection = { code: 'invalid_settings'; errors: SettingsFieldError[] };

/** `accepted` with no events: the new settings are the ones in force. */
export type SettingsDecision =
  | { status: 'accepted'; events: SettingsEvent[]; settings: BankSettings }
  | { status: 'rejected'; rejection: SettingsRejection };

const amountMessages: Record<AmountError, string> = {
  not_a_string: 'must be a decimal string, e.g. "1000.00"',
  unsupported_currency: 'unknown currency',
  malformed: 'must be plain decimal notation, e.g. "1000.00"',
  negative: 'must not be negative',
  zero: 'must be > 0',
  too_many_decimals: "more decimals than the currency's exponent",
  too_large: 'at most 999999999999999.99',
};

/**
 * Zero is a policy for the unverified cap ("nothing leaves before KYC"); for the other two
 * it would stop every customer transfer of the currency, which is what freezing is for.
 */
const zeroAllowed: Readonly<Record<LimitName, boolean>> = {
  transferAmountMax: false,
  dailyDebitMax: false,
  unverifiedDailyDebitMax: true,
};

function parseLimit(
  text: unknown,
  currency: Currency,
  name: LimitName,
): { ok: true; amount: bigint } | { ok: false; message: string } {
  const parsed = parseAmount(text, currency);
  if (parsed.ok) return parsed;
  if (parsed.reason === 'zero' && zeroAllowed[name]) return { ok: true, amount: 0n };
  return { ok: false, message: amountMessages[parsed.reason] };
}

type FieldResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** A threshold that is a count: a whole number within its bounds (contracts' ruleThresholdBounds). */
function parseCount(value: unknown, bounds: { min: number; max: number }): FieldResult<number> {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max)
    return { ok: false, message: `a whole number from ${bounds.min} to ${bounds.max}` };
  return { ok: true, value };
}

/** outlierZ: a number within its bounds, at most as many decimals as the rule compares. */
function parseOutlierZ(value: unknown): FieldResult<number> {
  const { min, max, decimalsMax } = ruleThresholdBounds.outlierZ;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    !hasAtMostDecimals(value, decimalsMax)
  )
    return { ok: false, message: `a number from ${min} to ${max} with at most ${decimalsMax} decimals` };
  return { ok: true, value };
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The thresholds over the defaults: what the input leaves out keeps its default. */
function validateRuleThresholds(
  input: Readonly<Record<string, unknown>> | undefined,
  errors: SettingsFieldError[],
): RuleThresholds {
  const thresholds = defaultRuleThresholds();
  for (const [name, given] of Object.entries(input ?? {})) {
    if (given === undefined) continue;
    const path = `ruleThresholds.${name}`;
    if ((ruleAmountNames as readonly string[]).includes(name)) {
      const amountName = name as (typeof ruleAmountNames)[number];
      if (!isRecord(given)) {
        errors.push({ path, message: 'an object of decimal strings per currency, e.g. {"EUR": "5000.00"}' });
        continue;
      }
      for (const [currency, text] of Object.entries(given)) {
        if (text === undefined) continue;
        if (!isCurrency(currency)) {
          errors.push({ path: `${path}.${currency}`, message: 'unknown currency' });
          continue;
        }
        // Zero would hold (or count) every debit of the currency: a rule turned into a freeze.
        const parsed = parseAmount(text, currency);
        if (parsed.ok) thresholds[amountName][currency] = parsed.amount;
        else errors.push({ path: `${path}.${currency}`, message: amountMessages[parsed.reason] });
      }
    } else if ((ruleCountNames as readonly string[]).includes(name)) {
      const countName = name as (typeof ruleCountNames)[number];
      const parsed = parseCount(given, ruleThresholdBounds[countName]);
      if (parsed.ok) thresholds[countName] = parsed.value;
      else errors.push({ path, message: parsed.message });
    } else if (name === 'outlierZ') {
      const parsed = parseOutlierZ(given);
      if (parsed.ok) thresholds.outlierZ = parsed.value;
      else errors.push({ path, message: parsed.message });
    } else {
      errors.push({ path, message: 'unknown threshold' });
    }
  }
  return thresholds;
}

function validateRules(
  input: Readonly<Record<string, unknown>> | undefined,
  errors: SettingsFieldError[],
): Record<RuleId, RuleMode> {
  const rules = defaultRuleModes();
  for (const [id, mode] of Object.entries(input ?? {})) {
    if (mode === undefined) continue;
    const path = `rules.${id}`;
    if (!isRuleId(id)) errors.push({ path, message: 'unknown rule' });
    else if (!isRuleMode(mode)) errors.push({ path, message: 'one of active, shadow, off' });
    else rules[id] = mode;
  }
  return rules;
}

/** Letters and digits, as many as an IBAN may have (ISO 13616), once whitespace is dropped. */
const watchIbanPattern = new RegExp(`^[A-Z0-9]{1,${watchListLimits.ibanLengthMax}}$`);

/** A name, trimmed: free text (API.md, Conventions), single line, 1 to 200 characters. */
function parseWatchName(value: unknown): FieldResult<string> {
  if (typeof value !== 'string') return { ok: false, message: 'must be a string' };
  const name = value.trim();
  if (name.length === 0 || name.length > watchListLimits.nameLengthMax)
    return { ok: false, message: `from 1 to ${watchListLimits.nameLengthMax} characters` };
  const problem = textProblem(name);
  return problem === null ? { ok: true, value: name } : { ok: false, message: problem };
}

/** An IBAN as typed, normalised (whitespace dropped, upper case) as it is matched. */
function parseWatchIban(value: unknown): FieldResult<string> {
  const iban = typeof value === 'string' ? normalizeWatchIban(value) : '';
  return watchIbanPattern.test(iban)
    ? { ok: true, value: iban }
    : { ok: false, message: `letters and digits, at most ${watchListLimits.ibanLengthMax} without spaces` };
}

/**
 * The watch list as it will be matched: names trimmed (free text, refused as any other name
 * with control or bidirectional characters, which would also hide a name from the screen
 * that shows the list), IBANs normalised. Duplicates are harmless: the first match wins.
 */
function validateWatchList(input: unknown, errors: SettingsFieldError[]): WatchEntry[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) {
    errors.push({ path: 'watchList', message: 'an array of {name?, iban?}' });
    return [];
  }
  if (input.length > watchListEntriesMax) {
    errors.push({ path: 'watchList', message: `at most ${watchListEntriesMax} entries` });
    return [];
  }
  const watchList: WatchEntry[] = [];
  for (const [index, given] of input.entries()) {
    const path = `watchList.${index}`;
    if (!isRecord(given)) {
      errors.push({ path, message: 'an object {name?, iban?}' });
      continue;
    }
    for (const key of Object.keys(given)) {
      if (key !== 'name' && key !== 'iban') errors.push({ path: `${path}.${key}`, message: 'unknown field' });
    }
    const entry: WatchEntry = {};
    if (given.name !== undefined) {
      const name = parseWatchName(given.name);
      if (name.ok) entry.name = name.value;
      else errors.push({ path: `${path}.name`, message: name.message });
    }
    if (given.iban !== undefined) {
      const iban = parseWatchIban(given.iban);
      if (iban.ok) entry.iban = iban.value;
      else errors.push({ path: `${path}.iban`, message: iban.message });
    }
    if (given.name === undefined && given.iban === undefined)
      errors.push({ path, message: 'a name or an iban' });
    watchList.push(entry);
  }
  return watchList;
}

/**
 * The longest settings an event holds, as JSON characters: below the event store's 1 MiB per
 * event, which only a watch list near its bounds could reach (10 000 names of 200 characters
 * are 2 million). Refused as a 400 here rather than failing the append.
 */
export const settingsDataLengthMax = 1_000_000;

/** The whole new settings, or every error found (a director fixes them all in one go). */
export function validateSettings(
  input: SettingsInput,
): { ok: true; settings: BankSettings } | { ok: false; errors: SettingsFieldError[] } {
  const errors: SettingsFieldError[] = [];
  const limits: Record<Currency, CurrencyLimits> = { ...defaultSettings().limits };
  for (const [key, given] of Object.entries(input.limits)) {
    if (given === undefined) continue;
    const path = `limits.${key}`;
    if (!isCurrency(key)) {
      errors.push({ path, message: 'unknown currency' });
      continue;
    }
    for (const name of Object.keys(given)) {
      if (!(limitNames as readonly string[]).includes(name))
        errors.push({ path: `${path}.${name}`, message: 'unknown limit' });
    }
    const parsed: Partial<CurrencyLimits> = {};
    for (const name of limitNames) {
      const result = parseLimit(given[name], key, name);
      if (result.ok) parsed[name] = result.amount;
      else errors.push({ path: `${path}.${name}`, message: result.message });
    }
    const { transferAmountMax, dailyDebitMax, unverifiedDailyDebitMax } = parsed;
    if (
      transferAmountMax === undefined ||
      dailyDebitMax === undefined ||
      unverifiedDailyDebitMax === undefined
    )
      continue;
    // Either of these would be a typo, not a policy: the smaller limit could never bind.
    if (transferAmountMax > dailyDebitMax)
      errors.push({ path: `${path}.transferAmountMax`, message: 'must not exceed dailyDebitMax' });
    if (unverifiedDailyDebitMax > dailyDebitMax)
      errors.push({ path: `${path}.unverifiedDailyDebitMax`, message: 'must not exceed dailyDebitMax' });
    limits[key] = { transferAmountMax, dailyDebitMax, unverifiedDailyDebitMax };
  }
  // Zero would send every cash operation of the currency to a manager: not a threshold.
  const cashApprovalMin: Record<Currency, bigint> = { ...defaultSettings().cashApprovalMin };
  for (const [key, given] of Object.entries(input.cashApprovalMin ?? {})) {
    if (given === undefined) continue;
    const path = `cashApprovalMin.${key}`;
    if (!isCurrency(key)) {
      errors.push({ path, message: 'unknown currency' });
      continue;
    }
    const parsed = parseAmount(given, key);
    if (parsed.ok) cashApprovalMin[key] = parsed.amount;
    else errors.push({ path, message: amountMessages[parsed.reason] });
  }
  for (const name of Object.keys(input.fees ?? {}))
    errors.push({ path: `fees.${name}`, message: 'no such setting yet' });
  const ruleThresholds = validateRuleThresholds(input.ruleThresholds, errors);
  const rules = validateRules(input.rules, errors);
  const watchList = validateWatchList(input.watchList, errors);
  const retentionDays = input.retentionDays ?? defaultRetentionDays;
  if (
    typeof retentionDays !== 'number' ||
    !Number.isInteger(retentionDays) ||
    retentionDays < 0 ||
    retentionDays > retentionDaysMax
  ) {
    errors.push({ path: 'retentionDays', message: `a whole number of days from 0 to ${retentionDaysMax}` });
  }
  if (errors.length > 0) return { ok: false, errors };
  const settings: BankSettings = {
    limits,
    cashApprovalMin,
    fees: {},
    ruleThresholds,
    rules,
    watchList,
    retentionDays: retentionDays as number,
  };
  const length = JSON.stringify(toSettingsData(settings)).length;
  if (length > settingsDataLengthMax) {
    return {
      ok: false,
      errors: [
        {
          path: 'watchList',
          message: `the settings take ${length} characters, more than ${settingsDataLengthMax}: shorten the watch list`,
        },
      ],
    };
  }
  return { ok: true, settings };
}

const sameSettings = (a: BankSettings, b: BankSettings): boolean =>
  JSON.stringify(toSettingsData(a)) === JSON.stringify(toSettingsData(b));

export function decideSettings(command: SettingsCommand, state: SettingsState): SettingsDecision {
  switch (command.type) {
    case 'ChangeSettings': {
      const validated = validateSettings(command.settings);
      if (!validated.ok)
        return { status: 'rejected', rejection: { code: 'invalid_settings', errors: validated.errors } };
      const { settings } = validated;
      // Setting what is in force records nothing (a PUT repeated is a no-op), except the
      // first time: writing the defaults down makes them an explicit, audited choice.
      if (state.status === 'set' && sameSettings(settings, state.settings))
        return { status: 'accepted', events: [], settings: state.settings };
      const at = command.now.toISOString();
      return {
        status: 'accepted',
        events: [{ type: 'SettingsChanged', data: { settings: toSettingsData(settings), at } }],
        settings,
      };
    }
    default: {
      const unexpected: never = command.type;
      throw new assert.AssertionError({
        message: `unhandled settings command ${JSON.stringify(unexpected)}`,
      });
    }
  }
}
