import { z } from 'zod';

/**
 * The bank's settings (API.md Admin, `GET, PUT /api/admin/settings`). Limits and
 * cashApprovalMin are decimal strings in major units per currency; their exact form per
 * currency (decimals, bounds, one limit not above another) is checked by the domain's
 * settings decider, also a 400. `fees` and `ruleThresholds` are reserved: empty objects
 * until they get settings.
 */

/** Plain decimal notation, ≥ 0: no sign, no exponent, never a JSON number. */
const limitText = z
  .string()
  .max(64)
  .regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'a decimal string in major units, e.g. "1000.00"');

export const currencyLimitsSchema = z
  .strictObject({
    transferAmountMax: limitText.describe('Largest single customer transfer (`transfer`, `external`)'),
    dailyDebitMax: limitText.describe(
      'A customer account’s `transfer` + `external` debits per UTC day; over it: 422 limit_exceeded',
    ),
    unverifiedDailyDebitMax: limitText.describe(
      'The same for an owner whose KYC is not verified (≤ dailyDebitMax, may be 0); over it: 422 kyc_required',
    ),
  })
  .meta({ id: 'CurrencyLimits' });

const reserved = z.strictObject({}).describe('Reserved: no settings yet');

const cashApprovalMinDescription =
  'Per ISO 4217 currency: a cash deposit or withdrawal at the desk of more than this (strictly) needs a manager’s approval (until then: 422 approval_required); > 0';

const retentionDescription =
  'Days a customer’s personal data is kept after their last account closed before a director may erase it (AML record keeping)';
const retentionDaysSchema = z.int().min(0).max(36_500);

/** PUT body: the whole new settings; a currency left out gets the bank's defaults. */
export function settingsBodySchemaFor(currencies: readonly string[]) {
  const limits = z.strictObject(
    Object.fromEntries(currencies.map((currency) => [currency, currencyLimitsSchema.optional()])),
  );
  const cashApprovalMin = z.strictObject(
    Object.fromEntries(currencies.map((currency) => [currency, limitText.optional()])),
  );
  return z.strictObject({
    limits: limits.describe('Per ISO 4217 currency; one left out gets the bank’s default limits'),
    cashApprovalMin: cashApprovalMin
      .optional()
      .describe(`${cashApprovalMinDescription}; a currency left out (or all) gets the bank’s default`),
    fees: reserved.optional(),
    ruleThresholds: reserved.optional(),
    retentionDays: retentionDaysSchema
      .optional()
      .describe(`${retentionDescription}; left out: five years (1827)`),
  });
}

export const settingsSchema = z
  .object({
    limits: z.record(z.string(), currencyLimitsSchema).describe('Every currency the bank holds'),
    cashApprovalMin: z.record(z.string(), limitText).describe(cashApprovalMinDescription),
    fees: z.object({}),
    ruleThresholds: z.object({}),
    retentionDays: z.int().describe(retentionDescription),
  })
  .meta({ id: 'BankSettings' });

export const settingsResponseSchema = z.object({
  settings: settingsSchema,
  version: z
    .string()
    .describe('How many changes were made ("0": the defaults); also the ETag, for If-Match on PUT'),
  changedAt: z.string().nullable(),
  position: z
    .string()
    .nullable()
    .describe('Global position of the change in force (null: the defaults, never changed)'),
});

export const settingsHeadersSchema = z.object({
  'if-match': z
    .string()
    .regex(/^"[0-9]{1,19}"$/, 'an ETag from GET, e.g. "3"')
    .optional()
    .describe('Optional: refuse (412) if the settings changed since this version was read'),
});
