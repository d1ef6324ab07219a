import {
  createTransfer,
  type MoneyOutcome,
  mayReadTransfer,
  moveCash,
  postHold,
  readableAccounts,
  reverse,
  sendExternal,
  transferDebitOwnerOf,
  voidHold,
} from '@ledger/application';
import {
  createTransactionBodySchema,
  idempotencyHeadersSchema,
  listTransactionsQuerySchema,
  postTransactionBodySchema,
  reasonBodySchema,
  transactionPageSchema,
  transactionResponseSchema,
  transactionSchema,
} from '@ledger/contracts';
import {
  type ParsedAccountNumber,
  type ParsedIban,
  parseAccountNumber,
  parseIban,
} from '@ledger/domain/ledger';
import {
  getTransaction,
  InvalidCursor,
  listTransactions,
  transactionsProjection,
} from '@ledger/projection-accounts';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { amountOrThrow, currencyOrThrow, invalid, ledgerCaller, transactionBody } from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { allRoles, managerPlus, type Policy, principalOf, staff } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { problemOf } from '../../rejections.js';

const idParams = z.object({ id: z.uuid() });
const ibanMessages: Record<Extract<ParsedIban, { ok: false }>['reason'], string> = {
  malformed: 'not an IBAN: two letters, two check digits, then letters and digits',
  length: 'an IBAN has 15 to 34 letters and digits',
  check_digits: 'check digits do not match: mistyped?',
};
const accountNumberMessages: Record<Extract<ParsedAccountNumber, { ok: false }>['reason'], string> = {
  malformed: 'not an account number',
  check_digits: 'check digits do not match: mistyped?',
};

const errors = {
  400: problemSchema,
  401: problemSchema,
  403: problemSchema,
  404: problemSchema,
  409: problemSchema,
  422: problemSchema,
};

