import { randomUUID } from 'node:crypto';
import {
  type Caller,
  changePassword,
  changeTwoFactor,
  currentUser,
  exportUserData,
  login,
  recordSessionEvent,
  register,
  sessionUser,
  startTwoFactorSetup,
  type TwoFactorChange,
  updateProfile,
} from '@ledger/application';
import {
  changePasswordBodySchema,
  dataExportSchema,
  loginBodySchema,
  loginResponseSchema,
  logoutBodySchema,
  otpBodySchema,
  patchMeBodySchema,
  recoveryCodesResponseSchema,
  refreshBodySchema,
  registerBodySchema,
  tokenPairSchema,
  twoFactorSetupResponseSchema,
  userSchema,
} from '@ledger/contracts';
import { accountsProjection } from '@ledger/projection-accounts';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { accessTokenTtlSeconds, jtiKey } from '../../auth/tokens.js';
import { newTotpSecret, otpauthUrl } from '../../auth/totp.js';
import { invalid } from '../../ledger-http.js';
import { userView } from '../../plugins/auth.js';
import { routeRateLimit } from '../../plugins/rate-limit.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { type Policy, principalOf } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionSchema, readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';
import { problemOf } from '../../rejections.js';
import { exportBody, exportDisposition, exportReadModel } from './export.js';

const self: Policy = { roles: 'authenticated' };
/** PATCH /me changes the profile only: nobody sets a role, a lock or a login name through it. */
const selfProfile: Policy = {
  roles: 'authenticated',
  fields: { role: [], locked: [], username: [], email: [] },
};
const userBody = z.object({ user: userSchema });

/** The login rate-limit key: client IP and the name tried (IP+username, API.md). */
function loginKey(request: FastifyRequest): string {
  const body = (request.body ?? {}) as { username?: unknown; email?: unknown };
  const name =
    typeof body.username === 'string' ? body.username : typeof body.email === 'string' ? body.email : '';
  return `login:${request.ip}:${name.toLowerCase().slice(0, 254)}`;
}

const taken = (code: 'username_taken' | 'email_taken') =>
  problem(
    409,
    code,
    code === 'username_taken' ? 'This username is taken' : 'This email is already registered',
  );

