import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { ApiDeps } from './plugins/deps.js';
import { docsPrefix } from './plugins/swagger.js';

export interface RunningApi {
  app: FastifyInstance;
  /** Base URL it listens on, e.g. http://127.0.0.1:3000 (the real port when PORT=0). */
  url: string;
  /** Stops accepting requests and waits for those in flight. Closes none of the deps: their owner does. */
  stop(): Promise<void>;
}

/**
 * Event store options for a process serving the API. One append transaction in flight at a
 * time: requests arrive spread out, each with much work besides its append, so a second lane
 * mostly sends batches of a few appends, each paying a transaction's fixed cost (a commit and
 * its flush). With one lane, what arrives while a batch commits goes in the next: in
 * bench:transfers (2 cores) about 13 appends per transaction instead of 7, PostgreSQL CPU of
 * the API per transfer 0.17-0.18 ms instead of 0.23-0.24, and 5-20% more transfers/s with a
 * lower p99 (re-measured with migration 0004, two runs each). With the CPU taken by something
 * else (a busy loop beside the benchmark) the two were within the noise of each other.
 * (The store's default, two lanes, suits writers that wait on nothing but their appends.)
 */
export const apiEventStoreOptions = { appendConcurrency: 1 } as const;

/** Builds the app and listens on config.host:config.port. */
export async function startApi(deps: ApiDeps): Promise<RunningApi> {
  const app = await buildApp(deps);
  let url: string;
  try {
    await app.listen({ host: deps.config.host, port: deps.config.port });
    url = baseUrl(app);
  } catch (error) {
    await app.close();
    throw error;
  }
  deps.logger.info(
    { url, docs: `${url}${docsPrefix}` },
    `API listening on ${url}; docs at ${url}${docsPrefix}`,
  );
  let stopped: Promise<void> | undefined;
  return {
    app,
    url,
    stop() {
      stopped ??= app.close();
      return stopped;
    },
  };
}

function baseUrl(app: FastifyInstance): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the API is not listening on TCP');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
