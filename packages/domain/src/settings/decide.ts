import assert from 'node:assert/strict';
import { type AmountError, type Currency, isCurrency, parseAmount } from '../ledger/money.js';
import {
  type BankSettings,
  type CurrencyLimits,
  defaultRetentionDays,
  defaultSettings,
  type LimitName,
  limitNames,
  retentionDaysMax,
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
  ruleThresholds?: Readonly<Record<string, unknown>> | undefined;
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
  for (const part of ['fees', 'ruleThresholds'] as const) {
    for (const name of Object.keys(input[part] ?? {}))
      errors.push({ path: `${part}.${name}`, message: 'no such setting yet' });
  }
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
  return {
    ok: true,
    settings: {
      limits,
      cashApprovalMin,
      fees: {},
      ruleThresholds: {},
      retentionDays: retentionDays as number,
    },
  };
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
