import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { PasswordCheckRefused, type PasswordWorkers, sharedPasswordWorkers } from '../auth/passwords.js';

/**
 * The password threads' lifetime and refusals. The app holds the process's pool (retain)
 * from start to close, so its threads exit when the last app closes and a test or process
 * ends; a check refused by the pool (its address's share or the whole queue full) answers
 * with a Retry-After, as every 429 and 503 here does.
 */
export default fp(
  async function passwordWorkers(app: FastifyInstance, options: { workers?: PasswordWorkers }) {
    const release = (options.workers ?? sharedPasswordWorkers()).retain();
    app.addHook('onClose', async () => {
      await release();
    });
    app.addHook('onError', async (_request, reply, error) => {
      if (error instanceof PasswordCheckRefused) reply.header('retry-after', String(error.retryAfterSeconds));
    });
  },
  { name: 'password-workers' },
);
