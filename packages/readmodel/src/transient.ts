import { CheckpointConflict } from './checkpoints.js';

/** Socket errors of a connection lost or refused (node:net), not of a query. */
const socketErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that went away or cannot take the work now: class 08 (connection
 * exception) is matched by its prefix; these are the others. 57014 is a statement that
 * passed statement_timeout (a server too slow, or a lock held too long), not a wrong one.
 */
const serverErrorCodes = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend, a server stop
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, recovering
  '57014', // query_canceled: statement_timeout
  '53300', // too_many_connections
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

/** What node-postgres says, without a code, when the socket under a client ends. */
const driverMessages = [
  /^Connection terminated/,
  /not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Query read timeout/,
  /^Connection ended/,
];

/** Causes nested this deep are looked at (AggregateError, error.cause). */
const causeDepthMax = 4;

/**
 * True for a failure that says nothing about the code or the data: the database (or the
 * network to it) went away, refused a connection, ended a session, or another instance of
 * the subscriber took over (CheckpointConflict). Such a failure is retried; anything else
 * (an event that does not parse, a broken invariant, a version mismatch) is a bug and is not.
 */
export function isTransientError(error: unknown, depth = 0): boolean {
  if (depth > causeDepthMax || typeof error !== 'object' || error === null) return false;
  if (error instanceof CheckpointConflict) return true;
  const { code, message, cause } = error as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof code === 'string') {
    if (socketErrorCodes.has(code) || serverErrorCodes.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (typeof message === 'string' && driverMessages.some((pattern) => pattern.test(message))) return true;
  if (error instanceof AggregateError && error.errors.some((e) => isTransientError(e, depth + 1)))
    return true;
  return cause !== undefined && isTransientError(cause, depth + 1);
}
