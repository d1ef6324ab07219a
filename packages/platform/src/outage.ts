/**
 * One answer, for every service, to "is this failure an outage?": PostgreSQL or Redis down,
 * unreachable or too slow, rather than a wrong request or a bug. The API answers such a
 * failure with 503 `unavailable`; the projector and the dispatcher start over with backoff.
 */

/** Socket errors of a connection refused, lost or not made in time (node:net, node:dns). */
const socketErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs of a server that went away or cannot take the work now (class 08,
 * connection exception, is matched by its prefix). 57014 is a statement past
 * statement_timeout; 40001 and 40P01 are worth the same request again.
 */
const databaseErrorCodes = new Set(['57P01', '57P02', '57P03', '57014', '53300', '40001', '40P01']);

/**
 * What node-postgres (its pool: acquire time-out, a socket that ended) and ioredis (a
 * command past commandTimeout, the offline queue off, retries used up, a server loading
 * its data) say without a code.
 */
const outageMessages = [
  /^Connection terminated/,
  /^Connection ended/,
  /not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Query read timeout/,
  /^Command timed out/,
  /^Stream isn't writeable/,
  /^Connection is closed/,
  /^Reached the max retries per request limit/,
  /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN) /,
];

/** Causes nested this deep are looked at (error.cause, AggregateError). */
const causeDepthMax = 4;

/**
 * True when `error` says a dependency (PostgreSQL, Redis) is down, unreachable or too slow,
 * not that the request or the code is wrong: the same request may well succeed later.
 */
export function isOutage(error: unknown, depth = 0): boolean {
  if (depth > causeDepthMax || typeof error !== 'object' || error === null) return false;
  const { code, message, name, cause } = error as {
    code?: unknown;
    message?: unknown;
    name?: unknown;
    cause?: unknown;
  };
  if (typeof code === 'string') {
    if (socketErrorCodes.has(code) || databaseErrorCodes.has(code) || /^08[0-9A-Z]{3}$/.test(code)) {
      return true;
    }
  }
  if (name === 'MaxRetriesPerRequestError') return true;
  if (typeof message === 'string' && outageMessages.some((pattern) => pattern.test(message))) return true;
  if (error instanceof AggregateError && error.errors.some((e) => isOutage(e, depth + 1))) return true;
  return cause !== undefined && isOutage(cause, depth + 1);
}
