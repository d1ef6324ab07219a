import { randomUUID } from 'node:crypto';
import fastifyJwt from '@fastify/jwt';
import type { Role } from '@ledger/contracts';
import Fastify from 'fastify';
import { accessClaims, accessTokenJwtOptions } from '../src/plugins/auth.js';

/**
 * Tests and benchmarks only: access tokens signed with `secret` as the API's login issues
 * them (plugins/auth.ts: the same @fastify/jwt options, the same claims), for users who did
 * not log in. `familyId` names a refresh family that need not exist (a fresh id by default):
 * nothing has revoked it. `close()` when done.
 */
export async function accessTokenIssuer(secret: string) {
  const signer = Fastify();
  await signer.register(fastifyJwt, accessTokenJwtOptions(secret));
  await signer.ready();
  return {
    issue: (user: { id: string; role: Role }, familyId: string = randomUUID()): string =>
      signer.jwt.sign(accessClaims(user, familyId)),
    close: () => signer.close(),
  };
}
