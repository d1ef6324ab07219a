import { reviewHeldTransfer } from '@ledger/application';
import { reasonBodySchema, transactionResponseSchema } from '@ledger/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ledgerCaller, transactionBody } from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { managerPlus, type Policy } from '../../policy.js';
import { problemSchema } from '../../problem.js';
import { problemOf } from '../../rejections.js';

/**
 * The review of held transactions (API.md, Admin): a manager or the director approves
 * (posted; an external transfer goes on to the clearing rail) or rejects (voided, funds
 * released) a transaction held by a fraud/AML rule or the cash desk's threshold, with a
 * reason. Never one they are party to, or asked for: 403 (the decider's four eyes).
 */

const reviewPolicy: Policy = { roles: managerPlus };
const idParams = z.object({ id: z.uuid() });
const responses = {
  200: transactionResponseSchema,
  400: problemSchema,
  401: problemSchema,
  403: problemSchema,
  404: problemSchema,
  409: problemSchema,
  422: problemSchema,
};

const review: FastifyPluginAsyncZod = async (app) => {
  const tags = ['admin'];
  for (const [path, decision, summary] of [
    [
      '/transactions/:id/approve',
      'approved',
      'Approve a held transaction: posted (manager+, not a party to it)',
    ],
    [
      '/transactions/:id/reject',
      'rejected',
      'Reject a held transaction: voided, funds released (manager+, not a party to it)',
    ],
  ] as const) {
    app.post(
      path,
      {
        config: { policy: reviewPolicy },
        schema: {
          tags,
          summary,
          security: bearerSecurity,
          params: idParams,
          body: reasonBodySchema,
          response: responses,
        },
      },
      async (request) => {
        const outcome = await reviewHeldTransfer(app.ledger, ledgerCaller(app, request), {
          transferId: request.params.id,
          decision,
          reason: request.body.reason,
        });
        if (outcome.status === 'rejected') throw problemOf(outcome.rejection);
        return {
          transaction: transactionBody(outcome.transfer, outcome.position),
          position: outcome.position.toString(),
        };
      },
    );
  }
};

export default review;
