import {
  erasedMarker,
  identityLimits,
  type KycStatus,
  type Role,
  type UserEvent,
  type UserLocale,
} from '@ledger/contracts';

/**
 * The user aggregate (`user-<id>` stream): state and evolve. Pure: no clock, no I/O.
 * Times are ISO 8601 strings as recorded in the events.
 */

export type TwoFactor =
  | { status: 'off' }
  /** Set up, not yet confirmed with a code: login does not ask for one. `factorId`: the secret in the vault. */
  | { status: 'pending'; factorId: string }
  | { status: 'on'; factorId: string };

export interface Profile {
  firstName: string | null;
  lastName: string | null;
  dateOfBirth: string | null;
  phone: string | null;
  /** The language of the user's notifications; absent: never chosen (`en`). Not personal: clear in the log. */
  locale?: UserLocale;
}

export interface RegisteredUser {
  status: 'registered';
  id: string;
  /**
   * Personal fields, as the loader opened them: clear, or still sealed when it did not open
   * them (a role check needs none), or erasedMarker / null once the user was erased.
   */
  username: string;
  email: string;
  /** The password hash's id in the vault (never the hash: no secret is in the log). */
  passwordId: string;
  role: Role;
  profile: Profile;
  createdAt: string;
  kycStatus: KycStatus;
  twoFactor: TwoFactor;
  /** RFC 6238 time step of the last code accepted: a code is single-use. */
  lastOtpTimeStep: number | null;
  /** Times of failed logins since the last success or lock, oldest first (bounded). */
  failedLoginsAt: string[];
  /**
   * null: not locked. A timed lock (too many failed logins) stops new logins only; a lock by
   * staff (until null) also ends every session.
   */
  lock: { until: string | null; reason: 'too_many_failed_logins' | 'staff' } | null;
  /**
   * When the user's sessions were last ended for everyone (a lock by staff, a password
   * change): access tokens issued before it no longer work.
   */
  sessionsEndedAt: string | null;
  /** When the user's personal data was erased (their key destroyed); null: never. */
  erasedAt: string | null;
}

export type UserState = { status: 'unregistered' } | RegisteredUser;

export const initialUserState = (): UserState => ({ status: 'unregistered' });

function registered(state: UserState, type: string): RegisteredUser {
  // An event other than UserRegistered on a new stream is a corrupt stream, not a user error.
  if (state.status !== 'registered') throw new Error(`${type} on a user stream without UserRegistered`);
  return state;
}

export function evolveUser(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered': {
      const d = event.data;
      return {
        status: 'registered',
        id: d.userId,
        username: d.username,
        email: d.email,
        passwordId: d.passwordId,
        role: d.role,
        profile: { firstName: d.firstName, lastName: d.lastName, dateOfBirth: d.dateOfBirth, phone: d.phone },
        createdAt: d.registeredAt,
        kycStatus: 'none',
        twoFactor: { status: 'off' },
        lastOtpTimeStep: null,
        failedLoginsAt: [],
        lock: null,
        sessionsEndedAt: null,
        erasedAt: null,
      };
    }
    case 'ProfileUpdated': {
      const s = registered(state, event.type);
      const { userId: _userId, at: _at, ...changes } = event.data;
      const profile = { ...s.profile };
      for (const key of ['firstName', 'lastName', 'dateOfBirth', 'phone'] as const) {
        const value = changes[key];
        if (value !== undefined) profile[key] = value;
      }
      if (changes.locale !== undefined) profile.locale = changes.locale;
      return { ...s, profile };
    }
    case 'LoginSucceeded': {
      const s = registered(state, event.type);
      return {
        ...s,
        failedLoginsAt: [],
        lastOtpTimeStep: event.data.otpTimeStep ?? s.lastOtpTimeStep,
      };
    }
    case 'LoginFailed': {
      const s = registered(state, event.type);
      if (!countsAsFailure(event.data.reason)) return s;
      return {
        ...s,
        failedLoginsAt: [...s.failedLoginsAt, event.data.at].slice(-identityLimits.failedLoginsMax),
      };
    }
    case 'UserLocked': {
      const s = registered(state, event.type);
      const { until, reason, at } = event.data;
      return {
        ...s,
        lock: { until, reason },
        failedLoginsAt: [],
        sessionsEndedAt: reason === 'staff' ? at : s.sessionsEndedAt,
      };
    }
    case 'PasswordChanged':
      return {
        ...registered(state, event.type),
        passwordId: event.data.passwordId,
        failedLoginsAt: [],
        sessionsEndedAt: event.data.at,
      };
    case 'RecoveryCodesGenerated':
      return { ...registered(state, event.type), lastOtpTimeStep: event.data.otpTimeStep };
    case 'UserUnlocked':
      return { ...registered(state, event.type), lock: null, failedLoginsAt: [] };
    case 'TwoFactorSetupStarted':
      return {
        ...registered(state, event.type),
        twoFactor: { status: 'pending', factorId: event.data.factorId },
      };
    case 'TwoFactorEnabled': {
      const s = registered(state, event.type);
      if (s.twoFactor.status === 'off') throw new Error('TwoFactorEnabled without a secret');
      return {
        ...s,
        twoFactor: { status: 'on', factorId: s.twoFactor.factorId },
        lastOtpTimeStep: event.data.otpTimeStep,
      };
    }
    case 'TwoFactorDisabled':
      return {
        ...registered(state, event.type),
        twoFactor: { status: 'off' },
        lastOtpTimeStep: event.data.otpTimeStep,
      };
    case 'RoleChanged':
      return { ...registered(state, event.type), role: event.data.to };
    case 'KycStatusChanged':
      return { ...registered(state, event.type), kycStatus: event.data.status };
    case 'RefreshTokenReused':
    case 'LoggedOut':
      return registered(state, event.type);
    case 'PersonalDataErased':
      return {
        ...registered(state, event.type),
        username: erasedMarker,
        email: erasedMarker,
        profile: { firstName: null, lastName: null, dateOfBirth: null, phone: null },
        twoFactor: { status: 'off' },
        sessionsEndedAt: event.data.at,
        erasedAt: event.data.at,
      };
    default: {
      const unexpected: never = event;
      throw new Error(`unhandled user event ${(unexpected as { type: string }).type}`);
    }
  }
}

/** Wrong password or wrong code count towards the lockout; refusals of a locked account do not. */
export function countsAsFailure(reason: string): boolean {
  return reason === 'invalid_credentials' || reason === 'invalid_otp';
}

/** Whether the user is locked at `now` (a timed lock ends by itself): no new login, no 2FA change. */
export function isLocked(state: RegisteredUser, now: Date): boolean {
  if (state.lock === null) return false;
  return state.lock.until === null || now.getTime() < Date.parse(state.lock.until);
}

/**
 * Whether a session (an access token issued at `issuedAtSeconds`, JWT `iat`, or a refresh
 * family started then) may go on. A timed lock lets open sessions go on: five wrong
 * passwords typed by anyone must not log the victim out. A lock by staff ends them all, and
 * so does a password change for sessions started before it. `iat` has a one-second grain:
 * a token of the very second of the change passes here, and is stopped by the revocation
 * of its refresh family, which the change's caller does right after the append.
 */
export function sessionMayContinue(state: RegisteredUser, issuedAtSeconds: number): boolean {
  if (state.lock !== null && state.lock.reason === 'staff') return false;
  if (state.sessionsEndedAt === null) return true;
  return issuedAtSeconds >= Math.floor(Date.parse(state.sessionsEndedAt) / 1000);
}

export function foldUser(events: readonly UserEvent[]): UserState {
  return events.reduce(evolveUser, initialUserState());
}
