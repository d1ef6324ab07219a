/** The notification catalog (API.md, Notifications): types, categories, preferences. */
export {
  type Channel,
  categoryOf,
  defaultNotificationPreferences,
  isNotificationType,
  lockedEmailCategories,
  type NotificationCategory,
  type NotificationIntent,
  type NotificationPreferences,
  type NotificationType,
  notificationCategories,
  notificationTypeCategories,
  notificationTypes,
  wants,
} from './catalog.js';
