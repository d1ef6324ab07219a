import { randomUUID } from 'node:crypto';
import { userStreamId } from '@ledger/contracts';
import { decideUser } from '@ledger/domain';
import { openTestStore } from '@ledger/platform/testing';
import { Vault } from '@ledger/vault';
import t from 'tap';
import { loadPageSize, loadStream } from './command-handler.js';
import { findUserId, handleUserCommand, type RegisterCommand, registerUser } from './identity.js';

// The command handler against a real PostgreSQL event store.

const { store, db } = await openTestStore('application_identity', t);
const vault = await Vault.open(db, 'application-identity-test-data-key-0123456789');
const ports = { store, vault };

const register = (username: string, email: string): RegisterCommand => ({
  type: 'Register',
  now: new Date(),
  userId: randomUUID(),
  username,
  email,
  passwordId: randomUUID(),
  role: 'customer',
  profile: { firstName: null, lastName: null, dateOfBirth: null, phone: null },
  via: 'self',
});

t.test('registration reserves username and email atomically, case-insensitively', async (t) => {
  const first = await registerUser(ports, register('Alice', 'alice@example.com'), {});
  t.ok(first.ok);
  t.same(await registerUser(ports, register('ALICE', 'other@example.com'), {}), {
    ok: false,
    code: 'username_taken',
  });
  t.same(await registerUser(ports, register('bob', 'Alice@Example.com'), {}), {
    ok: false,
    code: 'email_taken',
  });
  t.equal(await findUserId(ports, { username: 'bob' }), null, 'the refused append wrote nothing');
  t.ok(first.ok && first.state.status === 'registered');
  if (first.ok && first.state.status === 'registered') {
    t.equal(await findUserId(ports, { username: 'aLiCe' }), first.state.id);
    t.equal(await findUserId(ports, { email: 'ALICE@example.com' }), first.state.id);
    t.equal(first.state.username, 'Alice', 'the state shows the name in clear');
  }
  // Nothing personal in the log: names sealed, reservations named by keyed hashes.
  const stored = JSON.stringify(
    (await store.readAll({ after: 0n, limit: 100 })).map((e) => [e.streamId, e.data]),
    (_, v) => (typeof v === 'bigint' ? v.toString() : v),
  );
  t.notMatch(stored, /alice/i, 'neither the username nor the email is in the log, in any case');
  t.match(stored, /"username-[A-Za-z0-9_-]{43}"/, 'the reservation stream is named by a keyed hash');
});

t.test('concurrent commands on one user are retried until each is appended once', async (t) => {
  const command = register('carol', 'carol@example.com');
  t.ok((await registerUser(ports, command, {})).ok);
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      handleUserCommand(
        store,
        command.userId,
        (state) => decideUser({ type: 'RecordLogout', now: new Date(), familyId: null }, state),
        { actorId: command.userId },
      ),
    ),
  );
  t.ok(results.every((r) => r.position !== null && r.rejection === undefined));
  const events = await store.readStream(userStreamId(command.userId));
  t.equal(events.length, 9);
  t.same(
    events.map((e) => e.streamVersion),
    Array.from({ length: 9 }, (_, i) => BigInt(i)),
  );
});

t.test('loadStream folds a stream longer than one read page', async (t) => {
  const total = loadPageSize * 2 + 7;
  for (let i = 0; i < total; i += 500) {
    const n = Math.min(500, total - i);
    await store.append([
      {
        streamId: 'counter-1',
        expectedVersion: 'any',
        events: Array.from({ length: n }, () => ({ type: 'Ticked', data: {} })),
      },
    ]);
  }
  const counter = {
    initialState: () => 0,
    evolve: (state: number) => state + 1,
    parse: (type: string, data: unknown) => ({ type, data }),
    schemaVersion: 1,
  };
  const loaded = await loadStream(store, 'counter-1', counter as never);
  t.equal(loaded.state, total, 'every event folded');
  t.equal(loaded.version, BigInt(total - 1));
});
