import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';

/**
 * RFC 9457 problem details: the one shape every error takes on the wire (API.md,
 * Conventions). Routes throw `problem(...)`; the error handler in plugins/problems.ts
 * turns it, and everything else that goes wrong, into a response.
 */

export const problemContentType = 'application/problem+json; charset=utf-8';

/** `type` is a URN per code: stable, unique, and it does not pretend to be a web page. */
export const problemTypePrefix = 'urn:ledger:problem:';

export interface FieldError {
  /** Where the bad value is: the request part then the field path, e.g. `body.amount`. */
  path: string;
  message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** An error a route throws to answer with a problem; anything else thrown is a 500. */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    /** Extension members (RFC 9457 §3.2), e.g. `{ limit: 'daily' }`; never overrides the standard ones. */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }

  /** Seconds the client should wait before trying again: sent as `Retry-After` when set. */
  retryAfterSeconds: number | undefined;

  /** Gives the problem a `Retry-After`: `throw problem(503, 'unavailable', '…').retryAfter(1)`. */
  retryAfter(seconds: number): this {
    this.retryAfterSeconds = seconds;
    return this;
  }

  toBody(): ProblemBody {
    const body: ProblemBody = {
      type: problemTypePrefix + this.code,
      title: titleOf(this.code, this.status),
      status: this.status,
      detail: this.detail,
      code: this.code,
    };
    for (const [key, value] of Object.entries(this.extra)) {
      if (!(key in body)) body[key] = value;
    }
    return body;
  }
}

/** `throw problem(422, 'insufficient_funds', 'The balance does not cover 10.50 EUR')`. */
export function problem(
  status: number,
  code: string,
  detail: string,
  extra?: Record<string, unknown>,
): HttpProblem {
  return new HttpProblem(status, code, detail, extra);
}

function titleOf(code: string, status: number): string {
  if (!/^[a-z][a-z0-9_]*$/.test(code)) return STATUS_CODES[status] ?? 'Error';
  const words = code.replaceAll('_', ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Sends a problem as a string, so no route's response schema or serializer gets in the way. */
export function sendProblem(reply: FastifyReply, p: HttpProblem): FastifyReply {
  if (p.retryAfterSeconds !== undefined) reply.header('retry-after', String(p.retryAfterSeconds));
  return reply
    .code(p.status)
    .type(problemContentType)
    .send(
      JSON.stringify(p.toBody(), (_key, value) => (typeof value === 'bigint' ? value.toString() : value)),
    );
}

/** For routes' `response` declarations, so the OpenAPI document shows the error shape. */
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });
