import bcrypt from 'bcryptjs';
import { problem } from '../problem.js';

/**
 * Password hashing: bcrypt (bcryptjs) with its async API, which works in slices of up to
 * 100 ms and yields (setImmediate) between them. Concurrent hashes would each run a slice
 * in the same turn of the loop (4 hashes: 400 ms without a timer or socket served), so
 * hashes run one at a time through a queue: the loop is never held longer than one slice,
 * whatever the load (passwords.test.ts measures it). One thread does the same total work
 * either way, so the queue costs no throughput; its length is bounded.
 */

/** API.md: bcrypt, cost ≥ 12. The production cost; only tests that do not test hashing lower it. */
export const passwordCostProduction = 12;
/** bcrypt's own floor; tests may go down to it for speed. */
export const passwordCostMin = 4;

export interface PasswordHasher {
  readonly cost: number;
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /**
   * Spends one verification's time for a login of an unknown user, so the response time
   * does not tell which usernames exist.
   */
  burn(password: string): Promise<void>;
}

/** Hashes waiting beyond this are refused (503): the queue must not grow without bound. */
export const passwordQueueLengthMax = 1000;

/** Runs one task at a time, in arrival order. */
function serial() {
  let tail: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  return <T>(task: () => Promise<T>): Promise<T> => {
    if (waiting >= passwordQueueLengthMax) {
      // A 503 rather than a wait of minutes; the client retries later.
      return Promise.reject(
        problem(503, 'overloaded', 'Too many password checks in progress: retry shortly'),
      );
    }
    waiting++;
    const run = tail.then(task).finally(() => {
      waiting--;
    });
    tail = run.catch(() => {});
    return run;
  };
}

export function bcryptHasher(cost: number = passwordCostProduction): PasswordHasher {
  if (!Number.isInteger(cost) || cost < passwordCostMin || cost > 31) {
    throw new RangeError(`bcrypt cost must be an integer from ${passwordCostMin} to 31`);
  }
  const queue = serial();
  let dummy: Promise<string> | undefined;
  return {
    cost,
    hash: (password) => queue(() => bcrypt.hash(password, cost)),
    verify: (password, hash) => queue(() => bcrypt.compare(password, hash)),
    async burn(password) {
      dummy ??= queue(() => bcrypt.hash('not a password of anyone', cost));
      const hash = await dummy;
      await queue(() => bcrypt.compare(password, hash));
    },
  };
}

/** The cost a bcrypt hash was made with ($2b$12$... → 12). */
export function bcryptCostOf(hash: string): number {
  const match = /^\$2[aby]\$(\d\d)\$/.exec(hash);
  if (!match) throw new RangeError('not a bcrypt hash');
  return Number(match[1]);
}
