import type { Ledger } from '@ledger/application';
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

/** Counters of the ledger's account loads and snapshots (AccountCache), read at scrape time. */
const ledgerCounters: { name: string; help: string; read(ledger: Ledger): number }[] = [
  {
    name: 'ledger_account_cold_loads_total',
    help: 'Account loads with nothing cached (from a snapshot, or from the stream start)',
    read: (l) => l.accounts.stats.coldLoads,
  },
  {
    name: 'ledger_account_tail_loads_total',
    help: 'Account loads after a cached fold',
    read: (l) => l.accounts.stats.tailLoads,
  },
  {
    name: 'ledger_account_shared_loads_total',
    help: 'Account loads answered by a load already in flight',
    read: (l) => l.accounts.stats.sharedLoads,
  },
  {
    name: 'ledger_account_load_events_total',
    help: 'Events read and folded by account loads',
    read: (l) => l.accounts.stats.eventsRead,
  },
  {
    name: 'ledger_account_snapshots_used_total',
    help: 'Cold account loads that started from a snapshot',
    read: (l) => l.accounts.stats.snapshotsUsed,
  },
  {
    name: 'ledger_account_snapshots_rejected_total',
    help: 'Account snapshots ignored (not matching the chain, not parsing, another schema)',
    read: (l) => l.accounts.stats.snapshotsRejected,
  },
  {
    name: 'ledger_account_snapshots_written_total',
    help: 'Account snapshots written',
    read: (l) => l.accounts.snapshots?.stats.written ?? 0,
  },
  {
    name: 'ledger_account_snapshot_write_failures_total',
    help: 'Account snapshot writes that failed (the commands did not)',
    read: (l) => l.accounts.snapshots?.stats.failed ?? 0,
  },
  {
    name: 'ledger_transfer_batches_total',
    help: 'Batches of new transfers appended (each one append for all of its transfers)',
    read: (l) => l.transfers.stats.batches,
  },
  {
    name: 'ledger_transfer_batched_total',
    help: 'New transfers appended in those batches',
    read: (l) => l.transfers.stats.batchedCommands,
  },
  {
    name: 'ledger_transfer_batch_conflicts_total',
    help: 'Batches decided again because another process wrote one of their accounts',
    read: (l) => l.transfers.stats.conflicts,
  },
  {
    name: 'ledger_transfer_alone_total',
    help: 'New transfers run alone (an existing transfer, a failed batch append, a full queue)',
    read: (l) => l.transfers.stats.alone,
  },
  {
    name: 'ledger_account_snapshot_writes_dropped_total',
    help: 'Account snapshots not queued: the bounded queue was full',
    read: (l) => l.accounts.snapshots?.stats.dropped ?? 0,
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
    for (const { name, help, read } of ledgerCounters) {
      let seen = 0;
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          const now = read(app.ledger);
          if (now > seen) this.inc(now - seen);
          seen = now;
        },
      });
    }

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
