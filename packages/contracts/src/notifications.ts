import { z } from 'zod';
import { ledgerListLimits } from './ledger.js';

/**
 * Notifications (API.md, Notifications): the events of the preferences and read-mark
 * streams, and the HTTP bodies of /api/notifications. The categories and types themselves
 * are the domain's catalog (@ledger/domain/notifications); they are repeated here as the
 * closed lists a schema needs, and a test keeps both the same.
 */

export const notificationCategoryNames = ['transfers', 'security', 'kyc', 'packs', 'marketing'] as const;

export const notificationEventSchemaVersion = 1;

/** The user's preferences, one event per change carrying all of them. */
export const notificationPreferencesStreamId = (userId: string) => `notification-preferences-${userId}`;
/** One stream per notification read: at most one NotificationRead, whatever the retries. */
export const notificationReadStreamId = (notificationId: string) => `notification-read-${notificationId}`;

const isoTime = z.iso.datetime();
const categoryFlags = z.strictObject(
  Object.fromEntries(notificationCategoryNames.map((c) => [c, z.boolean()])) as Record<
    (typeof notificationCategoryNames)[number],
    z.ZodBoolean
  >,
);

export const notificationPreferencesSchema = z
  .strictObject({ email: categoryFlags, inApp: categoryFlags })
  .meta({ id: 'NotificationPreferences' });

export const notificationEventSchemas = {
  NotificationPreferencesChanged: z.object({
    userId: z.uuid(),
    at: isoTime,
    preferences: notificationPreferencesSchema,
  }),
  NotificationRead: z.object({ notificationId: z.uuid(), userId: z.uuid(), at: isoTime }),
} as const;

export type NotificationEventType = keyof typeof notificationEventSchemas;
export type NotificationEvent = {
  [K in NotificationEventType]: { type: K; data: z.infer<(typeof notificationEventSchemas)[K]> };
}[NotificationEventType];

export function parseNotificationEvent(type: string, data: unknown): NotificationEvent {
  const schema = notificationEventSchemas[type as NotificationEventType];
  if (!schema) throw new RangeError(`not a notification event type: ${type}`);
  return { type, data: schema.parse(data) } as NotificationEvent;
}

// ---------------------------------------------------------------- HTTP bodies

const positionText = z.string().regex(/^[0-9]{1,19}$/, 'a global position');

export const listNotificationsQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(ledgerListLimits.limitMin)
    .max(ledgerListLimits.limitMax)
    .default(ledgerListLimits.limitDefault),
  cursor: z.string().max(128).optional(),
  unread: z.enum(['true', 'false']).optional(),
  minPosition: positionText.optional(),
});

export const notificationSchema = z
  .object({
    id: z.uuid(),
    type: z.string(),
    title: z.string(),
    body: z.string(),
    createdAt: z.string(),
    readAt: z.string().nullable(),
  })
  .meta({ id: 'Notification' });
export type NotificationView = z.infer<typeof notificationSchema>;

export const notificationPageSchema = z.object({
  items: z.array(notificationSchema),
  nextCursor: z.string().nullable(),
  unreadCount: z.number().int(),
});

export const notificationIdParamsSchema = z.object({ id: z.uuid() });
export const preferencesQuerySchema = z.object({ minPosition: positionText.optional() });
export const preferencesResponseSchema = notificationPreferencesSchema.extend({
  position: z.string().nullable().optional(),
});
