import type { UserEvent } from '@ledger/contracts';
import t from 'tap';
import { decideUser, mayLock, type UserCommand } from './decide.js';
import {
  evolveUser,
  foldUser,
  isLocked,
  type RegisteredUser,
  sessionMayContinue,
  type UserState,
} from './user.js';

// Given events, when a command, then events or a rejection.

const userId = '7c0e0c1e-3b8a-4c39-9d5c-7e0c1b0f2a11';
const t0 = new Date('2026-01-01T10:00:00.000Z');
const plus = (ms: number) => new Date(t0.getTime() + ms);
const minute = 60_000;

const registeredEvent: UserEvent = {
  type: 'UserRegistered',
  data: {
    userId,
    username: 'alice',
    email: 'alice@example.com',
    passwordId: 'a0c1b2d3-0000-4000-8000-000000000001',
    role: 'customer',
    firstName: 'Alice',
    lastName: null,
    dateOfBirth: null,
    phone: null,
    registeredAt: t0.toISOString(),
    via: 'self',
  },
};

function given(...events: UserEvent[]): UserState {
  return foldUser([registeredEvent, ...events]);
}

function run(
  state: UserState,
  commands: UserCommand[],
): { state: UserState; last: ReturnType<typeof decideUser> } {
  let last = decideUser(commands[0]!, state);
  state = last.events.reduce(evolveUser, state);
  for (const command of commands.slice(1)) {
    last = decideUser(command, state);
    state = last.events.reduce(evolveUser, state);
  }
  return { state, last };
}

const badLogin = (ms: number): UserCommand => ({
  type: 'Login',
  now: plus(ms),
  passwordMatches: false,
  otp: null,
});

t.test('register on a new stream, not twice', async (t) => {
  const command: UserCommand = {
    type: 'Register',
    now: t0,
    userId,
    username: 'alice',
    email: 'alice@example.com',
    passwordId: 'a0c1b2d3-0000-4000-8000-000000000001',
    role: 'customer',
    profile: { firstName: 'Alice', lastName: null, dateOfBirth: null, phone: null },
    via: 'self',
  };
  t.same(decideUser(command, { status: 'unregistered' }).events, [registeredEvent]);
  t.equal(decideUser(command, given()).rejection, 'user_exists');
});

t.test('five failed logins within 15 minutes lock for 15 minutes; the lock ends by itself', async (t) => {
  const four = run(given(), [badLogin(0), badLogin(minute), badLogin(2 * minute), badLogin(3 * minute)]);
  t.equal(four.last.rejection, 'invalid_credentials');
  t.equal(four.last.events.length, 1, 'no lock yet');
  const fifth = decideUser(badLogin(4 * minute), four.state);
  t.same(
    fifth.events.map((e) => e.type),
    ['LoginFailed', 'UserLocked'],
  );
  const locked = fifth.events.reduce(evolveUser, four.state);
  const right: UserCommand = { type: 'Login', now: plus(10 * minute), passwordMatches: true, otp: null };
  t.equal(decideUser(right, locked).rejection, 'account_locked', 'even with the right password');
  const later: UserCommand = { type: 'Login', now: plus(19 * minute + 1), passwordMatches: true, otp: null };
  t.same(
    decideUser(later, locked).events.map((e) => e.type),
    ['LoginSucceeded'],
  );
});

t.test('failures spread over more than 15 minutes do not lock', async (t) => {
  const { last } = run(
    given(),
    [0, 5, 10, 16, 20].map((m) => badLogin(m * minute)),
  );
  t.same(
    last.events.map((e) => e.type),
    ['LoginFailed'],
  );
});

