import { createHmac, timingSafeEqual } from 'node:crypto';
import { recordProviderCheck } from '@ledger/application';
import type { CheckFindings } from '@ledger/domain';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { problem, problemSchema } from '../../problem.js';
import { kycProblemOf } from '../../rejections.js';

/**
 * POST /api/verification/callbacks/:provider: an external verification provider's result.
 * Signed: `X-Ledger-Timestamp` (Unix seconds) and `X-Ledger-Signature: v1=<hex>`, the
 * HMAC-SHA256 under the provider's secret (KYC_PROVIDER_SECRETS) of `<timestamp>.<raw body>`.
 * A timestamp more than callbackSkewSecondsMax away is refused, and each `callbackId` is
 * taken once (a stream of its own, written in the result's append): a replayed callback,
 * even within the window, changes nothing. The result goes through the same rules as the
 * local check's.
 */

export const callbackSkewSecondsMax = 300;
export const callbackBodyBytesMax = 64 * 1024;
export const signatureHeader = 'x-ledger-signature';
export const timestampHeader = 'x-ledger-timestamp';

/** The signature a provider sends (also what a simulated provider in a test computes). */
export function callbackSignature(secret: string, timestamp: string, rawBody: Buffer | string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;
}

const isoDate = z.iso.date();
const callbackBodySchema = z.strictObject({
  callbackId: z.uuid(),
  caseId: z.uuid(),
  /** What the provider read off the document; null: it could not read it. */
  document: z
    .strictObject({
      mrzValid: z.boolean(),
      surname: z.string().min(1).max(100),
      givenNames: z.string().max(100),
      documentNumber: z.string().min(1).max(20),
      nationality: z.string().regex(/^[A-Z<]{3}$/),
      dateOfBirth: isoDate,
      expiryDate: isoDate,
    })
    .nullable(),
  /** The face comparison, when the case has a selfie; null otherwise. */
  face: z
    .union([
      z.strictObject({ found: z.literal(false) }),
      z.strictObject({ found: z.literal(true), distance: z.number().min(0).max(10), matched: z.boolean() }),
    ])
    .nullable(),
});

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

const unauthorizedSignature = () =>
  problem(
    401,
    'invalid_signature',
    'The callback is not signed by this provider, or its timestamp is too old',
  );

function verifySignature(request: FastifyRequest, secret: string, nowSeconds: number): void {
  const timestamp = request.headers[timestampHeader];
  const signature = request.headers[signatureHeader];
  if (typeof timestamp !== 'string' || !/^[0-9]{1,12}$/.test(timestamp) || typeof signature !== 'string') {
    throw unauthorizedSignature();
  }
  if (Math.abs(nowSeconds - Number(timestamp)) > callbackSkewSecondsMax) throw unauthorizedSignature();
  const expected = Buffer.from(callbackSignature(secret, timestamp, request.rawBody ?? Buffer.alloc(0)));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw unauthorizedSignature();
}

const callbacks: FastifyPluginAsyncZod = async (app) => {
  // The signature covers the bytes as sent: keep them (this plugin's scope only).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: callbackBodyBytesMax },
    (request, body, done) => {
      request.rawBody = body as Buffer;
      try {
        done(null, JSON.parse((body as Buffer).toString('utf8')));
      } catch {
        done(
          problem(400, 'validation_failed', 'The body is not JSON', {
            errors: [{ path: 'body', message: 'not JSON' }],
          }),
        );
      }
    },
  );

  app.post(
    '/:provider',
    {
      schema: {
        tags: ['verification'],
        summary: 'An external verification provider’s signed result (HMAC-SHA256, timestamped, single-use)',
        params: z.object({ provider: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/) }),
        body: callbackBodySchema,
        response: {
          200: z.object({ caseId: z.uuid(), status: z.string(), position: z.string().nullable() }),
          400: problemSchema,
          401: problemSchema,
          404: problemSchema,
          409: problemSchema,
        },
      },
      // Before the body is validated: an unsigned caller learns nothing about the schema.
      preValidation: async (request) => {
        const { provider } = request.params as { provider: string };
        const secret = Object.hasOwn(app.config.kycProviderSecrets, provider)
          ? app.config.kycProviderSecrets[provider]
          : undefined;
        if (secret === undefined) throw problem(404, 'not_found', 'No such verification provider');
        verifySignature(request, secret, Math.floor(app.auth.now().getTime() / 1000));
      },
    },
    async (request) => {
      const { provider } = request.params;
      const body = request.body;
      const findings: CheckFindings = {
        mrz:
          body.document === null
            ? null
            : {
                valid: body.document.mrzValid,
                fields: {
                  surname: body.document.surname,
                  givenNames: body.document.givenNames,
                  documentNumber: body.document.documentNumber,
                  nationality: body.document.nationality,
                  dateOfBirth: body.document.dateOfBirth,
                  expiryDate: body.document.expiryDate,
                },
              },
        face: body.face,
      };
      const result = await recordProviderCheck(
        { store: app.store, vault: app.vault },
        { provider, callbackId: body.callbackId, caseId: body.caseId, findings, now: app.auth.now() },
        app.auth.metadata(request, `provider:${provider}`),
      );
      if (!result.ok) throw kycProblemOf(result.rejection);
      return {
        caseId: body.caseId,
        status: result.value.state.status,
        position: result.value.position === null ? null : String(result.value.position),
      };
    },
  );
};

export default callbacks;
