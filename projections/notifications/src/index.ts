export { notificationsMigrations } from './migrations.js';
export {
  notificationsProjection,
  notificationsProjectionHandles,
  notificationsProjectionName,
  notificationsProjectionSchema,
} from './projection.js';
export {
  InvalidNotificationCursor,
  isNotificationOf,
  listNotifications,
  type NotificationPage,
  type NotificationQuery,
  unreadCount,
} from './queries.js';
export type {
  NotificationsDatabase,
  NotificationsTable,
  PreferencesTable,
  UnreadCountsTable,
} from './schema.js';
export { type InAppLocale, inAppFactLengthMax, inAppText } from './text.js';