t.test('2FA: required once on, codes single-use', async (t) => {
  const factorId = 'f0c1b2d3-0000-4000-8000-000000000002';
  const on = given(
    { type: 'TwoFactorSetupStarted', data: { userId, at: t0.toISOString(), factorId } },
    { type: 'TwoFactorEnabled', data: { userId, at: t0.toISOString(), otpTimeStep: 100 } },
  ) as RegisteredUser;
  t.equal(on.twoFactor.status, 'on');
  const login = (otp: Extract<UserCommand, { type: 'Login' }>['otp']) =>
    decideUser({ type: 'Login', now: t0, passwordMatches: true, otp }, on);
  t.equal(login(null).rejection, 'otp_required');
  t.same(login(null).events, [], 'asking for the code records nothing');
  t.equal(login({ timeStep: 100 }).rejection, 'invalid_otp', 'the code used to enable is spent');
  t.equal(login({ timeStep: null }).rejection, 'invalid_otp');
  t.same(
    login({ timeStep: 101 }).events.map((e) => e.type),
    ['LoginSucceeded'],
  );
  t.equal(
    decideUser({ type: 'DisableTwoFactor', now: t0, passwordMatches: true, otpTimeStep: 99 }, on).rejection,
    'invalid_otp',
  );
  t.equal(
    decideUser({ type: 'EnableTwoFactor', now: t0, passwordMatches: true, otpTimeStep: 101 }, on).rejection,
    'two_factor_not_pending',
  );
});

t.test('profile: name and birth date locked once KYC is verified; phone is not', async (t) => {
  const verified = given({
    type: 'KycStatusChanged',
    data: { userId, at: t0.toISOString(), status: 'verified' },
  });
  t.equal(
    decideUser({ type: 'UpdateProfile', now: t0, changes: { lastName: 'Other' } }, verified).rejection,
    'profile_locked',
  );
  t.same(
    decideUser(
      { type: 'UpdateProfile', now: t0, changes: { firstName: 'Alice', phone: '+1 555 0100' } },
      verified,
    ).events.map((e) => e.data),
    [{ userId, at: t0.toISOString(), phone: '+1 555 0100' }],
    'an unchanged name is not a change',
  );
  t.same(
    decideUser({ type: 'UpdateProfile', now: t0, changes: { lastName: 'B' } }, given()).rejection,
    undefined,
  );
});

t.test('commands on an unregistered user are refused', async (t) => {
  t.equal(decideUser(badLogin(0), { status: 'unregistered' }).rejection, 'user_not_found');
});

const factorId = 'f0c1b2d3-0000-4000-8000-000000000002';
const twoFactorOn = (): RegisteredUser =>
  given(
    { type: 'TwoFactorSetupStarted', data: { userId, at: t0.toISOString(), factorId } },
    { type: 'TwoFactorEnabled', data: { userId, at: t0.toISOString(), otpTimeStep: 100 } },
  ) as RegisteredUser;

t.test('2FA changes need the password; wrong codes and passwords count as failed logins', async (t) => {
  const on = twoFactorOn();
  const disable = (ms: number, passwordMatches: boolean, otpTimeStep: number | null): UserCommand => ({
    type: 'DisableTwoFactor',
    now: plus(ms),
    passwordMatches,
    otpTimeStep,
  });
  const wrongPassword = decideUser(disable(0, false, 101), on);
  t.equal(wrongPassword.rejection, 'invalid_credentials', 'a right code without the password is refused');
  t.same(wrongPassword.events, [
    {
      type: 'LoginFailed',
      data: { userId, at: t0.toISOString(), reason: 'invalid_credentials', during: 'two_factor_disable' },
    },
  ]);
  // Five wrong codes at /2fa/disable lock new logins, as five wrong passwords at /login do.
  const { state, last } = run(on, [
    disable(0, true, null),
    disable(minute, true, 99),
    disable(2 * minute, true, null),
    disable(3 * minute, true, null),
    disable(4 * minute, true, null),
  ]);
  t.same(
    last.events.map((e) => e.type),
    ['LoginFailed', 'UserLocked'],
  );
  t.equal(last.events[0]?.type === 'LoginFailed' && last.events[0].data.reason, 'invalid_otp');
  const locked = state as RegisteredUser;
  t.equal(decideUser(disable(5 * minute, true, 102), locked).rejection, 'account_locked', '423 while locked');
  t.equal(
    decideUser(
      { type: 'Login', now: plus(5 * minute), passwordMatches: true, otp: { timeStep: 102 } },
      locked,
    ).rejection,
    'account_locked',
  );
  t.same(
    decideUser(disable(20 * minute, true, 102), locked).events.map((e) => e.type),
    ['TwoFactorDisabled'],
    'the timed lock ends by itself',
  );
});

