import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  checkPostgres,
  checkRedis,
  judgeLag,
  type ProjectionLag,
  probeLogLevel,
  projectionLags,
} from '../../health.js';

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
          lagSeconds: z
            .number()
            .describe(
              'Seconds behind: since the later of the last checkpoint move and the first event not applied; 0 when caught up',
            ),
        }),
      ),
      lag: z
        .object({
          ok: z.boolean().describe('False when lagSeconds is above lagSecondsMax, or unknown'),
          lagSeconds: z.number().describe('The largest lagSeconds of the projections'),
          lagSecondsMax: z.number().describe('The bound: READY_LAG_MAX_SECONDS'),
          error: z.enum(['timeout', 'unreachable']).optional(),
        })
        .describe('Projection lag judged against READY_LAG_MAX_SECONDS'),
    }),
  })
  .meta({ id: 'Readiness' });

/**
 * Liveness says the process answers; readiness says it can serve: PostgreSQL (and Redis when
 * configured) answer within their time-outs, and no read model is more than
 * READY_LAG_MAX_SECONDS behind (a projector or dispatcher that stopped, or cannot keep up,
 * shows here rather than only as stale reads).
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
          return { error };
        }),
      ]);
      const lag = judgeLag(lags, app.config.readyLagMaxSeconds);
      const projections: readonly ProjectionLag[] = 'projections' in lags ? lags.projections : [];
      const ok = postgres.ok && (redis?.ok ?? true) && lag.ok;
      reply.code(ok ? 200 : 503);
      return {
        status: ok ? ('ok' as const) : ('unavailable' as const),
        checks: {
          postgres,
          ...(redis ? { redis } : {}),
          projections: projections.map((p) => ({
            name: p.name,
            position: p.position.toString(),
            lagPositions: Number(p.lagPositions),
            lagSeconds: p.lagSeconds,
          })),
          lag,
        },
      };
    },
  );
};

export default health;
