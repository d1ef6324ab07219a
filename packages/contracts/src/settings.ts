import { z } from 'zod';
import { freeText } from './text.js';

/**
 * The bank's settings (API.md Admin, `GET, PUT /api/admin/settings`). Limits and
 * cashApprovalMin are decimal strings in major units per currency; their exact form per
 * currency (decimals, bounds, one limit not above another) is checked by the domain's
 * settings decider, also a 400. So are the fraud and AML rules' `ruleThresholds` (amounts
 * the same way; counts and outlierZ JSON numbers), `rules` (a mode per rule id) and
 * `watchList`. `fees` is reserved: an empty object until it gets settings.
 */

/**
 * The bounds of the rule thresholds that are numbers (inclusive), checked here and again by
 * the domain's settings decider. Outside them a value is a typo, not a policy: a velocity
 * window over a week, a structuring pattern of one transfer, a review nobody can finish.
 */
export const ruleThresholdBounds = {
  velocityCount: { min: 1, max: 1000 },
  /** A week. */
  velocityWindowMinutes: { min: 1, max: 10_080 },
  /** One transfer is no pattern. */
  structuringCount: { min: 2, max: 1000 },
  /** Ten years. */
  dormantDays: { min: 1, max: 3650 },
  /** Thirty days. */
  reviewTimeoutHours: { min: 1, max: 720 },
  /** The amount_outlier rule compares z at 4 decimals: more would be silently rounded. */
  outlierZ: { min: 0.5, max: 100, decimalsMax: 4 },
} as const;

/** Whether a number in plain notation has at most `places` decimals (3.1234 yes, 3.12345 no). */
export function hasAtMostDecimals(value: number, places: number): boolean {
  return new RegExp(`^-?[0-9]+(\\.[0-9]{1,${places}})?$`).test(String(value));
}

/** Bounds of the watch list (sanctioned_payee). */
export const watchListLimits = {
  /** The domain's watchListEntriesMax (fraud/rules.ts): rule evaluation refuses a longer list. */
  entriesMax: 10_000,
  nameLengthMax: 200,
  /** ISO 13616: at most 34 letters and digits, once whitespace is dropped. */
  ibanLengthMax: 34,
  /** As typed, with spaces ("DE89 3704 0044 …"); the 34 are checked once they are dropped. */
  ibanTextLengthMax: 64,
} as const;

/** `shadow` records what the rule would have done and changes nothing; `off` is not evaluated. */
export const ruleModeValues = ['active', 'shadow', 'off'] as const;
const ruleMode = z.enum(ruleModeValues);

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

type CountName = Exclude<keyof typeof ruleThresholdBounds, 'outlierZ'>;
const count = (name: CountName) =>
  z.int().min(ruleThresholdBounds[name].min).max(ruleThresholdBounds[name].max);
const outlierZ = z
  .number()
  .min(ruleThresholdBounds.outlierZ.min)
  .max(ruleThresholdBounds.outlierZ.max)
  .refine((value) => hasAtMostDecimals(value, ruleThresholdBounds.outlierZ.decimalsMax), {
    message: `at most ${ruleThresholdBounds.outlierZ.decimalsMax} decimals`,
  });

const ruleThresholdDescriptions = {
  reviewAmountMin: 'large_amount: one customer debit of at least this (per currency, > 0) is held for review',
  velocityCount: `velocity: more than this many outgoing transfers from one account within velocityWindowMinutes are held (${ruleThresholdBounds.velocityCount.min}–${ruleThresholdBounds.velocityCount.max})`,
  velocityWindowMinutes: `velocity's window in minutes (${ruleThresholdBounds.velocityWindowMinutes.min}–${ruleThresholdBounds.velocityWindowMinutes.max})`,
  structuringThreshold:
    'structuring: transfers within 10 % below this (per currency, > 0) count toward the pattern',
  structuringCount: `structuring: this many such transfers within 24 h, the last one included, are held (${ruleThresholdBounds.structuringCount.min}–${ruleThresholdBounds.structuringCount.max})`,
  newPayeeAmountMin: 'new_payee_large: a first transfer to a payee of at least this (per currency, > 0)',
  dormantDays: `dormant_account: a debit after more than this many days without one (${ruleThresholdBounds.dormantDays.min}–${ruleThresholdBounds.dormantDays.max})`,
  outlierZ: `amount_outlier: a robust z-score against the account’s last 90 days of at least this (${ruleThresholdBounds.outlierZ.min}–${ruleThresholdBounds.outlierZ.max}, at most ${ruleThresholdBounds.outlierZ.decimalsMax} decimals)`,
  reviewTimeoutHours: `A transfer held for review that nobody decides is voided after this many hours (${ruleThresholdBounds.reviewTimeoutHours.min}–${ruleThresholdBounds.reviewTimeoutHours.max})`,
} as const;

const rulesDescription =
  'Each fraud/AML rule’s mode: active, shadow (records what it would have done, changes nothing) or off';
const watchListDescription =
  'sanctioned_payee: a payee whose name or IBAN is on this list is refused (422 transfer_rejected); matched exactly after normalisation (case, accents, spaces)';

