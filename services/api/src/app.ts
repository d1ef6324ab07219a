import { localDocumentStorage, resolveDataKey, resolveJwtSecret, resolveTotpKey } from '@ledger/platform';
import { ledgerTotalsReadModel } from '@ledger/projection-accounts';
import { Vault } from '@ledger/vault';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { bcryptHasher } from './auth/passwords.js';
import { bootstrapDirector } from './bootstrap.js';
import authPlugin from './plugins/auth.js';
import deadlinePlugin from './plugins/deadline.js';
import depsPlugin, { type ApiDeps } from './plugins/deps.js';
import metricsPlugin from './plugins/metrics.js';
import passwordWorkersPlugin from './plugins/password-workers.js';
import problemsPlugin, { toProblem } from './plugins/problems.js';
import rateLimitPlugin from './plugins/rate-limit.js';
import requestIdPlugin, { requestIdHeader, requestIdOf } from './plugins/request-id.js';
import securityPlugin from './plugins/security.js';
import swaggerPlugin from './plugins/swagger.js';
import { sendProblem } from './problem.js';
import accountRoutes from './routes/accounts/index.js';
import adminRoutes from './routes/admin/index.js';
import auditRoutes from './routes/audit/index.js';
import authRoutes from './routes/auth/index.js';
import backofficeRoutes from './routes/backoffice/index.js';
import healthRoutes from './routes/health/index.js';
import metricsRoutes from './routes/metrics/index.js';
import notificationRoutes from './routes/notifications/index.js';
import openapiRoutes from './routes/openapi/index.js';
import packRoutes from './routes/packs/index.js';
import transactionRoutes from './routes/transactions/index.js';
import verificationRoutes from './routes/verification/index.js';

export type { ApiDeps } from './plugins/deps.js';

/** Prefix of this app's Redis keys (rate limits, revoked tokens); shared by every replica. */
export const defaultKeyPrefix = 'ledger:';

/** Largest JSON body accepted; routes taking uploads raise it for themselves. */
export const bodyLimitBytes = 1024 * 1024;
/** Socket inactivity before the connection is dropped. */
export const connectionTimeoutMs = 60_000;
/** Whole request (headers and body) must arrive within this: slow-loris protection. */
export const requestTimeoutMs = 30_000;
/** Idle keep-alive connections; above the usual 60 s of load balancers, so they close first. */
export const keepAliveTimeoutMs = 72_000;

/**
 * Builds the HTTP API as fastify/demo does: infrastructure plugins first (fastify-plugin,
 * so they decorate the root), then one encapsulated plugin per route folder. Tests call
 * this and `app.inject()`; server.ts listens.
 */
export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  // Services open the vault first thing (a wrong DATA_KEY stops them before anything is
  // written) and hand it in; an app built without one checks the key on first use.
  const vault = deps.vault ?? Vault.deferred(deps.database.db, await resolveDataKey(deps.config));
  const app = Fastify({
    // Typed as Fastify's logger interface so the app is a plain FastifyInstance.
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: requestIdOf,
    bodyLimit: bodyLimitBytes,
    // Audit stream ids (<kind>-<id>, e.g. an email reservation) run up to 256 characters,
    // percent-encoded up to 3x. Routes are registered as the contract writes them (no
    // trailing slash, so the OpenAPI paths are the contract's); a client adding one is served.
    routerOptions: { maxParamLength: 3 * 256, ignoreTrailingSlash: true },
    connectionTimeout: connectionTimeoutMs,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    // Bodies like {"__proto__": ...} are refused (400), never merged into objects.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Errors met before routing (a malformed URL, an over-long path parameter) skip the
    // hooks and the error handler: they get the same problem shape and request id here.
    frameworkErrors: (error, request, reply) => {
      const p = toProblem(error, request);
      request.log.info(
        { code: p.code, status: p.status, detail: p.detail },
        'request rejected before routing',
      );
      reply.header(requestIdHeader, request.id);
      sendProblem(reply, p);
    },
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(depsPlugin, {
    config: deps.config,
    database: deps.database,
    store: deps.store,
    ...(deps.ledger ? { ledger: deps.ledger } : {}),
    ...(deps.redis ? { redis: deps.redis } : {}),
    vault,
    documents: deps.documents ?? localDocumentStorage(deps.config.documentsDir),
  });
  await app.register(problemsPlugin);
  // Routing to reply sent (HANDLER_TIMEOUT_MS, 30 s by default); past it the client gets a
  // 503 and request.deadline aborts (plugins/deadline.ts).
  await app.register(deadlinePlugin, { timeoutMs: deps.config.handlerTimeoutMs });
  await app.register(requestIdPlugin);
  await app.register(metricsPlugin);
  await app.register(securityPlugin, { corsOrigins: deps.config.corsOrigins });
  await app.register(swaggerPlugin);
  const keyPrefix = deps.auth?.keyPrefix ?? defaultKeyPrefix;
  await app.register(rateLimitPlugin, {
    limits: deps.config.rateLimits,
    redis: deps.redis,
    nameSpace: `${keyPrefix}rl:`,
  });
  // Hashing runs on the process's worker threads, released when the app closes.
  await app.register(passwordWorkersPlugin);
  const hasher = deps.auth?.hasher ?? bcryptHasher();
  const clock = deps.auth?.clock ?? (() => new Date());
  await app.register(authPlugin, {
    jwtSecret: await resolveJwtSecret(deps.config),
    totpKey: await resolveTotpKey(deps.config),
    hasher,
    clock,
    keyPrefix,
  });

  await app.register(healthRoutes, { prefix: '/health' });
  await app.register(metricsRoutes);
  await app.register(openapiRoutes);
  await app.register(backofficeRoutes);
  await app.register(authRoutes, { prefix: '/api/auth' });
  await app.register(adminRoutes, { prefix: '/api/admin' });
  await app.register(accountRoutes, { prefix: '/api/accounts' });
  await app.register(transactionRoutes, { prefix: '/api/transactions' });
  await app.register(verificationRoutes, { prefix: '/api/verification' });
  await app.register(notificationRoutes, { prefix: '/api/notifications' });
  await app.register((await import('./routes/chatbot/index.js')).default, { prefix: '/api/chatbot' });
  // /api/packs and /api/subscriptions: the catalog and its subscriptions, one folder.
  await app.register(packRoutes, { prefix: '/api' });
  await app.register(auditRoutes, {
    prefix: '/api/audit',
    ledgerTotals: ledgerTotalsReadModel(deps.database.db),
  });

  if (deps.config.director) {
    await bootstrapDirector({
      director: deps.config.director,
      store: deps.store,
      vault,
      hasher,
      logger: deps.logger,
      now: clock(),
    });
  }

  return app;
}
