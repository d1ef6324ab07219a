import { randomUUID } from 'node:crypto';
import { emailStreamId, identityEventSchemaVersion, usernameStreamId, userStreamId } from '@ledger/contracts';
import type { EventStore } from '@ledger/eventstore';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { rebuildProjection, runProjection } from '@ledger/readmodel';
import { Vault } from '@ledger/vault';
import t from 'tap';
import { listUsers, usersProjection } from './index.js';

const logger = createLogger({ level: 'silent', name: 'users-test' });
const { store, database } = await openTestStore('users_projection', t);
const vault = await Vault.open(database.db, 'users-projection-test-data-key-0123456789');
const sealers = (ids: readonly string[]) => vault.sealers(ids);

const at = '2026-01-01T10:00:00.000Z';

async function user(store: EventStore, username: string, events: { type: string; data: object }[] = []) {
  const userId = randomUUID();
  const v = identityEventSchemaVersion;
  const sealer = await vault.createSubject(userId);
  const seal = (data: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(data).map(([k, value]) => [
        k,
        ['username', 'email', 'firstName', 'lastName', 'dateOfBirth', 'phone'].includes(k) &&
        typeof value === 'string'
          ? sealer.seal(k, value)
          : value,
      ]),
    );
  await store.append([
    {
      streamId: userStreamId(userId),
      expectedVersion: 'no_stream',
      events: [
        {
          type: 'UserRegistered',
          schemaVersion: v,
          data: seal({
            userId,
            username,
            email: `${username}@example.com`,
            passwordId: randomUUID(),
            role: 'customer',
            firstName: 'First',
            lastName: null,
            dateOfBirth: null,
            phone: null,
            registeredAt: at,
            via: 'self',
          }),
        },
        ...events.map((e) => ({ type: e.type, schemaVersion: v, data: seal({ userId, at, ...e.data }) })),
      ],
    },
    {
      streamId: usernameStreamId(vault.keyedHash('username', username)),
      expectedVersion: 'no_stream',
      events: [{ type: 'UsernameReserved', data: { userId } }],
    },
    {
      streamId: emailStreamId(vault.keyedHash('email', `${username}@example.com`)),
      expectedVersion: 'no_stream',
      events: [{ type: 'EmailReserved', data: { userId } }],
    },
  ]);
  return userId;
}

t.test(
  'users: one row per user with its current role, lock, 2FA and profile; a rebuild is identical',
  async (t) => {
    await user(store, 'plain');
    await user(store, 'promoted', [{ type: 'RoleChanged', data: { from: 'customer', to: 'manager' } }]);
    await user(store, 'locked', [
      { type: 'UserLocked', data: { until: '2026-01-01T10:15:00.000Z', reason: 'too_many_failed_logins' } },
    ]);
    await user(store, 'staff_locked', [{ type: 'UserLocked', data: { until: null, reason: 'staff' } }]);
    const gone = await user(store, 'gone', [
      { type: 'ProfileUpdated', data: { lastName: 'Gonesby', phone: '+1 555 0199' } },
    ]);
    await vault.erase(gone, new Date(at));
    await store.append([
      {
        streamId: userStreamId(gone),
        expectedVersion: 'exists',
        events: [{ type: 'PersonalDataErased', data: { userId: gone, at, by: randomUUID() } }],
      },
    ]);
    await user(store, 'twofa', [
      { type: 'TwoFactorEnabled', data: { otpTimeStep: 5 } },
      { type: 'ProfileUpdated', data: { lastName: 'Last', phone: '+1 555 0100' } },
      { type: 'LoginSucceeded', data: { otpTimeStep: 6 } },
    ]);
    const head = await store.lastWrittenPosition();
    const runner = runProjection({ db: database.db, store, projection: usersProjection, logger });
    t.teardown(() => runner.stop());
    t.ok(await runner.waitFor(head, 10_000));

    const now = new Date('2026-01-01T10:05:00.000Z');
    const page = await listUsers(database.db, { sealers, limit: 200, now });
    t.same(
      page.items.map((u) => [u.username, u.role, u.locked, u.twoFactorEnabled]),
      [
        ['plain', 'customer', false, false],
        ['promoted', 'manager', false, false],
        ['locked', 'customer', true, false],
        ['staff_locked', 'customer', true, false],
        ['[erased]', 'customer', false, false],
        ['twofa', 'customer', false, true],
      ],
    );
    t.match(page.items[5], { firstName: 'First', lastName: 'Last', phone: '+1 555 0100' });
    t.match(page.items[4], {
      email: '[erased]',
      firstName: null,
      lastName: null,
      phone: null,
      erasedAt: at,
    });
    const stored = JSON.stringify(
      await database.db.withSchema('users').selectFrom('users').selectAll().execute(),
    );
    // Sealed values are random base64url, which now and then spells "555" or "Last": they are
    // taken out (and counted) before looking for clear text.
    t.ok((stored.match(/"pii1\.[\w.-]+"/g) ?? []).length >= 10, 'the profile fields are sealed');
    const rows = stored.replace(/"pii1\.[\w.-]+"/g, '"<sealed>"');
    t.notMatch(rows, /plain|promoted|example\.com|First|Last|555/, 'the read model holds no clear field');
    t.notMatch(rows, /Gonesby/, 'nor, of course, an erased one');
    t.equal(page.nextCursor, null);
    const later = await listUsers(database.db, {
      sealers,
      limit: 200,
      now: new Date('2026-01-01T10:20:00.000Z'),
    });
    t.equal(later.items[2]?.locked, false, 'a timed lock ends by itself');
    t.equal(later.items[3]?.locked, true, "a staff lock doesn't");

    const first = await listUsers(database.db, { sealers, limit: 2, now });
    t.equal(first.items.length, 2);
    const second = await listUsers(database.db, { sealers, limit: 2, now, cursor: first.nextCursor! });
    t.same(
      second.items.map((u) => u.username),
      ['locked', 'staff_locked'],
    );
    t.same(
      (await listUsers(database.db, { sealers, limit: 200, now, role: 'manager' })).items.map(
        (u) => u.username,
      ),
      ['promoted'],
    );
    await t.rejects(listUsers(database.db, { sealers, limit: 2, now, cursor: 'nope' }), {
      name: 'InvalidUserCursor',
    });

    const rebuilt = await rebuildProjection({
      db: database.db,
      store,
      projection: usersProjection,
      schema: 'users_rebuild',
      to: head,
    });
    t.same(
      await listUsers(database.db, { sealers, limit: 200, now, schema: rebuilt.schema }),
      page,
      'rebuild from 0 gives the same model',
    );
  },
);
