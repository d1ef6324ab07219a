import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { probeLogLevel, projectionLags } from '../../health.js';

/** Prometheus scrape endpoint. Store head, store counters and projection lags are read at scrape time. */
const metrics: FastifyPluginAsyncZod = async (app) => {
  const m = app.metrics;

  app.get(
    '/metrics',
    {
      logLevel: probeLogLevel,
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        response: { 200: z.string() },
      },
    },
    async (request, reply) => {
      const stats = app.store.stats?.();
      if (stats) m.recordStoreStats(stats);
      try {
        const { head, projections } = await projectionLags(app.store, app.database.db);
        m.eventStoreHead.set(Number(head));
        // Reset first: a projection that was removed must not keep reporting its last lag.
        m.projectionLagPositions.reset();
        m.projectionLagSeconds.reset();
        for (const p of projections) {
          m.projectionLagPositions.set({ projection: p.name }, Number(p.lagPositions));
          m.projectionLagSeconds.set({ projection: p.name }, p.lagSeconds);
        }
      } catch (error) {
        m.refreshFailures.inc();
        request.log.warn({ err: error }, 'metrics refresh failed; serving the last values');
      }
      // A string payload is sent as is, past the JSON serializer.
      return reply.type(m.registry.contentType).send(await m.registry.metrics());
    },
  );
};

export default metrics;
