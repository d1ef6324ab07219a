import { randomUUID } from 'node:crypto';
import {
  cancelSubscription,
  changePack,
  changeSubscriptionPack,
  createPack,
  type PackOutcome,
  type SubscriptionOutcome,
  subscribeToPack,
  transferIdFor,
} from '@ledger/application';
import {
  changePackBodySchema,
  listPacksQuerySchema,
  listSubscriptionsQuerySchema,
  type PackStatus,
  packBodySchema,
  packSchema,
  packStatuses,
  subscribeBodySchema,
  subscriptionSchema,
} from '@ledger/contracts';
import {
  getPack,
  getSubscription,
  InvalidPackCursor,
  listPacks,
  listSubscriptions,
  packsProjection,
  packView,
  subscriptionView,
} from '@ledger/projection-packs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { invalid, ledgerCaller } from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { allRoles, managerPlus, type Policy, principalOf, staff } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { packFieldsProblem, packProblemOf } from '../../rejections.js';

/**
 * /api/packs and /api/subscriptions (API.md, Packs): the catalog and the subscriptions, read
 * from the `packs` read model; every command is one use case of packages/application/packs,
 * its refusals mapped in rejections.ts. Registered under /api, the two resources together.
 */

const idParams = z.object({ id: z.uuid() });
const optionalKeyHeaders = z.object({
  'idempotency-key': z
    .uuid()
    .optional()
    .describe('A UUID: the same request again answers what the first did; another body 409'),
});
const packResponseSchema = z.object({ pack: packSchema, position: z.string().nullable() });
const subscriptionResponseSchema = z.object({
  subscription: subscriptionSchema,
  position: z.string().nullable(),
});
const packPageSchema = z.object({ items: z.array(packSchema), nextCursor: z.string().nullable() });
const subscriptionPageSchema = z.object({
  items: z.array(subscriptionSchema),
  nextCursor: z.string().nullable(),
});

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema };
const commandErrors = { ...errors, 409: problemSchema, 422: problemSchema };

/** What anyone sees of the catalog; staff see drafts too. */
const publicStatuses: readonly PackStatus[] = ['active', 'retired'];
/** Public, but a token (when given) is checked: staff are shown drafts. */
const catalogPolicy: Policy = { roles: allRoles, optional: true };
/** In OpenAPI: no token, or the bearer token. */
const optionalBearerSecurity = [{}, ...bearerSecurity];
/** Subscription commands: the use cases decide whose (owner; cancellation: staff too). */
const subscriberPolicy: Policy = { roles: ['customer', ...staff] };

const seesDrafts = (request: FastifyRequest) =>
  request.principal !== null && (staff as readonly string[]).includes(request.principal.role);

function cursorProblem(error: unknown): never {
  if (error instanceof InvalidPackCursor) throw invalid('querystring.cursor', 'invalid cursor');
  throw error;
}

