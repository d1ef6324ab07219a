import type { ColumnType } from 'kysely';

/** The support read model (schema `support`): one row per ticket the chatbot opened. */
export interface TicketsTable {
  id: ColumnType<string, string, never>;
  /** Global position of SupportTicketOpened: the keyset order of the list. int8 as text. */
  seq: ColumnType<string, string, never>;
  user_id: ColumnType<string, string, never>;
  session_id: ColumnType<string, string, never>;
  reason: ColumnType<string, string, never>;
  language: ColumnType<string, string, never>;
  /** JSON array of intent names, oldest first. */
  intents: ColumnType<string[], string, never>;
  status: ColumnType<string, string, string>;
  created_at: ColumnType<Date, string, never>;
}

export interface SupportDatabase {
  tickets: TicketsTable;
}
