import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '@ledger/testkit';
import pg from 'pg';
import t from 'tap';
import { pgClient } from './sql-client.js';
import { PostgresEventStore } from './store.js';

// The LISTEN session of a store is its only quick news of other processes' appends: when the
// server ends it (a restart, a failover, a cut), the store opens it again and looks once for
// what was appended meanwhile, instead of being left with its polling fallback (issue #22).

const deliveredWithinMs = 5_000;

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + deliveredWithinMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deliveredWithinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

t.test(
  'postgres: a LISTEN session the server ends is opened again, and nothing appended meanwhile waits for a poll',
  { timeout: 30_000 },
  async (t) => {
    const database = await createTestDatabase('es_listen');
    const application = 'es-listen-test';
    const writerPool = new pg.Pool({ connectionString: database.url, max: 4 });
    const listenerPool = new pg.Pool({
      connectionString: database.url,
      max: 4,
      application_name: application,
    });
    listenerPool.on('error', () => {});
    t.teardown(async () => {
      await listenerPool.end();
      await writerPool.end();
      await database.drop();
    });
    const writer = await PostgresEventStore.open(pgClient(writerPool));
    t.teardown(() => writer.close());
    const errors: unknown[] = [];
    // Polling every minute: within the bounds below, only a NOTIFY (or the reopening) delivers.
    const listener = await PostgresEventStore.open(pgClient(listenerPool), {
      migrate: false,
      pollIntervalMs: 60_000,
      onListenError: (error) => errors.push(error),
    });
    t.teardown(() => listener.close());
    const seen: string[] = [];
    const subscription = listener.subscribe({
      after: 0n,
      onEvents: async (events) => {
        for (const event of events) seen.push(event.eventId);
      },
    });
    t.teardown(() => subscription.stop());
    const append = async () => {
      const eventId = randomUUID();
      await writer.append([
        { streamId: 's', expectedVersion: 'any', events: [{ eventId, type: 'E', data: {} }] },
      ]);
      return eventId;
    };
    const listenerSession = async () => {
      const { rows } = await writerPool.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`,
        [application],
      );
      return rows[0]?.pid;
    };

    const first = await append();
    await until('the first event delivered', () => seen.includes(first));
    const session = await listenerSession();
    t.ok(session, 'the listener has a LISTEN session');

    await writerPool.query('SELECT pg_terminate_backend($1)', [session]);
    const during = await append();
    await until('the event appended while the session was gone delivered', () => seen.includes(during));
    t.ok(errors.length > 0, 'the lost session is told to onListenError');

    let reopened: number | undefined;
    await until('a new LISTEN session', async () => {
      reopened = await listenerSession();
      return reopened !== undefined && reopened !== session;
    });
    t.not(reopened, session, 'a new LISTEN session');
    const after = await append();
    await until('the event appended after the reopening delivered', () => seen.includes(after));
    t.same(seen, [first, during, after], 'each event delivered once, in order');
  },
);
