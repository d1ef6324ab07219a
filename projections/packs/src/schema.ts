import type { ColumnType } from 'kysely';
import type { PackRow, SubscriptionRow } from './state.js';

/**
 * The packs read model (schema `packs`): the catalog and the subscriptions, each row's
 * whole folded state as JSON (the domain's fold, amounts as minor-unit strings), with the
 * columns lists filter and order by.
 */
export interface PacksTable {
  id: ColumnType<string, string, never>;
  /** Global position of PackCreated: the keyset order of lists. int8 as text. */
  seq: ColumnType<string, string, never>;
  status: string;
  currency: string;
  version: number;
  state: ColumnType<PackRow, string, string>;
  position: ColumnType<string, string, string>;
}

export interface SubscriptionsTable {
  id: ColumnType<string, string, never>;
  seq: ColumnType<string, string, never>;
  user_id: ColumnType<string, string, never>;
  account_id: ColumnType<string, string, never>;
  pack_id: string;
  status: string;
  /** When the scheduler next has work on it (null: never again). */
  next_fee_at: ColumnType<Date | null, string | null, string | null>;
  state: ColumnType<SubscriptionRow, string, string>;
  position: ColumnType<string, string, string>;
}

export interface PacksDatabase {
  packs: PacksTable;
  subscriptions: SubscriptionsTable;
}
