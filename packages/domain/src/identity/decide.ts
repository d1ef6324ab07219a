import { type EncryptedSecret, identityLimits, type Role, type UserEvent } from '@ledger/contracts';
import { isLocked, type Profile, type RegisteredUser, type UserState } from './user.js';

/**
 * Commands on a user and the pure decider. The clock (`now`), ids, the password hash and
 * the outcome of checks that need secrets (password match, the time step of a verified
 * TOTP code) come in on the command, so the decider stays a pure function.
 */

export type IdentityRejection =
  | 'user_exists'
  | 'user_not_found'
  | 'invalid_credentials'
  | 'otp_required'
  | 'invalid_otp'
  | 'account_locked'
  | 'profile_locked'
  | 'two_factor_already_enabled'
  | 'two_factor_not_pending'
  | 'two_factor_not_enabled';

export type UserCommand =
  | {
      type: 'Register';
      now: Date;
      userId: string;
      username: string;
      email: string;
      passwordHash: string;
      role: Role;
      profile: Profile;
      via: 'self' | 'staff' | 'bootstrap';
    }
  | {
      type: 'Login';
      now: Date;
      passwordMatches: boolean;
      /** null: no code given; otherwise the time step the code matched, or null in `timeStep` if none. */
      otp: null | { timeStep: number | null };
    }
  | { type: 'UpdateProfile'; now: Date; changes: Partial<Profile> }
  | { type: 'StartTwoFactorSetup'; now: Date; secret: EncryptedSecret }
  | { type: 'EnableTwoFactor'; now: Date; otpTimeStep: number | null }
  | { type: 'DisableTwoFactor'; now: Date; otpTimeStep: number | null }
  | { type: 'ChangeRole'; now: Date; role: Role }
  | { type: 'SetLocked'; now: Date; locked: boolean }
  | { type: 'RecordRefreshTokenReuse'; now: Date; familyId: string }
  | { type: 'RecordLogout'; now: Date; familyId: string | null };

/**
 * Events to append and, when the command is refused, why. A refused login still records
 * events (LoginFailed, UserLocked): they are the security trail and the lockout's memory.
 */
export interface Decision {
  events: UserEvent[];
  rejection?: IdentityRejection;
}

const ok = (...events: UserEvent[]): Decision => ({ events });
const reject = (rejection: IdentityRejection, ...events: UserEvent[]): Decision => ({ events, rejection });

/** Fields that must match an identity document once KYC has verified them. */
export const kycLockedFields = ['firstName', 'lastName', 'dateOfBirth'] as const;

export function decideUser(command: UserCommand, state: UserState): Decision {
  const at = command.now.toISOString();
  if (command.type === 'Register') {
    if (state.status === 'registered') return reject('user_exists');
    return ok({
      type: 'UserRegistered',
      data: {
        userId: command.userId,
        username: command.username,
        email: command.email,
        passwordHash: command.passwordHash,
        role: command.role,
        ...command.profile,
        registeredAt: at,
        via: command.via,
      },
    });
  }
  if (state.status !== 'registered') return reject('user_not_found');
  const userId = state.id;

  switch (command.type) {
    case 'Login':
      return decideLogin(command, state, at);
    case 'UpdateProfile': {
      const changes: Partial<Profile> = {};
      for (const key of ['firstName', 'lastName', 'dateOfBirth', 'phone'] as const) {
        const value = command.changes[key];
        if (value !== undefined && value !== state.profile[key]) changes[key] = value;
      }
      if (state.kycStatus === 'verified' && kycLockedFields.some((field) => changes[field] !== undefined)) {
        return reject('profile_locked');
      }
      if (Object.keys(changes).length === 0) return ok();
      return ok({ type: 'ProfileUpdated', data: { userId, at, ...changes } });
    }
    case 'StartTwoFactorSetup':
      if (state.twoFactor.status === 'on') return reject('two_factor_already_enabled');
      return ok({ type: 'TwoFactorSetupStarted', data: { userId, at, secret: command.secret } });
    case 'EnableTwoFactor':
      if (state.twoFactor.status !== 'pending') return reject('two_factor_not_pending');
      if (!freshCode(state, command.otpTimeStep)) return reject('invalid_otp');
      return ok({ type: 'TwoFactorEnabled', data: { userId, at, otpTimeStep: command.otpTimeStep } });
    case 'DisableTwoFactor':
      if (state.twoFactor.status !== 'on') return reject('two_factor_not_enabled');
      if (!freshCode(state, command.otpTimeStep)) return reject('invalid_otp');
      return ok({ type: 'TwoFactorDisabled', data: { userId, at, otpTimeStep: command.otpTimeStep } });
    case 'ChangeRole':
      if (command.role === state.role) return ok();
      return ok({ type: 'RoleChanged', data: { userId, at, from: state.role, to: command.role } });
    case 'SetLocked':
      if (command.locked) {
        if (state.lock !== null && state.lock.until === null) return ok();
        return ok({ type: 'UserLocked', data: { userId, at, until: null, reason: 'staff' } });
      }
      if (state.lock === null) return ok();
      return ok({ type: 'UserUnlocked', data: { userId, at, reason: 'staff' } });
    case 'RecordRefreshTokenReuse':
      return ok({ type: 'RefreshTokenReused', data: { userId, at, familyId: command.familyId } });
    case 'RecordLogout':
      return ok({ type: 'LoggedOut', data: { userId, at, familyId: command.familyId } });
    default: {
      const unexpected: never = command;
      throw new Error(`unhandled command ${(unexpected as { type: string }).type}`);
    }
  }
}

/** A verified code whose time step is after the last one used (RFC 6238 §5.2: no replay). */
function freshCode(state: RegisteredUser, timeStep: number | null): timeStep is number {
  return timeStep !== null && (state.lastOtpTimeStep === null || timeStep > state.lastOtpTimeStep);
}

function decideLogin(command: Extract<UserCommand, { type: 'Login' }>, state: RegisteredUser, at: string) {
  const userId = state.id;
  if (isLocked(state, command.now)) {
    return reject('account_locked', { type: 'LoginFailed', data: { userId, at, reason: 'account_locked' } });
  }
  const failure = (reason: 'invalid_credentials' | 'invalid_otp'): Decision => {
    const events: UserEvent[] = [{ type: 'LoginFailed', data: { userId, at, reason } }];
    const windowStart = command.now.getTime() - identityLimits.failedLoginWindowMs;
    const recent = state.failedLoginsAt.filter((t) => Date.parse(t) > windowStart).length + 1;
    if (recent >= identityLimits.failedLoginsMax) {
      const until = new Date(command.now.getTime() + identityLimits.lockDurationMs).toISOString();
      events.push({ type: 'UserLocked', data: { userId, at, until, reason: 'too_many_failed_logins' } });
    }
    return reject(reason, ...events);
  };
  if (!command.passwordMatches) return failure('invalid_credentials');
  if (state.twoFactor.status === 'on') {
    // The password was right: asking for the code is the normal second step, not a failure.
    if (command.otp === null) return reject('otp_required');
    if (!freshCode(state, command.otp.timeStep)) return failure('invalid_otp');
    return ok({ type: 'LoginSucceeded', data: { userId, at, otpTimeStep: command.otp.timeStep } });
  }
  return ok({ type: 'LoginSucceeded', data: { userId, at, otpTimeStep: null } });
}
