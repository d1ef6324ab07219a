import type { ColumnType } from 'kysely';

/** The in-app notifications read model (schema `notifications`). */
export interface NotificationsTable {
  /** The intent's id: derived from (event, recipient, type), so a replay inserts nothing twice. */
  id: ColumnType<string, string, never>;
  /** Global position of the event that caused it: the keyset order of lists. int8 as text. */
  seq: ColumnType<string, string, never>;
  user_id: ColumnType<string, string, never>;
  type: ColumnType<string, string, never>;
  category: ColumnType<string, string, never>;
  title: ColumnType<string, string, never>;
  body: ColumnType<string, string, never>;
  facts: ColumnType<Record<string, string>, string, never>;
  created_at: ColumnType<Date, string, never>;
  read_at: ColumnType<Date | null, string | null, string | null>;
  position: ColumnType<string, string, string>;
}

/** Unread notifications per user, kept exact in the batch that inserts or reads one. */
export interface UnreadCountsTable {
  user_id: ColumnType<string, string, never>;
  unread: ColumnType<string, string, string>;
}

/** What the projection needs of a user at the time of each event: in-app preferences, locale. */
export interface PreferencesTable {
  user_id: ColumnType<string, string, never>;
  /** The in-app channel's categories; null: the defaults. */
  in_app: ColumnType<Record<string, boolean> | null, string | null, string | null>;
  /** 'en' or 'fr'; null: 'en'. */
  locale: string | null;
}

export interface NotificationsDatabase {
  notifications: NotificationsTable;
  unread_counts: UnreadCountsTable;
  preferences: PreferencesTable;
}
