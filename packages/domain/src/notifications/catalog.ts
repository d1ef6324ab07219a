/**
 * What the bank tells its customers (API.md, Notifications): the types, each in one
 * category, and the shape of one notification as decided from one event for one recipient.
 * Deciding (which events notify whom), the in-app read model and the mail channel all read
 * this catalog, so a type is added in one place.
 */

export const notificationCategories = ['transfers', 'security', 'kyc', 'packs', 'marketing'] as const;
export type NotificationCategory = (typeof notificationCategories)[number];

/** Every type of API.md, with its category. */
export const notificationTypeCategories = {
  transfer_received: 'transfers',
  transfer_sent: 'transfers',
  transfer_held: 'transfers',
  transfer_approved: 'transfers',
  transfer_rejected: 'transfers',
  transfer_returned: 'transfers',
  kyc_verified: 'kyc',
  kyc_rejected: 'kyc',
  kyc_needs_review: 'kyc',
  login_new_device: 'security',
  password_changed: 'security',
  two_factor_changed: 'security',
  account_locked: 'security',
  account_frozen: 'security',
  pack_fee_charged: 'packs',
  pack_fee_failed: 'packs',
} as const satisfies Record<string, NotificationCategory>;

export type NotificationType = keyof typeof notificationTypeCategories;
export const notificationTypes = Object.keys(notificationTypeCategories) as NotificationType[];

export const isNotificationType = (value: unknown): value is NotificationType =>
  typeof value === 'string' && Object.hasOwn(notificationTypeCategories, value);

export const categoryOf = (type: NotificationType): NotificationCategory => notificationTypeCategories[type];

/** Security email cannot be turned off (API.md: 422 `preference_locked`). */
export const lockedEmailCategories: readonly NotificationCategory[] = ['security'];

export type Channel = 'email' | 'inApp';

/** Per channel, per category: on or off. */
export type NotificationPreferences = Record<Channel, Record<NotificationCategory, boolean>>;

/** Everything on but marketing, which is opt-in. */
export function defaultNotificationPreferences(): NotificationPreferences {
  const of = () =>
    Object.fromEntries(notificationCategories.map((c) => [c, c !== 'marketing'])) as Record<
      NotificationCategory,
      boolean
    >;
  return { email: of(), inApp: of() };
}

/** Whether a channel carries a category for these preferences (locked categories always). */
export function wants(
  preferences: NotificationPreferences,
  channel: Channel,
  category: NotificationCategory,
): boolean {
  if (channel === 'email' && lockedEmailCategories.includes(category)) return true;
  return preferences[channel][category];
}

/**
 * One notification: one event, one recipient, one type. `id` is derived from (event id,
 * recipient, type), so deciding it twice (a redelivered event, a rebuilt read model, a retried
 * job) names the same notification, and a mail's Message-ID and job id come from it.
 */
export interface NotificationIntent {
  id: string;
  type: NotificationType;
  category: NotificationCategory;
  recipientUserId: string;
  /** The event that caused it, and when that was (ISO 8601). */
  eventId: string;
  globalPosition: bigint;
  at: string;
  /**
   * What the message says, as text: amounts in major units with `currency`, ids, a
   * reference or reason as the user typed it (escaped by whoever renders HTML; never put in
   * a mail header). No secret, and no personal data of anyone but the recipient.
   */
  facts: Readonly<Record<string, string>>;
}
