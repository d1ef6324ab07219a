import {
  adminAuditPageSchema,
  adminAuditQuerySchema,
  adminStatsSchema,
  adminTransactionPageSchema,
  adminTransactionsQuerySchema,
} from '@ledger/contracts';
import { exponentOf } from '@ledger/domain/ledger';
import {
  accountsProjection,
  InvalidCursor,
  listTransactions,
  transactionsProjection,
} from '@ledger/projection-accounts';
import { auditProjection, InvalidAuditCursor, listAuditEvents } from '@ledger/projection-audit';
import { usersProjection } from '@ledger/projection-users';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { currencyOrThrow, invalid } from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { managerPlus, type Policy, staffOrAuditor } from '../../policy.js';
import { problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { adminStats } from '../../stats.js';

/**
 * The admin monitoring read side (API.md, Admin; issue #17): the transactions list with the
 * review queue's filters, the bank's figures, and who did what. Read models only.
 */

/** Staff and the auditor (read-only) see the transactions and the figures; customers 403. */
const monitorPolicy: Policy = { roles: staffOrAuditor };
/**
 * The audit trail names every actor and what they did, staff included: managers and the
 * director (who answer for staff) and the auditor; agents and customers 403.
 */
const auditPolicy: Policy = { roles: [...managerPlus, 'auditor'] };

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, ...readModelBehindResponses };

/** from and to, when both are given, must not be reversed. */
function checkWindow(from: string | undefined, to: string | undefined): { from?: Date; to?: Date } {
  const window = {
    ...(from === undefined ? {} : { from: new Date(from) }),
    ...(to === undefined ? {} : { to: new Date(to) }),
  };
  if (window.from !== undefined && window.to !== undefined && window.from > window.to) {
    throw invalid('querystring.to', 'must not be before from');
  }
  return window;
}

const monitoring: FastifyPluginAsyncZod = async (app) => {
  const tags = ['admin'];

  app.get(
    '/transactions',
    {
      config: { policy: monitorPolicy },
      schema: {
        tags,
        summary:
          'Transactions, newest first, for staff and the auditor: `?status=held_for_review` is the review queue; also `?riskFlag=`, `?from=&to=` (creation time), `?minAmount=` (with `?currency=` optional), `?accountId=`',
        security: bearerSecurity,
        querystring: adminTransactionsQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: adminTransactionPageSchema, ...errors },
      },
    },
    async (request) => {
      const q = request.query;
      const window = checkWindow(q.from, q.to);
      const currency =
        q.currency === undefined ? undefined : currencyOrThrow(q.currency, 'querystring.currency');
      if (currency !== undefined && q.minAmount !== undefined) {
        const decimals = q.minAmount.split('.')[1]?.length ?? 0;
        if (decimals > exponentOf(currency))
          throw invalid('querystring.minAmount', "more decimals than the currency's exponent");
      }
      await readYourWrites(app.database.db, request, transactionsProjection.name, q.minPosition);
      return listTransactions(app.database.db, {
        limit: q.limit,
        ...window,
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(q.status === undefined ? {} : { status: q.status }),
        ...(q.riskFlag === undefined ? {} : { riskFlag: q.riskFlag }),
        ...(q.minAmount === undefined ? {} : { minAmount: q.minAmount }),
        ...(currency === undefined ? {} : { currency }),
        ...(q.accountId === undefined ? {} : { accountIds: [q.accountId] }),
      }).catch((error: unknown) => {
        if (error instanceof InvalidCursor) throw invalid('querystring.cursor', 'invalid cursor');
        throw error;
      });
    },
  );

  app.get(
    '/stats',
    {
      config: { policy: monitorPolicy },
      schema: {
        tags,
        summary:
          'The bank’s figures (staff, auditor): per currency deposits (Σ customer balances), today’s (UTC) volume and count of posted or pending transactions, and how many are held for review; users by role and KYC verified; each read model’s lag behind the log',
        security: bearerSecurity,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: { 200: adminStatsSchema, ...errors },
      },
    },
    async (request) => {
      // The figures come from three read models: wait for each of them.
      for (const projection of [accountsProjection, transactionsProjection, usersProjection]) {
        await readYourWrites(app.database.db, request, projection.name, request.query.minPosition);
      }
      return adminStats(app.database.db, app.store, app.auth.now());
    },
  );

  app.get(
    '/audit',
    {
      config: { policy: auditPolicy },
      schema: {
        tags,
        summary:
          'Who did what, newest first, from the audit read model (every event with its actor): `?actorId=`, `?from=&to=` (recording time). Managers, the director and the auditor; agents and customers 403 (the trail shows what staff did)',
        security: bearerSecurity,
        querystring: adminAuditQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: adminAuditPageSchema, ...errors },
      },
    },
    async (request) => {
      const q = request.query;
      const window = checkWindow(q.from, q.to);
      await readYourWrites(app.database.db, request, auditProjection.name, q.minPosition);
      const page = await listAuditEvents(app.database.db, {
        order: 'desc',
        limit: q.limit,
        ...window,
        ...(q.actorId === undefined ? {} : { actorId: q.actorId }),
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
      }).catch((error: unknown) => {
        if (error instanceof InvalidAuditCursor) throw invalid('querystring.cursor', 'invalid cursor');
        throw error;
      });
      return {
        items: page.items.map((event) => ({ ...event, position: event.position.toString() })),
        nextCursor: page.nextCursor,
      };
    },
  );
};

export default monitoring;
