import type { EventStore } from '@ledger/eventstore';
import type { Config, Database, Logger } from '@ledger/platform';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';

/** What the API is built from. Its owner (main.ts or the all-in-one launcher) opens and closes them. */
export interface ApiDeps {
  config: Config;
  database: Database;
  store: EventStore;
  /** Present when REDIS_URL is configured. */
  redis?: Redis;
  logger: Logger;
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    database: Database;
    store: EventStore;
    redis: Redis | undefined;
  }
}

/** Makes the shared dependencies reachable from every route as `app.<name>`. */
export default fp(
  async function sharedDeps(app: FastifyInstance, deps: Omit<ApiDeps, 'logger'>) {
    app.decorate('config', deps.config);
    app.decorate('database', deps.database);
    app.decorate('store', deps.store);
    app.decorate('redis', deps.redis);
  },
  { name: 'deps' },
);
