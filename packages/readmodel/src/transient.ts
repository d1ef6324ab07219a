import { isOutage } from '@ledger/platform';
import { CheckpointConflict } from './checkpoints.js';

/** Causes nested this deep are looked at for a CheckpointConflict. */
const causeDepthMax = 4;

function isCheckpointConflict(error: unknown, depth = 0): boolean {
  if (depth > causeDepthMax || typeof error !== 'object' || error === null) return false;
  if (error instanceof CheckpointConflict) return true;
  if (error instanceof AggregateError && error.errors.some((e) => isCheckpointConflict(e, depth + 1)))
    return true;
  return isCheckpointConflict((error as { cause?: unknown }).cause, depth + 1);
}

/**
 * True for a failure that says nothing about the code or the data: an outage (isOutage: the
 * database, or the network to it, went away, refused a connection, ended a session) or another
 * instance of the subscriber took over (CheckpointConflict). Such a failure is retried; anything
 * else (an event that does not parse, a broken invariant, a version mismatch) is a bug and is not.
 */
export function isTransientError(error: unknown): boolean {
  return isCheckpointConflict(error) || isOutage(error);
}
