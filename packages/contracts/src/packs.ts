import { z } from 'zod';
import { freeText } from './text.js';

/**
 * Financial packs (API.md, Packs; DESIGN §5): the events of `pack-<id>` (the catalog),
 * `subscription-<id>` (one account's subscription) and `account-pack-<accountId>` (which
 * subscription holds the account's one pack slot), schemaVersion 1, and the HTTP shapes of
 * /api/packs and /api/subscriptions. Amounts in events are minor units (strings), in HTTP
 * decimal strings in major units, as everywhere.
 */

export const packEventSchemaVersion = 1;
export const packStreamId = (packId: string) => `pack-${packId}`;
export const subscriptionStreamId = (subscriptionId: string) => `subscription-${subscriptionId}`;
export const accountPackStreamId = (accountId: string) => `account-pack-${accountId}`;

export const packStatuses = ['draft', 'active', 'retired'] as const;
export type PackStatus = (typeof packStatuses)[number];

export const subscriptionStatuses = ['active', 'past_due', 'suspended', 'cancelled'] as const;
export type SubscriptionStatus = (typeof subscriptionStatuses)[number];

/**
 * Conditions that waive a pack's monthly fee. `first_period`: the first period of a
 * subscription costs nothing.
 */
export const feeWaivers = ['first_period'] as const;
export type FeeWaiver = (typeof feeWaivers)[number];

export const packLimits = {
  nameLengthMax: 80,
  descriptionLengthMax: 500,
  freeExternalTransfersMax: 1000,
  /** A pack name is unique in the catalog only by id: names are free text. */
} as const;

const minor = z.string().regex(/^(0|[1-9][0-9]{0,30})$/);
const signedMinor = z.string().regex(/^(0|-?[1-9][0-9]{0,30})$/);
const isoTime = z.iso.datetime();

/** Benefits as events store them: minor units of the pack's currency. */
export const packBenefitsEventSchema = z.object({
  transferAmountMax: minor.optional(),
  dailyDebitMax: minor.optional(),
  freeExternalTransfers: z.int().min(0).max(packLimits.freeExternalTransfersMax).optional(),
  overdraftLimit: minor.optional(),
  feeWaivers: z.array(z.enum(feeWaivers)).max(feeWaivers.length).optional(),
});

const packDefinitionEventSchema = z.object({
  name: z.string().max(packLimits.nameLengthMax),
  description: z.string().max(packLimits.descriptionLengthMax),
  monthlyFee: minor,
  currency: z.string().length(3),
  benefits: packBenefitsEventSchema,
  status: z.enum(packStatuses),
});

/** One charge of a subscription: a period's fee, or the pro-rata of a pack change. */
const chargeKey = z.string().regex(/^(p|c)(0|[1-9][0-9]{0,5})$/);

export const packEventSchemas = {
  /** A pack enters the catalog: its whole definition. */
  PackCreated: packDefinitionEventSchema.extend({ packId: z.uuid(), by: z.uuid().nullable(), at: isoTime }),
  /** A manager changed the pack: its whole definition as it is from now on. */
  PackChanged: packDefinitionEventSchema.extend({ packId: z.uuid(), by: z.uuid().nullable(), at: isoTime }),

  /** The account's pack slot is held by this subscription (none other starts on the account). */
  AccountPackTaken: z.object({
    accountId: z.uuid(),
    subscriptionId: z.uuid(),
    packId: z.uuid(),
    at: isoTime,
  }),
  /** The subscription ended (cancelled): the account may take a pack again. */
  AccountPackReleased: z.object({ accountId: z.uuid(), subscriptionId: z.uuid(), at: isoTime }),

  /** Period 0 begins at `startedAt`; its fee (charge p0) is due at once. */
  SubscriptionStarted: z.object({
    subscriptionId: z.uuid(),
    packId: z.uuid(),
    packVersion: z.int().min(1),
    accountId: z.uuid(),
    ownerId: z.uuid(),
    currency: z.string().length(3),
    startedAt: isoTime,
    periodEnd: isoTime,
    /** The fee of period 0 as charged: the pack's monthly fee, or 0 when waived. */
    fee: minor,
    waiver: z.enum(feeWaivers).nullable(),
  }),
  /** Period n (n ≥ 1) began: its fee (charge p<n>) is due at its start. */
  SubscriptionPeriodStarted: z.object({
    subscriptionId: z.uuid(),
    period: z.int().min(1),
    periodStart: isoTime,
    periodEnd: isoTime,
    packId: z.uuid(),
    packVersion: z.int().min(1),
    fee: minor,
    waiver: z.enum(feeWaivers).nullable(),
  }),
  /**
   * The pack changed mid-period: the difference of the monthly fees for the days left in
   * the period (README, Packs: the pro-rata rule), a charge c<n> (> 0) or refund (< 0).
   */
  SubscriptionPackChanged: z.object({
    subscriptionId: z.uuid(),
    change: z.int().min(0),
    fromPackId: z.uuid(),
    fromPackVersion: z.int().min(1),
    toPackId: z.uuid(),
    toPackVersion: z.int().min(1),
    /** The period's fee basis before (what this period costs so far) and the new pack's fee. */
    fromFee: minor,
    toFee: minor,
    period: z.int().min(0),
    daysLeft: z.int().min(0),
    periodDays: z.int().min(1),
    adjustment: signedMinor,
    at: isoTime,
  }),
  /** A charge was paid (or a refund made) by transfer `transferId`. */
  SubscriptionChargePaid: z.object({
    subscriptionId: z.uuid(),
    key: chargeKey,
    transferId: z.uuid(),
    amount: signedMinor,
    attempt: z.int().min(0),
    at: isoTime,
  }),
  /** An attempt to collect a charge was refused (its TransferRefused records why). */
  SubscriptionChargeFailed: z.object({
    subscriptionId: z.uuid(),
    key: chargeKey,
    transferId: z.uuid(),
    amount: signedMinor,
    attempt: z.int().min(0),
    reason: z.string().max(64),
    /** When the dunning schedule tries again; null: no retry is left (suspension follows). */
    nextAttemptAt: isoTime.nullable(),
    at: isoTime,
  }),
  /** Every retry of a charge failed: the benefits are off, no period begins any more. */
  SubscriptionSuspended: z.object({ subscriptionId: z.uuid(), key: chargeKey, at: isoTime }),
  /** Cancelled by its owner: no fee from now on; the benefits last until `endsAt`. */
  SubscriptionCancelled: z.object({
    subscriptionId: z.uuid(),
    by: z.uuid(),
    at: isoTime,
    endsAt: isoTime,
  }),
} as const;

