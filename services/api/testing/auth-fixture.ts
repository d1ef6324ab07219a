import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedger } from '@ledger/application';
import { PostgresEventStore } from '@ledger/eventstore';
import { createLogger, loadConfig, openDatabase } from '@ledger/platform';
import { createTestDatabase, testRedisUrl, uniquePrefix } from '@ledger/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { generate } from 'otplib';
import { buildApp } from '../src/app.js';
import { bcryptHasher, type PasswordHasher } from '../src/auth/passwords.js';
import { closeRedis, connectRedis } from '../src/redis.js';
import { openVault } from '../src/vault.js';
import { captureLog } from './support.js';

/**
 * Shared set-up of the auth test files: real PostgreSQL (a fresh database), real Redis
 * (keys under a unique prefix), a captured log, a known JWT secret, a movable clock, and a
 * password hasher that counts its calls (cost 4 unless a test asks for the real one).
 */

export const testJwtSecret = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export const strongPassword = 'correct horse battery staple';

export interface Clock {
  offsetMs: number;
  now(): Date;
}

export async function authFixture(name: string, env: Record<string, string> = {}) {
  const testDb = await createTestDatabase(name);
  const dataDir = await mkdtemp(join(tmpdir(), `${name}-`));
  const log = captureLog();
  const logger = createLogger({ level: 'debug', name }, log);
  const database = await openDatabase({ databaseUrl: testDb.url, dataDir, applicationName: name });
  const store = await PostgresEventStore.open(database.sql);
  // One ledger context for every app of the fixture and the test's own calls: they share
  // caches and locks as the routes of one process do.
  const ledger = createLedger(store);
  const redis = await connectRedis(testRedisUrl, logger);
  // The vault every app of the fixture shares (as the apps of one process would), on the
  // DATA_KEY of `env` or the one kept in the fixture's DATA_DIR.
  const vault = await openVault(loadConfig({ DATA_DIR: dataDir, ...env }), database.db);
  const clock: Clock = {
    offsetMs: 0,
    now() {
      return new Date(Date.now() + this.offsetMs);
    },
  };
  const counts = { hash: 0, verify: 0 };
  const counting = (inner: PasswordHasher): PasswordHasher => ({
    cost: inner.cost,
    hash: (p) => {
      counts.hash++;
      return inner.hash(p);
    },
    verify: (p, h) => {
      counts.verify++;
      return inner.verify(p, h);
    },
    burn: (p) => inner.burn(p),
  });
  const apps: FastifyInstance[] = [];

  async function newApp(
    options: {
      env?: Record<string, string>;
      hasher?: PasswordHasher;
      routes?: (app: FastifyInstance) => void;
      /** Run as without REDIS_URL: in-memory rate limits, revocations in the database. */
      withoutRedis?: boolean;
    } = {},
  ) {
    const config = loadConfig({
      DATABASE_URL: testDb.url,
      ...(options.withoutRedis ? {} : { REDIS_URL: testRedisUrl }),
      DATA_DIR: dataDir,
      JWT_SECRET: testJwtSecret,
      ...env,
      ...options.env,
    });
    const app = await buildApp({
      config,
      database,
      store,
      ledger,
      ...(options.withoutRedis ? {} : { redis }),
      // An app given its own DATA_KEY opens its own vault (and may refuse to start).
      ...(options.env?.DATA_KEY === undefined ? { vault } : {}),
      logger,
      auth: {
        hasher: counting(options.hasher ?? bcryptHasher(4)),
        clock: () => clock.now(),
        keyPrefix: uniquePrefix(name),
      },
    });
    options.routes?.(app);
    await app.ready();
    apps.push(app);
    return app;
  }

  async function close() {
    for (const app of apps) await app.close();
    await store.close();
    await closeRedis(redis);
    await database.close();
    await testDb.drop();
    await rm(dataDir, { recursive: true, force: true });
  }

  return { testDb, database, store, ledger, vault, redis, log, logger, clock, counts, newApp, close };
}

export function json(response: LightMyRequestResponse): Record<string, any> {
  return JSON.parse(response.body) as Record<string, any>;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** POST /api/auth/login to `app`; the answer unchecked. */
export const loginRequest = (app: FastifyInstance, username: string, password: string) =>
  app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });

/** POST /api/auth/refresh to `app`; the answer unchecked. */
export const refreshRequest = (app: FastifyInstance, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } });

/** The TOTP code an authenticator shows at the given time. */
export function totpAt(secret: string, at: Date): Promise<string> {
  return generate({ secret, epoch: Math.floor(at.getTime() / 1000) });
}
