import { createLedger, type Ledger } from '@ledger/application';
import type { EventStore } from '@ledger/eventstore';
import type { Config, Database, DocumentStorage, Logger } from '@ledger/platform';
import type { Vault } from '@ledger/vault';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { PasswordHasher } from '../auth/passwords.js';

/** What the API is built from. Its owner (main.ts or the all-in-one launcher) opens and closes them. */
export interface ApiDeps {
  config: Config;
  database: Database;
  store: EventStore;
  /**
   * The ledger's context (the store with this process's caches and locks); made from
   * `store` when absent. A test handing the same one to its own direct calls shares them.
   */
  ledger?: Ledger;
  /** Present when REDIS_URL is configured. */
  redis?: Redis;
  /** Personal data's keys and the credentials; opened by buildApp when absent (see vault.ts). */
  vault?: Vault;
  /** Where identity documents are kept; the local disk under DOCUMENTS_DIR when absent. */
  documents?: DocumentStorage;
  logger: Logger;
  /** Overrides for tests; production uses the defaults (bcrypt cost 12, the real clock). */
  auth?: {
    hasher?: PasswordHasher;
    clock?: () => Date;
    /** Redis key prefix for rate limits and revocations; tests give each app its own. */
    keyPrefix?: string;
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    database: Database;
    store: EventStore;
    ledger: Ledger;
    redis: Redis | undefined;
    vault: Vault;
    documents: DocumentStorage;
  }
}

/** Makes the shared dependencies reachable from every route as `app.<name>`. */
export default fp(
  async function sharedDeps(
    app: FastifyInstance,
    deps: Omit<ApiDeps, 'logger' | 'vault' | 'documents'> & { vault: Vault; documents: DocumentStorage },
  ) {
    app.decorate('config', deps.config);
    app.decorate('database', deps.database);
    app.decorate('store', deps.store);
    app.decorate(
      'ledger',
      deps.ledger ?? createLedger(deps.store, { warn: (details, message) => app.log.warn(details, message) }),
    );
    app.decorate('redis', deps.redis);
    app.decorate('vault', deps.vault);
    app.decorate('documents', deps.documents);
  },
  { name: 'deps' },
);
