import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Request ids: a caller's `X-Request-Id` is kept when it is a UUID (so a trace crosses
 * services), otherwise replaced, so a log line never carries a value an attacker chose
 * freely. The id is echoed on every response, errors and 404s included.
 */

export const requestIdHeader = 'x-request-id';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Fastify's `genReqId`. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[requestIdHeader];
  return typeof given === 'string' && uuidPattern.test(given) ? given.toLowerCase() : randomUUID();
}

export default fp(
  async function requestId(app: FastifyInstance) {
    app.addHook('onRequest', async (request, reply) => {
      reply.header(requestIdHeader, request.id);
    });
  },
  { name: 'request-id' },
);
