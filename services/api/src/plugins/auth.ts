import { randomUUID } from 'node:crypto';
import fastifyJwt, { type FastifyJWTOptions } from '@fastify/jwt';
import type { IdentityPorts, Sessions } from '@ledger/application';
import { defaultUserLocale, type Role, roles, type UserView } from '@ledger/contracts';
import { type RegisteredUser, sessionMayContinue } from '@ledger/domain';
import type { EventMetadata } from '@ledger/eventstore';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { PasswordHasher } from '../auth/passwords.js';
import {
  accessTokenTtlSeconds,
  authTablesReady,
  databaseRevocations,
  familyKey,
  jtiKey,
  RecoveryCodes,
  RefreshTokens,
  redisRevocations,
} from '../auth/tokens.js';
import { otpTimeStep, type SecretBox, secretBox } from '../auth/totp.js';
import { UserCache, userCacheTtlMs, watchUserWrites } from '../auth/user-cache.js';
import type { Principal } from '../policy.js';
import { problem } from '../problem.js';

/**
 * Authentication and the policy hook. Access tokens: JWT HS256 only (`alg: none`, RS256 and
 * every other algorithm refused, so no key confusion), issuer and audience checked, 1 hour,
 * claims sub, role, jti and fam (the refresh family, so revoking a family stops its access
 * tokens too). Every authenticated request also checks the revocation list and the user's
 * stream: a locked user's tokens stop working at once, and the role used is the current one.
 * The user's stream is folded once and cached (auth/user-cache.ts), the cached copy dropped
 * as soon as the stream changes.
 */

export const tokenIssuer = 'ledger';
export const tokenAudience = 'ledger-api';
const userAgentLengthMax = 256;

export interface AccessClaims {
  sub: string;
  role: Role;
  jti: string;
  fam?: string;
  iat?: number;
  exp?: number;
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims;
    user: AccessClaims;
  }
}

export interface AuthOptions {
  jwtSecret: string;
  /** Seals TOTP secrets (never the JWT secret: see resolveTotpKey). */
  totpKey: string;
  hasher: PasswordHasher;
  clock: () => Date;
  /** Redis key prefix of the revocation list. */
  keyPrefix: string;
}

export interface Auth {
  readonly hasher: PasswordHasher;
  readonly box: SecretBox;
  readonly refreshTokens: RefreshTokens;
  readonly recoveryCodes: RecoveryCodes;
  /** Ends every session of a user (a lock by staff, a password change). */
  readonly sessions: Sessions;
  /** What the identity use cases of packages/application need from this process. */
  readonly identity: IdentityPorts;
  now(): Date;
  /** A token pair for a user: a new family, or the next token of one (refresh). */
  issue(
    user: RegisteredUser,
    family: { familyId: string; refreshToken: string },
  ): { accessToken: string; refreshToken: string; tokenType: 'Bearer'; expiresIn: number };
  /** Event metadata: who, from where, under which request (the audit trail's columns). */
  metadata(request: FastifyRequest, actorId?: string): EventMetadata;
}

declare module 'fastify' {
  interface FastifyInstance {
    auth: Auth;
  }
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function userView(user: RegisteredUser): UserView {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    firstName: user.profile.firstName,
    lastName: user.profile.lastName,
    dateOfBirth: user.profile.dateOfBirth,
    phone: user.profile.phone,
    role: user.role,
    twoFactorEnabled: user.twoFactor.status === 'on',
    kycStatus: user.kycStatus,
    createdAt: user.createdAt,
    locale: user.profile.locale ?? defaultUserLocale,
  };
}

const unauthorized = () => problem(401, 'unauthorized', 'A valid access token is required');

/** How access tokens are signed and verified (@fastify/jwt's options): see the top of this file. */
export function accessTokenJwtOptions(secret: string) {
  return {
    secret,
    sign: {
      algorithm: 'HS256',
      iss: tokenIssuer,
      aud: tokenAudience,
      expiresIn: accessTokenTtlSeconds, // seconds: @fastify/jwt converts
    },
    verify: {
      algorithms: ['HS256'],
      allowedIss: tokenIssuer,
      allowedAud: tokenAudience,
      requiredClaims: ['sub', 'jti', 'exp', 'iat', 'iss', 'aud'],
    },
  } satisfies FastifyJWTOptions;
}

/** The claims of a new access token of `user` in the refresh family `familyId`. */
export function accessClaims(user: Pick<RegisteredUser, 'id' | 'role'>, familyId: string): AccessClaims {
  return { sub: user.id, role: user.role, jti: randomUUID(), fam: familyId };
}

