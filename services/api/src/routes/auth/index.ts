import { randomUUID } from 'node:crypto';
import { findUserId, handleUserCommand, loadUser, registerUser } from '@ledger/application';
import {
  changePasswordBodySchema,
  identityLimits,
  loginBodySchema,
  loginResponseSchema,
  logoutBodySchema,
  otpBodySchema,
  passwordIsIdentity,
  patchMeBodySchema,
  recoveryCodesResponseSchema,
  refreshBodySchema,
  registerBodySchema,
  tokenPairSchema,
  twoFactorSetupResponseSchema,
  userSchema,
} from '@ledger/contracts';
import { decideUser, isLocked, sessionMayContinue, type UserState } from '@ledger/domain';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { rejectionProblem } from '../../auth/problems.js';
import { accessTokenTtlSeconds, jtiKey } from '../../auth/tokens.js';
import { newTotpSecret, otpauthUrl, otpTimeStep } from '../../auth/totp.js';
import { invalid } from '../../ledger-http.js';
import { userView } from '../../plugins/auth.js';
import { routeRateLimit } from '../../plugins/rate-limit.js';
import { bearerSecurity } from '../../plugins/swagger.js';
import { type Policy, principalOf } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';

const self: Policy = { roles: 'authenticated' };
/** PATCH /me changes the profile only: nobody sets a role, a lock or a login name through it. */
const selfProfile: Policy = {
  roles: 'authenticated',
  fields: { role: [], locked: [], username: [], email: [] },
};
const userBody = z.object({ user: userSchema });

function registered(state: UserState) {
  // The token was checked against this stream a moment ago; a user never disappears.
  if (state.status !== 'registered') throw problem(401, 'unauthorized', 'A valid access token is required');
  return state;
}

/** The login rate-limit key: client IP and the name tried (IP+username, API.md). */
function loginKey(request: FastifyRequest): string {
  const body = (request.body ?? {}) as { username?: unknown; email?: unknown };
  const name =
    typeof body.username === 'string' ? body.username : typeof body.email === 'string' ? body.email : '';
  return `login:${request.ip}:${name.toLowerCase().slice(0, 254)}`;
}

