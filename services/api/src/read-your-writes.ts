import { readCheckpoint } from '@ledger/readmodel';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { type HttpProblem, problem, problemSchema } from './problem.js';

/**
 * Read-your-writes (API.md, Conventions): a GET given `?minPosition=` (or `X-Min-Position`)
 * waits, at most minPositionWaitMs, until the read model it reads has applied that global
 * position. If it has not by then, the GET answers 503 `read_model_behind` with a Retry-After
 * and decides nothing else: a read model behind the client's own write would otherwise
 * answer a 404 for what exists, or a stale 200 (issue #14, item 5).
 */

/** Longest a GET waits for its read model to reach the asked position (API.md: ≤ 2 s). */
export const minPositionWaitMs = 2_000;
/** How often the read model's checkpoint is read while waiting. */
const pollIntervalMs = 20;
/**
 * Retry-After of a `read_model_behind`: the projector applies a batch in milliseconds, so a
 * second is enough unless it is down, and short enough not to keep a client waiting.
 */
export const readModelBehindRetryAfterSeconds = 1;

export const minPositionSchema = z
  .string()
  .regex(/^[0-9]{1,19}$/, 'a global position, as returned by a command')
  .optional()
  .describe(
    'Wait (≤ 2 s) until the read model has applied this position; 503 read_model_behind if it has not',
  );

/** The responses a GET taking minPosition adds to its own (for the OpenAPI document). */
export const readModelBehindResponses = { 503: problemSchema };

function minPositionOf(request: FastifyRequest, fromQuery: string | undefined): bigint | undefined {
  const header = request.headers['x-min-position'];
  const text = fromQuery ?? (typeof header === 'string' ? header : undefined);
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,19}$/.test(text)) {
    throw problem(400, 'validation_failed', 'X-Min-Position is not a position', {
      errors: [{ path: 'headers.x-min-position', message: 'a global position, as returned by a command' }],
    });
  }
  return BigInt(text);
}

/**
 * For a GET reading `projection`: when the request names a position, returns once the read
 * model has applied it, and throws 503 read_model_behind (with Retry-After) if it has not
 * after minPositionWaitMs. Called before the route looks anything up in the read model.
 */
export async function readYourWrites(
  db: Kysely<any>,
  request: FastifyRequest,
  projection: string,
  fromQuery: string | undefined,
): Promise<void> {
  const position = minPositionOf(request, fromQuery);
  if (position === undefined) return;
  const reached = await projectionPosition(db, projection, position, minPositionWaitMs);
  if (reached === undefined || reached < position) throw readModelBehind(position, reached);
}

function readModelBehind(position: bigint, reached: bigint | undefined): HttpProblem {
  return problem(
    503,
    'read_model_behind',
    `The read model has not reached position ${position} yet: retry in a moment`,
    { minPosition: position.toString(), position: reached?.toString() ?? null },
  ).retryAfter(readModelBehindRetryAfterSeconds);
}

/** The projection's checkpoint once it is ≥ position, or the last one read after the wait. */
async function projectionPosition(
  db: Kysely<any>,
  projection: string,
  position: bigint,
  timeoutMs: number,
): Promise<bigint | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const checkpoint = await readCheckpoint(db, projection).catch(notYetMigrated);
    if (checkpoint !== undefined && checkpoint.position >= position) return checkpoint.position;
    if (Date.now() >= deadline) return checkpoint?.position;
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
}

/** PostgreSQL's SQLSTATE for a relation that does not exist. */
const undefinedTableCode = '42P01';

/**
 * No checkpoints table yet (a fresh database the projector has not migrated): no read model
 * has reached anything. Any other failure (the database away) is the route's to answer.
 */
function notYetMigrated(error: unknown): undefined {
  if ((error as { code?: unknown } | null)?.code === undefinedTableCode) return undefined;
  throw error;
}
