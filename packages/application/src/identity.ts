import {
  emailStreamId,
  identityEventSchemaVersion,
  parseIdentityEvent,
  type Role,
  type UserEvent,
  usernameStreamId,
  userStreamId,
} from '@ledger/contracts';
import {
  type Decision,
  decideUser,
  evolveUser,
  type IdentityRejection,
  initialUserState,
  type RegisteredUser,
  type UserCommand,
  type UserState,
} from '@ledger/domain';
import { type EventMetadata, type EventStore, WrongExpectedVersion } from '@ledger/eventstore';
import { type Aggregate, handleCommand, loadStream } from './command-handler.js';

export const userAggregate: Aggregate<UserState, UserEvent> = {
  initialState: initialUserState,
  evolve: evolveUser,
  parse(type, data) {
    const event = parseIdentityEvent(type, data);
    if (event.type === 'UsernameReserved' || event.type === 'EmailReserved') {
      throw new Error(`${type} in a user stream`);
    }
    return event;
  },
  schemaVersion: identityEventSchemaVersion,
};

export async function loadUser(store: EventStore, userId: string): Promise<UserState> {
  return (await loadStream(store, userStreamId(userId), userAggregate)).state;
}

/**
 * The user id a username or email is reserved for, from its reservation stream: strongly
 * consistent (no projection lag), so a login right after registering finds the user.
 */
export async function findUserId(
  store: EventStore,
  by: { username: string } | { email: string },
): Promise<string | null> {
  const streamId = 'username' in by ? usernameStreamId(by.username) : emailStreamId(by.email);
  const [first] = await store.readStream(streamId, { limit: 1 });
  if (!first) return null;
  const event = parseIdentityEvent(first.type, first.data);
  if (event.type !== 'UsernameReserved' && event.type !== 'EmailReserved') {
    throw new Error(`unexpected ${first.type} in ${streamId}`);
  }
  return event.data.userId;
}

export type RegisterCommand = Extract<UserCommand, { type: 'Register' }>;

export type RegisterResult =
  | { ok: true; state: UserState; position: bigint }
  | { ok: false; code: 'username_taken' | 'email_taken' };

/**
 * Registers a user: UserRegistered plus both reservations, in ONE atomic append with
 * expected version no_stream on each, so of two concurrent registrations of one name
 * (case-insensitive) exactly one succeeds. Not retried: a conflict is the answer.
 */
export async function registerUser(
  store: EventStore,
  command: RegisterCommand,
  metadata: EventMetadata,
): Promise<RegisterResult> {
  const usernameStream = usernameStreamId(command.username);
  const emailStream = emailStreamId(command.email);
  try {
    const result = await handleCommand({
      store,
      streamId: userStreamId(command.userId),
      aggregate: userAggregate,
      decide: (state) => decideUser(command, state),
      alsoWrite: () => [
        {
          streamId: usernameStream,
          expectedVersion: 'no_stream',
          events: [
            {
              type: 'UsernameReserved',
              schemaVersion: identityEventSchemaVersion,
              data: { userId: command.userId, username: command.username },
              metadata,
            },
          ],
        },
        {
          streamId: emailStream,
          expectedVersion: 'no_stream',
          events: [
            {
              type: 'EmailReserved',
              schemaVersion: identityEventSchemaVersion,
              data: { userId: command.userId, email: command.email },
              metadata,
            },
          ],
        },
      ],
      metadata,
      retriesMax: 0,
    });
    if (result.rejection !== undefined || result.position === null) {
      // A fresh random id already taken: a broken id generator, not a user error.
      throw new Error(`registration of a new user id was refused: ${String(result.rejection)}`);
    }
    return { ok: true, state: result.state, position: result.position };
  } catch (error) {
    if (error instanceof WrongExpectedVersion) {
      if (error.streamId === usernameStream) return { ok: false, code: 'username_taken' };
      if (error.streamId === emailStream) return { ok: false, code: 'email_taken' };
    }
    throw error;
  }
}

/**
 * Concurrent requests of one user (logins from several devices, a burst of failed ones) all
 * append to its stream: they may collide repeatedly, and each retry is cheap (the caller
 * caches what it verified), so user commands retry more than the default.
 */
export const userCommandRetriesMax = 10;

/** Runs a command on an existing user's stream, retrying on concurrent writes. */
export function handleUserCommand(
  store: EventStore,
  userId: string,
  decide: (state: UserState) => ReturnType<typeof decideUser> | Promise<ReturnType<typeof decideUser>>,
  metadata: EventMetadata,
) {
  return handleCommand({
    store,
    streamId: userStreamId(userId),
    aggregate: userAggregate,
    decide,
    metadata,
    retriesMax: userCommandRetriesMax,
  });
}

/**
 * Ends every session of a user at once (every refresh family and the access tokens issued
 * under them). The API's token store implements it; the use cases below call it after the
 * append that ended the sessions, whose event already stops tokens issued before it.
 */
export interface Sessions {
  endAll(userId: string, reason: 'locked' | 'password_changed', now: Date): Promise<void>;
}

export type ChangeUserRejection = IdentityRejection | 'self_modification';

export interface ChangeUserRequest {
  actor: { userId: string; role: Role };
  userId: string;
  role?: Role;
  locked?: boolean;
  now: Date;
}

/**
 * A staff change to a user: its role (who may set it at all is the route's policy) and its
 * lock, under the rank rule of the domain (mayLock). Nobody changes their own role. A lock
 * ends the user's sessions everywhere.
 */
export async function changeUser(
  store: EventStore,
  sessions: Sessions,
  request: ChangeUserRequest,
  metadata: EventMetadata,
): Promise<
  { ok: true; state: RegisteredUser; position: bigint | null } | { ok: false; rejection: ChangeUserRejection }
> {
  const { actor, now, role, locked } = request;
  if (role !== undefined && request.userId === actor.userId)
    return { ok: false, rejection: 'self_modification' };
  const result = await handleUserCommand(
    store,
    request.userId,
    (state): Decision => {
      const decisions: Decision[] = [];
      let current = state;
      for (const command of [
        role === undefined ? null : ({ type: 'ChangeRole', now, role } as const),
        locked === undefined ? null : ({ type: 'SetLocked', now, locked, by: actor } as const),
      ]) {
        if (command === null) continue;
        const decision = decideUser(command, current);
        if (decision.rejection !== undefined) return decision;
        decisions.push(decision);
        current = decision.events.reduce(evolveUser, current);
      }
      return { events: decisions.flatMap((d) => d.events) };
    },
    metadata,
  );
  if (result.rejection !== undefined) return { ok: false, rejection: result.rejection };
  if (result.state.status !== 'registered') return { ok: false, rejection: 'user_not_found' };
  if (result.events.some((e) => e.type === 'UserLocked'))
    await sessions.endAll(request.userId, 'locked', now);
  return { ok: true, state: result.state, position: result.position };
}
