/**
 * The bank's settings (API.md Admin, `GET, PUT /settings`): limits, the cash desk's
 * threshold, the fraud and AML rules' thresholds, modes and watch list; fees reserved.
 * Pure, like the ledger's deciders.
 */
export {
  decideSettings,
  type SettingsCommand,
  type SettingsDecision,
  type SettingsFieldError,
  type SettingsInput,
  type SettingsRejection,
  settingsDataLengthMax,
  validateSettings,
} from './decide.js';
export {
  type BankSettings,
  type CurrencyLimits,
  defaultCashApprovalMinText,
  defaultLimitsText,
  defaultRetentionDays,
  defaultSettings,
  evolveSettings,
  foldSettings,
  initialSettingsState,
  type LimitName,
  limitNames,
  type RuleCountName,
  type RuleThresholdsData,
  type RuleThresholdsText,
  retentionDaysMax,
  ruleCountNames,
  type SettingsData,
  type SettingsEvent,
  type SettingsEventType,
  type SettingsState,
  settingsText,
  toSettingsData,
} from './settings.js';