t.test('recovery codes: need 2FA, password and code; a login with one spends no time step', async (t) => {
  const generate = (state: UserState, passwordMatches: boolean, otpTimeStep: number | null) =>
    decideUser({ type: 'GenerateRecoveryCodes', now: t0, passwordMatches, otpTimeStep, count: 10 }, state);
  t.equal(generate(given(), true, 1).rejection, 'two_factor_not_enabled');
  const on = twoFactorOn();
  t.equal(generate(on, false, 101).rejection, 'invalid_credentials');
  t.equal(generate(on, true, 100).rejection, 'invalid_otp', 'a spent code does not do');
  t.same(generate(on, true, 101).events, [
    { type: 'RecoveryCodesGenerated', data: { userId, at: t0.toISOString(), count: 10, otpTimeStep: 101 } },
  ]);
  const login = (valid: boolean) =>
    decideUser({ type: 'Login', now: t0, passwordMatches: true, otp: null, recoveryCode: { valid } }, on);
  t.same(login(true).events, [
    { type: 'LoginSucceeded', data: { userId, at: t0.toISOString(), otpTimeStep: null, recoveryCode: true } },
  ]);
  t.equal(login(false).rejection, 'invalid_otp');
  t.same(
    login(false).events.map((e) => e.type),
    ['LoginFailed'],
  );
});

t.test('password change: the current password, 423 while locked; it ends earlier sessions', async (t) => {
  const change = (state: UserState, passwordMatches: boolean, ms = 0) =>
    decideUser(
      {
        type: 'ChangePassword',
        now: plus(ms),
        passwordMatches,
        passwordId: 'b0c1b2d3-0000-4000-8000-000000000003',
      },
      state,
    );
  t.equal(change(given(), false).rejection, 'invalid_credentials');
  const changed = change(given(), true, 90_500);
  t.same(changed.events, [
    {
      type: 'PasswordChanged',
      data: { userId, at: plus(90_500).toISOString(), passwordId: 'b0c1b2d3-0000-4000-8000-000000000003' },
    },
  ]);
  const after = changed.events.reduce(evolveUser, given()) as RegisteredUser;
  t.equal(after.passwordId, 'b0c1b2d3-0000-4000-8000-000000000003');
  const t0s = t0.getTime() / 1000;
  t.notOk(sessionMayContinue(after, t0s + 89), 'a token from before the change stops');
  t.ok(sessionMayContinue(after, t0s + 90), 'the same second passes here (its family is revoked)');
  t.ok(sessionMayContinue(after, t0s + 91));
  const lockedOut = run(given(), [badLogin(0), badLogin(1), badLogin(2), badLogin(3), badLogin(4)]).state;
  t.equal(change(lockedOut, true, 5).rejection, 'account_locked');
});

t.test('a timed lock keeps sessions; a lock by staff ends them, also after the unlock', async (t) => {
  const lockedOut = run(given(), [badLogin(0), badLogin(1), badLogin(2), badLogin(3), badLogin(4)])
    .state as RegisteredUser;
  t.ok(isLocked(lockedOut, plus(5)), 'new logins refused');
  t.ok(sessionMayContinue(lockedOut, t0.getTime() / 1000), 'open sessions go on');
  const director = { userId: '5d6c0a59-7f7e-4a57-8b0e-2f6f7a1f3c01', role: 'director' as const };
  const staffLock = decideUser({ type: 'SetLocked', now: plus(minute), locked: true, by: director }, given());
  const staffLocked = staffLock.events.reduce(evolveUser, given()) as RegisteredUser;
  t.notOk(sessionMayContinue(staffLocked, t0.getTime() / 1000 + 120));
  const unlocked = decideUser(
    { type: 'SetLocked', now: plus(2 * minute), locked: false, by: director },
    staffLocked,
  ).events.reduce(evolveUser, staffLocked as UserState) as RegisteredUser;
  t.notOk(sessionMayContinue(unlocked, t0.getTime() / 1000 + 30), 'tokens from before the lock stay dead');
  t.ok(sessionMayContinue(unlocked, t0.getTime() / 1000 + 180), 'a new login works');
});

