import {
  createLedger,
  type NotificationContext,
  notificationsOf,
  notifyingEventTypes,
} from '@ledger/application';
import { parseIdentityEvent, parseNotificationEvent } from '@ledger/contracts';
import {
  defaultNotificationPreferences,
  type NotificationIntent,
  type NotificationPreferences,
  notificationCategories,
  wants,
} from '@ledger/domain/notifications';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import { migrateSchema, type Projection } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { notificationsMigrations } from './migrations.js';
import type { NotificationsDatabase } from './schema.js';
import { type InAppLocale, inAppText } from './text.js';

export const notificationsProjectionName = 'notifications';
export const notificationsProjectionSchema = 'notifications';

export const notificationsProjectionHandles = [
  ...notifyingEventTypes,
  'NotificationPreferencesChanged',
  'NotificationRead',
  'ProfileUpdated',
  'PersonalDataErased',
] as const;

/**
 * In-app notifications (GET /api/notifications): runs notificationsOf on each event and
 * stores the intents whose recipient wants the in-app channel for their category, with
 * their title and body in the recipient's locale, one row per intent id (a replay or a
 * rebuild inserts nothing twice), and an unread count per user kept in the same batch.
 *
 * Preferences and locale are those of the recipient at the event's position, as this read
 * model followed them (NotificationPreferencesChanged, ProfileUpdated): a change applies
 * to events after it, never to notifications already stored, and a rebuild gives the same rows.
 * An erasure (PersonalDataErased) deletes the user's rows: their text may name a device, an
 * address or a reference.
 */
export function notificationsProjection(ports: { store: EventStore } | NotificationContext): Projection {
  const context: NotificationContext = 'ledger' in ports ? ports : { ledger: createLedger(ports.store) };
  /**
   * Intents decided before the batch's transaction (beforeBatch): deciding reads the store
   * (owners, the user's logins), which inside the transaction would wait for embedded
   * PGlite's one connection for ever. Taken by apply; at most one batch's worth.
   */
  const decided = new Map<string, Promise<NotificationIntent[]>>();
  const intentsOf = (recorded: RecordedEvent) => {
    const early = decided.get(recorded.eventId);
    decided.delete(recorded.eventId);
    return early ?? notificationsOf(context, recorded);
  };
  return {
    name: notificationsProjectionName,
    version: 1,
    schema: notificationsProjectionSchema,
    handles: notificationsProjectionHandles,
    migrate: (db, schema) => migrateSchema(db, schema, notificationsMigrations),
    async beforeBatch(events) {
      decided.clear();
      for (const event of events) {
        const intents = notificationsOf(context, event);
        // Awaited here, in order (deciding may depend on earlier events' effects in the store).
        await intents;
        decided.set(event.eventId, intents);
      }
    },
    async apply(tx, recorded) {
      const db = tx as Kysely<NotificationsDatabase>;
      const position = recorded.globalPosition.toString();
      switch (recorded.type) {
        case 'NotificationPreferencesChanged': {
          const e = parseNotificationEvent(recorded.type, recorded.data);
          if (e.type !== 'NotificationPreferencesChanged') return;
          const inApp = JSON.stringify(e.data.preferences.inApp);
          await db
            .insertInto('preferences')
            .values({ user_id: e.data.userId, in_app: inApp, locale: null })
            .onConflict((oc) => oc.column('user_id').doUpdateSet({ in_app: inApp }))
            .execute();
          return;
        }
        case 'ProfileUpdated': {
          const e = parseIdentityEvent(recorded.type, recorded.data);
          if (e.type !== 'ProfileUpdated' || e.data.locale === undefined) return;
          const { locale } = e.data;
          await db
            .insertInto('preferences')
            .values({ user_id: e.data.userId, in_app: null, locale })
            .onConflict((oc) => oc.column('user_id').doUpdateSet({ locale }))
            .execute();
          return;
        }
        case 'PersonalDataErased': {
          // What the notifications said (an address, a device, a reference) goes with the person.
          const e = parseIdentityEvent(recorded.type, recorded.data);
          const userId = e.data.userId;
          await db.deleteFrom('notifications').where('user_id', '=', userId).execute();
          await db.deleteFrom('unread_counts').where('user_id', '=', userId).execute();
          await db.deleteFrom('preferences').where('user_id', '=', userId).execute();
          return;
        }
        case 'NotificationRead': {
          const e = parseNotificationEvent(recorded.type, recorded.data);
          if (e.type !== 'NotificationRead') return;
          const read = await db
            .updateTable('notifications')
            .set({ read_at: e.data.at, position })
            .where('id', '=', e.data.notificationId)
            .where('user_id', '=', e.data.userId)
            .where('read_at', 'is', null)
            .executeTakeFirst();
          if (read.numUpdatedRows === 1n) await addUnread(db, e.data.userId, -1);
          return;
        }
        default:
          for (const intent of await intentsOf(recorded)) await store(db, intent, recorded);
      }
    },
  };
}

async function recipientSettings(
  db: Kysely<NotificationsDatabase>,
  userId: string,
): Promise<{ preferences: NotificationPreferences; locale: InAppLocale }> {
  const row = await db
    .selectFrom('preferences')
    .select(['in_app', 'locale'])
    .where('user_id', '=', userId)
    .executeTakeFirst();
  const preferences = defaultNotificationPreferences();
  if (row?.in_app) {
    for (const c of notificationCategories) {
      const on = row.in_app[c];
      if (typeof on === 'boolean') preferences.inApp[c] = on;
    }
  }
  return { preferences, locale: row?.locale === 'fr' ? 'fr' : 'en' };
}

async function store(db: Kysely<NotificationsDatabase>, intent: NotificationIntent, recorded: RecordedEvent) {
  const { preferences, locale } = await recipientSettings(db, intent.recipientUserId);
  if (!wants(preferences, 'inApp', intent.category)) return;
  const { title, body } = inAppText(intent.type, intent.facts, locale);
  const position = recorded.globalPosition.toString();
  const inserted = await db
    .insertInto('notifications')
    .values({
      id: intent.id,
      seq: intent.globalPosition.toString(),
      user_id: intent.recipientUserId,
      type: intent.type,
      category: intent.category,
      title,
      body,
      facts: JSON.stringify(intent.facts),
      created_at: intent.at,
      read_at: null,
      position,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  if ((inserted.numInsertedOrUpdatedRows ?? 0n) === 1n) await addUnread(db, intent.recipientUserId, 1);
}

async function addUnread(db: Kysely<NotificationsDatabase>, userId: string, delta: 1 | -1) {
  await db
    .insertInto('unread_counts')
    .values({ user_id: userId, unread: String(Math.max(delta, 0)) })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ unread: sql`unread_counts.unread + ${delta}` }))
    .execute();
}
