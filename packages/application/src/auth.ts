import { type EncryptedSecret, identityLimits, passwordIsIdentity, type Role } from '@ledger/contracts';
import {
  decideUser,
  type IdentityRejection,
  isLocked,
  type Profile,
  type RegisteredUser,
  sessionMayContinue,
  type UserCommand,
  type UserState,
} from '@ledger/domain';
import type { EventMetadata, EventStore } from '@ledger/eventstore';
import { findUserId, handleUserCommand, loadUser, registerUser, type Sessions } from './identity.js';

/**
 * The identity use cases (API.md, Auth): each takes the caller and the request, loads the
 * user, checks secrets through the ports below, decides with the pure user decider and
 * appends through the one command handler. Routes map the outcome to HTTP; token issuance
 * and refresh families stay in the API (they are HTTP sessions, not the user's events).
 */

/** Password hashing (bcrypt in the API, off the event loop). */
export interface PasswordPort {
  hash(password: string, options?: PasswordCheckOptions): Promise<string>;
  verify(password: string, hash: string, options?: PasswordCheckOptions): Promise<boolean>;
  /** One verification's time spent for an unknown user, so timing tells nothing. */
  burn(password: string, options?: PasswordCheckOptions): Promise<void>;
}

/** The client's address: one address's checks cannot crowd out everyone else's. */
export interface PasswordCheckOptions {
  client?: string | undefined;
}

/** TOTP: sealing secrets at rest and checking a code against a sealed secret. */
export interface TotpPort {
  seal(secret: string): EncryptedSecret;
  /** The RFC 6238 time step `code` matches at `now` (± one period), or null. */
  timeStep(sealed: EncryptedSecret, code: string, now: Date): Promise<number | null>;
}

/** 2FA recovery codes, kept hashed outside the log. */
export interface RecoveryCodePort {
  replace(userId: string, now: Date): Promise<string[]>;
  spend(userId: string, code: string, now: Date): Promise<boolean>;
  removeAll(userId: string): Promise<void>;
}

export interface IdentityPorts {
  store: EventStore;
  passwords: PasswordPort;
  totp: TotpPort;
  recoveryCodes: RecoveryCodePort;
  sessions: Sessions;
}

/** Who asks, from where: the client address shares the password hasher fairly. */
export interface Caller {
  userId: string;
  client?: string;
  metadata: EventMetadata;
}

export type IdentityOutcome<T> = { ok: true; value: T } | { ok: false; rejection: IdentityRejection };
const refused = (rejection: IdentityRejection) => ({ ok: false as const, rejection });

function registeredOrThrow(state: UserState): RegisteredUser {
  // The caller's token was checked against this stream a moment ago; a user never disappears.
  if (state.status !== 'registered') throw new Error('a signed-in user has no UserRegistered');
  return state;
}

export type RegisterOutcome =
  | { ok: true; user: RegisteredUser; position: bigint }
  | { ok: false; code: 'username_taken' | 'email_taken' };

export interface RegisterRequest {
  userId: string;
  username: string;
  email: string;
  password: string;
  role: Role;
  profile: Profile;
  via: 'self' | 'staff' | 'bootstrap';
  now: Date;
}

/**
 * Registers a user (a customer by themself, staff by a director, the first director at
 * start-up). A taken name is refused before any hash is spent; the atomic append of the
 * reservations is what decides.
 */
export async function register(
  ports: Pick<IdentityPorts, 'store' | 'passwords'>,
  request: RegisterRequest,
  metadata: EventMetadata,
  client?: string,
): Promise<RegisterOutcome> {
  const { store } = ports;
  if ((await findUserId(store, { username: request.username })) !== null)
    return { ok: false, code: 'username_taken' };
  if ((await findUserId(store, { email: request.email })) !== null) return { ok: false, code: 'email_taken' };
  const result = await registerUser(
    store,
    {
      type: 'Register',
      now: request.now,
      userId: request.userId,
      username: request.username,
      email: request.email,
      passwordHash: await ports.passwords.hash(request.password, { client }),
      role: request.role,
      profile: request.profile,
      via: request.via,
    },
    metadata,
  );
  if (!result.ok) return result;
  return { ok: true, user: registeredOrThrow(result.state), position: result.position };
}

