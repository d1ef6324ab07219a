import { isOutage } from '@ledger/platform';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { type FieldError, HttpProblem, problem, sendProblem } from '../problem.js';

/**
 * The one error handler (STYLE.md, HTTP): every failure leaves as RFC 9457 problem
 * details. Expected failures keep their message; a dependency outage (isOutage) is a 503
 * `unavailable` with Retry-After; anything else unexpected is a 500 whose detail says
 * nothing about the cause (no stack, no SQL), and whose cause goes to the log.
 */

/** Fastify's own 4xx errors, by code: safe to show, since they describe the request. */
const frameworkProblems: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'validation_failed' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'validation_failed' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_request' },
  FST_ERR_HANDLER_TIMEOUT: { status: 503, code: 'timeout' },
};

/** Other 4xx errors carrying a statusCode (from plugins such as jwt or rate-limit), by status. */
const codeByStatus: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/** Longest request path echoed back in a 404's detail. */
const echoedPathLengthMax = 200;

/** Retry-After of a 503 `unavailable`: outages seen so far lasted seconds; a retry costs little. */
export const unavailableRetryAfterSeconds = 2;

interface ErrorLike {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: unknown;
  validationContext?: unknown;
}

export function toProblem(error: unknown, request: FastifyRequest): HttpProblem {
  if (error instanceof HttpProblem) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;

  if (hasZodFastifySchemaValidationErrors(error) || Array.isArray(e.validation)) {
    const context = typeof e.validationContext === 'string' ? e.validationContext : 'request';
    const issues = (e.validation as { instancePath?: string; message?: string }[]).map(
      (issue): FieldError => ({
        path: [context, ...(issue.instancePath ?? '').split('/').filter(Boolean)].join('.'),
        message: issue.message ?? 'is invalid',
      }),
    );
    return problem(400, 'validation_failed', `The request ${context} is not valid`, { errors: issues });
  }

  const known = typeof e.code === 'string' ? frameworkProblems[e.code] : undefined;
  if (known) {
    const detail = String(e.message);
    if (known.code === 'validation_failed') {
      return problem(known.status, known.code, detail, { errors: [{ path: 'body', message: detail }] });
    }
    const p = problem(known.status, known.code, detail);
    return known.status === 503 ? p.retryAfter(unavailableRetryAfterSeconds) : p;
  }

  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return problem(e.statusCode, codeByStatus[e.statusCode] ?? 'bad_request', String(e.message));
  }

  if (isOutage(error)) {
    return problem(
      503,
      'unavailable',
      'A service the bank depends on is unavailable; a command sent may or may not have been applied: retry it with the same Idempotency-Key and body',
    ).retryAfter(unavailableRetryAfterSeconds);
  }

  return problem(500, 'internal_error', `An unexpected error occurred (request ${request.id}).`);
}

export default fp(
  async function problems(app: FastifyInstance) {
    app.setErrorHandler((error, request, reply) => {
      const p = toProblem(error, request);
      if (p.status >= 500) request.log.error({ err: error, code: p.code }, 'request failed');
      else request.log.info({ code: p.code, status: p.status, detail: p.detail }, 'request rejected');
      return sendProblem(reply, p);
    });

    app.setNotFoundHandler((request, reply) => {
      const path = (request.url.split('?')[0] ?? '').slice(0, echoedPathLengthMax);
      return sendProblem(reply, problem(404, 'not_found', `No route ${request.method} ${path}`));
    });
  },
  { name: 'problems' },
);
