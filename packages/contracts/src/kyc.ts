import { z } from 'zod';
import { sealedFieldSchema } from './identity.js';
import { freeText } from './text.js';

/**
 * KYC (API.md, KYC; DESIGN §5): the events of `kyc-<caseId>` streams (schemaVersion 1) and
 * the HTTP shapes of /api/verification. A case is one submission: a document (and maybe a
 * selfie) stored outside the log, sealed with the user's key; the log records its hash,
 * size and type, the check's outcome with the extracted fields sealed, and an agent's review.
 */

export const kycEventSchemaVersion = 1;
export const kycStreamId = (caseId: string) => `kyc-${caseId}`;

export const kycDocumentTypes = ['passport', 'id_card'] as const;
export type KycDocumentType = (typeof kycDocumentTypes)[number];

export const verificationStatuses = [
  'submitted',
  'processing',
  'verified',
  'rejected',
  'needs_review',
] as const;
export type VerificationStatus = (typeof verificationStatuses)[number];

/** Why a case ended as it did (API.md names the first five). */
export const kycReasons = [
  'mrz_checksum',
  'document_expired',
  'profile_mismatch',
  'face_mismatch',
  'unreadable',
  'face_not_found',
  'processing_failed',
  'agent_approved',
  'agent_rejected',
  'provider',
] as const;
export type KycReason = (typeof kycReasons)[number];

export const documentContentTypes = ['image/png', 'image/jpeg', 'application/pdf'] as const;
export type DocumentContentType = (typeof documentContentTypes)[number];

/** A stored file as the log names it: its content hash, never its bytes or its name. */
export const storedFileSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.int().min(1),
  contentType: z.enum(documentContentTypes),
});
export type StoredFile = z.infer<typeof storedFileSchema>;

/** The fields read off a document, sealed under the user's key in the log. */
export const extractedFieldNames = [
  'surname',
  'givenNames',
  'documentNumber',
  'nationality',
  'dateOfBirth',
  'expiryDate',
] as const;
export type ExtractedFieldName = (typeof extractedFieldNames)[number];

const sealed = sealedFieldSchema;
const isoTime = z.iso.datetime();

export const faceMatchSchema = z.object({ distance: z.number().min(0), matched: z.boolean() });

export const kycEventSchemas = {
  KycSubmitted: z.object({
    caseId: z.uuid(),
    userId: z.uuid(),
    documentType: z.enum(kycDocumentTypes),
    document: storedFileSchema,
    selfie: storedFileSchema.nullable(),
    /** Who checks it: 'local' (OCR, MRZ, face) or an external provider's name. */
    provider: z.string().max(64),
    at: isoTime,
  }),
  /** A check began (attempt n): the case is `processing`. */
  KycCheckStarted: z.object({ caseId: z.uuid(), at: isoTime, attempt: z.int().min(1) }),
  /** An attempt failed; the check is retried, or, when final, the case goes to review. */
  KycCheckFailed: z.object({
    caseId: z.uuid(),
    at: isoTime,
    attempt: z.int().min(1),
    error: z.string().max(500),
    final: z.boolean(),
  }),
  /** The automatic check's outcome (API.md rules), with what it read, sealed. */
  KycChecked: z.object({
    caseId: z.uuid(),
    userId: z.uuid(),
    at: isoTime,
    extracted: z
      .object(
        Object.fromEntries(extractedFieldNames.map((f) => [f, sealed])) as Record<
          ExtractedFieldName,
          typeof sealed
        >,
      )
      .nullable(),
    mrzValid: z.boolean().nullable(),
    faceMatch: faceMatchSchema.nullable(),
    outcome: z.enum(['verified', 'rejected', 'needs_review']),
    reasons: z.array(z.enum(kycReasons)).max(16),
    checkedBy: z.string().max(64),
  }),
  /** An agent's decision, with their reason. */
  KycReviewed: z.object({
    caseId: z.uuid(),
    userId: z.uuid(),
    at: isoTime,
    by: z.uuid(),
    decision: z.enum(['verified', 'rejected']),
    reason: z.string().max(500),
  }),
  /** In `kyc-callback-<provider>-<callbackId>`: the callback was taken, so a replay is refused. */
  KycProviderCallbackReceived: z.object({
    provider: z.string().max(64),
    callbackId: z.uuid(),
    caseId: z.uuid(),
  }),
} as const;

export type KycEventType = keyof typeof kycEventSchemas;
export type KycEvent = {
  [K in KycEventType]: { type: K; data: z.infer<(typeof kycEventSchemas)[K]> };
}[KycEventType];

export function parseKycEvent(type: string, data: unknown): KycEvent {
  if (!Object.hasOwn(kycEventSchemas, type)) throw new RangeError(`not a KYC event type: ${type}`);
  const schema = kycEventSchemas[type as KycEventType];
  return { type, data: schema.parse(data) } as KycEvent;
}

// ---------------------------------------------------------------- HTTP

export const kycLimits = {
  /** API.md: each file at most 16 MB. */
  fileBytesMax: 16 * 1024 * 1024,
  reasonLengthMax: 500,
} as const;

export const extractedSchema = z
  .object({
    surname: z.string(),
    givenNames: z.string(),
    documentNumber: z.string(),
    nationality: z.string(),
    dateOfBirth: z.string().meta({ description: 'YYYY-MM-DD' }),
    expiryDate: z.string().meta({ description: 'YYYY-MM-DD' }),
    mrzValid: z.boolean(),
  })
  .meta({ id: 'ExtractedFields' });

export const verificationSchema = z
  .object({
    id: z.uuid(),
    userId: z.uuid(),
    documentType: z.enum(kycDocumentTypes),
    status: z.enum(verificationStatuses),
    extracted: extractedSchema.nullable(),
    faceMatch: faceMatchSchema.nullable(),
    reasons: z.array(z.string()),
    createdAt: z.string(),
    /** Not in API.md's minimum: when it was decided, and by whom (an agent's id, or the checker). */
    decidedAt: z.string().nullable(),
    decidedBy: z.string().nullable(),
    hasSelfie: z.boolean(),
  })
  .meta({ id: 'Verification' });
export type VerificationView = z.infer<typeof verificationSchema>;

export const verificationBodySchema = z.object({ verification: verificationSchema });

export const reviewBodySchema = z.strictObject({ reason: freeText({ max: kycLimits.reasonLengthMax }) });

export const listVerificationsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(128).optional(),
  status: z.enum(verificationStatuses).optional(),
  userId: z.uuid().optional(),
});

export const verificationPageSchema = z.object({
  items: z.array(verificationSchema),
  nextCursor: z.string().nullable(),
});