export interface LoginRequest {
  by: { username: string } | { email: string };
  password: string;
  otp?: string;
  recoveryCode?: string;
  now: Date;
}

/**
 * A login: the password (never checked while locked: no oracle, no CPU), then the second
 * factor, a code or a recovery code (spent only by a login that succeeds with it). Wrong
 * ones are recorded and counted; the fifth locks new logins for a while.
 */
export async function login(
  ports: IdentityPorts,
  request: LoginRequest,
  caller: Omit<Caller, 'userId'>,
): Promise<IdentityOutcome<RegisteredUser>> {
  const userId = await findUserId(ports.store, request.by);
  if (userId === null) {
    await ports.passwords.burn(request.password, { client: caller.client });
    return refused('invalid_credentials');
  }
  const { now, password, otp, recoveryCode } = request;
  // Computed once, kept across the command's retries: a hash is costly, a recovery code single use.
  let passwordMatches: boolean | undefined;
  let recoveryCodeValid: boolean | undefined;
  const result = await handleUserCommand(
    ports.store,
    userId,
    async (state) => {
      if (state.status !== 'registered')
        return decideUser({ type: 'Login', now, passwordMatches: false, otp: null }, state);
      const locked = isLocked(state, now);
      if (!locked)
        passwordMatches ??= await ports.passwords.verify(password, state.passwordHash, {
          client: caller.client,
        });
      const twoFactorOn = state.twoFactor.status === 'on';
      let timeStep: number | null = null;
      if (otp !== undefined && state.twoFactor.status === 'on')
        timeStep = await ports.totp.timeStep(state.twoFactor.secret, otp, now);
      if (recoveryCode !== undefined && !locked && passwordMatches === true && twoFactorOn)
        recoveryCodeValid ??= await ports.recoveryCodes.spend(userId, recoveryCode, now);
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
    { ...caller.metadata, actorId: userId },
  );
  if (result.rejection !== undefined)
    return refused(result.rejection === 'user_not_found' ? 'invalid_credentials' : result.rejection);
  return { ok: true, value: registeredOrThrow(result.state) };
}

/** The user behind a session, or null when the session may not go on (see sessionMayContinue). */
export async function sessionUser(
  store: EventStore,
  userId: string,
  sessionStartedAtSeconds: number,
): Promise<RegisteredUser | null> {
  const user = await loadUser(store, userId);
  return user.status === 'registered' && sessionMayContinue(user, sessionStartedAtSeconds) ? user : null;
}

/** The signed-in user, as stored now. */
export async function currentUser(store: EventStore, userId: string): Promise<RegisteredUser> {
  return registeredOrThrow(await loadUser(store, userId));
}

/** Records a security event on the user's stream (a refresh token reused, a logout). */
export async function recordSessionEvent(
  store: EventStore,
  userId: string,
  event:
    | { type: 'RecordRefreshTokenReuse'; familyId: string; now: Date }
    | { type: 'RecordLogout'; familyId: string | null; now: Date },
  metadata: EventMetadata,
): Promise<void> {
  await handleUserCommand(store, userId, (state) => decideUser(event, state), metadata);
}

export async function updateProfile(
  store: EventStore,
  caller: Caller,
  changes: Partial<Profile>,
  now: Date,
): Promise<IdentityOutcome<RegisteredUser>> {
  const result = await handleUserCommand(
    store,
    caller.userId,
    (state) => decideUser({ type: 'UpdateProfile', now, changes }, state),
    caller.metadata,
  );
  if (result.rejection !== undefined) return refused(result.rejection);
  return { ok: true, value: registeredOrThrow(result.state) };
}

/** A new TOTP secret, pending until /2fa/enable confirms it; returned in clear this once. */
export async function startTwoFactorSetup(
  ports: Pick<IdentityPorts, 'store' | 'totp'>,
  caller: Caller,
  secret: string,
  now: Date,
): Promise<IdentityOutcome<RegisteredUser>> {
  const result = await handleUserCommand(
    ports.store,
    caller.userId,
    (state) => decideUser({ type: 'StartTwoFactorSetup', now, secret: ports.totp.seal(secret) }, state),
    caller.metadata,
  );
  if (result.rejection !== undefined) return refused(result.rejection);
  return { ok: true, value: registeredOrThrow(result.state) };
}

export type TwoFactorChange = 'enable' | 'disable' | 'recovery_codes';

/**
 * Turns 2FA on or off, or makes new recovery codes: each needs the password and a current
 * code (a stolen access token alone changes nothing), both counted as failed logins when
 * wrong, refused while locked. Returns the new recovery codes for 'recovery_codes'.
 */
export async function changeTwoFactor(
  ports: IdentityPorts,
  caller: Caller,
  request: { change: TwoFactorChange; password: string; otp: string; now: Date },
): Promise<IdentityOutcome<{ recoveryCodes: string[] | null }>> {
  const { now, change } = request;
  const commandOf = (passwordMatches: boolean, otpTimeStep: number | null): UserCommand =>
    change === 'enable'
      ? { type: 'EnableTwoFactor', now, passwordMatches, otpTimeStep }
      : change === 'disable'
        ? { type: 'DisableTwoFactor', now, passwordMatches, otpTimeStep }
        : {
            type: 'GenerateRecoveryCodes',
            now,
            passwordMatches,
            otpTimeStep,
            count: identityLimits.recoveryCodeCount,
          };
  let passwordMatches: boolean | undefined;
  const result = await handleUserCommand(
    ports.store,
    caller.userId,
    async (state) => {
      const user = registeredOrThrow(state);
      const checked = !isLocked(user, now);
      if (checked)
        passwordMatches ??= await ports.passwords.verify(request.password, user.passwordHash, {
          client: caller.client,
        });
      const sealed = user.twoFactor.status !== 'off' ? user.twoFactor.secret : null;
      const otpTimeStep =
        sealed === null || !checked || passwordMatches !== true
          ? null
          : await ports.totp.timeStep(sealed, request.otp, now);
      return decideUser(commandOf(passwordMatches === true, otpTimeStep), state);
    },
    caller.metadata,
  );
  if (result.rejection !== undefined) return refused(result.rejection);
  // Recovery codes stand in for the authenticator: with it gone, they go too.
  if (change === 'disable') await ports.recoveryCodes.removeAll(caller.userId);
  const recoveryCodes =
    change === 'recovery_codes' ? await ports.recoveryCodes.replace(caller.userId, now) : null;
  return { ok: true, value: { recoveryCodes } };
}

export type ChangePasswordOutcome = IdentityOutcome<null> | { ok: false; rejection: 'password_is_identity' };

/**
 * A password change: the current password (423 while locked), a new one that is not the
 * username or email; every session of the user ends at once.
 */
export async function changePassword(
  ports: IdentityPorts,
  caller: Caller,
  request: { currentPassword: string; newPassword: string; now: Date },
): Promise<ChangePasswordOutcome> {
  const { now, currentPassword, newPassword } = request;
  // Username and email never change: checked before any hash is spent.
  if (passwordIsIdentity(newPassword, await currentUser(ports.store, caller.userId)))
    return { ok: false, rejection: 'password_is_identity' };
  let passwordMatches: boolean | undefined;
  let passwordHash: string | undefined;
  const result = await handleUserCommand(
    ports.store,
    caller.userId,
    async (state) => {
      const user = registeredOrThrow(state);
      if (!isLocked(user, now))
        passwordMatches ??= await ports.passwords.verify(currentPassword, user.passwordHash, {
          client: caller.client,
        });
      // Hashed only once the current password is known to be right: a wrong guess costs one hash.
      if (passwordMatches === true)
        passwordHash ??= await ports.passwords.hash(newPassword, { client: caller.client });
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
    caller.metadata,
  );
  if (result.rejection !== undefined) return refused(result.rejection);
  await ports.sessions.endAll(caller.userId, 'password_changed', now);
  return { ok: true, value: null };
}
