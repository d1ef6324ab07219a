import {
  defaultUserLocale,
  type NotificationEvent,
  notificationEventSchemaVersion,
  notificationPreferencesStreamId,
  notificationReadStreamId,
  parseNotificationEvent,
  type UserLocale,
} from '@ledger/contracts';
import {
  defaultNotificationPreferences,
  lockedEmailCategories,
  type NotificationPreferences,
  notificationCategories,
} from '@ledger/domain/notifications';
import { type EventMetadata, type EventStore, WrongExpectedVersion } from '@ledger/eventstore';
import { type Aggregate, handleCommand, loadStream } from '../command-handler.js';
import { loadOpenedUser, type PersonalDataPorts } from '../identity.js';

/**
 * A user's notification preferences, event-sourced in `notification-preferences-<userId>`:
 * each NotificationPreferencesChanged carries all of them (a stream that was never written
 * reads as the defaults). The in-app read model applies a change from its position on:
 * notifications already stored stay, later ones follow the new preferences.
 */

export interface NotificationCaller {
  userId: string;
  metadata: EventMetadata;
  now: Date;
}

export type PreferencesEvent = Extract<NotificationEvent, { type: 'NotificationPreferencesChanged' }>;

const preferencesAggregate: Aggregate<NotificationPreferences, PreferencesEvent> = {
  initialState: defaultNotificationPreferences,
  evolve: (_state, event) => copyPreferences(event.data.preferences),
  parse(type, data) {
    const event = parseNotificationEvent(type, data);
    if (event.type !== 'NotificationPreferencesChanged') throw new Error(`${type} in a preferences stream`);
    return event;
  },
  schemaVersion: notificationEventSchemaVersion,
};

/** A copy with exactly the catalog's categories (a missing one reads as its default). */
export function copyPreferences(input: {
  email: Partial<Record<string, boolean>>;
  inApp: Partial<Record<string, boolean>>;
}): NotificationPreferences {
  const defaults = defaultNotificationPreferences();
  const of = (channel: 'email' | 'inApp') =>
    Object.fromEntries(
      notificationCategories.map((c) => [c, input[channel][c] ?? defaults[channel][c]]),
    ) as NotificationPreferences['email'];
  return { email: of('email'), inApp: of('inApp') };
}

const samePreferences = (a: NotificationPreferences, b: NotificationPreferences) =>
  notificationCategories.every((c) => a.email[c] === b.email[c] && a.inApp[c] === b.inApp[c]);

/** The user's preferences now (the defaults until they change one). */
export async function getNotificationPreferences(
  context: { store: EventStore },
  userId: string,
): Promise<NotificationPreferences> {
  return (await loadStream(context.store, notificationPreferencesStreamId(userId), preferencesAggregate))
    .state;
}

export type PreferencesOutcome =
  | { ok: true; preferences: NotificationPreferences; position: bigint | null }
  | { ok: false; rejection: 'preference_locked' };

/**
 * Replaces the caller's preferences. Security email cannot be turned off (API.md: 422
 * `preference_locked`); the same preferences again append nothing.
 */
export async function changeNotificationPreferences(
  context: { store: EventStore },
  caller: NotificationCaller,
  input: NotificationPreferences,
): Promise<PreferencesOutcome> {
  const wanted = copyPreferences(input);
  if (lockedEmailCategories.some((c) => !wanted.email[c]))
    return { ok: false, rejection: 'preference_locked' };
  const result = await handleCommand({
    store: context.store,
    streamId: notificationPreferencesStreamId(caller.userId),
    aggregate: preferencesAggregate,
    decide: (state) => ({
      events: samePreferences(state, wanted)
        ? []
        : [
            {
              type: 'NotificationPreferencesChanged' as const,
              data: { userId: caller.userId, at: caller.now.toISOString(), preferences: wanted },
            },
          ],
    }),
    metadata: { ...caller.metadata, actorId: caller.userId },
  });
  return { ok: true, preferences: result.state, position: result.position };
}

export type MarkReadOutcome = { ok: true; position: bigint | null } | { ok: false; rejection: 'not_found' };

/**
 * Marks one of the caller's notifications read: a NotificationRead in the notification's
 * own stream (appended once: reading it again is fine and appends nothing), which the in-app
 * read model projects. `isRecipient` says whether the notification is the caller's (the read
 * model's answer): another user's, or an unknown id, is not_found.
 */
export async function markNotificationRead(
  context: { store: EventStore },
  caller: NotificationCaller,
  notificationId: string,
  isRecipient: (notificationId: string, userId: string) => Promise<boolean>,
): Promise<MarkReadOutcome> {
  if (!(await isRecipient(notificationId, caller.userId))) return { ok: false, rejection: 'not_found' };
  try {
    const result = await context.store.append([
      {
        streamId: notificationReadStreamId(notificationId),
        expectedVersion: 'no_stream',
        events: [
          {
            type: 'NotificationRead',
            schemaVersion: notificationEventSchemaVersion,
            data: { notificationId, userId: caller.userId, at: caller.now.toISOString() },
            metadata: { ...caller.metadata, actorId: caller.userId },
          },
        ],
      },
    ]);
    return { ok: true, position: result.position };
  } catch (error) {
    if (error instanceof WrongExpectedVersion) return { ok: true, position: null };
    throw error;
  }
}

export type Locale = UserLocale;

export interface Recipient {
  email: string;
  locale: Locale;
  firstName: string | null;
}

/** Where and how to write to a user: null for an unknown or erased user. */
export async function recipientOf(ports: PersonalDataPorts, userId: string): Promise<Recipient | null> {
  const user = await loadOpenedUser(ports, userId);
  if (user.status !== 'registered' || user.erasedAt !== null) return null;
  return {
    email: user.email,
    locale: user.profile.locale ?? defaultUserLocale,
    firstName: user.profile.firstName,
  };
}
