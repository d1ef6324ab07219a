import type { ColumnType } from 'kysely';

/** The users read model (schema `users`; bare table names, see Projection): one row per user. */
export interface UsersTable {
  id: ColumnType<string, string, never>;
  /** Global position of UserRegistered: the stable keyset order of lists. int8 as text. */
  seq: ColumnType<string, string, never>;
  /**
   * Personal fields as the log holds them: sealed under the user's key (queries open them
   * through the vault); null once the user was erased. Never clear in this table.
   */
  username: string | null;
  email: string | null;
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
  /** When the user's personal data was erased (PersonalDataErased). */
  erased_at: ColumnType<Date | null, string | null, string | null>;
  /** Position of the last event applied to the row. */
  position: ColumnType<string, string, string>;
}

export interface UsersDatabase {
  users: UsersTable;
}
