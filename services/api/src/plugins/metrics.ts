import type { EventStoreStats } from '@ledger/eventstore';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics with a registry per app (not prom-client's global one), so tests and
 * the all-in-one launcher can build several apps in one process.
 */

export interface Metrics {
  readonly registry: Registry;
  readonly eventStoreHead: Gauge;
  readonly projectionLagPositions: Gauge<'projection'>;
  readonly projectionLagSeconds: Gauge<'projection'>;
  readonly refreshFailures: Counter;
  /** Brings the event store counters of this process up to `stats` (read at scrape time). */
  recordStoreStats(stats: EventStoreStats): void;
}

const storeCounters: { key: keyof EventStoreStats; name: string; help: string }[] = [
  {
    key: 'appends',
    name: 'ledger_eventstore_appends_total',
    help: 'Appends this process sent to the event store',
  },
  {
    key: 'appendTransactions',
    name: 'ledger_eventstore_append_transactions_total',
    help: 'Transactions that carried them (appends waiting on each other share one: group commit)',
  },
  {
    key: 'streamReads',
    name: 'ledger_eventstore_stream_reads_total',
    help: 'Stream reads this process made',
  },
  {
    key: 'streamReadQueries',
    name: 'ledger_eventstore_stream_read_queries_total',
    help: 'Queries sent for them (reads made together share one)',
  },
];

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

// Seconds; API answers are expected well under 1 s, ?minPosition= waits up to 2 s.
const durationBucketsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Route label of requests that matched no route: raw URLs would make the label unbounded. */
export const unmatchedRoute = 'unmatched';

export default fp(
  async function metrics(app: FastifyInstance) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });

    const httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: durationBucketsSeconds,
      registers: [registry],
    });

    const counters = storeCounters.map(
      ({ key, name, help }) => [key, new Counter({ name, help, registers: [registry] })] as const,
    );
    const recorded: Partial<EventStoreStats> = {};

    app.decorate('metrics', {
      registry,
      eventStoreHead: new Gauge({
        name: 'ledger_eventstore_head_position',
        help: 'Global position of the last event visible in the event store',
        registers: [registry],
      }),
      projectionLagPositions: new Gauge({
        name: 'ledger_projection_lag_positions',
        help: 'Event store head minus the projection checkpoint (positions are sparse: not an event count)',
        labelNames: ['projection'] as const,
        registers: [registry],
      }),
      projectionLagSeconds: new Gauge({
        name: 'ledger_projection_lag_seconds',
        help: 'Seconds since the projection checkpoint last moved, while it is behind the head; 0 when caught up',
        labelNames: ['projection'] as const,
        registers: [registry],
      }),
      refreshFailures: new Counter({
        name: 'ledger_metrics_refresh_failures_total',
        help: 'Scrapes whose event store or checkpoint read failed (their gauges kept older values)',
        registers: [registry],
      }),
      recordStoreStats(stats) {
        for (const [key, counter] of counters) {
          const delta = stats[key] - (recorded[key] ?? 0);
          if (delta > 0) counter.inc(delta);
          recorded[key] = stats[key];
        }
      },
    } satisfies Metrics);

    app.addHook('onResponse', async (request, reply) => {
      httpDuration.observe(
        {
          method: request.method,
          // The pattern (/api/accounts/:id), never the raw URL.
          route: request.routeOptions.url ?? unmatchedRoute,
          status_code: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
    });
  },
  { name: 'metrics' },
);
