import type { UserEvent } from '@ledger/contracts';
import t from 'tap';
import { decideUser, type UserCommand } from './decide.js';
import { evolveUser, foldUser, type RegisteredUser, type UserState } from './user.js';

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
    passwordHash: '$2b$12$hash',
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
    passwordHash: '$2b$12$hash',
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
  const secret = { alg: 'A256GCM', keyId: 'k1', iv: 'i', tag: 't', ciphertext: 'c' } as const;
  const on = given(
    { type: 'TwoFactorSetupStarted', data: { userId, at: t0.toISOString(), secret } },
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
  t.equal(decideUser({ type: 'DisableTwoFactor', now: t0, otpTimeStep: 99 }, on).rejection, 'invalid_otp');
  t.equal(
    decideUser({ type: 'EnableTwoFactor', now: t0, otpTimeStep: 101 }, on).rejection,
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
