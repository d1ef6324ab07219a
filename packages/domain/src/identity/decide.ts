import { type CredentialCheck, identityLimits, type Role, type UserEvent } from '@ledger/contracts';
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
  | 'two_factor_not_enabled'
  | 'insufficient_rank'
  | 'not_a_customer'
  | 'retention_period';

export type UserCommand =
  | {
      type: 'Register';
      now: Date;
      userId: string;
      username: string;
      email: string;
      /** The new password hash's id in the vault. */
      passwordId: string;
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
      /**
       * A recovery code was given instead of a code: whether it was one of the user's unspent
       * ones (the caller spends it only when the password matched and the user is not locked).
       */
      recoveryCode?: { valid: boolean };
    }
  | { type: 'UpdateProfile'; now: Date; changes: Partial<Profile> }
  /** `factorId`: the new secret, sealed in the vault. */
  | { type: 'StartTwoFactorSetup'; now: Date; factorId: string }
  | { type: 'EnableTwoFactor'; now: Date; passwordMatches: boolean; otpTimeStep: number | null }
  | { type: 'DisableTwoFactor'; now: Date; passwordMatches: boolean; otpTimeStep: number | null }
  | { type: 'ChangePassword'; now: Date; passwordMatches: boolean; passwordId: string }
  | {
      type: 'GenerateRecoveryCodes';
      now: Date;
      passwordMatches: boolean;
      otpTimeStep: number | null;
      count: number;
    }
  | { type: 'ChangeRole'; now: Date; role: Role }
  | { type: 'SetLocked'; now: Date; locked: boolean; by: { userId: string; role: Role } }
  | { type: 'RecordRefreshTokenReuse'; now: Date; familyId: string }
  | { type: 'RecordLogout'; now: Date; familyId: string | null }
  | {
      type: 'ErasePersonalData';
      now: Date;
      by: { userId: string; role: Role };
      /**
       * When the customer relationship ended: the last of the user's accounts closed (or
       * registration, for a user who never had one); null while an account is still open.
       */
      relationshipEndedAt: Date | null;
      /** The retention period in force (settings), in days. */
      retentionDays: number;
    };

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

/**
 * Rank (API.md, Admin): a manager locks and unlocks customers and agents only; a director
 * anyone but themself; nobody else anyone.
 */