t.test('rank: managers lock customers and agents; directors anyone but themselves', async (t) => {
  const manager = { userId: '5d6c0a59-7f7e-4a57-8b0e-2f6f7a1f3c02', role: 'manager' as const };
  const director = { userId: '5d6c0a59-7f7e-4a57-8b0e-2f6f7a1f3c03', role: 'director' as const };
  const withRole = (role: RegisteredUser['role']) =>
    given({ type: 'RoleChanged', data: { userId, at: t0.toISOString(), from: 'customer', to: role } });
  const lock = (by: { userId: string; role: RegisteredUser['role'] }, state: UserState) =>
    decideUser({ type: 'SetLocked', now: t0, locked: true, by }, state).rejection;
  for (const role of ['customer', 'agent'] as const) t.equal(lock(manager, withRole(role)), undefined, role);
  for (const role of ['manager', 'director', 'auditor'] as const) {
    t.equal(lock(manager, withRole(role)), 'insufficient_rank', `manager locks no ${role}`);
    t.equal(lock(director, withRole(role)), undefined, `director locks a ${role}`);
  }
  t.equal(lock({ userId, role: 'director' }, withRole('director')), 'insufficient_rank', 'not themself');
  t.equal(lock({ ...manager, role: 'agent' }, withRole('customer')), 'insufficient_rank');
  t.ok(mayLock(director, { id: userId, role: 'manager' }));
});

t.test('erasure: a director, customers only, after the retention period; once', async (t) => {
  const director = { userId: 'd0c1b2d3-0000-4000-8000-000000000004', role: 'director' as const };
  const day = 24 * 3600 * 1000;
  const erase = (state: UserState, over: Partial<Extract<UserCommand, { type: 'ErasePersonalData' }>> = {}) =>
    decideUser(
      {
        type: 'ErasePersonalData',
        now: plus(1000 * day),
        by: director,
        relationshipEndedAt: t0,
        retentionDays: 999,
        ...over,
      },
      state,
    );
  const erased = erase(given());
  t.same(erased.events, [
    { type: 'PersonalDataErased', data: { userId, at: plus(1000 * day).toISOString(), by: director.userId } },
  ]);
  t.equal(erase(given(), { retentionDays: 1000 }).rejection, undefined, 'exactly at the end of the period');
  t.equal(erase(given(), { retentionDays: 1001 }).rejection, 'retention_period', 'a day early');
  t.equal(erase(given(), { relationshipEndedAt: null }).rejection, 'retention_period', 'an account is open');
  t.equal(
    erase(given(), { by: { ...director, role: 'manager' } }).rejection,
    'insufficient_rank',
    'directors only',
  );
  const staff = given({
    type: 'RoleChanged',
    data: { userId, at: t0.toISOString(), from: 'customer', to: 'agent' },
  });
  t.equal(erase(staff).rejection, 'not_a_customer', 'staff records are the bank’s own');
  const after = erased.events.reduce(evolveUser, given()) as RegisteredUser;
  t.equal(after.username, '[erased]');
  t.equal(after.email, '[erased]');
  t.same(after.profile, { firstName: null, lastName: null, dateOfBirth: null, phone: null });
  t.equal(after.erasedAt, plus(1000 * day).toISOString());
  t.same(erase(after).events, [], 'again: nothing new');
  t.equal(erase(after).rejection, undefined);
  t.equal(
    decideUser({ type: 'Login', now: plus(1001 * day), passwordMatches: true, otp: null }, after).rejection,
    'user_not_found',
    'an erased user does not log in',
  );
  t.notOk(sessionMayContinue(after, Math.floor(plus(1000 * day).getTime() / 1000) - 1), 'sessions end');
});
