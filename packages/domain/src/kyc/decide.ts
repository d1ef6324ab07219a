import type { KycDocumentType, KycEvent, KycReason, StoredFile } from '@ledger/contracts';
import type { ExtractedFields, KycCase, KycState } from './kyc.js';

/**
 * Commands on a KYC case and the pure decider, with the automatic outcome rules of API.md
 * (KYC): valid MRZ check digits, a document not expired, surname, given names and birth date
 * equal to the profile (case- and accent-insensitive) → verified; forged check digits →
 * rejected (mrz_checksum); unreadable, expired or not matching → needs_review; with a selfie,
 * a face that does not match → needs_review (face_mismatch).
 */

export type KycRejection = 'case_exists' | 'case_not_found' | 'already_checked';

/** What the checker found: null where it found nothing. */
export interface CheckFindings {
  /** null: no machine-readable zone could be read. */
  mrz: { valid: boolean; fields: ExtractedFields } | null;
  /** null: no selfie given. */
  face: { found: false } | { found: true; distance: number; matched: boolean } | null;
}

/** The profile the document must match (the user's, opened). */
export interface ProfileToMatch {
  firstName: string | null;
  lastName: string | null;
  dateOfBirth: string | null;
}

export type KycCommand =
  | {
      type: 'SubmitDocument';
      now: Date;
      caseId: string;
      userId: string;
      documentType: KycDocumentType;
      document: StoredFile;
      selfie: StoredFile | null;
      provider: string;
    }
  | { type: 'StartCheck'; now: Date; attempt: number }
  | { type: 'RecordCheck'; now: Date; findings: CheckFindings; profile: ProfileToMatch; checkedBy: string }
  | { type: 'RecordCheckFailure'; now: Date; attempt: number; error: string; final: boolean }
  | { type: 'Review'; now: Date; by: string; decision: 'verified' | 'rejected'; reason: string };

export interface KycDecision {
  events: KycEvent[];
  rejection?: KycRejection;
}

const ok = (...events: KycEvent[]): KycDecision => ({ events });
const reject = (rejection: KycRejection): KycDecision => ({ events: [], rejection });

/** Upper case, accents off, anything but letters one space: "Anna-María " ≈ "ANNA MARIA". */
export function normalizeName(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .replace(/[^A-Z]+/g, ' ')
    .trim();
}

/** The outcome of a check by the rules of API.md, and why. */
export function kycOutcome(
  findings: CheckFindings,
  profile: ProfileToMatch,
  now: Date,
): { outcome: 'verified' | 'rejected' | 'needs_review'; reasons: KycReason[] } {
  const { mrz, face } = findings;
  if (mrz !== null && !mrz.valid) return { outcome: 'rejected', reasons: ['mrz_checksum'] };
  const reasons: KycReason[] = [];
  if (mrz === null) reasons.push('unreadable');
  else {
    if (mrz.fields.expiryDate < now.toISOString().slice(0, 10)) reasons.push('document_expired');
    const same = (a: string | null, b: string) => a !== null && normalizeName(a) === normalizeName(b);
    if (
      !same(profile.lastName, mrz.fields.surname) ||
      !same(profile.firstName, mrz.fields.givenNames) ||
      profile.dateOfBirth !== mrz.fields.dateOfBirth
    ) {
      reasons.push('profile_mismatch');
    }
  }
  if (face !== null) {
    if (!face.found) reasons.push('face_not_found');
    else if (!face.matched) reasons.push('face_mismatch');
  }
  return { outcome: reasons.length === 0 ? 'verified' : 'needs_review', reasons };
}

export function decideKyc(command: KycCommand, state: KycState): KycDecision {
  const at = command.now.toISOString();
  if (command.type === 'SubmitDocument') {
    if (state.status !== 'none') return reject('case_exists');
    const { caseId, userId, documentType, document, selfie, provider } = command;
    return ok({
      type: 'KycSubmitted',
      data: { caseId, userId, documentType, document, selfie, provider, at },
    });
  }
  if (state.status === 'none') return reject('case_not_found');
  const { caseId, userId } = state;
  switch (command.type) {
    case 'StartCheck':
      if (state.checked) return reject('already_checked');
      return ok({ type: 'KycCheckStarted', data: { caseId, at, attempt: command.attempt } });
    case 'RecordCheck': {
      if (state.checked) return reject('already_checked');
      const { outcome, reasons } = kycOutcome(command.findings, command.profile, command.now);
      const { mrz, face } = command.findings;
      return ok({
        type: 'KycChecked',
        data: {
          caseId,
          userId,
          at,
          extracted: mrz === null ? null : mrz.fields,
          mrzValid: mrz === null ? null : mrz.valid,
          faceMatch: face?.found ? { distance: face.distance, matched: face.matched } : null,
          outcome,
          reasons,
          checkedBy: command.checkedBy,
        },
      });
    }
    case 'RecordCheckFailure': {
      if (state.checked) return reject('already_checked');
      const error = command.error.slice(0, 500);
      const failed: KycEvent = {
        type: 'KycCheckFailed',
        data: { caseId, at, attempt: command.attempt, error, final: command.final },
      };
      if (!command.final) return ok(failed);
      // Given up: a person looks at it.
      return ok(failed, {
        type: 'KycChecked',
        data: {
          caseId,
          userId,
          at,
          extracted: null,
          mrzValid: null,
          faceMatch: null,
          outcome: 'needs_review',
          reasons: ['processing_failed'],
          checkedBy: state.provider,
        },
      });
    }
    case 'Review':
      if (state.status === command.decision && state.decidedBy === command.by) return ok();
      return ok({
        type: 'KycReviewed',
        data: { caseId, userId, at, by: command.by, decision: command.decision, reason: command.reason },
      });
    default: {
      const unexpected: never = command;
      throw new Error(`unhandled KYC command ${(unexpected as { type: string }).type}`);
    }
  }
}

/** The user's kycStatus once `events` are appended (null: unchanged). */
export function userKycStatusAfter(
  events: readonly KycEvent[],
): 'submitted' | 'verified' | 'rejected' | 'needs_review' | null {
  let status: 'submitted' | 'verified' | 'rejected' | 'needs_review' | null = null;
  for (const event of events) {
    if (event.type === 'KycSubmitted') status = 'submitted';
    else if (event.type === 'KycChecked') status = event.data.outcome;
    else if (event.type === 'KycReviewed') status = event.data.decision;
  }
  return status;
}

export type { KycCase };
