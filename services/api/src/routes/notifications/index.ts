import {
  changeNotificationPreferences,
  getNotificationPreferences,
  markNotificationRead,
  type NotificationCaller,
} from '@ledger/application';
import {
  listNotificationsQuerySchema,
  notificationIdParamsSchema,
  notificationPageSchema,
  notificationPreferencesSchema,
  preferencesResponseSchema,
} from '@ledger/contracts';
import {
  InvalidNotificationCursor,
  isNotificationOf,
  listNotifications,
  notificationsProjectionName,
} from '@ledger/projection-notifications';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { invalid } from '../../ledger-http.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { allRoles, principalOf } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';

/**
 * /api/notifications (API.md, Notifications): every user's own in-app notifications (the
 * `notifications` read model), marking one read (a NotificationRead event, which the read
 * model projects), and the user's preferences (event-sourced, read from their stream).
 */

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema };
/** Everyone has their own notifications (staff hear of their own security events too). */
const policy = { roles: allRoles };

const notifications: FastifyPluginAsyncZod = async (app) => {
  const tags = ['notifications'];
  const callerOf = (request: FastifyRequest): NotificationCaller => {
    const { userId } = principalOf(request);
    return { userId, metadata: app.auth.metadata(request, userId), now: app.auth.now() };
  };

  app.get(
    '',
    {
      config: { policy },
      schema: {
        tags,
        summary: 'My notifications, newest first (`?unread=true`: only unread), with the unread count',
        security: bearerSecurity,
        querystring: listNotificationsQuerySchema.extend({ minPosition: minPositionSchema }),
        response: { 200: notificationPageSchema, ...errors, ...readModelBehindResponses },
      },
    },
    async (request, reply) => {
      const { userId } = principalOf(request);
      await readYourWrites(app.database.db, request, notificationsProjectionName, request.query.minPosition);
      const { limit, cursor, unread } = request.query;
      reply.header('cache-control', 'no-store');
      try {
        return await listNotifications(app.database.db, { userId, limit, cursor, unread: unread === 'true' });
      } catch (error) {
        if (error instanceof InvalidNotificationCursor) throw invalid('querystring.cursor', 'invalid cursor');
        throw error;
      }
    },
  );

  app.get(
    '/preferences',
    {
      config: { policy },
      schema: {
        tags,
        summary: 'My notification preferences: per channel (email, inApp), per category',
        security: bearerSecurity,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: { 200: notificationPreferencesSchema, ...errors },
      },
    },
    async (request, reply) => {
      // Read from the user's own stream: always current, nothing to wait for.
      const preferences = await getNotificationPreferences(app, principalOf(request).userId);
      reply.header('cache-control', 'no-store');
      return preferences;
    },
  );

  app.put(
    '/preferences',
    {
      config: { policy },
      schema: {
        tags,
        summary: 'Replace my notification preferences (security email cannot be turned off: 422)',
        security: bearerSecurity,
        body: notificationPreferencesSchema,
        response: { 200: preferencesResponseSchema, ...errors, 422: problemSchema },
      },
    },
    async (request, reply) => {
      const outcome = await changeNotificationPreferences(app, callerOf(request), request.body);
      if (!outcome.ok) {
        throw problem(422, 'preference_locked', 'Security notifications by email cannot be turned off');
      }
      reply.header('cache-control', 'no-store');
      return {
        ...outcome.preferences,
        position: outcome.position === null ? null : String(outcome.position),
      };
    },
  );

  app.post(
    '/:id/read',
    {
      config: { policy },
      schema: {
        tags,
        summary: 'Mark one of my notifications read (again: fine); another user’s: 404',
        security: bearerSecurity,
        params: notificationIdParamsSchema,
        response: { 204: z.null().describe('Read'), ...errors, 404: problemSchema },
      },
    },
    async (request, reply) => {
      const outcome = await markNotificationRead(app, callerOf(request), request.params.id, (id, userId) =>
        isNotificationOf(app.database.db, id, userId),
      );
      if (!outcome.ok) throw problem(404, 'not_found', 'No such notification');
      if (outcome.position !== null) reply.header('x-position', String(outcome.position));
      return reply.code(204).send(null);
    },
  );
};

export default notifications;
