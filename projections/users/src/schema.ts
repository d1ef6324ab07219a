import type { ColumnType } from 'kysely';

/** The users read model (schema `users`; bare table names, see Projection): one row per user. */
export interface UsersTable {
  id: ColumnType<string, string, never>;
  /** Global position of UserRegistered: the stable keyset order of lists. int8 as text. */
  seq: ColumnType<string, string, never>;
  username: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  /** YYYY-MM-DD. */
  date_of_birth: string | null;
  phone: string | null;
  role: string;
  two_factor_enabled: boolean;
  kyc_status: string;
  locked: boolean;
  /** null with locked: until staff unlocks. */
  locked_until: ColumnType<Date | null, string | null, string | null>;
  created_at: ColumnType<Date, string, never>;
  /** Position of the last event applied to the row. */
  position: ColumnType<string, string, string>;
}

export interface UsersDatabase {
  users: UsersTable;
}