const auth: FastifyPluginAsyncZod = async (app) => {
  const tags = ['auth'];

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
      // Cheap refusals first: a taken name costs no hash. The append below is what decides.
      if ((await findUserId(app.store, { username: body.username })) !== null) {
        throw problem(409, 'username_taken', 'This username is taken');
      }
      if ((await findUserId(app.store, { email: body.email })) !== null) {
        throw problem(409, 'email_taken', 'This email is already registered');
      }
      const userId = randomUUID();
      const result = await registerUser(
        app.store,
        {
          type: 'Register',
          now: app.auth.now(),
          userId,
          username: body.username,
          email: body.email,
          passwordHash: await app.auth.hasher.hash(body.password),
          role: 'customer',
          profile: {
            firstName: body.firstName ?? null,
            lastName: body.lastName ?? null,
            dateOfBirth: body.dateOfBirth ?? null,
            phone: body.phone ?? null,
          },
          via: 'self',
        },
        app.auth.metadata(request, userId),
      );
      if (!result.ok) {
        throw problem(
          409,
          result.code,
          result.code === 'username_taken' ? 'This username is taken' : 'This email is already registered',
        );
      }
      reply.code(201);
      return { user: userView(registered(result.state)) };
    },
  );

  app.post(
    '/login',
    {
      config: routeRateLimit(app.rateLimitOf('login'), loginKey),
      schema: {
        tags,
        summary: 'Log in with username or email, password and (when 2FA is on) otp',
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
    async (request, reply) => {
      const { password, otp, recoveryCode } = request.body;
      const by =
        request.body.username !== undefined
          ? { username: request.body.username }
          : { email: request.body.email ?? '' };
      const userId = await findUserId(app.store, by);
      if (userId === null) {
        await app.auth.hasher.burn(password);
        throw rejectionProblem('invalid_credentials');
      }
      const now = app.auth.now();
      // Computed once, kept across the command's retries: a hash is costly, a recovery code single use.
      let passwordMatches: boolean | undefined;
      let recoveryCodeValid: boolean | undefined;
      const result = await handleUserCommand(
        app.store,
        userId,
        async (state) => {
          if (state.status !== 'registered')
            return decideUser({ type: 'Login', now, passwordMatches: false, otp: null }, state);
          // A locked account's password is not even checked: no oracle, no CPU spent.
          const locked = isLocked(state, now);
          if (!locked) passwordMatches ??= await app.auth.hasher.verify(password, state.passwordHash);
          let timeStep: number | null = null;
          if (otp !== undefined && state.twoFactor.status === 'on') {
            timeStep = await otpTimeStep(app.auth.box.open(state.twoFactor.secret), otp, now);
          }
          // A recovery code is spent only by a login that would succeed with it.
          if (
            recoveryCode !== undefined &&
            !locked &&
            passwordMatches === true &&
            state.twoFactor.status === 'on'
          )
            recoveryCodeValid ??= await app.auth.recoveryCodes.spend(userId, recoveryCode, now);
          return decideUser(
            {
              type: 'Login',
              now,
              passwordMatches: passwordMatches === true,
              otp: otp === undefined ? null : { timeStep },
              ...(recoveryCode === undefined ? {} : { recoveryCode: { valid: recoveryCodeValid === true } }),
            },
            state,
          );
        },
        app.auth.metadata(request, userId),
      );
      if (result.rejection !== undefined) {
        throw rejectionProblem(
          result.rejection === 'user_not_found' ? 'invalid_credentials' : result.rejection,
        );
      }
      const user = registered(result.state);
      const family = await app.auth.refreshTokens.startFamily(user.id, now);
      reply.header('cache-control', 'no-store');
      return { ...app.auth.issue(user, family), user: userView(user) };
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
      const invalid = () =>
        problem(401, 'invalid_token', 'The refresh token is invalid, expired, spent or revoked');
      const rotated = await app.auth.refreshTokens.rotate(request.body.refreshToken, now);
      if (rotated.status === 'invalid') throw invalid();
      if (rotated.status === 'reused') {
        request.log.warn(
          { userId: rotated.userId, familyId: rotated.familyId },
          'refresh token reused: family revoked',
        );
        await handleUserCommand(
          app.store,
          rotated.userId,
          (state) => decideUser({ type: 'RecordRefreshTokenReuse', now, familyId: rotated.familyId }, state),
          app.auth.metadata(request, rotated.userId),
        );
        throw invalid();
      }
      const user = await loadUser(app.store, rotated.userId);
      // A timed lock lets open sessions refresh; a lock by staff or a password change after
      // the family began ends it (its revocation may not have happened yet: a crash between).
      const familyStartedSeconds = Math.floor(rotated.familyStartedAt.getTime() / 1000);
      if (user.status !== 'registered' || !sessionMayContinue(user, familyStartedSeconds)) {
        await app.auth.refreshTokens.revokeFamily(rotated.familyId, 'logout', now);
        throw invalid();
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
      await handleUserCommand(
        app.store,
        principal.userId,
        (state) => decideUser({ type: 'RecordLogout', now, familyId: principal.familyId }, state),
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
      user: userView(registered(await loadUser(app.store, principalOf(request).userId))),
    }),
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
      const { userId } = principalOf(request);
      const changes = Object.fromEntries(Object.entries(request.body).filter(([, v]) => v !== undefined));
      const result = await handleUserCommand(
        app.store,
        userId,
        (state) => decideUser({ type: 'UpdateProfile', now: app.auth.now(), changes }, state),
        app.auth.metadata(request, userId),
      );
      if (result.rejection !== undefined) throw rejectionProblem(result.rejection);
      return { user: userView(registered(result.state)) };
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
      const { userId } = principalOf(request);
      const secret = newTotpSecret();
      const result = await handleUserCommand(
        app.store,
        userId,
        (state) =>
          decideUser(
            { type: 'StartTwoFactorSetup', now: app.auth.now(), secret: app.auth.box.seal(secret) },
            state,
          ),
        app.auth.metadata(request, userId),
      );
      if (result.rejection !== undefined) throw rejectionProblem(result.rejection);
      const user = registered(result.state);
      return { secret, otpauthUrl: otpauthUrl(secret, user.username) };
    },
  );

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
          response: {
            204: z.null().describe('Done'),
            400: problemSchema,
            401: problemSchema,
            409: problemSchema,
            423: problemSchema,
          },
        },
      },
      async (request, reply) => {
        const { userId } = principalOf(request);
        const now = app.auth.now();
        await twoFactorCommand(request, {
          type: action === 'enable' ? 'EnableTwoFactor' : 'DisableTwoFactor',
          now,
        });
        // Recovery codes stand in for the authenticator: with it gone, they go too.
        if (action === 'disable') await app.auth.recoveryCodes.removeAll(userId);
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
        response: {
          200: recoveryCodesResponseSchema,
          400: problemSchema,
          401: problemSchema,
          409: problemSchema,
          423: problemSchema,
        },
      },
    },
    async (request, reply) => {
      const { userId } = principalOf(request);
      const now = app.auth.now();
      await twoFactorCommand(request, {
        type: 'GenerateRecoveryCodes',
        now,
        count: identityLimits.recoveryCodeCount,
      });
      const recoveryCodes = await app.auth.recoveryCodes.replace(userId, now);
      reply.header('cache-control', 'no-store');
      return { recoveryCodes };
    },
  );

  /**
   * A 2FA change of the caller, with the password and a current code: a wrong password is a
   * 401 `invalid_credentials`, a wrong code a 400 `invalid_otp` (the caller is signed in; the
   * input is bad), both counted as failed logins; while locked, 423.
   */
  async function twoFactorCommand(
    request: FastifyRequest<{ Body: { otp: string; password: string } }>,
    command:
      | { type: 'EnableTwoFactor' | 'DisableTwoFactor'; now: Date }
      | { type: 'GenerateRecoveryCodes'; now: Date; count: number },
  ) {
    const { userId } = principalOf(request);
    const { now } = command;
    let passwordMatches: boolean | undefined;
    const result = await handleUserCommand(
      app.store,
      userId,
      async (state) => {
        const user = registered(state);
        const checked = !isLocked(user, now);
        if (checked)
          passwordMatches ??= await app.auth.hasher.verify(request.body.password, user.passwordHash);
        const secret = user.twoFactor.status !== 'off' ? user.twoFactor.secret : null;
        const otpTimeStepFound =
          secret === null || !checked || passwordMatches !== true
            ? null
            : await otpTimeStep(app.auth.box.open(secret), request.body.otp, now);
        return decideUser(
          { ...command, passwordMatches: passwordMatches === true, otpTimeStep: otpTimeStepFound },
          state,
        );
      },
      app.auth.metadata(request, userId),
    );
    if (result.rejection !== undefined) {
      throw rejectionProblem(result.rejection, result.rejection === 'invalid_otp' ? 400 : undefined);
    }
    return result;
  }

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
      const { userId } = principalOf(request);
      const { currentPassword, newPassword } = request.body;
      const user = registered(await loadUser(app.store, userId));
      if (passwordIsIdentity(newPassword, user)) {
        throw invalid('body.newPassword', 'the password must not be the username or the email');
      }
      const now = app.auth.now();
      let passwordMatches: boolean | undefined;
      let passwordHash: string | undefined;
      const result = await handleUserCommand(
        app.store,
        userId,
        async (state) => {
          const current = registered(state);
          const checked = !isLocked(current, now);
          if (checked)
            passwordMatches ??= await app.auth.hasher.verify(currentPassword, current.passwordHash);
          // Hashed only once the current password is known to be right: a wrong guess costs one hash.
          if (passwordMatches === true) passwordHash ??= await app.auth.hasher.hash(newPassword);
          return decideUser(
            {
              type: 'ChangePassword',
              now,
              passwordMatches: passwordMatches === true,
              passwordHash: passwordHash ?? '',
            },
            state,
          );
        },
        app.auth.metadata(request, userId),
      );
      if (result.rejection !== undefined) throw rejectionProblem(result.rejection);
      await app.auth.sessions.endAll(userId, 'password_changed', now);
      return reply.code(204).send(null);
    },
  );
};

export default auth;