export type PackEventType = keyof typeof packEventSchemas;
export type PackEvent = {
  [K in PackEventType]: { type: K; data: z.infer<(typeof packEventSchemas)[K]> };
}[PackEventType];

export const packEventTypes = Object.keys(packEventSchemas) as PackEventType[];

export function isPackEventType(type: string): type is PackEventType {
  return Object.hasOwn(packEventSchemas, type);
}

export function parsePackEvent(type: string, data: unknown): PackEvent {
  if (!isPackEventType(type)) throw new RangeError(`not a pack event type: ${type}`);
  return { type, data: packEventSchemas[type].parse(data) } as PackEvent;
}

// ---------------------------------------------------------------- HTTP

/** A decimal string in major units; its exact form is checked by parseAmount (400). */
const amountText = z.string().max(64);

export const packBenefitsBodySchema = z.strictObject({
  transferAmountMax: amountText.optional(),
  dailyDebitMax: amountText.optional(),
  freeExternalTransfers: z.int().min(0).max(packLimits.freeExternalTransfersMax).optional(),
  overdraftLimit: amountText.optional(),
  feeWaivers: z.array(z.enum(feeWaivers)).max(feeWaivers.length).optional(),
});

/** POST /api/packs and PUT /api/packs/:id: the whole definition. */
export const packBodySchema = z.strictObject({
  name: freeText({ max: packLimits.nameLengthMax, min: 1 }),
  description: freeText({ max: packLimits.descriptionLengthMax, multiLine: true }),
  monthlyFee: amountText,
  currency: z.string().regex(/^[A-Z]{3}$/),
  benefits: packBenefitsBodySchema.default({}),
  status: z.enum(packStatuses).default('draft'),
});
export type PackBody = z.infer<typeof packBodySchema>;

export const packBenefitsSchema = z.object({
  transferAmountMax: z.string().optional(),
  dailyDebitMax: z.string().optional(),
  freeExternalTransfers: z.int().optional(),
  overdraftLimit: z.string().optional(),
  feeWaivers: z.array(z.enum(feeWaivers)).optional(),
});

export const packSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string(),
    monthlyFee: z.string(),
    currency: z.string(),
    benefits: packBenefitsSchema,
    status: z.enum(packStatuses),
    /** Not in API.md's minimum: the definition's version (1 when created, +1 per change). */
    version: z.int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Pack' });
export type PackView = z.infer<typeof packSchema>;

export const subscriptionSchema = z
  .object({
    id: z.uuid(),
    packId: z.uuid(),
    accountId: z.uuid(),
    status: z.enum(subscriptionStatuses),
    startedAt: z.string(),
    currentPeriodEnd: z.string(),
    nextFeeAt: z.string().nullable(),
    /** Not in API.md's minimum: the owner, and until when a cancelled one's benefits last. */
    userId: z.uuid(),
    endsAt: z.string().nullable(),
  })
  .meta({ id: 'Subscription' });
export type SubscriptionView = z.infer<typeof subscriptionSchema>;

export const subscribeBodySchema = z.strictObject({ accountId: z.uuid() });
export const changePackBodySchema = z.strictObject({ packId: z.uuid() });
export const subscriptionBodySchema = z.object({ subscription: subscriptionSchema });

export const listPacksQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(128).optional(),
  status: z.enum(packStatuses).optional(),
});

export const listSubscriptionsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(128).optional(),
  userId: z.uuid().optional(),
  accountId: z.uuid().optional(),
  status: z.enum(subscriptionStatuses).optional(),
});
