import {
  createCashTransfer,
  createExternalTransfer,
  customerAccountIds,
  findAccountIdByNumber,
  loadAccount,
  loadTransfer,
  parseAccountNumber,
  runTransferCommand,
  type TransferOutcome,
  type TransferRequest,
  transferIdFor,
  transferLimitsFor,
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
import { type ParsedIban, parseIban, type TransferCommand } from '@ledger/domain/ledger';
import {
  getTransaction,
  InvalidCursor,
  listTransactions,
  transactionsProjection,
} from '@ledger/projection-accounts';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  accountOwner,
  amountOrThrow,
  currencyOrThrow,
  invalid,
  ledgerProblem,
  transactionBody,
} from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { allRoles, managerPlus, type Policy, principalOf, staff } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionOf, waitForProjection } from '../../read-your-writes.js';

const idParams = z.object({ id: z.uuid() });
const ibanMessages: Record<Extract<ParsedIban, { ok: false }>['reason'], string> = {
  malformed: 'not an IBAN: two letters, two check digits, then letters and digits',
  length: 'an IBAN has 15 to 34 letters and digits',
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

/**
 * The Idempotency-Key of a post or void: its id is scoped to the caller like a transfer's,
 * and the fingerprint is what the request asks, so a replay asking otherwise is a 409.
 */
const requestOf = (callerId: string, key: string, asks: Record<string, string | null>): TransferRequest => ({
  id: transferIdFor(callerId, key),
  fingerprint: JSON.stringify(asks),
});

const transactions: FastifyPluginAsyncZod = async (app) => {
  const tags = ['transactions'];

  /** The owner of the account a transfer debits: who may post or void it. */
  const debitOwnerOf = async (request: FastifyRequest): Promise<string | null> => {
    const { state } = await loadTransfer(app.store, (request.params as { id: string }).id);
    return state.status === 'none' ? null : accountOwner(app.store, state.debitAccountId);
  };
  const holdPolicy: Policy = {
    roles: ['customer', ...managerPlus],
    owner: { roles: ['customer'], ownerOf: debitOwnerOf },
  };

  const answer = (outcome: TransferOutcome) => {
    if (outcome.status === 'rejected') throw ledgerProblem(outcome.rejection);
    return {
      transaction: transactionBody(outcome.transfer, outcome.position),
      position: outcome.position.toString(),
    };
  };

  app.post(
    '/',
    {
      config: { policy: { roles: ['customer', ...staff] } },
      schema: {
        tags,
        summary:
          'Transfer or external transfer (owner of fromAccountId), or cash deposit/withdrawal (agent+, never on an own account; above cashApprovalMin: 422 approval_required)',
        security: bearerSecurity,
        headers: idempotencyHeadersSchema,
        body: createTransactionBodySchema,
        response: { 201: transactionResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const body = request.body;
      const currency = currencyOrThrow(body.currency);
      const amount = amountOrThrow(body.amount, currency);
      const now = app.auth.now();
      const metadata = app.auth.metadata(request, principal.userId);
      const transferId = transferIdFor(principal.userId, request.headers['idempotency-key']);
      if (body.type === 'external') {
        // Pending until the clearing rail (a worker job) settles or returns it.
        const iban = parseIban(body.beneficiary.iban);
        if (!iban.ok) throw invalid('body.beneficiary.iban', ibanMessages[iban.reason]);
        // As for a transfer: another's account is "not found", never "forbidden".
        const { state: from } = await loadAccount(app.store, body.fromAccountId);
        if (from.status === 'none' || from.ownerId !== principal.userId) {
          throw problem(404, 'account_not_found', 'No such account', { accountId: body.fromAccountId });
        }
        // Before anything is written: the clearing account of another currency may not exist yet.
        if (from.currency !== currency) {
          throw ledgerProblem({
            code: 'currency_mismatch',
            accountId: from.id,
            accountCurrency: from.currency,
          });
        }
        const outcome = await createExternalTransfer(
          app.store,
          {
            transferId,
            fromAccountId: from.id,
            beneficiary: { iban: iban.iban, name: body.beneficiary.name },
            amount,
            currency,
            reference: body.reference ?? null,
            // As for a transfer; an owner whose KYC is not verified sends nothing out of the bank.
            limits: await transferLimitsFor(app.store, {
              ownerId: principal.userId,
              currency,
              code: 'external',
            }),
            now,
          },
          metadata,
        );
        const result = answer(outcome);
        reply.code(201);
        return result;
      }
      let command: Extract<TransferCommand, { type: 'CreateTransfer' }>;
      if (body.type === 'transfer') {
        if ((body.toAccountId === undefined) === (body.toAccountNumber === undefined)) {
          throw invalid('body.toAccountId', 'give toAccountId or toAccountNumber (one of them)');
        }
        if (body.mode !== 'pending' && body.timeoutSeconds !== undefined) {
          throw invalid('body.timeoutSeconds', 'only for mode "pending"');
        }
        let toAccountId = body.toAccountId;
        if (body.toAccountNumber !== undefined) {
          const parsed = parseAccountNumber(body.toAccountNumber);
          if (!parsed.ok) {
            throw invalid(
              'body.toAccountNumber',
              parsed.reason === 'check_digits'
                ? 'check digits do not match: mistyped?'
                : 'not an account number',
            );
          }
          const found = await findAccountIdByNumber(app.store, parsed.accountNumber);
          if (found === null) throw problem(404, 'account_not_found', 'No account has this number');
          toAccountId = found;
        }
        if (toAccountId === undefined) throw new Error('a transfer names its credit account');
        // API.md: only the owner moves money out of an account (staff use deposit/withdrawal,
        // reversals and the admin API); another's account is "not found", never "forbidden".
        if ((await accountOwner(app.store, body.fromAccountId)) !== principal.userId) {
          throw problem(404, 'account_not_found', 'No such account', { accountId: body.fromAccountId });
        }
        command = {
          type: 'CreateTransfer',
          transferId,
          debitAccountId: body.fromAccountId,
          creditAccountId: toAccountId,
          amount,
          currency,
          code: 'transfer',
          mode: body.mode === 'pending' ? 'two-phase' : 'single-phase',
          ...(body.timeoutSeconds === undefined ? {} : { timeoutSeconds: body.timeoutSeconds }),
          reference: body.reference ?? null,
          // The settings' limits and the owner's KYC; what was sent today is in the account's state.
          // The KYC of this request's principal (the owner): no second read of the user stream.
          limits: await transferLimitsFor(app.store, {
            ownerId: principal.userId,
            kycVerified: principal.kycStatus === 'verified',
            currency,
            code: 'transfer',
          }),
          now,
        };
      } else {
        if (principal.role === 'customer')
          throw problem(403, 'forbidden', 'Cash deposits and withdrawals are for staff');
        // The desk's rules (not on one's own account, cashApprovalMin) are the use case's.
        const outcome = await createCashTransfer(
          app.store,
          {
            transferId,
            staffId: principal.userId,
            type: body.type,
            accountId: body.accountId,
            amount,
            currency,
            reference: body.reference ?? null,
            now,
          },
          metadata,
        );
        const result = answer(outcome);
        reply.code(201);
        return result;
      }
      const result = answer(await runTransferCommand(app.store, command, metadata));
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
    async (request) => {
      const { state } = await loadTransfer(app.store, request.params.id);
      if (state.status === 'none') throw problem(404, 'not_found', 'No such transaction');
      const text = request.body?.amount;
      const amount = text === undefined ? undefined : amountOrThrow(text, state.currency);
      const principal = principalOf(request);
      const outcome = await runTransferCommand(
        app.store,
        {
          type: 'PostPendingTransfer',
          transferId: request.params.id,
          ...(amount === undefined ? {} : { amount }),
          now: app.auth.now(),
        },
        app.auth.metadata(request, principal.userId),
        requestOf(principal.userId, request.headers['idempotency-key'], {
          action: 'post',
          transferId: request.params.id,
          amount: amount?.toString() ?? null,
        }),
      );
      return answer(outcome);
    },
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
    async (request) => {
      const principal = principalOf(request);
      const outcome = await runTransferCommand(
        app.store,
        { type: 'VoidPendingTransfer', transferId: request.params.id, now: app.auth.now() },
        app.auth.metadata(request, principal.userId),
        requestOf(principal.userId, request.headers['idempotency-key'], {
          action: 'void',
          transferId: request.params.id,
        }),
      );
      return answer(outcome);
    },
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
      const principal = principalOf(request);
      const outcome = await runTransferCommand(
        app.store,
        {
          type: 'ReverseTransfer',
          transferId: transferIdFor(principal.userId, request.headers['idempotency-key']),
          originalTransferId: request.params.id,
          reason: request.body.reason,
          now: app.auth.now(),
        },
        app.auth.metadata(request, principal.userId),
      );
      const result = answer(outcome);
      reply.code(201);
      return result;
    },
  );

  app.get(
    '/',
    {
      config: { policy: { roles: allRoles } },
      schema: {
        tags,
        summary:
          'Transactions, newest first: a customer’s own (`?accountId=`), staff/auditor all (`?status=`)',
        security: bearerSecurity,
        querystring: listTransactionsQuerySchema,
        response: { 200: transactionPageSchema, ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const q = request.query;
      const minPosition = minPositionOf(request, q.minPosition);
      if (minPosition !== undefined) {
        await waitForProjection(app.database.db, transactionsProjection.name, minPosition);
      }
      let accountIds: string[] | undefined = q.accountId === undefined ? undefined : [q.accountId];
      if (principal.role === 'customer') {
        const own = await customerAccountIds(app.store, principal.userId);
        if (q.accountId !== undefined && !own.includes(q.accountId))
          throw problem(404, 'not_found', 'No such account');
        accountIds ??= own;
      }
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
        querystring: z.object({
          minPosition: z
            .string()
            .regex(/^[0-9]{1,19}$/)
            .optional(),
        }),
        response: { 200: z.object({ transaction: transactionSchema }), ...errors },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      if (principal.role === 'customer') {
        const { state } = await loadTransfer(app.store, request.params.id);
        const parties: (string | null)[] =
          state.status === 'none'
            ? []
            : await Promise.all([
                accountOwner(app.store, state.debitAccountId),
                accountOwner(app.store, state.creditAccountId),
              ]);
        if (!parties.includes(principal.userId)) throw problem(404, 'not_found', 'No such transaction');
      }
      const minPosition = minPositionOf(request, request.query.minPosition);
      if (minPosition !== undefined) {
        await waitForProjection(app.database.db, transactionsProjection.name, minPosition);
      }
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
