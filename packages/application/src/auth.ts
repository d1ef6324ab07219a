import {
  type EncryptedSecret,
  encryptedSecretSchema,
  identityLimits,
  passwordIsIdentity,
  type Role,
} from '@ledger/contracts';
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
import {
  findUserId,
  handleUserCommand,
  loadOpenedUser,
  type PersonalDataPorts,
  registerUser,
  type Sessions,
} from './identity.js';
import type { PersonalDataVault } from './personal-data.js';

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
  /** Personal fields' keys and the credentials (password hashes, TOTP secrets). */
  vault: PersonalDataVault;
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
  ports: Pick<IdentityPorts, 'store' | 'vault' | 'passwords'>,
  request: RegisterRequest,
  metadata: EventMetadata,
  client?: string,
): Promise<RegisterOutcome> {
  if ((await findUserId(ports, { username: request.username })) !== null)
    return { ok: false, code: 'username_taken' };
  if ((await findUserId(ports, { email: request.email })) !== null) return { ok: false, code: 'email_taken' };
  const credentials = ports.vault.credentials;
  const passwordId = await credentials.put(
    request.userId,
    'password',
    await ports.passwords.hash(request.password, { client }),
  );
  const result = await registerUser(
    ports,
    {
      type: 'Register',
      now: request.now,
      userId: request.userId,
      username: request.username,
      email: request.email,
      passwordId,
      role: request.role,
      profile: request.profile,
      via: request.via,
    },
    metadata,
  );
  if (!result.ok) {
    // Lost the race for the name: the hash is nobody's.
    await credentials.removeAll(request.userId);
    return result;
  }
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
  const userId = await findUserId(ports, request.by);
  if (userId === null) {
    await ports.passwords.burn(request.password, { client: caller.client });
    return refused('invalid_credentials');
  }
  const { now, password, otp, recoveryCode } = request;
  // Computed once, kept across the command's retries: a hash is costly, a recovery code single use.
  let passwordMatches: boolean | undefined;
  let recoveryCodeValid: boolean | undefined;
  const sealer = await ports.vault.sealer(userId);
  const result = await handleUserCommand(
    ports.store,
    userId,
    async (state) => {
      if (state.status !== 'registered' || state.erasedAt !== null)
        return decideUser({ type: 'Login', now, passwordMatches: false, otp: null }, state);
      const locked = isLocked(state, now);
      if (!locked) passwordMatches ??= await passwordOf(ports, state, password, caller.client);
      const twoFactorOn = state.twoFactor.status === 'on';
      let timeStep: number | null = null;
      if (otp !== undefined && state.twoFactor.status === 'on')
        timeStep = await otpTimeStepOf(ports, state, state.twoFactor.factorId, otp, now);
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
    sealer,
  );
  if (result.rejection !== undefined)
    return refused(result.rejection === 'user_not_found' ? 'invalid_credentials' : result.rejection);
  return { ok: true, value: registeredOrThrow(result.state) };
}

/** The user behind a session, or null when the session may not go on (see sessionMayContinue). */
export async function sessionUser(
  ports: PersonalDataPorts,
  userId: string,
  sessionStartedAtSeconds: number,
): Promise<RegisteredUser | null> {
  const user = await loadOpenedUser(ports, userId);
  return user.status === 'registered' &&
    user.erasedAt === null &&
    sessionMayContinue(user, sessionStartedAtSeconds)
    ? user
    : null;
}

/** The signed-in user, as stored now, personal fields opened. */
export async function currentUser(ports: PersonalDataPorts, userId: string): Promise<RegisteredUser> {
  return registeredOrThrow(await loadOpenedUser(ports, userId));
}

/** Whether `password` is the user's (false when the vault holds no hash for it, as after erasure). */
async function passwordOf(
  ports: Pick<IdentityPorts, 'vault' | 'passwords'>,
  user: RegisteredUser,
  password: string,
  client: string | undefined,
): Promise<boolean> {
  const hash = await ports.vault.credentials.get(user.id, user.passwordId);
  if (hash === null) {
    await ports.passwords.burn(password, { client });
    return false;
  }
  return ports.passwords.verify(password, hash, { client });
}

/** The time step `code` matches under the user's TOTP secret `factorId` (null: none, or no secret). */
async function otpTimeStepOf(
  ports: Pick<IdentityPorts, 'vault' | 'totp'>,
  user: RegisteredUser,
  factorId: string,
  code: string,
  now: Date,
): Promise<number | null> {
  const stored = await ports.vault.credentials.get(user.id, factorId);
  if (stored === null) return null;
  return ports.totp.timeStep(encryptedSecretSchema.parse(JSON.parse(stored)), code, now);
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
  ports: PersonalDataPorts,
  caller: Caller,
  changes: Partial<Profile>,
  now: Date,
): Promise<IdentityOutcome<RegisteredUser>> {
  const result = await handleUserCommand(
    ports.store,
    caller.userId,
    (state) => decideUser({ type: 'UpdateProfile', now, changes }, state),
    caller.metadata,
    await ports.vault.sealer(caller.userId),
  );
  if (result.rejection !== undefined) return refused(result.rejection);
  return { ok: true, value: registeredOrThrow(result.state) };
}

/** A new TOTP secret, pending until /2fa/enable confirms it; returned in clear this once. */
export async function startTwoFactorSetup(
  ports: Pick<IdentityPorts, 'store' | 'vault' | 'totp'>,
  caller: Caller,
  secret: string,
  now: Date,
): Promise<IdentityOutcome<RegisteredUser>> {
  const credentials = ports.vault.credentials;
  const factorId = await credentials.put(caller.userId, 'totp', JSON.stringify(ports.totp.seal(secret)));
  const result = await handleUserCommand(
    ports.store,
    caller.userId,
    (state) => decideUser({ type: 'StartTwoFactorSetup', now, factorId }, state),
    caller.metadata,
    await ports.vault.sealer(caller.userId),
  );
  if (result.rejection !== undefined) return refused(result.rejection);
  await credentials.retire(caller.userId, 'totp', factorId);
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
      if (checked) passwordMatches ??= await passwordOf(ports, user, request.password, caller.client);
      const factorId = user.twoFactor.status !== 'off' ? user.twoFactor.factorId : null;
      const otpTimeStep =
        factorId === null || !checked || passwordMatches !== true
          ? null
          : await otpTimeStepOf(ports, user, factorId, request.otp, now);
      return decideUser(commandOf(passwordMatches === true, otpTimeStep), state);
    },
    caller.metadata,
  );
  if (result.rejection !== undefined) return refused(result.rejection);
  // Recovery codes stand in for the authenticator: with it gone, they go too.
  if (change === 'disable') await ports.recoveryCodes.removeAll(caller.userId);
  // The disabled authenticator's secret goes with it: the vault keeps no secret it does not need.
  if (change === 'disable') await ports.vault.credentials.removeAll(caller.userId, 'totp');
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
  if (passwordIsIdentity(newPassword, await currentUser(ports, caller.userId)))
    return { ok: false, rejection: 'password_is_identity' };
  let passwordMatches: boolean | undefined;
  let passwordId: string | undefined;
  const result = await handleUserCommand(
    ports.store,
    caller.userId,
    async (state) => {
      const user = registeredOrThrow(state);
      if (!isLocked(user, now))
        passwordMatches ??= await passwordOf(ports, user, currentPassword, caller.client);
      // Hashed only once the current password is known to be right: a wrong guess costs one hash.
      if (passwordMatches === true)
        passwordId ??= await ports.vault.credentials.put(
          caller.userId,
          'password',
          await ports.passwords.hash(newPassword, { client: caller.client }),
        );
      return decideUser(
        {
          type: 'ChangePassword',
          now,
          passwordMatches: passwordMatches === true,
          passwordId: passwordId ?? '',
        },
        state,
      );
    },
    caller.metadata,
  );
  if (result.rejection !== undefined) return refused(result.rejection);
  // The old hash is of no use to anyone now: only the current one is kept.
  if (passwordId !== undefined) await ports.vault.credentials.retire(caller.userId, 'password', passwordId);
  await ports.sessions.endAll(caller.userId, 'password_changed', now);
  return { ok: true, value: null };
}
