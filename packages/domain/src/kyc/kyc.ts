import type { KycDocumentType, KycEvent, KycReason, StoredFile, VerificationStatus } from '@ledger/contracts';

/**
 * The KYC case aggregate (`kyc-<caseId>`): state and evolve. Pure. Personal fields (what was
 * read off the document) are clear here, as the application opened them, or sealed when it
 * did not; the rules in decide.ts only ever see them clear.
 */

export interface ExtractedFields {
  surname: string;
  givenNames: string;
  documentNumber: string;
  nationality: string;
  /** YYYY-MM-DD. */
  dateOfBirth: string;
  /** YYYY-MM-DD. */
  expiryDate: string;
}

export interface KycCase {
  status: VerificationStatus;
  caseId: string;
  userId: string;
  documentType: KycDocumentType;
  document: StoredFile;
  selfie: StoredFile | null;
  provider: string;
  createdAt: string;
  extracted: ExtractedFields | null;
  mrzValid: boolean | null;
  faceMatch: { distance: number; matched: boolean } | null;
  reasons: KycReason[];
  /** Check attempts started. */
  attempts: number;
  /** The automatic check recorded its outcome (or gave up): it never runs again. */
  checked: boolean;
  decidedAt: string | null;
  /** An agent's id, or the checker ('local', a provider). */
  decidedBy: string | null;
}

export type KycState = { status: 'none' } | KycCase;

export const initialKycState = (): KycState => ({ status: 'none' });

function existing(state: KycState, type: string): KycCase {
  if (state.status === 'none') throw new Error(`${type} on a KYC stream without KycSubmitted`);
  return state;
}

export function evolveKyc(state: KycState, event: KycEvent): KycState {
  switch (event.type) {
    case 'KycSubmitted': {
      const d = event.data;
      return {
        status: 'submitted',
        caseId: d.caseId,
        userId: d.userId,
        documentType: d.documentType,
        document: d.document,
        selfie: d.selfie,
        provider: d.provider,
        createdAt: d.at,
        extracted: null,
        mrzValid: null,
        faceMatch: null,
        reasons: [],
        attempts: 0,
        checked: false,
        decidedAt: null,
        decidedBy: null,
      };
    }
    case 'KycCheckStarted': {
      const s = existing(state, event.type);
      return {
        ...s,
        status: s.checked ? s.status : 'processing',
        attempts: Math.max(s.attempts, event.data.attempt),
      };
    }
    case 'KycCheckFailed':
      return existing(state, event.type);
    case 'KycProviderCallbackReceived':
      throw new Error('KycProviderCallbackReceived belongs to a callback stream, not a case');
    case 'KycChecked': {
      const s = existing(state, event.type);
      const d = event.data;
      return {
        ...s,
        status: d.outcome,
        extracted: d.extracted,
        mrzValid: d.mrzValid,
        faceMatch: d.faceMatch,
        reasons: d.reasons,
        checked: true,
        decidedAt: d.at,
        decidedBy: d.checkedBy,
      };
    }
    case 'KycReviewed': {
      const s = existing(state, event.type);
      const d = event.data;
      return {
        ...s,
        status: d.decision,
        reasons: [
          ...s.reasons.filter((r) => r !== 'agent_approved' && r !== 'agent_rejected'),
          d.decision === 'verified' ? 'agent_approved' : 'agent_rejected',
        ],
        checked: true,
        decidedAt: d.at,
        decidedBy: d.by,
      };
    }
    default: {
      const unexpected: never = event;
      throw new Error(`unhandled KYC event ${(unexpected as { type: string }).type}`);
    }
  }
}
