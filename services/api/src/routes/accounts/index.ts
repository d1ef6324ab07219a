import {
  type AccountChange,
  accountBalanceAt,
  accountOwnerOf,
  changeAccount,
  openAccount,
} from '@ledger/application';
import {
  accountPageSchema,
  accountResponseSchema,
  accountSchema,
  balanceQuerySchema,
  balanceSchema,
  listAccountsQuerySchema,
  openAccountBodySchema,
  reasonBodySchema,
  statementPageSchema,
  statementQuerySchema,
} from '@ledger/contracts';
import { formatAmount } from '@ledger/domain/ledger';
import {
  accountsProjection,
  getAccount,
  InvalidCursor,
  listAccounts,
  listStatement,
} from '@ledger/projection-accounts';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accountBody, currencyOrThrow, invalid, ledgerCaller } from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { allRoles, managerPlus, type Policy, principalOf, staff } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { problemOf } from '../../rejections.js';

const idParams = z.object({ id: z.uuid() });
const ownerOfParam = (ledger: Parameters<typeof accountOwnerOf>[0]) => (request: FastifyRequest) =>
  accountOwnerOf(ledger, (request.params as { id: string }).id);
const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema };

function cursorProblem(error: unknown): never {
  if (error instanceof InvalidCursor) throw invalid('querystring.cursor', 'invalid cursor');
  throw error;
}