export default fp(
  async function auth(app: FastifyInstance, options: AuthOptions) {
    await app.register(fastifyJwt, accessTokenJwtOptions(options.jwtSecret));

    const ready = authTablesReady(app.database.db);
    const revocations = app.redis
      ? redisRevocations(app.redis, `${options.keyPrefix}revoked:`)
      : databaseRevocations(app.database.db, ready);
    const refreshTokens = new RefreshTokens(app.database.db, revocations, ready);
    const recoveryCodes = new RecoveryCodes(app.database.db, ready);
    const sessions: Sessions = {
      async endAll(userId, reason, now) {
        await refreshTokens.revokeAllFamilies(userId, reason, now);
      },
    };
    const box = secretBox(options.totpKey);
    const users = new UserCache(
      app.store,
      revocations.sharesUserMarks ? userCacheTtlMs.shared : userCacheTtlMs.unshared,
    );
    // Any append to a user stream through this store drops the cached copy (before and
    // after it), and, once it is written, gives the user a new mark for other processes.
    // The append's caller (say, the role change's request) is answered after that.
    const unwatch = watchUserWrites(app.store, async (userIds, phase) => {
      users.forget(userIds);
      if (phase === 'before') return;
      await Promise.all(userIds.map((id) => revocations.touchUser(id))).catch((error: unknown) =>
        app.log.warn({ err: error }, 'could not mark a changed user for the other API processes'),
      );
    });
    app.addHook('onClose', async () => unwatch());

    app.decorate('auth', {
      hasher: options.hasher,
      box,
      refreshTokens,
      recoveryCodes,
      sessions,
      identity: {
        store: app.store,
        vault: app.vault,
        passwords: options.hasher,
        totp: {
          seal: (secret) => box.seal(secret),
          timeStep: (sealed, code, now) => otpTimeStep(box.open(sealed), code, now),
        },
        recoveryCodes,
        sessions,
      },
      now: options.clock,
      issue(user, family) {
        return {
          accessToken: app.jwt.sign(accessClaims(user, family.familyId)),
          refreshToken: family.refreshToken,
          tokenType: 'Bearer',
          expiresIn: accessTokenTtlSeconds,
        };
      },
      metadata(request, actorId) {
        const userAgent = request.headers['user-agent'];
        return {
          requestId: request.id,
          correlationId: request.id,
          causationId: request.id,
          ...(actorId === undefined ? {} : { actorId }),
          ip: request.ip,
          userAgent: typeof userAgent === 'string' ? userAgent.slice(0, userAgentLengthMax) : null,
        };
      },
    } satisfies Auth);

    async function authenticate(request: FastifyRequest): Promise<Principal> {
      const header = request.headers.authorization;
      if (typeof header !== 'string' || !header.startsWith('Bearer ')) throw unauthorized();
      let claims: AccessClaims;
      try {
        claims = await request.jwtVerify<AccessClaims>();
      } catch {
        throw unauthorized();
      }
      const { sub, jti, fam, exp, iat } = claims;
      if (
        typeof sub !== 'string' ||
        !uuidPattern.test(sub) ||
        typeof jti !== 'string' ||
        typeof exp !== 'number' ||
        typeof iat !== 'number' ||
        (fam !== undefined && (typeof fam !== 'string' || !uuidPattern.test(fam))) ||
        !roles.includes(claims.role)
      ) {
        throw unauthorized();
      }
      const now = options.clock();
      const keys = fam === undefined ? [jtiKey(jti)] : [jtiKey(jti), familyKey(fam)];
      // Fails closed: a token whose revocation cannot be checked (Redis down or slow, each
      // call bounded by redis.ts) is never let through; the error is a 503 `unavailable`
      // with Retry-After (plugins/problems.ts), answered within redisCommandTimeoutMs.
      const { revoked, userMark } = await revocations.check(keys, sub, now);
      if (revoked) throw unauthorized();
      const user = await users.get(sub, userMark);
      // A timed lock (failed logins) stops new logins only; staff locks and password changes end sessions.
      if (user.status !== 'registered' || !sessionMayContinue(user, iat)) throw unauthorized();
      return { userId: sub, role: user.role, kycStatus: user.kycStatus, jti, familyId: fam ?? null, exp };
    }

    app.decorateRequest('principal', null);

    // The policy hook (policy.ts): before validation, so an unauthenticated caller learns
    // nothing about the body it should send, and a forbidden field is a 403, not a 400.
    // Ownership is checked after validation (preHandler below): a lookup only ever sees
    // route params its schema accepted (`/api/accounts/%00/balance` is a 400, not a 500).
    app.addHook('preValidation', async (request) => {
      const policy = request.routeOptions.config.policy;
      if (!policy) return;
      if (policy.optional && request.headers.authorization === undefined) return;
      const principal = await authenticate(request);
      request.principal = principal;
      if (policy.roles !== 'authenticated' && !policy.roles.includes(principal.role)) {
        throw problem(403, 'forbidden', 'Your role does not allow this');
      }
      if (policy.fields) {
        const body = request.body;
        for (const [field, allowed] of Object.entries(policy.fields)) {
          const present = typeof body === 'object' && body !== null && Object.hasOwn(body, field);
          if (present && !allowed.includes(principal.role)) {
            throw problem(403, 'forbidden', `Your role may not set ${field}`);
          }
        }
      }
    });
    app.addHook('preHandler', async (request) => {
      const owner = request.routeOptions.config.policy?.owner;
      const principal = request.principal;
      if (!owner || principal === null || !owner.roles.includes(principal.role)) return;
      if ((await owner.ownerOf(request)) !== principal.userId) throw problem(404, 'not_found', 'Not found');
    });
  },
  { name: 'auth', dependencies: ['deps'] },
);
