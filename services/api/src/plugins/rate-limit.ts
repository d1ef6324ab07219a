import rateLimit from '@fastify/rate-limit';
import { parseRateLimit, type RateLimit } from '@ledger/platform';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { problem } from '../problem.js';

/**
 * Rate limits with @fastify/rate-limit: counters in Redis when REDIS_URL is set (shared by
 * every API replica), in memory otherwise. Limits have names, overridable by RATE_LIMITS.
 */
export const defaultRateLimits = {
  /** Per IP + username: slows password guessing without locking out the user's other devices. */
  login: '5/minute',
  register: '10/hour',
  refresh: '30/minute',
  /** Everything else, per IP. */
  default: '1000/minute',
} as const;

const unlimitedPaths = ['/health/', '/metrics'];

export type RateLimitName = keyof typeof defaultRateLimits;

export interface RateLimitOptions {
  limits: Record<string, RateLimit>;
  redis?: import('ioredis').Redis | undefined;
  /** Key prefix in Redis; tests give each app its own. */
  nameSpace: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimitOf(name: RateLimitName): RateLimit;
  }
}

export default fp(
  async function rateLimits(app: FastifyInstance, options: RateLimitOptions) {
    const limitOf = (name: RateLimitName): RateLimit =>
      options.limits[name] ?? parseRateLimit(defaultRateLimits[name]);
    app.decorate('rateLimitOf', limitOf);
    const general = limitOf('default');
    await app.register(rateLimit, {
      global: true,
      max: general.max,
      timeWindow: general.timeWindowMs,
      ...(options.redis ? { redis: options.redis } : {}),
      nameSpace: options.nameSpace,
      // Redis down must not take logins down with it: the request goes through, it is logged.
      skipOnError: true,
      // Probes and scrapes are never limited: they must answer (and report Redis down) when Redis hangs.
      allowList: (request) => unlimitedPaths.some((path) => request.url.startsWith(path)),
      errorResponseBuilder: (_request, context) =>
        problem(429, 'rate_limited', `Too many requests: retry in ${context.after}`),
    });
  },
  { name: 'rate-limit' },
);

/** Route config for a named limit keyed by `key` (default: the client IP). */
export function routeRateLimit(
  limit: RateLimit,
  key?: (request: FastifyRequest) => string,
): { rateLimit: Record<string, unknown> } {
  return {
    rateLimit: {
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      ...(key ? { keyGenerator: key, hook: 'preValidation' } : {}),
    },
  };
}
