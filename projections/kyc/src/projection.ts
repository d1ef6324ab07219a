import { parseIdentityEvent, parseKycEvent } from '@ledger/contracts';
import { migrateSchema, type Projection } from '@ledger/readmodel';
import type { Kysely, Updateable } from 'kysely';
import { kycMigrations } from './migrations.js';
import type { CasesTable, KycDatabase } from './schema.js';

export const kycProjectionHandles = [
  'KycSubmitted',
  'KycCheckStarted',
  'KycChecked',
  'KycReviewed',
  'PersonalDataErased',
] as const;

/**
 * Verification cases for the customer's list and the agents' queue (GET /api/verification).
 * Extracted fields stay sealed as the log holds them (queries open them through the vault);
 * an erasure removes them. Commands never read it: they fold the case's stream.
 */
export const kycProjection: Projection = {
  name: 'kyc',
  version: 1,
  schema: 'kyc',
  handles: kycProjectionHandles,
  migrate: (db, schema) => migrateSchema(db, schema, kycMigrations),
  async apply(tx, recorded) {
    const db = tx as Kysely<KycDatabase>;
    const position = recorded.globalPosition.toString();
    if (recorded.type === 'PersonalDataErased') {
      const erased = parseIdentityEvent(recorded.type, recorded.data);
      if (erased.type !== 'PersonalDataErased') throw new Error('not PersonalDataErased');
      await db
        .updateTable('cases')
        .set({ extracted: null, position })
        .where('user_id', '=', erased.data.userId)
        .execute();
      return;
    }
    const event = parseKycEvent(recorded.type, recorded.data);
    const update = async (caseId: string, changes: Updateable<CasesTable>) => {
      const result = await db
        .updateTable('cases')
        .set({ ...changes, position })
        .where('id', '=', caseId)
        .executeTakeFirst();
      if (result.numUpdatedRows !== 1n) throw new Error(`${recorded.type} for unknown case ${caseId}`);
    };
    switch (event.type) {
      case 'KycSubmitted': {
        const d = event.data;
        await db
          .insertInto('cases')
          .values({
            id: d.caseId,
            seq: position,
            user_id: d.userId,
            document_type: d.documentType,
            status: 'submitted',
            extracted: null,
            mrz_valid: null,
            face_match: null,
            reasons: '[]',
            has_selfie: d.selfie !== null,
            created_at: d.at,
            decided_at: null,
            decided_by: null,
            position,
          })
          .execute();
        return;
      }
      case 'KycCheckStarted':
        // Only a case still waiting becomes `processing`; a decided one stays as it is.
        await db
          .updateTable('cases')
          .set({ status: 'processing', position })
          .where('id', '=', event.data.caseId)
          .where('status', 'in', ['submitted', 'processing'])
          .execute();
        return;
      case 'KycChecked': {
        const d = event.data;
        return update(d.caseId, {
          status: d.outcome,
          extracted: d.extracted === null ? null : JSON.stringify(d.extracted),
          mrz_valid: d.mrzValid,
          face_match: d.faceMatch === null ? null : JSON.stringify(d.faceMatch),
          reasons: JSON.stringify(d.reasons),
          decided_at: d.at,
          decided_by: d.checkedBy,
        });
      }
      case 'KycReviewed': {
        const d = event.data;
        const row = await db
          .selectFrom('cases')
          .select('reasons')
          .where('id', '=', d.caseId)
          .executeTakeFirst();
        if (row === undefined) throw new Error(`KycReviewed for unknown case ${d.caseId}`);
        const reasons = [
          ...row.reasons.filter((r) => r !== 'agent_approved' && r !== 'agent_rejected'),
          d.decision === 'verified' ? 'agent_approved' : 'agent_rejected',
        ];
        return update(d.caseId, {
          status: d.decision,
          reasons: JSON.stringify(reasons),
          decided_at: d.at,
          decided_by: d.by,
        });
      }
      case 'KycCheckFailed':
      case 'KycProviderCallbackReceived':
        return;
      default: {
        const unexpected: never = event;
        throw new Error(`kyc projection does not handle ${(unexpected as { type: string }).type}`);
      }
    }
  },
};
