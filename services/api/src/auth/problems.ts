import type { IdentityRejection } from '@ledger/domain';
import { type HttpProblem, problem } from '../problem.js';

/** Identity rejections mapped to HTTP once, here at the edge (API.md, Auth). */
const byRejection: Record<IdentityRejection, [number, string]> = {
  user_exists: [409, 'A user with this id exists'],
  user_not_found: [404, 'No such user'],
  invalid_credentials: [401, 'Wrong username, email or password'],
  otp_required: [401, 'Two-factor authentication is on: give the current code as otp'],
  invalid_otp: [401, 'The one-time code is wrong, expired or already used'],
  account_locked: [423, 'The account is locked: too many failed attempts, or locked by staff'],
  profile_locked: [422, 'Name and birth date cannot change once KYC has verified them'],
  two_factor_already_enabled: [409, 'Two-factor authentication is already on: disable it first'],
  two_factor_not_pending: [409, 'Call POST /api/auth/2fa/setup first'],
  two_factor_not_enabled: [409, 'Two-factor authentication is not on'],
  insufficient_rank: [
    403,
    'Your rank does not allow this: managers lock customers and agents, directors anyone but themselves',
  ],
};

export function rejectionProblem(rejection: IdentityRejection, statusOverride?: number): HttpProblem {
  const [status, detail] = byRejection[rejection];
  return problem(statusOverride ?? status, rejection, detail);
}
