import { randomUUID } from 'node:crypto';
import { changeUser, erasePersonalData, register } from '@ledger/application';
import {
  type AdminUserView,
  adminUserSchema,
  createStaffBodySchema,
  listUsersQuerySchema,
  patchUserBodySchema,
  userPageSchema,
} from '@ledger/contracts';
import { isLocked, type RegisteredUser } from '@ledger/domain';
import { InvalidUserCursor, listUsers, usersProjection } from '@ledger/projection-users';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { userView } from '../../plugins/auth.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { directorOnly, managerPlus, type Policy, principalOf, staffOrAuditor } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { problemOf, type Rejection } from '../../rejections.js';
import backofficeReads from './backoffice-reads.js';
import monitoringRoutes from './monitoring.js';
import reviewRoutes from './review.js';
import settingsRoutes from './settings.js';

const listPolicy: Policy = { roles: staffOrAuditor };
const createPolicy: Policy = { roles: directorOnly };
/** API.md, Admin: `role` director only; `locked` manager and up. */
const patchPolicy: Policy = { roles: managerPlus, fields: { role: directorOnly, locked: managerPlus } };
const userChangeErrors = {
  400: problemSchema,
  401: problemSchema,
  403: problemSchema,
  404: problemSchema,
  422: problemSchema,
};
const adminUserBody = z.object({
  user: adminUserSchema,
  position: z.string().nullable().describe('Global position of the change (null: nothing changed)'),
});

/** A refused change to a user: an unknown one is the plain 404 of API.md (never `user_not_found`). */
function userProblem(rejection: Rejection) {
  return rejection === 'user_not_found' ? problem(404, 'not_found', 'No such user') : problemOf(rejection);
}

const userChangeResponses = { 200: adminUserBody, ...userChangeErrors };

function adminView(user: RegisteredUser, now: Date): AdminUserView {
  return {
    ...userView(user),
    locked: isLocked(user, now),
    lockedUntil: user.lock?.until ?? null,
    erasedAt: user.erasedAt,
  };
}

const admin: FastifyPluginAsyncZod = async (app) => {
  const tags = ['admin'];
  // GET, PUT /settings: the limits transfers are held to.
  await app.register(settingsRoutes);
  // GET /transactions (the review queue and its filters), /stats, /audit: read models only.
  await app.register(monitoringRoutes);
  // POST /transactions/:id/approve, /reject: the review of held transactions.
  await app.register(reviewRoutes);
  // GET /volume, /dead-letters, /trial-balance: what the back-office page shows beside /stats.
  await app.register(backofficeReads);

  app.get(
    '/users',
    {
      config: { policy: listPolicy },
      schema: {
        tags,
        summary: 'Users, in registration order (read model: may lag the commands by a moment)',
        security: bearerSecurity,
        querystring: listUsersQuerySchema.extend({ minPosition: minPositionSchema }),
        response: {
          200: userPageSchema,
          400: problemSchema,
          401: problemSchema,
          403: problemSchema,
          ...readModelBehindResponses,
        },
      },
    },
    async (request) => {
      await readYourWrites(app.database.db, request, usersProjection.name, request.query.minPosition);
      try {
        return await listUsers(app.database.db, {
          sealers: (ids) => app.vault.sealers(ids),
          limit: request.query.limit,
          now: app.auth.now(),
          ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }),
          ...(request.query.role === undefined ? {} : { role: request.query.role }),
        });
      } catch (error) {
        if (error instanceof InvalidUserCursor) {
          throw problem(400, 'validation_failed', 'The request querystring is not valid', {
            errors: [{ path: 'querystring.cursor', message: 'invalid cursor' }],
          });
        }
        throw error;
      }
    },
  );

  app.post(
    '/users',
    {
      config: { policy: createPolicy },
      schema: {
        tags,
        summary: 'Create a staff or auditor user (director)',
        security: bearerSecurity,
        body: createStaffBodySchema,
        response: {
          201: adminUserBody,
          400: problemSchema,
          401: problemSchema,
          403: problemSchema,
          409: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const now = app.auth.now();
      const result = await register(
        app.auth.identity,
        {
          userId: randomUUID(),
          username: body.username,
          email: body.email,
          password: body.password,
          role: body.role,
          profile: {
            firstName: body.firstName ?? null,
            lastName: body.lastName ?? null,
            dateOfBirth: null,
            phone: null,
          },
          via: 'staff',
          now,
        },
        app.auth.metadata(request, principalOf(request).userId),
        request.ip,
      );
      if (!result.ok) {
        throw result.code === 'username_taken'
          ? problem(409, 'username_taken', 'This username is taken')
          : problem(409, 'email_taken', 'This email is already registered');
      }
      reply.code(201);
      return { user: adminView(result.user, now), position: result.position.toString() };
    },
  );

  app.patch(
    '/users/:id',
    {
      config: { policy: patchPolicy },
      schema: {
        tags,
        summary:
          'Change a user’s role (director) or lock/unlock it (manager+: customers and agents; director: anyone but themself)',
        security: bearerSecurity,
        params: z.object({ id: z.uuid() }),
        body: patchUserBodySchema,
        response: userChangeResponses,
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const now = app.auth.now();
      const result = await changeUser(
        app.auth.identity,
        {
          actor: { userId: principal.userId, role: principal.role },
          userId: request.params.id,
          ...(request.body.role === undefined ? {} : { role: request.body.role }),
          ...(request.body.locked === undefined ? {} : { locked: request.body.locked }),
          now,
        },
        app.auth.metadata(request, principal.userId),
      );
      if (!result.ok) throw userProblem(result.rejection);
      return { user: adminView(result.state, now), position: result.position?.toString() ?? null };
    },
  );

  app.post(
    '/users/:id/erase',
    {
      config: { policy: { roles: directorOnly } },
      schema: {
        tags,
        summary:
          'Erase a customer’s personal data (director; once the retention period after their last account closed has passed): their key is destroyed, the ledger and every hash chain stay intact',
        security: bearerSecurity,
        params: z.object({ id: z.uuid() }),
        response: userChangeResponses,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const now = app.auth.now();
      const result = await erasePersonalData(
        { ...app.auth.identity, ledger: app.ledger, documents: app.documents },
        { actor: { userId: principal.userId, role: principal.role }, userId: request.params.id, now },
        app.auth.metadata(request, principal.userId),
      );
      if (!result.ok) throw userProblem(result.rejection);
      reply.header('cache-control', 'no-store');
      return {
        user: adminView(result.value.user, now),
        position: result.value.position?.toString() ?? null,
      };
    },
  );
};

export default admin;
