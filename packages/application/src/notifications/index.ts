/** Notifications: which events notify whom, preferences, read marks, recipients (API.md, Notifications). */
export {
  deviceKey,
  knownDeviceEventsMax,
  type NotificationContext,
  notificationId,
  notificationsOf,
  notifyingEventTypes,
} from './decide.js';
export {
  changeNotificationPreferences,
  copyPreferences,
  getNotificationPreferences,
  type Locale,
  type MarkReadOutcome,
  markNotificationRead,
  type NotificationCaller,
  type PreferencesOutcome,
  type Recipient,
  recipientOf,
} from './preferences.js';
