import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import {
  type KycPorts,
  kycCaseOwner,
  loadKycCase,
  readKycFile,
  reviewVerification,
  submitVerification,
} from '@ledger/application';
import {
  kycLimits,
  listVerificationsQuerySchema,
  reviewBodySchema,
  type VerificationView,
  verificationBodySchema,
  verificationPageSchema,
} from '@ledger/contracts';
import type { KycCase } from '@ledger/domain';
import { getCase, InvalidCaseCursor, kycProjection, listCases } from '@ledger/projection-kyc';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { invalid } from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { allRoles, type Policy, principalOf, staff } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { kycProblemOf } from '../../rejections.js';
import callbacks from './callbacks.js';
import { readUpload } from './upload.js';

/**
 * /api/verification (API.md, KYC): a customer submits a document (multipart, checked by its
 * content), the worker checks it, agents review. Reads come from the `kyc` read model, with
 * the extracted fields opened through the vault; the stored files are served to their owner
 * and to staff with a strict content type, never as a page.
 */

const idParams = z.object({ id: z.uuid() });
/**
 * Uploads read at once by one API process: each may hold two files of up to 16 MB in memory
 * while it is checked and sealed, so this bounds that memory (~256 MB); beyond it, 429.
 */
export const uploadsInFlightMax = 8;
const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema };
/** Staff and the auditor see every case; a customer their own. */
const readers = allRoles;

/** A case as the API shows it, from the state a command left (the read model may lag). */
function caseView(kase: KycCase): VerificationView {
  return {
    id: kase.caseId,
    userId: kase.userId,
    documentType: kase.documentType,
    status: kase.status,
    extracted:
      kase.extracted === null || kase.mrzValid === null
        ? null
        : { ...kase.extracted, mrzValid: kase.mrzValid },
    faceMatch: kase.faceMatch,
    reasons: kase.reasons,
    createdAt: kase.createdAt,
    decidedAt: kase.decidedAt,
    decidedBy: kase.decidedBy,
    hasSelfie: kase.selfie !== null,
  };
}