const packs: FastifyPluginAsyncZod = async (app) => {
  const waitFor = (request: FastifyRequest, minPosition: string | undefined) =>
    readYourWrites(app.database.db, request, packsProjection.name, minPosition);

  const packAnswer = (outcome: PackOutcome) => {
    if (!outcome.ok) {
      if (outcome.rejection === 'invalid_pack') throw packFieldsProblem(outcome.errors);
      throw packProblemOf(outcome.rejection);
    }
    return { pack: packView(outcome.pack), position: outcome.position?.toString() ?? null };
  };
  const subscriptionAnswer = (reply: FastifyReply, outcome: SubscriptionOutcome) => {
    if (!outcome.ok) throw packProblemOf(outcome.rejection);
    reply.header('cache-control', 'no-store');
    return {
      subscription: subscriptionView(outcome.subscription),
      position: outcome.position?.toString() ?? null,
    };
  };

  // ---------------------------------------------------------------- the catalog

  app.get(
    '/packs',
    {
      config: { policy: catalogPolicy },
      schema: {
        tags: ['packs'],
        summary: 'The pack catalog, oldest first: active and retired packs (staff: drafts too). Public',
        security: optionalBearerSecurity,
        querystring: listPacksQuerySchema.extend({ minPosition: minPositionSchema }),
        response: {
          200: packPageSchema,
          400: problemSchema,
          401: problemSchema,
          ...readModelBehindResponses,
        },
      },
    },
    async (request) => {
      const { limit, cursor, status, minPosition } = request.query;
      await waitFor(request, minPosition);
      const shown = seesDrafts(request) ? packStatuses : publicStatuses;
      return listPacks(app.database.db, {
        limit,
        ...(cursor === undefined ? {} : { cursor }),
        statuses: status === undefined ? shown : shown.filter((s) => s === status),
      }).catch(cursorProblem);
    },
  );

  app.get(
    '/packs/:id',
    {
      config: { policy: catalogPolicy },
      schema: {
        tags: ['packs'],
        summary: 'One pack (a draft: staff only, else 404). Public',
        security: optionalBearerSecurity,
        params: idParams,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: {
          200: z.object({ pack: packSchema }),
          400: problemSchema,
          401: problemSchema,
          404: problemSchema,
          ...readModelBehindResponses,
        },
      },
    },
    async (request) => {
      await waitFor(request, request.query.minPosition);
      const pack = await getPack(app.database.db, request.params.id);
      if (pack === null || (pack.status === 'draft' && !seesDrafts(request))) {
        throw problem(404, 'not_found', 'No such pack');
      }
      return { pack };
    },
  );

  app.post(
    '/packs',
    {
      config: { policy: { roles: managerPlus } },
      schema: {
        tags: ['packs'],
        summary:
          'Define a pack (manager+): amounts as decimal strings of its currency; draft unless `status` says otherwise',
        security: bearerSecurity,
        headers: optionalKeyHeaders,
        body: packBodySchema,
        response: { 201: packResponseSchema, ...commandErrors },
      },
    },
    async (request, reply) => {
      const caller = ledgerCaller(app, request);
      const key = request.headers['idempotency-key'];
      // Keyed by (caller, key) as transfers are: a retry finds the pack it created.
      const packId = key === undefined ? randomUUID() : transferIdFor(caller.userId, `pack:${key}`);
      const answer = packAnswer(await createPack(app.store, caller, { packId, body: request.body }));
      reply.code(201);
      return answer;
    },
  );

  app.put(
    '/packs/:id',
    {
      config: { policy: { roles: managerPlus } },
      schema: {
        tags: ['packs'],
        summary:
          'Replace a pack’s definition (manager+); a retired pack stays retired, the currency is fixed once out of draft',
        security: bearerSecurity,
        params: idParams,
        body: packBodySchema,
        response: { 200: packResponseSchema, ...commandErrors },
      },
    },
    async (request) =>
      packAnswer(
        await changePack(app.store, ledgerCaller(app, request), {
          packId: request.params.id,
          body: request.body,
        }),
      ),
  );

  app.post(
    '/packs/:id/subscribe',
    {
      config: { policy: subscriberPolicy },
      schema: {
        tags: ['packs'],
        summary:
          'Subscribe one of my accounts to the pack: the first period’s fee is charged at once (owner of the account)',
        security: bearerSecurity,
        headers: optionalKeyHeaders,
        params: idParams,
        body: subscribeBodySchema,
        response: { 201: subscriptionResponseSchema, ...commandErrors },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const outcome = await subscribeToPack(app.ledger, ledgerCaller(app, request), {
        packId: request.params.id,
        accountId: request.body.accountId,
        ...(key === undefined ? {} : { idempotencyKey: key }),
      });
      const answer = subscriptionAnswer(reply, outcome);
      reply.code(201);
      return answer;
    },
  );

  // ---------------------------------------------------------------- subscriptions

  app.get(
    '/subscriptions',
    {
      config: { policy: { roles: allRoles } },
      schema: {
        tags: ['packs'],
        summary: 'Subscriptions, newest first: a customer’s own; staff and auditor: all, or `?userId=`',
        security: bearerSecurity,
        querystring: listSubscriptionsQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: subscriptionPageSchema, ...errors, ...readModelBehindResponses },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const q = request.query;
      await waitFor(request, q.minPosition);
      const userId = principal.role === 'customer' ? principal.userId : q.userId;
      reply.header('cache-control', 'no-store');
      return listSubscriptions(app.database.db, {
        limit: q.limit,
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(userId === undefined ? {} : { userId }),
        ...(q.accountId === undefined ? {} : { accountId: q.accountId }),
        ...(q.status === undefined ? {} : { status: q.status }),
      }).catch(cursorProblem);
    },
  );

  app.get(
    '/subscriptions/:id',
    {
      config: { policy: { roles: allRoles } },
      schema: {
        tags: ['packs'],
        summary: 'One subscription (its owner, staff, auditor; another customer’s: 404)',
        security: bearerSecurity,
        params: idParams,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: {
          200: z.object({ subscription: subscriptionSchema }),
          ...errors,
          ...readModelBehindResponses,
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      await waitFor(request, request.query.minPosition);
      const subscription = await getSubscription(app.database.db, request.params.id);
      if (
        subscription === null ||
        (principal.role === 'customer' && subscription.userId !== principal.userId)
      ) {
        throw problem(404, 'not_found', 'No such subscription');
      }
      reply.header('cache-control', 'no-store');
      return { subscription };
    },
  );

  app.delete(
    '/subscriptions/:id',
    {
      config: { policy: subscriberPolicy },
      schema: {
        tags: ['packs'],
        summary:
          'Cancel a subscription (its owner, staff): no fee from now on, the benefits last to the end of the period (`endsAt`)',
        security: bearerSecurity,
        params: idParams,
        response: { 200: subscriptionResponseSchema, ...commandErrors },
      },
    },
    async (request, reply) =>
      subscriptionAnswer(
        reply,
        await cancelSubscription(app.ledger, ledgerCaller(app, request), {
          subscriptionId: request.params.id,
        }),
      ),
  );

  app.post(
    '/subscriptions/:id/change',
    {
      config: { policy: subscriberPolicy },
      schema: {
        tags: ['packs'],
        summary:
          'Change my subscription to another pack from now on: the fees’ difference for the days left is charged or refunded at once',
        security: bearerSecurity,
        params: idParams,
        body: changePackBodySchema,
        response: { 200: subscriptionResponseSchema, ...commandErrors },
      },
    },
    async (request, reply) =>
      subscriptionAnswer(
        reply,
        await changeSubscriptionPack(app.ledger, ledgerCaller(app, request), {
          subscriptionId: request.params.id,
          packId: request.body.packId,
        }),
      ),
  );
};

export default packs;
