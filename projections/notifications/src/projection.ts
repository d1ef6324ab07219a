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
/** Folded account states the projection's own ledger keeps (see notificationsProjection). */
export const projectorAccountCacheSize = 256;
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
  // Deciding needs each account's owner and currency (kept apart, for every account seen) and
  // rarely a whole folded state: a few are cached, not the API's thousands.
  const context: NotificationContext =
    'ledger' in ports
      ? ports
      : { ledger: createLedger(ports.store, { accountCacheSize: projectorAccountCacheSize }) };
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
  const projection: Projection = {
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
    /**
     * The same as apply on each event in turn, in a few statements: the recipients'
     * settings read once for the batch (and followed through its own preference, profile
     * and erasure events), the notifications inserted together and the unread counts moved
     * by one upsert. Pending rows are written before any other event of the batch applies
     * (a read, an erasure), so each sees what came before it.
     */
    async applyBatch(tx, events) {
      const db = tx as Kysely<NotificationsDatabase>;
      const intents = new Map<string, NotificationIntent[]>();
      for (const recorded of events) {
        if (!specialTypes.has(recorded.type)) intents.set(recorded.eventId, await intentsOf(recorded));
      }
      const recipients = new Set([...intents.values()].flat().map((intent) => intent.recipientUserId));
      const settings = await recipientsSettings(db, [...recipients]);
      let pending: NotificationRow[] = [];
      const flush = async () => {
        if (pending.length > 0) await insertNotifications(db, pending);
        pending = [];
      };
      for (const recorded of events) {
        const own = intents.get(recorded.eventId);
        if (own === undefined) {
          await flush();
          await projection.apply(tx, recorded);
          // Its change to a recipient's settings applies to the events after it.
          for (const userId of affectedUsers(recorded)) {
            if (recipients.has(userId))
              settings.set(userId, (await recipientsSettings(db, [userId])).get(userId)!);
          }
          continue;
        }
        for (const intent of own) {
          const row = notificationRow(intent, recorded, settings.get(intent.recipientUserId)!);
          if (row !== null) pending.push(row);
        }
      }
      await flush();
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
  return projection;
}

/** The events apply handles itself (they change settings or rows); the others notify. */
const specialTypes = new Set([
  'NotificationPreferencesChanged',
  'NotificationRead',
  'ProfileUpdated',
  'PersonalDataErased',
]);

/** Whose settings an event changes (preferences, locale, erasure). */
function affectedUsers(recorded: RecordedEvent): string[] {
  if (recorded.type === 'NotificationRead') return [];
  const userId = (recorded.data as { userId?: unknown } | null)?.userId;
  return typeof userId === 'string' ? [userId] : [];
}

interface RecipientSettings {
  preferences: NotificationPreferences;
  locale: InAppLocale;
}

/** Each user's settings as this read model has them (defaults for a user it has none of). */
async function recipientsSettings(
  db: Kysely<NotificationsDatabase>,
  userIds: readonly string[],
): Promise<Map<string, RecipientSettings>> {
  const rows =
    userIds.length === 0
      ? []
      : await db
          .selectFrom('preferences')
          .select(['user_id', 'in_app', 'locale'])
          .where('user_id', 'in', userIds)
          .execute();
  const byUser = new Map(rows.map((row) => [row.user_id, row]));
  return new Map(
    userIds.map((userId) => {
      const row = byUser.get(userId);
      const preferences = defaultNotificationPreferences();
      if (row?.in_app) {
        for (const c of notificationCategories) {
          const on = row.in_app[c];
          if (typeof on === 'boolean') preferences.inApp[c] = on;
        }
      }
      return [userId, { preferences, locale: row?.locale === 'fr' ? 'fr' : 'en' }];
    }),
  );
}

interface NotificationRow {
  id: string;
  seq: string;
  user_id: string;
  type: string;
  category: string;
  title: string;
  body: string;
  facts: string;
  created_at: string;
  position: string;
}

/** The row an intent stores, or null when its recipient does not want it in the app. */
function notificationRow(
  intent: NotificationIntent,
  recorded: RecordedEvent,
  { preferences, locale }: RecipientSettings,
): NotificationRow | null {
  if (!wants(preferences, 'inApp', intent.category)) return null;
  const { title, body } = inAppText(intent.type, intent.facts, locale);
  return {
    id: intent.id,
    seq: intent.globalPosition.toString(),
    user_id: intent.recipientUserId,
    type: intent.type,
    category: intent.category,
    title,
    body,
    facts: JSON.stringify(intent.facts),
    created_at: intent.at,
    position: recorded.globalPosition.toString(),
  };
}

/** Rows per INSERT (bounded statement size). */
const insertRowsMax = 500;

/** Inserts rows (an id already stored is skipped: a replay) and counts the new ones as unread. */
async function insertNotifications(db: Kysely<NotificationsDatabase>, rows: readonly NotificationRow[]) {
  for (let i = 0; i < rows.length; i += insertRowsMax) {
    const chunk = rows.slice(i, i + insertRowsMax);
    const column = <K extends keyof NotificationRow>(key: K) => chunk.map((row) => row[key]);
    const inserted = await db
      .insertInto('notifications')
      .columns([
        'id',
        'seq',
        'user_id',
        'type',
        'category',
        'title',
        'body',
        'facts',
        'created_at',
        'position',
      ])
      .expression(
        sql`SELECT id, seq, user_id, type, category, title, body, facts::jsonb, created_at, position
              FROM unnest(${column('id')}::uuid[], ${column('seq')}::bigint[], ${column('user_id')}::uuid[],
                          ${column('type')}::text[], ${column('category')}::text[], ${column('title')}::text[],
                          ${column('body')}::text[], ${column('facts')}::text[], ${column('created_at')}::timestamptz[],
                          ${column('position')}::bigint[])
                   AS r(id, seq, user_id, type, category, title, body, facts, created_at, position)`,
      )
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('user_id')
      .execute();
    const added = new Map<string, number>();
    for (const { user_id } of inserted) added.set(user_id, (added.get(user_id) ?? 0) + 1);
    if (added.size === 0) continue;
    await db
      .insertInto('unread_counts')
      .columns(['user_id', 'unread'])
      .expression(
        sql`SELECT * FROM unnest(${[...added.keys()]}::uuid[], ${[...added.values()].map(String)}::bigint[])`,
      )
      .onConflict((oc) =>
        oc.column('user_id').doUpdateSet({ unread: sql`unread_counts.unread + excluded.unread` }),
      )
      .execute();
  }
}

async function store(db: Kysely<NotificationsDatabase>, intent: NotificationIntent, recorded: RecordedEvent) {
  const settings = (await recipientsSettings(db, [intent.recipientUserId])).get(intent.recipientUserId)!;
  const row = notificationRow(intent, recorded, settings);
  if (row !== null) await insertNotifications(db, [row]);
}

async function addUnread(db: Kysely<NotificationsDatabase>, userId: string, delta: 1 | -1) {
  await db
    .insertInto('unread_counts')
    .values({ user_id: userId, unread: String(Math.max(delta, 0)) })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ unread: sql`unread_counts.unread + ${delta}` }))
    .execute();
}
