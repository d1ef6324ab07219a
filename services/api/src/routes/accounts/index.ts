import {
  accountNumberOf,
  accountStreamId,
  loadAccount,
  loadUser,
  openCustomerAccount,
  parseAccountEvent,
  readWholeStream,
  runAccountCommand,
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
import {
  type AccountState,
  availableBalanceOf,
  balanceOf,
  evolveAccount,
  formatAmount,
  initialAccountState,
} from '@ledger/domain/ledger';
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
import { accountBody, accountOwner, currencyOrThrow, invalid, ledgerProblem } from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { allRoles, managerPlus, type Policy, principalOf, staff } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionOf, waitForProjection } from '../../read-your-writes.js';

const idParams = z.object({ id: z.uuid() });
const ownerOfParam = (store: Parameters<typeof accountOwner>[0]) => (request: FastifyRequest) =>
  accountOwner(store, (request.params as { id: string }).id);
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
    owner: { roles: ['customer'], ownerOf: ownerOfParam(app.store) },
  };
  const waitFor = async (request: FastifyRequest, minPosition: string | undefined) => {
    const position = minPositionOf(request, minPosition);
    if (position !== undefined) await waitForProjection(app.database.db, accountsProjection.name, position);
  };

  app.post(
    '/',
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
      const principal = principalOf(request);
      const currency = currencyOrThrow(request.body.currency);
      const ownerId = principal.role === 'customer' ? principal.userId : request.body.userId;
      if (ownerId === undefined)
        throw invalid('body.userId', 'staff open accounts for a customer: give userId');
      const owner = await loadUser(app.store, ownerId);
      if (owner.status !== 'registered' || owner.role !== 'customer')
        throw problem(404, 'not_found', 'No such customer');
      const result = await openCustomerAccount(
        app.store,
        {
          ownerId,
          accountType: request.body.type,
          currency,
          kycVerified: owner.kycStatus === 'verified',
          now: app.auth.now(),
        },
        app.auth.metadata(request, principal.userId),
      );
      if (!result.ok) throw problem(422, 'kyc_required', 'A second account needs a verified identity (KYC)');
      reply.code(201);
      return {
        account: accountBody(result.account, result.accountNumber),
        position: result.position.toString(),
      };
    },
  );

  app.get(
    '/',
    {
      config: { policy: { roles: allRoles } },
      schema: {
        tags,
        summary: 'Accounts: a customer’s own; staff and auditor: all, or `?userId=`',
        security: bearerSecurity,
        querystring: listAccountsQuerySchema,
        response: { 200: accountPageSchema, ...errors },
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
        querystring: z.object({
          minPosition: z
            .string()
            .regex(/^[0-9]{1,19}$/)
            .optional(),
        }),
        response: { 200: z.object({ account: accountSchema }), ...errors },
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
        querystring: statementQuerySchema,
        response: { 200: statementPageSchema, ...errors },
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
      const { asOf, atPosition } = request.query;
      if (asOf !== undefined && atPosition !== undefined) {
        throw invalid('querystring.asOf', 'give asOf or atPosition, not both');
      }
      const events = await readWholeStream(app.store, accountStreamId(request.params.id));
      const first = events[0];
      if (first === undefined) throw problem(404, 'not_found', 'No such account');
      const asOfMs = asOf === undefined ? null : Date.parse(asOf);
      const at = atPosition === undefined ? null : BigInt(atPosition);
      let state: AccountState = initialAccountState();
      let position = 0n;
      for (const event of events) {
        if (at !== null && event.globalPosition > at) break;
        if (asOfMs !== null && Date.parse(event.recordedAt) > asOfMs) break;
        state = evolveAccount(state, parseAccountEvent(event));
        position = event.globalPosition;
      }
      const opened = evolveAccount(initialAccountState(), parseAccountEvent(first));
      if (opened.status === 'none') throw new Error('AccountOpened folds to an account');
      const currency = opened.currency;
      const balance = state.status === 'none' ? 0n : balanceOf(state);
      const available = state.status === 'none' ? 0n : availableBalanceOf(state);
      return {
        accountId: request.params.id,
        currency,
        balance: formatAmount(balance, currency),
        availableBalance: formatAmount(available, currency),
        asOf: asOf === undefined ? app.auth.now().toISOString() : new Date(asOfMs ?? 0).toISOString(),
        position: position.toString(),
      };
    },
  );

  const accountCommand = async (
    request: FastifyRequest,
    command: Parameters<typeof runAccountCommand>[1],
  ): Promise<{ account: ReturnType<typeof accountBody>; position: string | null }> => {
    const outcome = await runAccountCommand(
      app.store,
      command,
      app.auth.metadata(request, principalOf(request).userId),
    );
    if (!outcome.ok) {
      if (outcome.rejection.code === 'account_not_found') throw problem(404, 'not_found', 'No such account');
      throw ledgerProblem(outcome.rejection);
    }
    return {
      account: accountBody(outcome.account, await accountNumberOf(app.store, outcome.account.id)),
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
          owner: { roles: ['customer'], ownerOf: ownerOfParam(app.store) },
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
    async (request) => {
      const { state } = await loadAccount(app.store, request.params.id);
      if (state.status !== 'none' && state.kind === 'bank')
        throw problem(403, 'forbidden', 'Bank accounts stay open');
      return accountCommand(request, {
        type: 'CloseAccount',
        accountId: request.params.id,
        now: app.auth.now(),
      });
    },
  );
};

export default accounts;