const transactions: FastifyPluginAsyncZod = async (app) => {
  const tags = ['transactions'];

  /** The owner of the account a transfer debits: who may post or void it. */
  const holdPolicy: Policy = {
    roles: ['customer', ...managerPlus],
    owner: {
      roles: ['customer'],
      ownerOf: (request) => transferDebitOwnerOf(app.ledger, (request.params as { id: string }).id),
    },
  };
  const callerOf = (request: FastifyRequest) => ledgerCaller(app, request);
  const answer = (outcome: MoneyOutcome) => {
    if (outcome.status === 'rejected') throw problemOf(outcome.rejection);
    return {
      transaction: transactionBody(outcome.transfer, outcome.position),
      position: outcome.position.toString(),
    };
  };

  app.post(
    '',
    {
      config: { policy: { roles: ['customer', ...staff] } },
      schema: {
        tags,
        summary:
          'Transfer or external transfer (owner of fromAccountId; judged by the fraud and AML rules: 201 held_for_review, or 422 transfer_rejected), or cash deposit/withdrawal (agent+, never on an own account; above cashApprovalMin: 201 held_for_review until a manager approves)',
        security: bearerSecurity,
        headers: idempotencyHeadersSchema,
        body: createTransactionBodySchema,
        response: { 201: transactionResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const currency = currencyOrThrow(body.currency);
      const amount = amountOrThrow(body.amount, currency);
      const idempotencyKey = request.headers['idempotency-key'];
      const reference = body.reference ?? null;
      let outcome: MoneyOutcome;
      if (body.type === 'external') {
        // Pending until the clearing rail (a worker job) settles or returns it.
        const iban = parseIban(body.beneficiary.iban);
        if (!iban.ok) throw invalid('body.beneficiary.iban', ibanMessages[iban.reason]);
        outcome = await sendExternal(app.ledger, callerOf(request), {
          idempotencyKey,
          fromAccountId: body.fromAccountId,
          beneficiary: { iban: iban.iban, name: body.beneficiary.name },
          amount,
          currency,
          reference,
        });
      } else if (body.type === 'transfer') {
        if ((body.toAccountId === undefined) === (body.toAccountNumber === undefined)) {
          throw invalid('body.toAccountId', 'give toAccountId or toAccountNumber (one of them)');
        }
        if (body.mode !== 'pending' && body.timeoutSeconds !== undefined) {
          throw invalid('body.timeoutSeconds', 'only for mode "pending"');
        }
        let to: { accountId: string } | { accountNumber: string };
        if (body.toAccountNumber !== undefined) {
          const parsed = parseAccountNumber(body.toAccountNumber);
          if (!parsed.ok) throw invalid('body.toAccountNumber', accountNumberMessages[parsed.reason]);
          to = { accountNumber: parsed.accountNumber };
        } else {
          to = { accountId: body.toAccountId as string };
        }
        outcome = await createTransfer(app.ledger, callerOf(request), {
          idempotencyKey,
          fromAccountId: body.fromAccountId,
          to,
          amount,
          currency,
          mode: body.mode === 'pending' ? 'pending' : 'immediate',
          ...(body.timeoutSeconds === undefined ? {} : { timeoutSeconds: body.timeoutSeconds }),
          reference,
        });
      } else {
        // The desk's rules (staff only, not on one's own account, cashApprovalMin) are the use case's.
        outcome = await moveCash(app.ledger, callerOf(request), {
          idempotencyKey,
          type: body.type,
          accountId: body.accountId,
          amount,
          currency,
          reference,
        });
      }
      const result = answer(outcome);
      reply.code(201);
      return result;
    },
  );

  app.post(
    '/:id/post',
    {
      config: { policy: holdPolicy },
      schema: {
        tags,
        summary: 'Post a pending transfer, all of it or `amount` of it (owner, manager+)',
        security: bearerSecurity,
        headers: idempotencyHeadersSchema,
        params: idParams,
        body: postTransactionBodySchema,
        response: { 200: transactionResponseSchema, ...errors },
      },
    },
    async (request) =>
      answer(
        await postHold(app.ledger, callerOf(request), {
          idempotencyKey: request.headers['idempotency-key'],
          transferId: request.params.id,
          ...(request.body?.amount === undefined ? {} : { amount: request.body.amount }),
        }),
      ),
  );

  app.post(
    '/:id/void',
    {
      config: { policy: holdPolicy },
      schema: {
        tags,
        summary: 'Void a pending transfer: the hold is released (owner, manager+)',
        security: bearerSecurity,
        headers: idempotencyHeadersSchema,
        params: idParams,
        response: { 200: transactionResponseSchema, ...errors },
      },
    },
    async (request) =>
      answer(
        await voidHold(app.ledger, callerOf(request), {
          idempotencyKey: request.headers['idempotency-key'],
          transferId: request.params.id,
        }),
      ),
  );

  app.post(
    '/:id/reverse',
    {
      config: { policy: { roles: managerPlus } },
      schema: {
        tags,
        summary: 'Reverse a posted transfer with a new reversal transfer (manager+)',
        security: bearerSecurity,
        headers: idempotencyHeadersSchema,
        params: idParams,
        body: reasonBodySchema,
        response: { 201: transactionResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const result = answer(
        await reverse(app.ledger, callerOf(request), {
          idempotencyKey: request.headers['idempotency-key'],
          transferId: request.params.id,
          reason: request.body.reason,
        }),
      );
      reply.code(201);
      return result;
    },
  );

  app.get(
    '',
    {
      config: { policy: { roles: allRoles } },
      schema: {
        tags,
        summary:
          'Transactions, newest first: a customer’s own (`?accountId=`), staff/auditor all (`?status=`)',
        security: bearerSecurity,
        querystring: listTransactionsQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: transactionPageSchema, ...errors, ...readModelBehindResponses },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const q = request.query;
      await readYourWrites(app.database.db, request, transactionsProjection.name, q.minPosition);
      const accountIds = await readableAccounts(app.ledger, principal, q.accountId);
      if (accountIds === null) throw problem(404, 'not_found', 'No such account');
      return listTransactions(app.database.db, {
        limit: q.limit,
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(accountIds === undefined ? {} : { accountIds }),
        ...(q.status === undefined ? {} : { status: q.status }),
      }).catch((error: unknown) => {
        if (error instanceof InvalidCursor) throw invalid('querystring.cursor', 'invalid cursor');
        throw error;
      });
    },
  );

  app.get(
    '/:id',
    {
      config: { policy: { roles: allRoles } },
      schema: {
        tags,
        summary: 'One transaction (parties, staff, auditor)',
        security: bearerSecurity,
        params: idParams,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: {
          200: z.object({ transaction: transactionSchema }),
          ...errors,
          ...readModelBehindResponses,
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (!(await mayReadTransfer(app.ledger, principal, request.params.id)))
        throw problem(404, 'not_found', 'No such transaction');
      await readYourWrites(app.database.db, request, transactionsProjection.name, request.query.minPosition);
      const transaction = await getTransaction(app.database.db, request.params.id);
      if (transaction === null) throw problem(404, 'not_found', 'No such transaction');
      return {
        transaction: {
          ...transaction,
          status: transaction.status as z.infer<typeof transactionSchema>['status'],
        },
      };
    },
  );
};

export default transactions;
