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
