import { randomUUID } from 'node:crypto';
import { openSupportTicket } from '@ledger/application';
import { Chatbot, IntentClassifier, loadKnowledgeBase } from '@ledger/chatbot';
import {
  chatbotMessageBodySchema,
  chatbotReplySchema,
  listSupportTicketsQuerySchema,
  supportTicketPageSchema,
} from '@ledger/contracts';
import { parseRateLimit } from '@ledger/platform';
import { InvalidTicketCursor, listTickets, supportProjection } from '@ledger/projection-support';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { invalid } from '../../ledger-http.js';
import { routeRateLimit } from '../../plugins/rate-limit.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { allRoles, principalOf, staff } from '../../policy.js';
import { problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { personalReadModels } from './read-models.js';
import { postgresSessions } from './sessions.js';

/**
 * /api/chatbot (API.md, Chatbot). Parses, calls the conversation use case
 * (@ledger/chatbot's Chatbot) with ports wired to this caller, answers. The classifier is
 * trained once, when the app is built, from packages/chatbot/kb.
 */

/** Per user (RATE_LIMITS name `chatbot`): a conversation, not a flood. */
export const chatbotRateLimitDefault = '30/minute';

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 429: problemSchema };

const chatbot: FastifyPluginAsyncZod = async (app) => {
  const tags = ['chatbot'];
  const kb = loadKnowledgeBase();
  const classifier = IntentClassifier.train(kb);
  const sessions = postgresSessions(app.database.db, randomUUID);
  const limit = app.config.rateLimits.chatbot ?? parseRateLimit(chatbotRateLimitDefault);
  const perUser = (request: FastifyRequest) => `chatbot:${request.principal?.userId ?? request.ip}`;

  app.post(
    '',
    {
      config: { policy: { roles: allRoles }, ...routeRateLimit(limit, perUser) },
      schema: {
        tags,
        summary: 'Ask the support chatbot (English or French); answers from the KB and your own data only',
        security: bearerSecurity,
        body: chatbotMessageBodySchema,
        response: { 200: chatbotReplySchema, ...errors },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const bot = Chatbot.create(
        {
          sessions,
          personal: personalReadModels(app.database.db, principal),
          tickets: {
            open: async (ticket) => {
              await openSupportTicket(app, {
                ...ticket,
                metadata: app.auth.metadata(request, principal.userId),
              });
            },
          },
          newId: randomUUID,
        },
        kb,
        classifier,
      );
      const answer = await bot.answer({
        userId: principal.userId,
        message: request.body.message,
        sessionId: request.body.sessionId,
        now: app.auth.now(),
      });
      reply.header('cache-control', 'no-store');
      return answer;
    },
  );

  app.get(
    '/tickets',
    {
      config: { policy: { roles: staff } },
      schema: {
        tags,
        summary: 'Support tickets the chatbot opened, newest first (staff; `?userId=` narrows)',
        security: bearerSecurity,
        querystring: listSupportTicketsQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: supportTicketPageSchema, ...errors, ...readModelBehindResponses },
      },
    },
    async (request, reply) => {
      await readYourWrites(app.database.db, request, supportProjection.name, request.query.minPosition);
      const { limit, cursor, userId } = request.query;
      reply.header('cache-control', 'no-store');
      try {
        return await listTickets(app.database.db, {
          limit,
          ...(cursor === undefined ? {} : { cursor }),
          ...(userId === undefined ? {} : { userId }),
        });
      } catch (error) {
        if (error instanceof InvalidTicketCursor) throw invalid('querystring.cursor', 'invalid cursor');
        throw error;
      }
    },
  );
};

export default chatbot;
