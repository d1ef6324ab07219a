import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import pg from 'pg';

/**
 * The little the event store needs from a PostgreSQL connection, so one adapter runs on
 * node-postgres (a pool) and on PGlite (one in-process connection).
 *
 * Queries select int8 columns as `::text` and convert with BigInt(), so both drivers give
 * the same types without global type-parser changes.
 */
export interface SqlClient {
  readonly kind: 'pg' | 'pglite';
  /** `name` makes it a prepared statement where the driver has them (parsed and planned once per connection). */
  query<R>(text: string, params?: readonly unknown[], name?: string): Promise<R[]>;
  /** How many queries the client can usefully run at once (pool size; 1 on PGlite). */
  readonly concurrencyMax: number;
  /** LISTEN on a channel, for processes other than this one; absent on PGlite (single process). */
  listen?(
    channel: string,
    onNotification: () => void,
    onError: (error: unknown) => void,
  ): Promise<() => Promise<void>>;
  kysely(): Kysely<any>;
}

/** A LISTEN session lost is opened again after this long, doubling per failure up to the max. */
const listenRetryMsFirst = 100;
const listenRetryMsMax = 5_000;

export function pgClient(pool: pg.Pool): SqlClient {
  return {
    kind: 'pg',
    concurrencyMax: pool.options.max ?? 10,
    async query<R>(text: string, params?: readonly unknown[], name?: string) {
      const result = await pool.query(
        name ? { name, text, values: params as unknown[] } : { text, values: params as unknown[] },
      );
      return result.rows as R[];
    },
    async listen(channel, onNotification, onError) {
      // A dedicated connection outside the pool: LISTEN is per session. A session lost (the
      // server restarted, the network cut) is opened again with backoff, for as long as this
      // listens: without it the process would be left polling. Once listening again it
      // signals once, for what was appended while it was not.
      let closed = false;
      let current: pg.Client | undefined;
      let retry: NodeJS.Timeout | undefined;
      let failures = 0;
      const open = async () => {
        const client = new pg.Client(pool.options);
        client.on('notification', onNotification);
        client.on('error', (error) => {
          onError(error);
          lost(client);
        });
        client.on('end', () => lost(client));
        try {
          await client.connect();
          await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        } catch (error) {
          client.removeAllListeners('notification');
          await client.end().catch(() => {});
          throw error;
        }
        if (closed) {
          client.removeAllListeners('notification');
          await client.end().catch(() => {});
          return;
        }
        current = client;
      };
      const lost = (client: pg.Client) => {
        if (closed || current !== client) return;
        current = undefined;
        client.removeAllListeners('notification');
        client.end().catch(() => {});
        reopenLater();
      };
      const reopenLater = () => {
        if (closed || retry !== undefined) return;
        const delayMs = Math.min(listenRetryMsFirst * 2 ** Math.min(failures, 10), listenRetryMsMax);
        retry = setTimeout(() => {
          retry = undefined;
          open().then(
            () => {
              failures = 0;
              if (!closed) onNotification();
            },
            (error: unknown) => {
              failures++;
              onError(error);
              reopenLater();
            },
          );
        }, delayMs);
        // A process shutting down without closing the store is not kept alive by it.
        retry.unref();
      };
      await open();
      return async () => {
        closed = true;
        clearTimeout(retry);
        const client = current;
        current = undefined;
        client?.removeAllListeners('notification');
        await client?.end().catch(() => {});
      };
    },
    kysely: () => new Kysely<any>({ dialect: new PostgresDialect({ pool }) }),
  };
}

export function pgliteClient(pglite: PGlite): SqlClient {
  return {
    kind: 'pglite',
    concurrencyMax: 1,
    async query<R>(text: string, params?: readonly unknown[]) {
      const result = await pglite.query<R>(text, params as unknown[] | undefined);
      return result.rows;
    },
    kysely: () => new Kysely<any>({ dialect: new PGliteDialect({ pglite }) }),
  };
}
