import type { ColumnType } from 'kysely';

/** numeric / int8 columns: written as decimal strings, read back as strings (never Number). */
type Big = ColumnType<string, string, string>;

/** Schema `accounts`: one row per account, and its statement lines. */
export interface AccountsTable {
  id: ColumnType<string, string, never>;
  /** Global position of AccountOpened: the stable keyset order of lists. */
  seq: ColumnType<string, string, never>;
  account_number: string | null;
  user_id: string | null;
  kind: string;
  type: string;
  currency: string;
  status: string;
  debits_posted: Big;
  credits_posted: Big;
  debits_pending: Big;
  credits_pending: Big;
  created_at: ColumnType<Date, string, never>;
  position: Big;
}

export interface StatementLinesTable {
  /** Global position of the leg event: unique, and the statement's order. */
  position: ColumnType<string, string, never>;
  account_id: string;
  transaction_id: string;
  posted_at: ColumnType<Date, string, never>;
  direction: string;
  amount: Big;
  balance_after: Big;
  counterparty: string;
  /** The transfer's reference, as its leg repeats it. */
  reference: string | null;
  code: string;
}

export interface AccountsDatabase {
  accounts: AccountsTable;
  statement_lines: StatementLinesTable;
}

/** Schema `transactions`: one row per transfer, its current status. */
export interface TransactionsTable {
  id: ColumnType<string, string, never>;
  type: string;
  status: string;
  from_account_id: string;
  to_account_id: string;
  amount: Big;
  posted_amount: string | null;
  currency: string;
  reference: string | null;
  reversal_of: string | null;
  reversed_by: string | null;
  /** External transfers only. */
  beneficiary_iban: string | null;
  beneficiary_name: string | null;
  /** Active fraud/AML rules that fired when it was created: the API's riskFlags. */
  risk_flags: ColumnType<string[], never, string[]>;
  /** Held for review and decided: who, what, why and when (null otherwise). */
  reviewed_by: string | null;
  review_decision: string | null;
  review_reason: string | null;
  reviewed_at: ColumnType<Date | null, string | null, string | null>;
  created_at: ColumnType<Date, string, never>;
  position: ColumnType<string, string, never>;
  updated_position: Big;
}

export interface TransactionsDatabase {
  transactions: TransactionsTable;
}
