import type { KycStatus, Role } from '@ledger/contracts';
import type { FastifyRequest } from 'fastify';

/**
 * The one declarative access policy. Each route states, in its config, who may call it;
 * the auth plugin's hook enforces it before validation and the handler runs, so no handler
 * carries its own role checks. A route without `policy` is public.
 *
 * - `roles`: who may call at all ('authenticated': any valid token). Others → 403.
 * - `fields`: body fields only some roles may set (PATCH a user's `role`: director).
 *   Setting one without the right → 403.
 * - `owner`: for these roles, the resource must be their own; when it is not (or does not
 *   exist) the answer is 404, never revealing that another customer's resource exists.
 */
export interface Policy {
  roles: readonly Role[] | 'authenticated';
  /**
   * The token is optional: a request without Authorization passes as nobody (principal
   * null), one with it is authenticated and checked as on any route (a bad token is a 401).
   * For public reads that show staff more (the pack catalog's drafts).
   */
  optional?: boolean;
  fields?: Readonly<Record<string, readonly Role[]>>;
  owner?: {
    roles: readonly Role[];
    /** The user id owning the resource the request names, or null when there is none. */
    ownerOf(request: FastifyRequest): Promise<string | null>;
  };
}

export const allRoles = [
  'customer',
  'agent',
  'manager',
  'director',
  'auditor',
] as const satisfies readonly Role[];
export const staff = ['agent', 'manager', 'director'] as const satisfies readonly Role[];
export const managerPlus = ['manager', 'director'] as const satisfies readonly Role[];
export const directorOnly = ['director'] as const satisfies readonly Role[];
/** Staff and the auditor: read access to back-office lists. */
export const staffOrAuditor = ['agent', 'manager', 'director', 'auditor'] as const satisfies readonly Role[];

export interface Principal {
  userId: string;
  /** The user's current role, from its stream (not the one in the token, which may be older). */
  role: Role;
  /** The user's KYC status as of this request's (possibly cached) fold of its stream. */
  kycStatus: KycStatus;
  jti: string;
  familyId: string | null;
  /** Access token expiry, seconds since the epoch. */
  exp: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    policy?: Policy;
  }
  interface FastifyRequest {
    /** Set by the policy hook on routes with a policy; null on public routes. */
    principal: Principal | null;
  }
}

/** The caller of a route with a policy (the hook guarantees it is set). */
export function principalOf(request: FastifyRequest): Principal {
  if (request.principal === null)
    throw new Error(`${request.routeOptions.url} has no policy but needs a caller`);
  return request.principal;
}
