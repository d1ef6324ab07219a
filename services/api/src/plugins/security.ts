import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';

export interface SecurityOptions {
  /** Exact origins allowed to call the API from a browser; none when empty. */
  corsOrigins: readonly string[];
}

/** How long a browser may cache a preflight answer. */
const corsMaxAgeSeconds = 600;

/**
 * Security headers (helmet's defaults) and CORS. The CSP allows only this origin's scripts
 * and styles, which is all Swagger UI at /docs needs (it ships no inline script); inline
 * styles are allowed because Swagger UI sets some. `upgrade-insecure-requests` is off, since
 * the embedded default serves plain HTTP on 127.0.0.1 and the upgrade would break /docs there.
 */
const helmetOptions: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      baseUri: ["'self'"],
      connectSrc: ["'self'"],
      fontSrc: ["'self'", 'data:'],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      imgSrc: ["'self'", 'data:'],
      objectSrc: ["'none'"],
      scriptSrc: ["'self'"],
      scriptSrcAttr: ["'none'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
    },
  },
};

/**
 * The headers helmet sets, computed once: with no nonces they are the same for every
 * response (@fastify/helmet built helmet's middleware, CSP string included, per request).
 */
export function securityHeaders(options: HelmetOptions = helmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let failed: unknown;
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    failed = error;
  });
  if (failed) throw failed;
  return headers;
}

export default fp(
  async function security(app: FastifyInstance, options: SecurityOptions) {
    const headers = securityHeaders();
    const apiHeaders = { ...headers, 'cache-control': 'no-store' };
    app.addHook('onRequest', (request, reply, done) => {
      // API.md: responses carrying tokens, balances, statements or personal data are never
      // kept by a browser or a proxy. Every /api answer may carry one of them (errors too).
      reply.headers(request.url.startsWith('/api/') ? apiHeaders : headers);
      done();
    });

    await app.register(cors, {
      // false: no Access-Control-* headers at all, so browsers of other origins are refused.
      origin: options.corsOrigins.length > 0 ? [...options.corsOrigins] : false,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id', 'X-Min-Position'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'Location'],
      // Bearer tokens, not cookies: nothing for the browser to attach.
      credentials: false,
      maxAge: corsMaxAgeSeconds,
    });
  },
  { name: 'security' },
);
