import {
  type ExtractedFieldName,
  extractedFieldNames,
  type KycDocumentType,
  type VerificationStatus,
  type VerificationView,
} from '@ledger/contracts';
import { assertProjectionSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { kycProjection } from './projection.js';
import type { KycDatabase } from './schema.js';

/** Opens a user's sealed fields (the vault's sealer of that user); null: erased. */
export interface FieldOpener {
  open(field: string, sealed: string): string | null;
}

export interface CaseQuery {
  sealers(userIds: readonly string[]): Promise<ReadonlyMap<string, FieldOpener>>;
  limit: number;
  cursor?: string;
  status?: VerificationStatus;
  userId?: string;
  schema?: string;
}

/** A cursor listCases did not make: a client error (400). */
export class InvalidCaseCursor extends RangeError {
  override readonly name = 'InvalidCaseCursor';
}

const cursorPattern = /^k1:([1-9][0-9]{0,18})$/;

function decodeCursor(cursor: string): string {
  const match = cursor.length <= 64 ? cursorPattern.exec(Buffer.from(cursor, 'base64url').toString()) : null;
  if (!match) throw new InvalidCaseCursor('invalid cursor');
  return match[1]!;
}

type Row = {
  id: string;
  seq: string;
  user_id: string;
  document_type: string;
  status: string;
  extracted: Record<string, string> | null;
  mrz_valid: boolean | null;
  face_match: { distance: number; matched: boolean } | null;
  reasons: string[];
  has_selfie: boolean;
  created_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
};

function select(db: Kysely<any>, schema: string) {
  assertProjectionSchema(schema);
  return (db.withSchema(schema) as Kysely<KycDatabase>)
    .selectFrom('cases')
    .select([
      sql<string>`id::text`.as('id'),
      sql<string>`seq::text`.as('seq'),
      sql<string>`user_id::text`.as('user_id'),
      'document_type',
      'status',
      'extracted',
      'mrz_valid',
      'face_match',
      'reasons',
      'has_selfie',
      'created_at',
      'decided_at',
      'decided_by',
    ]);
}

async function views(rows: Row[], sealers: CaseQuery['sealers']): Promise<VerificationView[]> {
  const openers = await sealers([...new Set(rows.filter((r) => r.extracted !== null).map((r) => r.user_id))]);
  const iso = (d: Date | string) => (d instanceof Date ? d : new Date(d)).toISOString();
  return rows.map((row) => {
    const opener = openers.get(row.user_id);
    let extracted: VerificationView['extracted'] = null;
    if (row.extracted !== null && opener !== undefined && row.mrz_valid !== null) {
      const sealed = row.extracted;
      const opened = extractedFieldNames.map((f) => [f, opener.open(f, sealed[f] ?? '')] as const);
      if (opened.every(([, v]) => v !== null)) {
        const fields = Object.fromEntries(opened) as Record<ExtractedFieldName, string>;
        extracted = { ...fields, mrzValid: row.mrz_valid };
      }
    }
    return {
      id: row.id,
      userId: row.user_id,
      documentType: row.document_type as KycDocumentType,
      status: row.status as VerificationStatus,
      extracted,
      faceMatch: row.face_match,
      reasons: row.reasons,
      createdAt: iso(row.created_at),
      decidedAt: row.decided_at === null ? null : iso(row.decided_at),
      decidedBy: row.decided_by,
      hasSelfie: row.has_selfie,
    };
  });
}

/** One page of cases, newest first, keyset-paginated. */
export async function listCases(db: Kysely<any>, query: CaseQuery) {
  const { limit } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new RangeError('limit must be 1 to 200');
  let q = select(db, query.schema ?? kycProjection.schema);
  if (query.status !== undefined) q = q.where('status', '=', query.status);
  if (query.userId !== undefined) q = q.where('user_id', '=', query.userId);
  if (query.cursor !== undefined) q = q.where(sql<boolean>`seq < ${decodeCursor(query.cursor)}::bigint`);
  const rows = (await q
    .orderBy('cases.seq', 'desc')
    .limit(limit + 1)
    .execute()) as Row[];
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: await views(page, query.sealers),
    nextCursor: rows.length > limit && last ? Buffer.from(`k1:${last.seq}`).toString('base64url') : null,
  };
}

/** One case, or null. */
export async function getCase(
  db: Kysely<any>,
  caseId: string,
  options: Pick<CaseQuery, 'sealers' | 'schema'>,
): Promise<VerificationView | null> {
  const rows = (await select(db, options.schema ?? kycProjection.schema)
    .where('id', '=', caseId)
    .execute()) as Row[];
  const [view] = await views(rows, options.sealers);
  return view ?? null;
}
