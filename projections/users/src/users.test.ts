import { randomUUID } from 'node:crypto';
import { emailStreamId, identityEventSchemaVersion, usernameStreamId, userStreamId } from '@ledger/contracts';
import type { EventStore } from '@ledger/eventstore';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { rebuildProjection, runProjection } from '@ledger/readmodel';
import t from 'tap';
import { listUsers, usersProjection } from './index.js';

const logger = createLogger({ level: 'silent', name: 'users-test' });
const { store, database } = await openTestStore('users_projection', t);

const at = '2026-01-01T10:00:00.000Z';

async function user(store: EventStore, username: string, events: { type: string; data: object }[] = []) {
  const userId = randomUUID();
  const v = identityEventSchemaVersion;
  await store.append([
    {
      streamId: userStreamId(userId),
      expectedVersion: 'no_stream',
      events: [
        {
          type: 'UserRegistered',
          schemaVersion: v,
          data: {
            userId,
            username,
            email: `${username}@example.com`,
            passwordHash: '$2b$04$xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
            role: 'customer',
            firstName: 'First',
            lastName: null,
            dateOfBirth: null,
            phone: null,
            registeredAt: at,
            via: 'self',
          },
        },
        ...events.map((e) => ({ type: e.type, schemaVersion: v, data: { userId, at, ...e.data } })),
      ],
    },
    {
      streamId: usernameStreamId(username),
      expectedVersion: 'no_stream',
      events: [{ type: 'UsernameReserved', data: { userId, username } }],
    },
    {
      streamId: emailStreamId(`${username}@example.com`),
      expectedVersion: 'no_stream',
      events: [{ type: 'EmailReserved', data: { userId, email: `${username}@example.com` } }],
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
    const page = await listUsers(database.db, { limit: 200, now });
    t.same(
      page.items.map((u) => [u.username, u.role, u.locked, u.twoFactorEnabled]),
      [
        ['plain', 'customer', false, false],
        ['promoted', 'manager', false, false],
        ['locked', 'customer', true, false],
        ['staff_locked', 'customer', true, false],
        ['twofa', 'customer', false, true],
      ],
    );
    t.match(page.items[4], { firstName: 'First', lastName: 'Last', phone: '+1 555 0100' });
    t.equal(page.nextCursor, null);
    const later = await listUsers(database.db, { limit: 200, now: new Date('2026-01-01T10:20:00.000Z') });
    t.equal(later.items[2]?.locked, false, 'a timed lock ends by itself');
    t.equal(later.items[3]?.locked, true, "a staff lock doesn't");

    const first = await listUsers(database.db, { limit: 2, now });
    t.equal(first.items.length, 2);
    const second = await listUsers(database.db, { limit: 2, now, cursor: first.nextCursor! });
    t.same(
      second.items.map((u) => u.username),
      ['locked', 'staff_locked'],
    );
    t.same(
      (await listUsers(database.db, { limit: 200, now, role: 'manager' })).items.map((u) => u.username),
      ['promoted'],
    );
    await t.rejects(listUsers(database.db, { limit: 2, now, cursor: 'nope' }), { name: 'InvalidUserCursor' });

    const rebuilt = await rebuildProjection({
      db: database.db,
      store,
      projection: usersProjection,
      schema: 'users_rebuild',
      to: head,
    });
    t.same(
      await listUsers(database.db, { limit: 200, now, schema: rebuilt.schema }),
      page,
      'rebuild from 0 gives the same model',
    );
  },
);
