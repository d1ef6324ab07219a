import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { parseRateLimit, type RateLimit } from '@ledger/platform';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { problem } from '../problem.js';

/**
 * Rate limits with @fastify/rate-limit: counters in Redis when REDIS_URL is set (shared by
 * every API replica), in memory otherwise. Limits have names, overridable by RATE_LIMITS.
 *
 * A route with a limit of its own (routeRateLimit) is counted by it and also by the
 * per-address `default` limit, which @fastify/rate-limit would otherwise skip for it; a
 * named limit with a per-address companion (login → loginPerAddress) is checked per
 * address too, whatever the rest of its key (API.md: one address cannot slow down or lock
 * out everyone else by trying many usernames).
 */
export const defaultRateLimits = {
  /** Per IP + username: slows password guessing without locking out the user's other devices. */
  login: '5/minute',
  /**
   * Per IP, whatever the username. Unless RATE_LIMITS names it, it follows `login`: six
   * times its count in the same window (so raising `login` raises it too).
   */
  loginPerAddress: '30/minute',
  /** Per IP. */
  register: '10/hour',
  refresh: '30/minute',
  /** Everything else, per IP; routes with a limit of their own count here too. */
  default: '1000/minute',
} as const;

export type RateLimitName = keyof typeof defaultRateLimits;

/** A named limit and the per-address limit checked beside it. */
const perAddressOf: Partial<Record<RateLimitName, { name: RateLimitName; factor: number }>> = {
  login: { name: 'loginPerAddress', factor: 6 },
};

export interface NamedRateLimit extends RateLimit {
  readonly name: RateLimitName;
}

const unlimitedPaths = ['/health/', '/metrics'];

export interface RateLimitOptions {
  limits: Record<string, RateLimit>;
  redis?: import('ioredis').Redis | undefined;
  /** Key prefix in Redis; tests give each app its own. */
  nameSpace: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    rateLimitOf(name: RateLimitName): NamedRateLimit;
  }
  interface FastifyContextConfig {
    /** Set by routeRateLimit: the named per-address limit checked beside the route's own. */
    rateLimitPerAddress?: RateLimitName;
  }
}

export default fp(
  async function rateLimits(app: FastifyInstance, options: RateLimitOptions) {
    const limitOf = (name: RateLimitName): NamedRateLimit => {
      const set = options.limits[name];
      if (set) return { ...set, name };
      const follows = Object.entries(perAddressOf).find(([, companion]) => companion.name === name);
      if (follows && options.limits[follows[0]]) {
        const base = options.limits[follows[0]]!;
        return { max: base.max * follows[1].factor, timeWindowMs: base.timeWindowMs, name };
      }
      return { ...parseRateLimit(defaultRateLimits[name]), name };
    };
    app.decorate('rateLimitOf', limitOf);
    const general = limitOf('default');
    await app.register(rateLimit, {
      global: true,
      max: general.max,
      timeWindow: general.timeWindowMs,
      ...(options.redis ? { redis: options.redis } : {}),
      nameSpace: options.nameSpace,
      // Without Redis a request is not counted and goes through (fails open, decided: a limit
      // slows abuse, it guards nothing alone). Each count is bounded by redis.ts's command
      // time-out, so it costs at most that; signed-in requests fail closed anyway, on their
      // revocation check (plugins/auth.ts), and password guessing still meets the account's
      // failed-login lock, kept in the event store. See docs/design.md, "Without Redis".
      skipOnError: true,
      // Probes and scrapes are never limited: they must answer (and report Redis down) when Redis hangs.
      allowList: (request) => unlimitedPaths.some((path) => request.url.startsWith(path)),
      errorResponseBuilder: (_request, context) =>
        problem(429, 'rate_limited', `Too many requests: retry in ${context.after}`),
    });

    // Checks beside a route's own limit, before its body is read. createRateLimit counts
    // without the marker that lets only one of @fastify/rate-limit's hooks run per request.
    // The `default` one is the very counter of the global hook (same store, same key).
    const perAddress = (name: RateLimitName) => {
      const limit = limitOf(name);
      return enforce(
        app.createRateLimit({
          max: limit.max,
          timeWindow: limit.timeWindowMs,
          // Its Redis key: <nameSpace>undefinedundefined-<name>:<address> (a route-less child store).
          keyGenerator: (request) => `${name}:${normalizeIP(request.ip)}`,
        }),
      );
    };
    const checks = new Map<RateLimitName, onRequestAsyncHookHandler>();
    const checkOf = (name: RateLimitName) => {
      let check = checks.get(name);
      if (!check) {
        check = name === 'default' ? enforce(app.createRateLimit()) : perAddress(name);
        checks.set(name, check);
      }
      return check;
    };
    app.addHook('onRoute', (route) => {
      const own = route.config?.rateLimit;
      if (own === undefined || own === null || own === false) return;
      // The narrower first: a flooding address is turned away by it without counting further.
      const companion = route.config?.rateLimitPerAddress;
      const added = companion === undefined ? [] : [checkOf(companion)];
      added.push(checkOf('default'));
      const hooks = route.onRequest;
      route.onRequest = [...(hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]), ...added];
    });
  },
  { name: 'rate-limit' },
);

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/** Addresses remembered as over a limit, per limit; the oldest is forgotten beyond this. */
const blockedAddressesMax = 10_000;

/**
 * A hook answering 429 rate_limited with Retry-After once the limiter's count for the
 * client address is exceeded. An address over the limit stays over it until the window
 * ends (the count only grows, the window does not move), so until then it is turned away
 * from memory: a flood costs no store round trip per request.
 */
function enforce(limiter: Limiter): onRequestAsyncHookHandler {
  const blocked = new Map<string, { until: number; max: number }>();
  return async function rateLimitCheck(request: FastifyRequest, reply: FastifyReply) {
    const address = normalizeIP(request.ip);
    const now = Date.now();
    let over = blocked.get(address);
    if (over === undefined || over.until <= now) {
      if (over !== undefined) blocked.delete(address);
      const result = await limiter(request);
      if (result.isAllowed || !result.isExceeded) return;
      over = { until: now + result.ttl, max: result.max };
      if (blocked.size >= blockedAddressesMax) blocked.delete(blocked.keys().next().value!);
      blocked.set(address, over);
    }
    const retryAfter = Math.max(1, Math.ceil((over.until - now) / 1000));
    reply
      .header('x-ratelimit-limit', over.max)
      .header('x-ratelimit-remaining', 0)
      .header('x-ratelimit-reset', retryAfter)
      .header('retry-after', retryAfter);
    throw problem(429, 'rate_limited', `Too many requests from this address: retry in ${retryAfter} seconds`);
  };
}

/**
 * Route config for a named limit keyed by `key` (default: the client IP). A limit with a
 * per-address companion (login) brings it along.
 */
export function routeRateLimit(
  limit: RateLimit | NamedRateLimit,
  key?: (request: FastifyRequest) => string,
): { rateLimit: Record<string, unknown>; rateLimitPerAddress?: RateLimitName } {
  const companion = 'name' in limit ? perAddressOf[limit.name]?.name : undefined;
  return {
    rateLimit: {
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      ...(key ? { keyGenerator: key, hook: 'preValidation' } : {}),
    },
    ...(companion ? { rateLimitPerAddress: companion } : {}),
  };
}
