import type { ColumnType } from 'kysely';

/** The KYC read model (schema `kyc`): one row per verification case. */
export interface CasesTable {
  id: ColumnType<string, string, never>;
  /** Global position of KycSubmitted: the keyset order of lists. int8 as text. */
  seq: ColumnType<string, string, never>;
  user_id: ColumnType<string, string, never>;
  document_type: ColumnType<string, string, never>;
  status: string;
  /** The fields read off the document, sealed as the log holds them; null once erased. */
  extracted: ColumnType<Record<string, string> | null, string | null, string | null>;
  mrz_valid: boolean | null;
  face_match: ColumnType<{ distance: number; matched: boolean } | null, string | null, string | null>;
  reasons: ColumnType<string[], string, string>;
  has_selfie: ColumnType<boolean, boolean, never>;
  created_at: ColumnType<Date, string, never>;
  decided_at: ColumnType<Date | null, string | null, string | null>;
  decided_by: string | null;
  position: ColumnType<string, string, string>;
}

export interface KycDatabase {
  cases: CasesTable;
}