/** A watch-list entry as a director sends it: a name, an IBAN or both. */
const watchEntryBodySchema = z
  .strictObject({
    name: freeText({ max: watchListLimits.nameLengthMax })
      .optional()
      .describe('A name as written on the sanctions list'),
    iban: z
      .string()
      .max(watchListLimits.ibanTextLengthMax)
      .regex(/^[\sA-Za-z0-9]+$/u, 'letters and digits (spaces are dropped)')
      .optional()
      .describe('An IBAN, spaces allowed; stored without them, upper case (at most 34 characters)'),
  })
  .refine((entry) => entry.name !== undefined || entry.iban !== undefined, {
    message: 'a name or an iban',
  });

const cashApprovalMinDescription =
  'Per ISO 4217 currency: a cash deposit or withdrawal at the desk of more than this (strictly) is held for review (201 held_for_review, funds reserved) until a manager approves or rejects it; > 0';

const retentionDescription =
  'Days a customer’s personal data is kept after their last account closed before a director may erase it (AML record keeping)';
const retentionDaysSchema = z.int().min(0).max(36_500);

/**
 * PUT body: the whole new settings; a currency, a threshold or a rule left out gets the bank's
 * defaults. The currencies and the rule ids are the domain's (passed in: contracts do not
 * depend on the domain).
 */
export function settingsBodySchemaFor(currencies: readonly string[], ruleIds: readonly string[]) {
  const limits = z.strictObject(
    Object.fromEntries(currencies.map((currency) => [currency, currencyLimitsSchema.optional()])),
  );
  const cashApprovalMin = z.strictObject(
    Object.fromEntries(currencies.map((currency) => [currency, limitText.optional()])),
  );
  const amountsBody = (description: string) =>
    z
      .strictObject(Object.fromEntries(currencies.map((currency) => [currency, limitText.optional()])))
      .optional()
      .describe(`${description}; a currency left out gets the bank’s default`);
  return z.strictObject({
    limits: limits.describe('Per ISO 4217 currency; one left out gets the bank’s default limits'),
    cashApprovalMin: cashApprovalMin
      .optional()
      .describe(`${cashApprovalMinDescription}; a currency left out (or all) gets the bank’s default`),
    fees: reserved.optional(),
    ruleThresholds: z
      .strictObject({
        reviewAmountMin: amountsBody(ruleThresholdDescriptions.reviewAmountMin),
        velocityCount: count('velocityCount').optional().describe(ruleThresholdDescriptions.velocityCount),
        velocityWindowMinutes: count('velocityWindowMinutes')
          .optional()
          .describe(ruleThresholdDescriptions.velocityWindowMinutes),
        structuringThreshold: amountsBody(ruleThresholdDescriptions.structuringThreshold),
        structuringCount: count('structuringCount')
          .optional()
          .describe(ruleThresholdDescriptions.structuringCount),
        newPayeeAmountMin: amountsBody(ruleThresholdDescriptions.newPayeeAmountMin),
        dormantDays: count('dormantDays').optional().describe(ruleThresholdDescriptions.dormantDays),
        outlierZ: outlierZ.optional().describe(ruleThresholdDescriptions.outlierZ),
        reviewTimeoutHours: count('reviewTimeoutHours')
          .optional()
          .describe(ruleThresholdDescriptions.reviewTimeoutHours),
      })
      .optional()
      .describe(
        'The fraud/AML rules’ thresholds; a threshold or a currency left out (or all) gets the bank’s default',
      ),
    rules: z
      .strictObject(Object.fromEntries(ruleIds.map((id) => [id, ruleMode.optional()])))
      .optional()
      .describe(`${rulesDescription}; a rule left out (or all) is active`),
    watchList: z
      .array(watchEntryBodySchema)
      .max(watchListLimits.entriesMax)
      .optional()
      .describe(`${watchListDescription}; at most ${watchListLimits.entriesMax} entries; left out: empty`),
    retentionDays: retentionDaysSchema
      .optional()
      .describe(`${retentionDescription}; left out: five years (1827)`),
  });
}

/** Per currency, major units (like cashApprovalMin). */
const amounts = (description: string) => z.record(z.string(), limitText).describe(description);

export const settingsSchema = z
  .object({
    limits: z.record(z.string(), currencyLimitsSchema).describe('Every currency the bank holds'),
    cashApprovalMin: z.record(z.string(), limitText).describe(cashApprovalMinDescription),
    fees: z.object({}),
    ruleThresholds: z
      .object({
        reviewAmountMin: amounts(ruleThresholdDescriptions.reviewAmountMin),
        velocityCount: z.int().describe(ruleThresholdDescriptions.velocityCount),
        velocityWindowMinutes: z.int().describe(ruleThresholdDescriptions.velocityWindowMinutes),
        structuringThreshold: amounts(ruleThresholdDescriptions.structuringThreshold),
        structuringCount: z.int().describe(ruleThresholdDescriptions.structuringCount),
        newPayeeAmountMin: amounts(ruleThresholdDescriptions.newPayeeAmountMin),
        dormantDays: z.int().describe(ruleThresholdDescriptions.dormantDays),
        outlierZ: z.number().describe(ruleThresholdDescriptions.outlierZ),
        reviewTimeoutHours: z.int().describe(ruleThresholdDescriptions.reviewTimeoutHours),
      })
      .describe('The fraud/AML rules’ thresholds; amounts for every currency the bank holds'),
    rules: z
      .record(z.string(), ruleMode)
      .describe(`${rulesDescription}; every rule, by the ids riskFlags name them with`),
    watchList: z
      .array(
        z.object({
          name: z.string().optional(),
          iban: z.string().optional().describe('Upper case, without spaces'),
        }),
      )
      .describe(watchListDescription),
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