export function mayLock(by: { userId: string; role: Role }, target: { id: string; role: Role }): boolean {
  if (by.role === 'director') return by.userId !== target.id;
  if (by.role === 'manager') return target.role === 'customer' || target.role === 'agent';
  return false;
}

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
        passwordId: command.passwordId,
        role: command.role,
        ...command.profile,
        registeredAt: at,
        via: command.via,
      },
    });
  }
  if (state.status !== 'registered') return reject('user_not_found');
  const userId = state.id;
  if (command.type === 'ErasePersonalData') return decideErasure(command, state, at);
  // An erased user is a record kept for the ledger's sake, not someone who acts.
  if (state.erasedAt !== null) return reject('user_not_found');

  switch (command.type) {
    case 'Login':
      return decideLogin(command, state, at);
    case 'UpdateProfile': {
      const changes: Partial<Profile> = {};
      for (const key of ['firstName', 'lastName', 'dateOfBirth', 'phone'] as const) {
        const value = command.changes[key];
        if (value !== undefined && value !== state.profile[key]) changes[key] = value;
      }
      const locale = command.changes.locale;
      if (locale !== undefined && locale !== (state.profile.locale ?? 'en')) changes.locale = locale;
      if (state.kycStatus === 'verified' && kycLockedFields.some((field) => changes[field] !== undefined)) {
        return reject('profile_locked');
      }
      if (Object.keys(changes).length === 0) return ok();
      return ok({ type: 'ProfileUpdated', data: { userId, at, ...changes } });
    }
    case 'StartTwoFactorSetup':
      if (state.twoFactor.status === 'on') return reject('two_factor_already_enabled');
      return ok({ type: 'TwoFactorSetupStarted', data: { userId, at, factorId: command.factorId } });
    case 'EnableTwoFactor':
    case 'DisableTwoFactor':
    case 'GenerateRecoveryCodes': {
      const during = twoFactorCheck[command.type];
      const needs = command.type === 'EnableTwoFactor' ? 'pending' : 'on';
      if (state.twoFactor.status !== needs) {
        return reject(needs === 'pending' ? 'two_factor_not_pending' : 'two_factor_not_enabled');
      }
      const refused = checkCredentials(state, command, at, during);
      if (refused) return refused;
      const otpTimeStep = command.otpTimeStep;
      if (!freshCode(state, otpTimeStep)) return failure(state, command.now, at, 'invalid_otp', during);
      if (command.type === 'EnableTwoFactor')
        return ok({ type: 'TwoFactorEnabled', data: { userId, at, otpTimeStep } });
      if (command.type === 'DisableTwoFactor')
        return ok({ type: 'TwoFactorDisabled', data: { userId, at, otpTimeStep } });
      return ok({ type: 'RecoveryCodesGenerated', data: { userId, at, count: command.count, otpTimeStep } });
    }
    case 'ChangePassword': {
      const refused = checkCredentials(state, command, at, 'password_change');
      if (refused) return refused;
      return ok({ type: 'PasswordChanged', data: { userId, at, passwordId: command.passwordId } });
    }
    case 'ChangeRole':
      if (command.role === state.role) return ok();
      return ok({ type: 'RoleChanged', data: { userId, at, from: state.role, to: command.role } });
    case 'SetLocked':
      if (!mayLock(command.by, state)) return reject('insufficient_rank');
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

const dayMs = 24 * 3600 * 1000;

/**
 * Erasure of a customer's personal data (API.md, Admin): by a director, of customers only
 * (staff records are the bank's own), once the retention period after the relationship
 * ended has passed (AML record keeping: five years by default). Again on an erased user:
 * nothing new (the key is destroyed again by the caller, which is idempotent).
 */
function decideErasure(
  command: Extract<UserCommand, { type: 'ErasePersonalData' }>,
  state: RegisteredUser,
  at: string,
): Decision {
  if (command.by.role !== 'director') return reject('insufficient_rank');
  if (state.role !== 'customer') return reject('not_a_customer');
  if (state.erasedAt !== null) return ok();
  const ended = command.relationshipEndedAt;
  if (ended === null || command.now.getTime() < ended.getTime() + command.retentionDays * dayMs) {
    return reject('retention_period');
  }
  return ok({ type: 'PersonalDataErased', data: { userId: state.id, at, by: command.by.userId } });
}

/** When the retention period after `relationshipEndedAt` ends (null: the relationship goes on). */
export function retentionEndsAt(relationshipEndedAt: Date | null, retentionDays: number): Date | null {
  return relationshipEndedAt === null
    ? null
    : new Date(relationshipEndedAt.getTime() + retentionDays * dayMs);
}

/** A verified code whose time step is after the last one used (RFC 6238 §5.2: no replay). */
function freshCode(state: RegisteredUser, timeStep: number | null): timeStep is number {
  return timeStep !== null && (state.lastOtpTimeStep === null || timeStep > state.lastOtpTimeStep);
}

const twoFactorCheck = {
  EnableTwoFactor: 'two_factor_enable',
  DisableTwoFactor: 'two_factor_disable',
  GenerateRecoveryCodes: 'recovery_codes',
} as const satisfies Record<string, CredentialCheck>;

/**
 * A wrong password or code, wherever it was sent: recorded (the audit trail), counted, and
 * the fifth within the window locks new logins for a while.
 */
function failure(
  state: RegisteredUser,
  now: Date,
  at: string,
  reason: 'invalid_credentials' | 'invalid_otp',
  during: CredentialCheck,
): Decision {
  const userId = state.id;
  const events: UserEvent[] = [
    { type: 'LoginFailed', data: { userId, at, reason, ...(during === 'login' ? {} : { during }) } },
  ];
  const windowStart = now.getTime() - identityLimits.failedLoginWindowMs;
  const recent = state.failedLoginsAt.filter((t) => Date.parse(t) > windowStart).length + 1;
  if (recent >= identityLimits.failedLoginsMax) {
    const until = new Date(now.getTime() + identityLimits.lockDurationMs).toISOString();
    events.push({ type: 'UserLocked', data: { userId, at, until, reason: 'too_many_failed_logins' } });
  }
  return reject(reason, ...events);
}

/** The lock and the password, checked in that order for every credential check; null: both fine. */
function checkCredentials(
  state: RegisteredUser,
  command: { now: Date; passwordMatches: boolean },
  at: string,
  during: CredentialCheck,
): Decision | null {
  if (isLocked(state, command.now)) {
    const data = { userId: state.id, at, reason: 'account_locked' as const };
    return reject('account_locked', {
      type: 'LoginFailed',
      data: during === 'login' ? data : { ...data, during },
    });
  }
  if (!command.passwordMatches) return failure(state, command.now, at, 'invalid_credentials', during);
  return null;
}

function decideLogin(command: Extract<UserCommand, { type: 'Login' }>, state: RegisteredUser, at: string) {
  const userId = state.id;
  const refused = checkCredentials(state, command, at, 'login');
  if (refused) return refused;
  if (state.twoFactor.status === 'on') {
    if (command.recoveryCode !== undefined) {
      if (!command.recoveryCode.valid) return failure(state, command.now, at, 'invalid_otp', 'login');
      return ok({ type: 'LoginSucceeded', data: { userId, at, otpTimeStep: null, recoveryCode: true } });
    }
    // The password was right: asking for the code is the normal second step, not a failure.
    if (command.otp === null) return reject('otp_required');
    if (!freshCode(state, command.otp.timeStep))
      return failure(state, command.now, at, 'invalid_otp', 'login');
    return ok({ type: 'LoginSucceeded', data: { userId, at, otpTimeStep: command.otp.timeStep } });
  }
  return ok({ type: 'LoginSucceeded', data: { userId, at, otpTimeStep: null } });
}
