import { trialBalance, trialBalanceView } from '@ledger/application';
import { trialBalanceSchema } from '@ledger/contracts';
import {
  accountsProjection,
  dailyVolume,
  ledgerTotalsReadModel,
  transactionsProjection,
} from '@ledger/projection-accounts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { listNotificationDeadLetters } from '../../dead-letters.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { managerPlus, type Policy, staffOrAuditor } from '../../policy.js';
import { problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { utcDayStart } from '../../stats.js';

/**
 * Read-only views the back-office page (GET /backoffice) needs beside /stats: the daily
 * volume chart, the undelivered notification mails, and the trial balance's status for the
 * staff (the full trial balance, point in time included, stays /api/audit's). Read models only.
 */

const readPolicy: Policy = { roles: staffOrAuditor };
/** The bank's ledger totals: those who answer for the books (managers, director, auditor), as /audit. */
const totalsPolicy: Policy = { roles: [...managerPlus, 'auditor'] };
const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, ...readModelBehindResponses };
const dayMs = 86_400_000;
export const volumeDaysMax = 90;

const dailyVolumeSchema = z.object({
  from: z.string().describe('First day included (UTC midnight)'),
  to: z.string().describe('End of the window (exclusive): tomorrow, UTC midnight'),
  items: z.array(
    z.object({
      day: z.string().describe('YYYY-MM-DD (UTC)'),
      currency: z.string(),
      volume: z.string().describe('Σ amounts of posted (as posted) or pending transactions, major units'),
      transactions: z.number().int().nonnegative(),
    }),
  ),
});

const deadLetterPageSchema = z.object({
  items: z.array(
    z.object({
      intentId: z.string(),
      type: z.string().describe('The notification type'),
      recipientUserId: z.string(),
      attempts: z.number().int().nonnegative(),
      permanent: z.boolean().describe('Refused for good (not retried), else out of attempts'),
      responseCode: z.number().int().nullable(),
      reason: z.string(),
      failedAt: z.string(),
    }),
  ),
});

const backofficeReads: FastifyPluginAsyncZod = async (app) => {
  const tags = ['admin'];
  const ledgerTotals = ledgerTotalsReadModel(app.database.db);

  app.get(
    '/volume',
    {
      config: { policy: readPolicy },
      schema: {
        tags,
        summary: `Daily volume per currency over the last \`days\` UTC days, today included (1–${volumeDaysMax}, default 14; staff, auditor)`,
        security: bearerSecurity,
        querystring: z.object({
          days: z.coerce.number().int().min(1).max(volumeDaysMax).default(14),
          minPosition: minPositionSchema,
        }),
        response: { 200: dailyVolumeSchema, ...errors },
      },
    },
    async (request) => {
      await readYourWrites(app.database.db, request, transactionsProjection.name, request.query.minPosition);
      const to = new Date(utcDayStart(app.auth.now()).getTime() + dayMs);
      const from = new Date(to.getTime() - request.query.days * dayMs);
      const items = await dailyVolume(app.database.db, { from, to });
      return { from: from.toISOString(), to: to.toISOString(), items };
    },
  );

  app.get(
    '/dead-letters',
    {
      config: { policy: readPolicy },
      schema: {
        tags,
        summary:
          'Notification mails not delivered (refused for good or out of attempts), most recent first (staff, auditor)',
        security: bearerSecurity,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
        response: { 200: deadLetterPageSchema, ...errors },
      },
    },
    async (request) => ({ items: await listNotificationDeadLetters(app.database.db, request.query.limit) }),
  );

  app.get(
    '/trial-balance',
    {
      config: { policy: totalsPolicy },
      schema: {
        tags,
        summary:
          'The trial balance now, from the accounts read model (managers, director, auditor; agents 403): per currency Σ debits and Σ credits and whether they balance',
        security: bearerSecurity,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: { 200: trialBalanceSchema, ...errors },
      },
    },
    async (request) => {
      await readYourWrites(app.database.db, request, accountsProjection.name, request.query.minPosition);
      return trialBalanceView(await trialBalance({ readModel: ledgerTotals }));
    },
  );
};

export default backofficeReads;
