import type { AppendDeadline } from '@ledger/eventstore';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { problem } from '../problem.js';

/**
 * The handler deadline: a request with no answer `timeoutMs` after routing gets a 503
 * problem with code `timeout`, and its `request.deadline` signal aborts, so work that takes
 * the signal (the trial-balance fold) stops too. The signal also aborts when the client goes
 * away before its answer is sent.
 *
 * Fastify's own `handlerTimeout` is not used: in fastify 5.12 it takes the request's 'close'
 * event for a disconnect, and Node emits that event as soon as a request body has been read.
 * So for every POST it cleared its timer (no deadline at all) and aborted `request.signal`
 * right away, at the cost of an AbortController and a DOMException per request (fastify
 * PR #6725). Here the response's 'close' is watched instead: it comes when the answer was
 * sent or the connection dropped, and `writableFinished` tells which.
 *
 * A 503 `timeout` means the command was not applied. Commands take `request.appendDeadline`
 * (through the ledger caller): past the deadline they stop before their append and append
 * nothing. An append already sent to the database when the deadline passes is waited for
 * (up to commitWaitMaxMs more), and the request gets its real outcome, late: answering 503
 * then would hide a committed command. Only past that wait is a 503 sent whose outcome is
 * unknown (API.md: a client retries any 5xx with the same Idempotency-Key and body).
 */

/** Retry-After of a 503 `timeout`: the retry (same key, same body) may come at once. */
export const timeoutRetryAfterSeconds = 1;

/**
 * How long past the deadline a request whose append was sent waits for the database's
 * answer before it too gets a 503 (whose outcome is then unknown). Above the pool's
 * connection time-out, so a dead connection is noticed first.
 */
export const commitWaitMaxMs = 10_000;

declare module 'fastify' {
  interface FastifyRequest {
    /** Aborts at the handler deadline or when the client disconnects; made on first use. */
    readonly deadline: AbortSignal;
    /** The deadline as the event store takes it: a command's append past it is not sent. */
    readonly appendDeadline: AppendDeadline;
  }
}

export interface DeadlineOptions {
  timeoutMs: number;
}

const state = Symbol('deadline');

interface DeadlineState {
  controller: AbortController | undefined;
  /** Why the deadline signal aborts (or aborted before anyone asked for it). */
  reason: Error | undefined;
  /** An append of this request was sent to the database: its outcome is awaited, not hidden. */
  sent: boolean;
}

type WithState = FastifyRequest & { [state]?: DeadlineState };

function abortDeadline(request: WithState, reason: Error): void {
  const s = request[state];
  if (s === undefined || s.reason !== undefined) return;
  s.reason = reason;
  s.controller?.abort(reason);
}

export default fp(
  async function deadline(app: FastifyInstance, options: DeadlineOptions) {
    const { timeoutMs } = options;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
      throw new RangeError('timeoutMs must be a positive integer');

    const answer = (reply: FastifyReply, timedOut: Error) => {
      if (reply.sent || reply.raw.headersSent) return;
      // Logged once, by the error handler (a 5xx, with its code).
      reply.send(timedOut);
    };
    const expire = (request: WithState, reply: FastifyReply) => {
      if (reply.sent || reply.raw.headersSent) return;
      const timedOut = problem(503, 'timeout', `No answer within ${timeoutMs} ms`).retryAfter(
        timeoutRetryAfterSeconds,
      );
      abortDeadline(request, timedOut);
      if (request[state]?.sent) {
        // Its handler answers with the append's outcome; a 503 only if that never comes.
        const unknown = problem(
          503,
          'timeout',
          `No answer within ${timeoutMs + commitWaitMaxMs} ms; the command may have been applied: retry it with the same Idempotency-Key and body`,
        ).retryAfter(timeoutRetryAfterSeconds);
        const timer = setTimeout(answer, commitWaitMaxMs, reply, unknown);
        reply.raw.once('close', () => clearTimeout(timer));
        return;
      }
      answer(reply, timedOut);
    };

    app.decorateRequest('deadline', {
      getter(this: WithState) {
        const s = this[state];
        // Outside the request lifecycle (no hook ran): a signal that never aborts.
        if (s === undefined) return new AbortController().signal;
        if (s.reason !== undefined) return AbortSignal.abort(s.reason);
        s.controller ??= new AbortController();
        return s.controller.signal;
      },
    });

    app.decorateRequest('appendDeadline', {
      getter(this: WithState): AppendDeadline {
        const signal = this.deadline;
        const s = this[state];
        return {
          signal,
          sent() {
            if (s !== undefined) s.sent = true;
          },
        };
      },
    });

    app.addHook('onRequest', (request: WithState, reply, done) => {
      request[state] = { controller: undefined, reason: undefined, sent: false };
      const timer = setTimeout(expire, timeoutMs, request, reply);
      reply.raw.once('close', () => {
        clearTimeout(timer);
        if (!reply.raw.writableFinished) {
          abortDeadline(request, new Error('the client went away before the answer was sent'));
        }
      });
      done();
    });
  },
  { name: 'deadline' },
);
