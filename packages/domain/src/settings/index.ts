/**
 * The bank's settings (API.md Admin, `GET, PUT /settings`): limits now; fees and rule
 * thresholds reserved. Pure, like the ledger's deciders.
 */
export {
  decideSettings,
  type SettingsCommand,
  type SettingsDecision,
  type SettingsFieldError,
  type SettingsInput,
  type SettingsRejection,
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
  retentionDaysMax,
  type SettingsData,
  type SettingsEvent,
  type SettingsEventType,
  type SettingsState,
  settingsText,
  toSettingsData,
} from './settings.js';
