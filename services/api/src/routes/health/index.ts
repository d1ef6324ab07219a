import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { checkPostgres, checkRedis, probeLogLevel, projectionLags } from '../../health.js';

const checkSchema = z.object({
  ok: z.boolean(),
  latencyMs: z.number(),
  error: z.enum(['timeout', 'unreachable', 'not_connected']).optional(),
});

const readySchema = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    checks: z.object({
      postgres: checkSchema,
      redis: checkSchema.optional().describe('Present only when REDIS_URL is configured'),
      projections: z.array(
        z.object({
          name: z.string(),
          position: z.string().describe('Last global position applied'),
          lagPositions: z.number().int().describe('Event store head minus position'),
          lagSeconds: z.number().describe('Seconds behind since the checkpoint last moved; 0 when caught up'),
        }),
      ),
    }),
  })
  .meta({ id: 'Readiness' });

/**
 * Liveness says the process answers; readiness says it can serve: PostgreSQL (and Redis when
 * configured) answer within their time-outs. Projection lag is reported, not judged: a
 * lagging projection still serves reads (`?minPosition=` covers read-your-writes).
 */
const health: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/live',
    {
      logLevel: probeLogLevel,
      schema: {
        tags: ['operations'],
        summary: 'Liveness',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      logLevel: probeLogLevel,
      schema: {
        tags: ['operations'],
        summary: 'Readiness: PostgreSQL, Redis (when configured) and projection lag',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (request, reply) => {
      const log = (what: string) => (error: unknown) =>
        request.log.warn({ err: error }, `${what} check failed`);
      const redisConfigured = app.config.redisUrl !== undefined || app.redis !== undefined;
      const [postgres, redis, lags] = await Promise.all([
        checkPostgres(() => app.database.ping(), log('PostgreSQL')),
        redisConfigured ? checkRedis(app.redis, log('Redis')) : Promise.resolve(undefined),
        projectionLags(app.store, app.database.db).catch((error: unknown) => {
          log('projection lag')(error);
          return { projections: [] };
        }),
      ]);
      const ok = postgres.ok && (redis?.ok ?? true);
      reply.code(ok ? 200 : 503);
      return {
        status: ok ? ('ok' as const) : ('unavailable' as const),
        checks: {
          postgres,
          ...(redis ? { redis } : {}),
          projections: lags.projections.map((p) => ({
            name: p.name,
            position: p.position.toString(),
            lagPositions: Number(p.lagPositions),
            lagSeconds: p.lagSeconds,
          })),
        },
      };
    },
  );
};

export default health;
