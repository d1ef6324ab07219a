import { readCheckpoint } from '@ledger/readmodel';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { problem } from './problem.js';

/**
 * Read-your-writes (API.md, Conventions): a GET given `?minPosition=` (or `X-Min-Position`)
 * waits, at most minPositionWaitMs, until the read model it reads has applied that global
 * position; then it answers in any case (a client that must be sure compares positions).
 */

export const minPositionWaitMs = 2_000;
const pollIntervalMs = 20;

export const minPositionSchema = z
  .string()
  .regex(/^[0-9]{1,19}$/, 'a global position, as returned by a command')
  .optional()
  .describe('Wait (≤ 2 s) until the read model has applied this position');

export function minPositionOf(request: FastifyRequest, fromQuery: string | undefined): bigint | undefined {
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

/** True once the projection's checkpoint is ≥ position; false after the wait. */
export async function waitForProjection(
  db: Kysely<any>,
  projection: string,
  position: bigint,
  timeoutMs = minPositionWaitMs,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const checkpoint = await readCheckpoint(db, projection).catch(() => undefined);
    if (checkpoint !== undefined && checkpoint.position >= position) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
}