const auth: FastifyPluginAsyncZod = async (app) => {
  const tags = ['auth'];
  const caller = (request: FastifyRequest): Caller => {
    const { userId } = principalOf(request);
    return { userId, client: request.ip, metadata: app.auth.metadata(request, userId) };
  };

  app.post(
    '/register',
    {
      config: routeRateLimit(app.rateLimitOf('register')),
      schema: {
        tags,
        summary: 'Register a customer',
        body: registerBodySchema,
        response: { 201: userBody, 400: problemSchema, 409: problemSchema, 429: problemSchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const userId = randomUUID();
      const result = await register(
        app.auth.identity,
        {
          userId,
          username: body.username,
          email: body.email,
          password: body.password,
          role: 'customer',
          profile: {
            firstName: body.firstName ?? null,
            lastName: body.lastName ?? null,
            dateOfBirth: body.dateOfBirth ?? null,
            phone: body.phone ?? null,
          },
          via: 'self',
          now: app.auth.now(),
        },
        app.auth.metadata(request, userId),
        request.ip,
      );
      if (!result.ok) throw taken(result.code);
      reply.code(201);
      return { user: userView(result.user) };
    },
  );

  app.post(
    '/login',
    {
      config: routeRateLimit(app.rateLimitOf('login'), loginKey),
      schema: {
        tags,
        summary: 'Log in with username or email, password and (when 2FA is on) otp or a recovery code',
        body: loginBodySchema,
        response: {
          200: loginResponseSchema,
          400: problemSchema,
          401: problemSchema,
          423: problemSchema,
          429: problemSchema,
        },
      },
    },
    async (request) => {
      const { password, otp, recoveryCode } = request.body;
      const now = app.auth.now();
      const result = await login(
        app.auth.identity,
        {
          by:
            request.body.username !== undefined
              ? { username: request.body.username }
              : { email: request.body.email ?? '' },
          password,
          ...(otp === undefined ? {} : { otp }),
          ...(recoveryCode === undefined ? {} : { recoveryCode }),
          now,
        },
        { client: request.ip, metadata: app.auth.metadata(request) },
      );
      if (!result.ok) throw problemOf(result.rejection);
      const family = await app.auth.refreshTokens.startFamily(result.value.id, now);
      return { ...app.auth.issue(result.value, family), user: userView(result.value) };
    },
  );

  app.post(
    '/refresh',
    {
      config: routeRateLimit(app.rateLimitOf('refresh')),
      schema: {
        tags,
        summary: 'Exchange a refresh token for a new pair; the old one is spent',
        body: refreshBodySchema,
        response: { 200: tokenPairSchema, 400: problemSchema, 401: problemSchema },
      },
    },
    async (request) => {
      const now = app.auth.now();
      const invalidToken = () =>
        problem(401, 'invalid_token', 'The refresh token is invalid, expired, spent or revoked');
      const rotated = await app.auth.refreshTokens.rotate(request.body.refreshToken, now);
      if (rotated.status === 'invalid') throw invalidToken();
      if (rotated.status === 'reused') {
        request.log.warn(
          { userId: rotated.userId, familyId: rotated.familyId },
          'refresh token reused: family revoked',
        );
        await recordSessionEvent(
          app.store,
          rotated.userId,
          { type: 'RecordRefreshTokenReuse', familyId: rotated.familyId, now },
          app.auth.metadata(request, rotated.userId),
        );
        throw invalidToken();
      }
      // A timed lock lets open sessions refresh; a lock by staff or a password change after
      // the family began ends it (its revocation may not have happened yet: a crash between).
      const user = await sessionUser(
        app.auth.identity,
        rotated.userId,
        Math.floor(rotated.familyStartedAt.getTime() / 1000),
      );
      if (user === null) {
        await app.auth.refreshTokens.revokeFamily(rotated.familyId, 'logout', now);
        throw invalidToken();
      }
      return app.auth.issue(user, rotated);
    },
  );

  app.post(
    '/logout',
    {
      config: { policy: self },
      schema: {
        tags,
        summary: 'Revoke the access token and its refresh family (and the given refresh token’s)',
        security: bearerSecurity,
        body: logoutBodySchema.nullish(),
        response: { 204: z.null().describe('Logged out'), 401: problemSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const now = app.auth.now();
      const remaining = principal.exp - Math.floor(now.getTime() / 1000);
      await app.auth.refreshTokens.revocations.revoke(
        jtiKey(principal.jti),
        Math.min(remaining, accessTokenTtlSeconds),
        now,
      );
      const families = new Set<string>();
      if (principal.familyId !== null) families.add(principal.familyId);
      const given = request.body?.refreshToken;
      if (given !== undefined) {
        const family = await app.auth.refreshTokens.familyOf(given, principal.userId);
        if (family !== null) families.add(family);
      }
      for (const family of families) await app.auth.refreshTokens.revokeFamily(family, 'logout', now);
      await recordSessionEvent(
        app.store,
        principal.userId,
        { type: 'RecordLogout', familyId: principal.familyId, now },
        app.auth.metadata(request, principal.userId),
      );
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me',
    {
      config: { policy: self },
      schema: {
        tags,
        summary: 'The caller',
        security: bearerSecurity,
        response: { 200: userBody, 401: problemSchema },
      },
    },
    async (request) => ({
      user: userView(await currentUser(app.auth.identity, principalOf(request).userId)),
    }),
  );

  const exportReads = exportReadModel(app.database.db);
  app.get(
    '/me/export',
    {
      config: { policy: self },
      schema: {
        tags,
        summary: 'The caller’s own data as one JSON file: profile, accounts, statements, security events',
        security: bearerSecurity,
        querystring: z.object({ minPosition: minPositionSchema }),
        response: {
          200: dataExportSchema,
          400: problemSchema,
          401: problemSchema,
          ...readModelBehindResponses,
        },
      },
    },
    async (request, reply) => {
      const { userId } = principalOf(request);
      // Accounts and statements come from the accounts read model: it must hold the caller's writes.
      await readYourWrites(app.database.db, request, accountsProjection.name, request.query.minPosition);
      const data = await exportUserData(
        { identity: app.auth.identity, readModel: exportReads },
        userId,
        app.auth.now(),
      );
      reply.header('cache-control', 'no-store').header('content-disposition', exportDisposition(userId));
      return exportBody(data);
    },
  );

  app.patch(
    '/me',
    {
      config: { policy: selfProfile },
      schema: {
        tags,
        summary: 'Update the caller’s profile',
        security: bearerSecurity,
        body: patchMeBodySchema,
        response: {
          200: userBody,
          400: problemSchema,
          401: problemSchema,
          403: problemSchema,
          422: problemSchema,
        },
      },
    },
    async (request) => {
      const changes = Object.fromEntries(Object.entries(request.body).filter(([, v]) => v !== undefined));
      const result = await updateProfile(app.auth.identity, caller(request), changes, app.auth.now());
      if (!result.ok) throw problemOf(result.rejection);
      return { user: userView(result.value) };
    },
  );

  app.post(
    '/2fa/setup',
    {
      config: { policy: self },
      schema: {
        tags,
        summary: 'Start TOTP setup: a new secret, confirmed by /2fa/enable',
        security: bearerSecurity,
        response: { 200: twoFactorSetupResponseSchema, 401: problemSchema, 409: problemSchema },
      },
    },
    async (request) => {
      const secret = newTotpSecret();
      const result = await startTwoFactorSetup(app.auth.identity, caller(request), secret, app.auth.now());
      if (!result.ok) throw problemOf(result.rejection);
      return { secret, otpauthUrl: otpauthUrl(secret, result.value.username) };
    },
  );

  /**
   * A 2FA change with the password and a current code: a wrong password is a 401
   * `invalid_credentials`, a wrong code a 400 `invalid_otp` (the caller is signed in; the
   * input is bad), both counted as failed logins; while locked, 423.
   */
  const twoFactor = async (
    request: FastifyRequest<{ Body: { otp: string; password: string } }>,
    change: TwoFactorChange,
  ) => {
    const result = await changeTwoFactor(app.auth.identity, caller(request), {
      change,
      password: request.body.password,
      otp: request.body.otp,
      now: app.auth.now(),
    });
    if (!result.ok) {
      throw problemOf(result.rejection, result.rejection === 'invalid_otp' ? 400 : undefined);
    }
    return result.value;
  };
  const twoFactorErrors = {
    400: problemSchema,
    401: problemSchema,
    409: problemSchema,
    423: problemSchema,
  };

  for (const action of ['enable', 'disable'] as const) {
    app.post(
      `/2fa/${action}`,
      {
        config: { policy: self },
        schema: {
          tags,
          summary:
            action === 'enable'
              ? 'Turn 2FA on with a current code and the password'
              : 'Turn 2FA off with a current code and the password',
          security: bearerSecurity,
          body: otpBodySchema,
          response: { 204: z.null().describe('Done'), ...twoFactorErrors },
        },
      },
      async (request, reply) => {
        await twoFactor(request, action);
        return reply.code(204).send(null);
      },
    );
  }

  app.post(
    '/2fa/recovery-codes',
    {
      config: { policy: self },
      schema: {
        tags,
        summary:
          'New 2FA recovery codes (each logs in once instead of a code), replacing earlier ones; shown only now',
        security: bearerSecurity,
        body: otpBodySchema,
        response: { 200: recoveryCodesResponseSchema, ...twoFactorErrors },
      },
    },
    async (request) => {
      const { recoveryCodes } = await twoFactor(request, 'recovery_codes');
      if (recoveryCodes === null) throw new Error('recovery codes were generated');
      return { recoveryCodes };
    },
  );

  app.post(
    '/password',
    {
      config: { policy: self },
      schema: {
        tags,
        summary: 'Change the password; every session of the user ends at once',
        security: bearerSecurity,
        body: changePasswordBodySchema,
        response: {
          204: z.null().describe('Changed: sign in again'),
          400: problemSchema,
          401: problemSchema,
          423: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const result = await changePassword(app.auth.identity, caller(request), {
        currentPassword: request.body.currentPassword,
        newPassword: request.body.newPassword,
        now: app.auth.now(),
      });
      if (!result.ok) {
        if (result.rejection === 'password_is_identity')
          throw invalid('body.newPassword', 'the password must not be the username or the email');
        throw problemOf(result.rejection);
      }
      return reply.code(204).send(null);
    },
  );
};

export default auth;