const accounts: FastifyPluginAsyncZod = async (app) => {
  const tags = ['accounts'];
  /** Owner, staff, auditor: a customer naming another's account (or none) gets 404. */
  const readPolicy: Policy = {
    roles: allRoles,
    owner: { roles: ['customer'], ownerOf: ownerOfParam(app.ledger) },
  };
  const callerOf = (request: FastifyRequest) => ledgerCaller(app, request);
  /** Read-your-writes on the accounts read model: 503 read_model_behind past the wait. */
  const waitFor = (request: FastifyRequest, minPosition: string | undefined) =>
    readYourWrites(app.database.db, request, accountsProjection.name, minPosition);

  app.post(
    '',
    {
      config: { policy: { roles: ['customer', ...staff], fields: { userId: staff } } },
      schema: {
        tags,
        summary: 'Open a checking or savings account (customer: own; agent+: for `userId`)',
        security: bearerSecurity,
        body: openAccountBodySchema,
        response: { 201: accountResponseSchema, ...errors, 422: problemSchema },
      },
    },
    async (request, reply) => {
      const outcome = await openAccount(app.ledger, callerOf(request), {
        ...(request.body.userId === undefined ? {} : { userId: request.body.userId }),
        type: request.body.type,
        currency: currencyOrThrow(request.body.currency),
      });
      if (!outcome.ok) throw problemOf(outcome.rejection);
      reply.code(201);
      return {
        account: accountBody(outcome.account, outcome.accountNumber),
        position: String(outcome.position),
      };
    },
  );

  app.get(
    '',
    {
      config: { policy: { roles: allRoles } },
      schema: {
        tags,
        summary: 'Accounts: a customer’s own; staff and auditor: all, or `?userId=`',
        security: bearerSecurity,
        querystring: listAccountsQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: accountPageSchema, ...errors, ...readModelBehindResponses },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      await waitFor(request, request.query.minPosition);
      const userId = principal.role === 'customer' ? principal.userId : request.query.userId;
      return listAccounts(app.database.db, {
        limit: request.query.limit,
        ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }),
        ...(userId === undefined ? {} : { userId }),
      }).catch(cursorProblem);
    },
  );

  app.get(
    '/:id',
    {
      config: { policy: readPolicy },
      schema: {
        tags,
        summary: 'One account (read model)',
        security: bearerSecurity,
        params: idParams,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: { 200: z.object({ account: accountSchema }), ...errors, ...readModelBehindResponses },
      },
    },
    async (request) => {
      await waitFor(request, request.query.minPosition);
      const account = await getAccount(app.database.db, request.params.id);
      if (account === null) throw problem(404, 'not_found', 'No such account');
      return { account };
    },
  );

  app.get(
    '/:id/transactions',
    {
      config: { policy: readPolicy },
      schema: {
        tags,
        summary: 'Statement lines, newest first, with the balance after each',
        security: bearerSecurity,
        params: idParams,
        querystring: statementQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: statementPageSchema, ...errors, ...readModelBehindResponses },
      },
    },
    async (request) => {
      const q = request.query;
      await waitFor(request, q.minPosition);
      const account = await getAccount(app.database.db, request.params.id);
      if (account === null) throw problem(404, 'not_found', 'No such account');
      return listStatement(app.database.db, {
        accountId: account.id,
        currency: account.currency,
        limit: q.limit,
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(q.from === undefined ? {} : { from: q.from }),
        ...(q.to === undefined ? {} : { to: q.to }),
      }).catch(cursorProblem);
    },
  );

  app.get(
    '/:id/balance',
    {
      config: { policy: readPolicy },
      schema: {
        tags,
        summary: 'Balance now, as of a time or at a global position: folded from the account’s events',
        security: bearerSecurity,
        params: idParams,
        querystring: balanceQuerySchema,
        response: { 200: balanceSchema, ...errors },
      },
    },
    async (request) => {
      // No read-your-writes wait: folded from the log, which holds every position a command
      // answered, this never lags a client's write (minPosition is accepted, as on any GET).
      const { asOf, atPosition } = request.query;
      if (asOf !== undefined && atPosition !== undefined) {
        throw invalid('querystring.asOf', 'give asOf or atPosition, not both');
      }
      const cut = {
        ...(asOf === undefined ? {} : { asOf: new Date(asOf) }),
        ...(atPosition === undefined ? {} : { atPosition: BigInt(atPosition) }),
      };
      const found = await accountBalanceAt(app.store, request.params.id, cut);
      if (found === null) throw problem(404, 'not_found', 'No such account');
      return {
        accountId: request.params.id,
        currency: found.currency,
        balance: formatAmount(found.balance, found.currency),
        availableBalance: formatAmount(found.available, found.currency),
        asOf: (cut.asOf ?? app.auth.now()).toISOString(),
        position: found.position.toString(),
      };
    },
  );

  const accountCommand = async (
    request: FastifyRequest,
    command: AccountChange,
  ): Promise<{ account: ReturnType<typeof accountBody>; position: string | null }> => {
    const outcome = await changeAccount(app.ledger, callerOf(request), command);
    if (!outcome.ok) {
      if (outcome.rejection.code === 'account_not_found') throw problem(404, 'not_found', 'No such account');
      throw problemOf(outcome.rejection);
    }
    return {
      account: accountBody(outcome.account, outcome.accountNumber),
      position: outcome.position?.toString() ?? null,
    };
  };

  for (const action of ['freeze', 'unfreeze'] as const) {
    app.post(
      `/:id/${action}`,
      {
        config: { policy: { roles: managerPlus } },
        schema: {
          tags,
          summary: action === 'freeze' ? 'Freeze an account (manager+)' : 'Unfreeze an account (manager+)',
          security: bearerSecurity,
          params: idParams,
          body: reasonBodySchema,
          response: { 200: accountResponseSchema, ...errors, 422: problemSchema },
        },
      },
      async (request) =>
        accountCommand(request, {
          type: action === 'freeze' ? 'FreezeAccount' : 'UnfreezeAccount',
          accountId: request.params.id,
          reason: request.body.reason,
          now: app.auth.now(),
        }),
    );
  }

  app.post(
    '/:id/close',
    {
      config: {
        policy: {
          roles: ['customer', ...managerPlus],
          owner: { roles: ['customer'], ownerOf: ownerOfParam(app.ledger) },
        },
      },
      schema: {
        tags,
        summary: 'Close an account: its balance must be zero and no holds on it (owner, manager+)',
        security: bearerSecurity,
        params: idParams,
        response: { 200: accountResponseSchema, ...errors, 422: problemSchema },
      },
    },
    async (request) =>
      accountCommand(request, { type: 'CloseAccount', accountId: request.params.id, now: app.auth.now() }),
  );
};

export default accounts;
