import assert from 'node:assert/strict';
import {
  jobMetadata,
  type KycPorts,
  readKycFile,
  recordKycCheck,
  recordKycCheckFailure,
  startKycCheck,
} from '@ledger/application';
import { parseKycEvent } from '@ledger/contracts';
import {
  checkImage,
  compareFaces,
  createFaceMatcher,
  createOcrEngine,
  extractMrz,
  type FaceMatcher,
  illegibleCheckDigits,
  type OcrEngine,
  pdfFirstPageImage,
} from '@ledger/documents';
import type { CheckFindings, KycCase } from '@ledger/domain';
import type { RecordedEvent } from '@ledger/eventstore';
import type { DispatchRule, Job, JobHandler } from '@ledger/jobs';
import type { Logger } from '@ledger/platform';

/**
 * The KYC check (issue #16): `kyc.check` (queue `kyc`), one job per submitted case (jobId
 * from the KycSubmitted event). The local checker reads the document (a PDF's first-page
 * image), runs OCR on it, extracts the machine-readable zone, and compares the face on the
 * document with the selfie's; the application decides the outcome by the rules and records
 * it. Idempotent: a case already decided is the expected no-op, so a job run twice (a
 * worker killed mid-job) ends the case once.
 */

export const kycQueue = 'kyc';
export const kycCheckJob = 'kyc.check';
export const kycCheckerActorId = 'system:kyc-check';
/** OCR and face matching take a core each: one case at a time per worker process. */
const kycConcurrency = 1;
/** Attempts of a check before the case goes to a person (processing_failed). */
export const kycAttemptsMax = 3;

function submitted(event: RecordedEvent) {
  const parsed = parseKycEvent(event.type, event.data);
  assert(parsed.type === 'KycSubmitted', `${event.eventId}: ${event.type} is not KycSubmitted`);
  return parsed.data;
}

export function kycDispatchRules(): DispatchRule[] {
  return [
    {
      eventType: 'KycSubmitted',
      queue: kycQueue,
      job: kycCheckJob,
      when: (event) => submitted(event).provider === 'local',
      toData: (event) => {
        const { correlationId } = event.metadata;
        const { caseId, userId } = submitted(event);
        return {
          caseId,
          userId,
          eventId: event.eventId,
          ...(typeof correlationId === 'string' ? { correlationId } : {}),
        };
      },
      runAt: (event) => new Date(event.recordedAt),
    },
  ];
}

/** The engines of the local checker, made on first use and kept for the process. */
export interface DocumentChecker {
  check(kase: KycCase, now: Date): Promise<CheckFindings>;
  close(): Promise<void>;
}

export function localDocumentChecker(ports: KycPorts, logger: Logger): DocumentChecker {
  let ocr: Promise<OcrEngine> | undefined;
  let faces: Promise<FaceMatcher> | undefined;
  const ocrEngine = () => {
    ocr ??= createOcrEngine({ logger: (message, err) => logger.warn({ err }, message) }).catch(
      (error: unknown) => {
        ocr = undefined;
        throw error;
      },
    );
    return ocr;
  };
  const faceMatcher = () => {
    faces ??= createFaceMatcher().catch((error: unknown) => {
      faces = undefined;
      throw error;
    });
    return faces;
  };

  /** The document as an image: a PDF's first page, an image as it is; null: nothing to read. */
  async function imageOf(kase: KycCase): Promise<Buffer | null> {
    const file = await readKycFile(ports, kase, 'document');
    if (file === null) throw new Error(`case ${kase.caseId}: the document is not in storage`);
    if (file.contentType === 'application/pdf') {
      const page = await pdfFirstPageImage(file.bytes);
      if (!page.ok) {
        logger.info({ caseId: kase.caseId, reason: page.reason }, 'KYC: no image in the PDF');
        return null;
      }
      return checkImage(page.image, page.type).ok ? page.image : null;
    }
    // Checked at upload; checked again: the bytes come from storage.
    return checkImage(file.bytes, file.contentType === 'image/png' ? 'png' : 'jpeg').ok ? file.bytes : null;
  }

  return {
    async check(kase, now) {
      const image = await imageOf(kase);
      let mrz: CheckFindings['mrz'] = null;
      if (image !== null) {
        const { text } = await (await ocrEngine()).recognize(image, { mrz: true });
        const found = extractMrz(text, { now });
        // Check digits OCR could not read say nothing: unreadable (review), not forged.
        if (found.found && !illegibleCheckDigits(found)) {
          const f = found.fields;
          mrz = {
            valid: found.valid,
            fields: {
              surname: f.surname,
              givenNames: f.givenNames,
              documentNumber: f.documentNumber,
              nationality: f.nationality,
              dateOfBirth: f.dateOfBirth,
              expiryDate: f.expiryDate,
            },
          };
        }
      }
      let face: CheckFindings['face'] = null;
      if (kase.selfie !== null) {
        const selfie = await readKycFile(ports, kase, 'selfie');
        if (selfie === null) throw new Error(`case ${kase.caseId}: the selfie is not in storage`);
        const matcher = await faceMatcher();
        const onDocument = image === null ? { found: false as const } : await matcher.describe(image);
        const onSelfie = await matcher.describe(selfie.bytes);
        face =
          onDocument.found && onSelfie.found
            ? { found: true, ...compareFaces(onDocument.descriptor, onSelfie.descriptor) }
            : { found: false };
      }
      return { mrz, face };
    },
    async close() {
      const [o, f] = [ocr, faces];
      ocr = faces = undefined;
      await Promise.allSettled([o?.then((e) => e.close()), f?.then((m) => m.close())]);
    },
  };
}

export interface KycProcessorOptions {
  ports: KycPorts;
  checker: DocumentChecker;
  logger: Logger;
  now: () => Date;
}

function caseIn(job: Job) {
  const { caseId, userId, eventId, correlationId } = job.data;
  assert(
    typeof caseId === 'string' && typeof userId === 'string' && typeof eventId === 'string',
    `job ${job.id}: bad data`,
  );
  return {
    caseId,
    userId,
    eventId,
    correlationId: typeof correlationId === 'string' ? correlationId : undefined,
  };
}

export function kycProcessors(options: KycProcessorOptions) {
  const { ports, checker, logger, now } = options;
  const handler: JobHandler = async (job) => {
    const { caseId, userId, eventId, correlationId } = caseIn(job);
    const metadata = jobMetadata(kycCheckerActorId, { eventId, correlationId, jobId: job.id });
    const started = await startKycCheck(
      ports,
      { caseId, userId, attempt: job.attempt, now: now() },
      metadata,
    );
    if (!started.ok) {
      if (started.rejection === 'already_checked') return;
      throw new Error(`case ${caseId}: ${started.rejection}`);
    }
    let findings: CheckFindings;
    try {
      findings = await checker.check(started.value.state, now());
    } catch (error) {
      const final = job.attempt >= kycAttemptsMax;
      logger.warn({ err: error, caseId, attempt: job.attempt, final }, 'KYC check failed');
      await recordKycCheckFailure(
        ports,
        {
          caseId,
          userId,
          attempt: job.attempt,
          error: (error as Error).message ?? String(error),
          final,
          now: now(),
        },
        metadata,
      );
      if (final) return;
      throw error;
    }
    const recorded = await recordKycCheck(
      ports,
      { caseId, userId, findings, checkedBy: 'local', now: now() },
      metadata,
    );
    if (!recorded.ok && recorded.rejection !== 'already_checked') {
      throw new Error(`case ${caseId}: ${recorded.rejection}`);
    }
  };
  return [{ queue: kycQueue, concurrency: kycConcurrency, handler }];
}
