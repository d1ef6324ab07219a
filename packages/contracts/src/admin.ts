import { z } from 'zod';
import { roles } from './identity.js';
import { transactionSchema } from './ledger.js';
import { riskRuleIds } from './ledger-events.js';

/**
 * The admin monitoring read side (API.md, Admin; issue #17): the transactions list with the
 * fraud review's filters, the bank's figures (stats), and who did what (audit), all from
 * read models.
 */

export const adminListLimits = { limitMin: 1, limitMax: 200, limitDefault: 50 } as const;

const limitSchema = z.coerce
  .number()
  .int()
  .min(adminListLimits.limitMin)
  .max(adminListLimits.limitMax)
  .default(adminListLimits.limitDefault)
  .describe(`Page size, ${adminListLimits.limitMin}–${adminListLimits.limitMax}`);
const cursorSchema = z.string().max(128).optional().describe('nextCursor of the previous page');
const positionText = z.string().regex(/^[0-9]{1,19}$/, 'a global position');
const isoTime = z.iso.datetime({ offset: true });

/** The API's transaction statuses (API.md, Transactions). */
export const adminTransactionStatuses = [
  'posted',
  'pending',
  'voided',
  'rejected',
  'held_for_review',
  'returned',
] as const;

/** The fraud and AML rules' ids, as riskFlags name them (API.md, Transactions). */
export const adminRiskFlagIds = riskRuleIds;

/**
 * A minimum amount in major units: plain decimal, at most 15 digits before the point and at
 * most 3 after (the widest exponent; with `currency`, at most that currency's).
 */
export const adminMinAmountSchema = z
  .string()
  .max(32)
  .regex(/^(0|[1-9][0-9]{0,14})(\.[0-9]{1,3})?$/, 'a decimal string in major units, e.g. "250.00"');

export const adminTransactionsQuerySchema = z.object({
  limit: limitSchema,
  cursor: cursorSchema,
  status: z.enum(adminTransactionStatuses).optional().describe('e.g. held_for_review: the review queue'),
  riskFlag: z.enum(adminRiskFlagIds).optional().describe('Only transactions this rule flagged'),
  from: isoTime.optional().describe('Created at or after (inclusive), ISO 8601'),
  to: isoTime.optional().describe('Created before (exclusive), ISO 8601'),
  minAmount: adminMinAmountSchema
    .optional()
    .describe('Amount at least this, in major units of each transaction’s own currency'),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, 'an ISO 4217 code')
    .optional()
    .describe('ISO 4217 code: only transactions in this currency'),
  accountId: z.uuid().optional().describe('Only transactions debiting or crediting this account'),
  minPosition: positionText.optional(),
});

/** The API's `transaction`, with how a held one was decided. */
export const adminTransactionSchema = transactionSchema
  .extend({
    review: z
      .object({
        decision: z.enum(['approved', 'rejected']),
        reviewerId: z.string(),
        reason: z.string(),
        at: z.string(),
      })
      .nullable()
      .describe('A transaction held for review and decided since: by whom, how, why, when; else null'),
  })
  .meta({ id: 'AdminTransaction' });

export const adminTransactionPageSchema = z.object({
  items: z.array(adminTransactionSchema),
  nextCursor: z.string().nullable(),
});

export const adminCurrencyStatsSchema = z.object({
  currency: z.string(),
  deposits: z.string().describe('Σ balances of customer accounts, major units'),
  volumeToday: z
    .string()
    .describe(
      'Σ amounts of the transactions created today (UTC) that are posted (their posted amount) or pending',
    ),
  transfersToday: z.number().int().nonnegative().describe('How many transactions those are'),
  heldForReview: z.number().int().nonnegative().describe('Transactions held for review now'),
});

export const adminStatsSchema = z
  .object({
    currencies: z.array(adminCurrencyStatsSchema).describe('Currencies with accounts or transactions'),
    users: z.object({
      total: z.number().int().nonnegative(),
      byRole: z.object(
        Object.fromEntries(roles.map((role) => [role, z.number().int().nonnegative()])) as Record<
          (typeof roles)[number],
          z.ZodNumber
        >,
      ),
      kycVerified: z.number().int().nonnegative(),
    }),
    projections: z
      .array(
        z.object({
          name: z.string(),
          lagPositions: z.number().int().nonnegative().describe('Event store head minus its checkpoint'),
        }),
      )
      .describe('Every read model with a checkpoint (and the job dispatcher), by name'),
    deadLetters: z.object({
      notifications: z
        .number()
        .int()
        .nonnegative()
        .describe('Notification mails not delivered: refused for good (5xx) or out of attempts'),
    }),
  })
  .meta({ id: 'AdminStats' });

/**
 * Actor ids as the event metadata holds them: user ids (uuids) and system actors
 * (`system:clearing`). Only the characters those use.
 */
export const adminActorIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'a user id, or a system actor such as system:clearing');

export const adminAuditQuerySchema = z.object({
  actorId: adminActorIdSchema.optional().describe('Only what this actor did'),
  from: isoTime.optional().describe('Recorded at or after (inclusive), ISO 8601'),
  to: isoTime.optional().describe('Recorded before (exclusive), ISO 8601'),
  limit: limitSchema,
  cursor: cursorSchema,
  minPosition: positionText.optional(),
});

export const adminAuditEntrySchema = z
  .object({
    position: z.string().describe('Global position of the event'),
    eventId: z.uuid(),
    streamId: z.string(),
    type: z.string().describe('What was done: the event type'),
    actorId: z.string().nullable().describe('Who did it (null: no actor recorded)'),
    correlationId: z.string().nullable(),
    requestId: z.string().nullable(),
    recordedAt: z.string(),
  })
  .meta({ id: 'AdminAuditEntry' });

export const adminAuditPageSchema = z.object({
  items: z.array(adminAuditEntrySchema),
  nextCursor: z.string().nullable(),
});
