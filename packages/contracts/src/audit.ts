import { z } from 'zod';

/**
 * The Audit API (API.md, Audit: auditor and director): the global log and single streams as
 * the event store holds them (secrets redacted), the hash-chain verifier, and the trial
 * balance, now or at a point in time.
 */

export const auditLimits = {
  limitMin: 1,
  limitMax: 200,
  limitDefault: 50,
  /** The event store's own bound on stream ids. */
  streamIdLengthMax: 256,
} as const;

/** What replaces a secret (a password hash, a TOTP secret) in an event shown to an auditor. */
export const redactedValue = '[redacted]';

/** PostgreSQL's bigint: positions and versions are 64-bit, and 19 digits can be more. */
const int8Max = 9223372036854775807n;
const int8Text = (what: string) =>
  z
    .string()
    .regex(/^[0-9]{1,19}$/, what)
    // The regex reports other text; zod runs the refinement on it too.
    .refine((text) => !/^[0-9]{1,19}$/.test(text) || BigInt(text) <= int8Max, `${what}: at most ${int8Max}`);
const positionText = int8Text('a global position');
const versionText = int8Text('a stream version');
const limitSchema = z.coerce
  .number()
  .int()
  .min(auditLimits.limitMin)
  .max(auditLimits.limitMax)
  .default(auditLimits.limitDefault);
const cursorSchema = z.string().max(128).optional();

/**
 * Stream ids are `<kind>-<id>`: uuids, lower-cased usernames and e-mail addresses, account
 * numbers. Only the characters those use: no spaces, slashes, quotes or control characters.
 */
export const streamIdSchema = z
  .string()
  .min(1)
  .max(auditLimits.streamIdLengthMax)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@+'=:-]*$/, "letters, digits and . _ @ + ' = : - only");

export const auditEventsQuerySchema = z.object({
  fromPosition: positionText
    .optional()
    .describe('First global position to return (inclusive); default: the start of the log'),
  cursor: cursorSchema.describe('nextCursor of the previous page (instead of fromPosition)'),
  limit: limitSchema,
});

export const auditStreamParamsSchema = z.object({ streamId: streamIdSchema });

export const auditStreamQuerySchema = z.object({
  fromVersion: versionText.optional().describe('First stream version to return (inclusive); default 0'),
  cursor: cursorSchema.describe('nextCursor of the previous page (instead of fromVersion)'),
  limit: limitSchema,
});

export const auditEventSchema = z
  .object({
    position: z.string().describe('Global position (a 64-bit integer, as a string)'),
    eventId: z.uuid(),
    streamId: z.string(),
    streamVersion: z.string().describe('0-based version within the stream'),
    type: z.string(),
    schemaVersion: z.number().int(),
    data: z.unknown().describe('The event data, with secrets replaced by "[redacted]"'),
    metadata: z.record(z.string(), z.unknown()),
    recordedAt: z.string(),
    hash: z.string().describe('sha256 hex of (previous hash of the stream ‖ the event as stored)'),
    redacted: z
      .array(z.string())
      .describe(
        'Paths whose values were replaced by the safety net (a field named like a secret); empty, since no event holds a secret. The hash covers the originals',
      ),
  })
  .meta({ id: 'AuditEvent' });
export type AuditEventView = z.infer<typeof auditEventSchema>;

export const auditEventPageSchema = z.object({
  items: z.array(auditEventSchema),
  nextCursor: z.string().nullable(),
  nextPosition: positionText.describe(
    'fromPosition of the next page; on the last page, where new events will appear',
  ),
});

export const auditStreamPageSchema = z.object({
  streamId: z.string(),
  items: z.array(auditEventSchema),
  nextCursor: z.string().nullable(),
  nextVersion: versionText.describe('fromVersion of the next page'),
});

export const verifyResponseSchema = z.object({
  ok: z.boolean(),
  checkedEvents: z.number().int().nonnegative(),
  firstBadEvent: z
    .object({
      eventId: z.string(),
      streamId: z.string(),
      streamVersion: z.string(),
      position: z.string(),
      reason: z.enum(['hash_mismatch', 'version_gap', 'stream_head_mismatch']),
    })
    .nullable()
    .describe('The broken event with the lowest global position'),
});

export const trialBalanceQuerySchema = z.object({
  asOf: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Point in time: legs recorded at or before it, folded from the event store'),
  atPosition: positionText.optional().describe('Point in time: legs at or below this global position'),
  minPosition: positionText
    .optional()
    .describe('Without asOf/atPosition: wait (≤ 2 s) until the accounts read model has applied it'),
});

export const trialBalanceLineSchema = z.object({
  currency: z.string(),
  debits: z.string().describe('Σ posted debits over all accounts, major units'),
  credits: z.string().describe('Σ posted credits over all accounts, major units'),
  pendingDebits: z.string().describe('Σ debits held by two-phase transfers not yet posted or voided'),
  pendingCredits: z.string(),
  balanced: z.boolean().describe('debits = credits and pendingDebits = pendingCredits'),
});

export const trialBalanceSchema = z.object({
  source: z
    .enum(['read_model', 'events'])
    .describe('read_model: the accounts read model now; events: folded from the event store'),
  asOf: z.string().nullable(),
  position: positionText.describe(
    'Last global position included (read model: its checkpoint). A cut in the last moments may end ' +
      'before events of transactions still committing: compare with the position of your command',
  ),
  balanced: z.boolean().describe('Every currency balanced'),
  currencies: z.array(trialBalanceLineSchema),
});