const verification: FastifyPluginAsyncZod = async (app) => {
  const tags = ['verification'];
  await app.register(multipart, {
    // Enforced while the parts stream in: a larger file is cut at the limit and refused.
    limits: {
      fileSize: kycLimits.fileBytesMax,
      files: 2,
      fields: 4,
      parts: 6,
      fieldSize: 1024,
      headerPairs: 50,
    },
    throwFileSizeLimit: true,
  });
  const provider = app.config.kycProvider;
  if (provider !== 'local' && !Object.hasOwn(app.config.kycProviderSecrets, provider)) {
    throw new Error(
      `KYC_PROVIDER ${provider} has no secret in KYC_PROVIDER_SECRETS: its callbacks could not be checked`,
    );
  }
  await app.register(callbacks, { prefix: '/callbacks' });
  let uploadsInFlight = 0;
  const ports = (): KycPorts => ({ store: app.store, vault: app.vault, documents: app.documents });
  const sealers = (ids: readonly string[]) => app.vault.sealers(ids);
  const readPolicy: Policy = {
    roles: readers,
    owner: {
      roles: ['customer'],
      ownerOf: (request) => kycCaseOwner(app.store, (request.params as { id: string }).id),
    },
  };
  const waitFor = (request: FastifyRequest, minPosition: string | undefined) =>
    readYourWrites(app.database.db, request, kycProjection.name, minPosition);

  app.post(
    '',
    {
      config: { policy: { roles: ['customer'] } },
      schema: {
        tags,
        summary:
          'Submit an identity document (multipart/form-data: documentType passport|id_card, file PNG/JPEG/PDF ≤ 16 MB, selfie? PNG/JPEG ≤ 16 MB)',
        security: bearerSecurity,
        consumes: ['multipart/form-data'],
        response: {
          202: verificationBodySchema.extend({ position: z.string() }),
          ...errors,
          409: problemSchema,
          413: problemSchema,
          415: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (uploadsInFlight >= uploadsInFlightMax) {
        throw problem(
          429,
          'rate_limited',
          'Too many documents are being uploaded now: try again shortly',
        ).retryAfter(2);
      }
      uploadsInFlight++;
      try {
        return await submit(request, reply, principal.userId);
      } finally {
        uploadsInFlight--;
      }
    },
  );

  /** The upload read and checked, then the use case: one request, within the bound above. */
  async function submit(request: FastifyRequest, reply: FastifyReply, userId: string) {
    const upload = await readUpload(request);
    const caseId = randomUUID();
    const now = app.auth.now();
    const result = await submitVerification(
      ports(),
      {
        caseId,
        userId,
        documentType: upload.documentType,
        document: upload.file,
        selfie: upload.selfie,
        provider,
        now,
      },
      app.auth.metadata(request, userId),
      request.appendDeadline,
    );
    if (!result.ok) throw kycProblemOf(result.rejection);
    const kase = result.value.state;
    reply.code(202).header('cache-control', 'no-store');
    return {
      verification: caseView(kase),
      position: String(result.value.position),
    };
  }

  app.get(
    '',
    {
      config: { policy: { roles: readers } },
      schema: {
        tags,
        summary:
          'Verifications: a customer’s own; staff and auditor: all, or `?status=`, `?userId=` (newest first)',
        security: bearerSecurity,
        querystring: listVerificationsQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: verificationPageSchema, ...errors, ...readModelBehindResponses },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      await waitFor(request, request.query.minPosition);
      const { limit, cursor, status } = request.query;
      const userId = principal.role === 'customer' ? principal.userId : request.query.userId;
      reply.header('cache-control', 'no-store');
      try {
        return await listCases(app.database.db, {
          sealers,
          limit,
          ...(cursor === undefined ? {} : { cursor }),
          ...(status === undefined ? {} : { status }),
          ...(userId === undefined ? {} : { userId }),
        });
      } catch (error) {
        if (error instanceof InvalidCaseCursor) throw invalid('querystring.cursor', 'invalid cursor');
        throw error;
      }
    },
  );

  app.get(
    '/:id',
    {
      config: { policy: readPolicy },
      schema: {
        tags,
        summary: 'One verification (read model)',
        security: bearerSecurity,
        params: idParams,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: { 200: verificationBodySchema, ...errors, ...readModelBehindResponses },
      },
    },
    async (request, reply) => {
      await waitFor(request, request.query.minPosition);
      const view = await getCase(app.database.db, request.params.id, { sealers });
      if (view === null) throw problem(404, 'not_found', 'No such verification');
      reply.header('cache-control', 'no-store');
      return { verification: view };
    },
  );

  for (const which of ['document', 'selfie'] as const) {
    app.get(
      `/:id/${which}`,
      {
        config: { policy: readPolicy },
        schema: {
          tags,
          summary: `The ${which} as submitted (owner, staff, auditor): served as an image or PDF, never as a page`,
          security: bearerSecurity,
          params: idParams,
          response: {
            200: z.any().describe('The file (image/png, image/jpeg or application/pdf)'),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const kase = await loadKycCase(ports(), request.params.id);
        const file = kase === null ? null : await readKycFile(ports(), kase, which);
        if (file === null) throw problem(404, 'not_found', `No ${which} (or it was erased)`);
        return reply
          .header('content-type', file.contentType)
          .header('content-disposition', `inline; filename="${which}"`)
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('cache-control', 'no-store')
          .send(file.bytes);
      },
    );
  }

  for (const [action, decision] of [
    ['approve', 'verified'],
    ['reject', 'rejected'],
  ] as const) {
    app.post(
      `/:id/${action}`,
      {
        config: { policy: { roles: staff } },
        schema: {
          tags,
          summary: `${action === 'approve' ? 'Approve' : 'Reject'} a verification, with a reason (agent+)`,
          security: bearerSecurity,
          params: idParams,
          body: reviewBodySchema,
          response: {
            200: verificationBodySchema.extend({ position: z.string().nullable() }),
            ...errors,
            409: problemSchema,
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const result = await reviewVerification(
          ports(),
          {
            caseId: request.params.id,
            agentId: principal.userId,
            decision,
            reason: request.body.reason,
            now: app.auth.now(),
          },
          app.auth.metadata(request, principal.userId),
          request.appendDeadline,
        );
        if (!result.ok) throw kycProblemOf(result.rejection);
        const kase = result.value.state;
        reply.header('cache-control', 'no-store');
        return {
          verification: caseView(kase),
          position: result.value.position === null ? null : String(result.value.position),
        };
      },
    );
  }
};

export default verification;
