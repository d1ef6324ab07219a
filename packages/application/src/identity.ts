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
import { openUserEvent, type PersonalDataVault, type SubjectSealer, sealUserEvent } from './personal-data.js';

/**
 * The user aggregate, reading and writing through `sealer`: personal fields are opened as
 * they are read and sealed as they are written. Without one (null) they stay sealed, and a
 * decision that writes one throws: checks of roles, locks and sessions need no personal data.
 */
export function userAggregateFor(sealer: SubjectSealer | null): Aggregate<UserState, UserEvent> {
  return {
    initialState: initialUserState,
    evolve: evolveUser,
    parse(type, data) {
      const event = parseIdentityEvent(type, data);
      if (event.type === 'UsernameReserved' || event.type === 'EmailReserved') {
        throw new Error(`${type} in a user stream`);
      }
      return openUserEvent(sealer, event);
    },
    serialize: (event) => sealUserEvent(sealer, event),
    schemaVersion: identityEventSchemaVersion,
  };
}

/** The user aggregate without its personal fields opened (they stay sealed). */
export const userAggregate = userAggregateFor(null);

/** The user as stored, personal fields still sealed: enough for roles, locks, KYC status and sessions. */
export async function loadUser(store: EventStore, userId: string): Promise<UserState> {
  return (await loadStream(store, userStreamId(userId), userAggregate)).state;
}

export interface PersonalDataPorts {
  store: EventStore;
  vault: PersonalDataVault;
}

/** The user with personal fields opened (or read as erased). */
export async function loadOpenedUser(ports: PersonalDataPorts, userId: string): Promise<UserState> {
  const sealer = await sealerOrNull(ports.vault, userId);
  return (await loadStream(ports.store, userStreamId(userId), userAggregateFor(sealer))).state;
}

/** The user's sealer; null for an id the vault never gave a key (then no such user exists either). */
async function sealerOrNull(vault: PersonalDataVault, userId: string): Promise<SubjectSealer | null> {
  return (await vault.sealers([userId])).get(userId) ?? null;
}

/** The reservation stream of a username or email: named by its keyed hash, never by the name. */
export function reservationStreamId(vault: PersonalDataVault, by: { username: string } | { email: string }) {
  return 'username' in by
    ? usernameStreamId(vault.keyedHash('username', by.username))
    : emailStreamId(vault.keyedHash('email', by.email));
}

/**
 * The user id a username or email is reserved for, from its reservation stream: strongly
 * consistent (no projection lag), so a login right after registering finds the user.
 */
export async function findUserId(
  ports: PersonalDataPorts,
  by: { username: string } | { email: string },
): Promise<string | null> {
  const streamId = reservationStreamId(ports.vault, by);
  const [first] = await ports.store.readStream(streamId, { limit: 1 });
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
 * Registers a user: UserRegistered (personal fields sealed under the user's new key) plus
 * both reservations, in ONE atomic append with expected version no_stream on each, so of two
 * concurrent registrations of one name (case-insensitive) exactly one succeeds. Not retried:
 * a conflict is the answer.
 */
export async function registerUser(
  ports: PersonalDataPorts,
  command: RegisterCommand,
  metadata: EventMetadata,
): Promise<RegisterResult> {
  const { store, vault } = ports;
  const usernameStream = reservationStreamId(vault, { username: command.username });
  const emailStream = reservationStreamId(vault, { email: command.email });
  const sealer = await vault.createSubject(command.userId);
  const reservation = (type: 'UsernameReserved' | 'EmailReserved') => ({
    type,
    schemaVersion: identityEventSchemaVersion,
    data: { userId: command.userId },
    metadata,
  });
  try {
    const result = await handleCommand({
      store,
      streamId: userStreamId(command.userId),
      aggregate: userAggregateFor(sealer),
      decide: (state) => decideUser(command, state),
      alsoWrite: () => [
        { streamId: usernameStream, expectedVersion: 'no_stream', events: [reservation('UsernameReserved')] },
        { streamId: emailStream, expectedVersion: 'no_stream', events: [reservation('EmailReserved')] },
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

/**
 * Runs a command on an existing user's stream, retrying on concurrent writes. With a sealer
 * the state's personal fields are opened and new ones sealed; without, they stay sealed.
 */
export function handleUserCommand(
  store: EventStore,
  userId: string,
  decide: (state: UserState) => ReturnType<typeof decideUser> | Promise<ReturnType<typeof decideUser>>,
  metadata: EventMetadata,
  sealer: SubjectSealer | null = null,
) {
  return handleCommand({
    store,
    streamId: userStreamId(userId),
    aggregate: sealer === null ? userAggregate : userAggregateFor(sealer),
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
  endAll(userId: string, reason: 'locked' | 'password_changed' | 'erased', now: Date): Promise<void>;
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
  ports: PersonalDataPorts & { sessions: Sessions },
  request: ChangeUserRequest,
  metadata: EventMetadata,
): Promise<
  { ok: true; state: RegisteredUser; position: bigint | null } | { ok: false; rejection: ChangeUserRejection }
> {
  const { actor, now, role, locked } = request;
  if (role !== undefined && request.userId === actor.userId)
    return { ok: false, rejection: 'self_modification' };
  // Opened: the answer shows the user. No key: no such user (the load finds no stream).
  const sealer = (await ports.vault.sealers([request.userId])).get(request.userId) ?? null;
  const result = await handleUserCommand(
    ports.store,
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
    sealer,
  );
  if (result.rejection !== undefined) return { ok: false, rejection: result.rejection };
  if (result.state.status !== 'registered') return { ok: false, rejection: 'user_not_found' };
  if (result.events.some((e) => e.type === 'UserLocked'))
    await ports.sessions.endAll(request.userId, 'locked', now);
  return { ok: true, state: result.state, position: result.position };
}
