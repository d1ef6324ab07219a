import { randomUUID } from 'node:crypto';
import { accountOwnerOf, createLedger, runTransferCommand } from '@ledger/application';
import { fundedAccount } from '@ledger/application/testing';
import {
  notificationEventSchemaVersion,
  notificationPreferencesStreamId,
  notificationReadStreamId,
} from '@ledger/contracts';
import { defaultNotificationPreferences } from '@ledger/domain/notifications';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { rebuildProjection, runProjection } from '@ledger/readmodel';
import t from 'tap';
import { isNotificationOf, listNotifications, notificationsProjection, unreadCount } from './index.js';

// The in-app read model on a real PostgreSQL store: what it stores (the in-app intents the
// recipient wants, as of the event), an unread counter that stays exact, a replay that
// inserts nothing twice, and a rebuild from 0 that gives the same model.

const logger = createLogger({ level: 'silent', name: 'notifications-test' });
const { store, database } = await openTestStore('notifications_projection', t);
const ledger = createLedger(store);
const meta = { actorId: 'test' };
const projection = notificationsProjection({ ledger });
const runner = runProjection({ db: database.db, store, projection, logger });
t.teardown(() => runner.stop());

async function caughtUp() {
  const head = await store.lastWrittenPosition();
  if (!(await runner.waitFor(head, 20_000))) throw new Error('behind');
  return head;
}

const pay = (from: string, to: string, amount: bigint) =>
  runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: randomUUID(),
      debitAccountId: from,
      creditAccountId: to,
      amount,
      currency: 'EUR',
      code: 'transfer',
      mode: 'single-phase',
      limits: {},
      now: new Date(),
    },
    meta,
  );

async function setInApp(userId: string, transfers: boolean) {
  const preferences = defaultNotificationPreferences();
  preferences.inApp.transfers = transfers;
  await store.append([
    {
      streamId: notificationPreferencesStreamId(userId),
      expectedVersion: 'any',
      events: [
        {
          type: 'NotificationPreferencesChanged',
          schemaVersion: notificationEventSchemaVersion,
          data: { userId, at: new Date().toISOString(), preferences },
        },
      ],
    },
  ]);
}

async function read(notificationId: string, userId: string) {
  await store.append([
    {
      // A stream per (test) read: the projection must not count a second read twice.
      streamId: `${notificationReadStreamId(notificationId)}-${randomUUID()}`,
      expectedVersion: 'no_stream',
      events: [
        {
          type: 'NotificationRead',
          schemaVersion: notificationEventSchemaVersion,
          data: { notificationId, userId, at: new Date().toISOString() },
        },
      ],
    },
  ]);
}

t.test('stored per preferences as of the event; counter exact; replay and rebuild the same', async (t) => {
  const from = await fundedAccount(ledger, 1_000_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  const payer = (await accountOwnerOf(ledger, from))!;
  const payee = (await accountOwnerOf(ledger, to))!;
  for (let i = 0; i < 30; i++) t.equal((await pay(from, to, 1_00n)).status, 'accepted');
  await setInApp(payee, false);
  for (let i = 0; i < 5; i++) await pay(from, to, 2_00n);
  await setInApp(payee, true);
  for (let i = 0; i < 10; i++) await pay(from, to, 3_00n);
  await caughtUp();

  const all = await listNotifications(database.db, { userId: payee, limit: 200 });
  t.equal(all.items.length, 40, 'the 5 received while transfers were off in-app are not stored');
  t.notOk(
    all.items.some((i) => i.body.includes('2.00 EUR')),
    'none of those',
  );
  t.equal(all.unreadCount, 40);
  t.equal(
    (await listNotifications(database.db, { userId: payer, limit: 200 })).items.length,
    45,
    'the payer: sent',
  );

  // Reads: one twice, one by the wrong user (nothing), the counter follows.
  const [a, b, c] = all.items;
  await read(a!.id, payee);
  await read(a!.id, payee);
  await read(b!.id, payee);
  await read(c!.id, payer);
  await caughtUp();
  t.equal(await unreadCount(database.db, payee), 38, 'two read, each counted once');
  t.equal(await unreadCount(database.db, payer), 45, 'another user’s read changed nothing of theirs');
  t.ok(await isNotificationOf(database.db, c!.id, payee));
  t.notOk(await isNotificationOf(database.db, c!.id, payer));
  const unread = await listNotifications(database.db, { userId: payee, limit: 200, unread: true });
  t.equal(unread.items.length, 38);
  t.notOk(unread.items.some((i) => i.id === a!.id || i.id === b!.id));

  // Replayed (a batch redone after a crash): nothing inserted or counted twice.
  const head = await caughtUp();
  const events = await store.readAll({ after: 0n, limit: 5000 });
  const handled = new Set(projection.handles);
  await database.db.transaction().execute(async (tx) => {
    for (const event of events) {
      if (handled.has(event.type)) await projection.apply(tx.withSchema(projection.schema), event);
    }
  });
  // And replayed as one batch, through applyBatch.
  await database.db.transaction().execute(async (tx) => {
    await projection.applyBatch!(
      tx.withSchema(projection.schema),
      events.filter((event) => handled.has(event.type)),
    );
  });
  const again = await listNotifications(database.db, { userId: payee, limit: 200 });
  t.same(again, await listNotifications(database.db, { userId: payee, limit: 200 }));
  t.equal(again.items.length, 40, 'a replay stores nothing twice');
  t.equal(again.unreadCount, 38, 'nor counts anything twice');

  const rebuilt = await rebuildProjection({
    db: database.db,
    store,
    projection: notificationsProjection({ store }),
    schema: 'notifications_rebuild',
    to: head,
  });
  for (const userId of [payer, payee]) {
    t.same(
      await listNotifications(database.db, { userId, limit: 200, schema: rebuilt.schema }),
      await listNotifications(database.db, { userId, limit: 200 }),
      'rebuilt from 0: the same notifications, read marks and counts',
    );
  }
});

t.test('an erasure deletes the user’s notifications and count', async (t) => {
  const from = await fundedAccount(ledger, 100_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  const payee = (await accountOwnerOf(ledger, to))!;
  for (let i = 0; i < 3; i++) await pay(from, to, 1_00n);
  await caughtUp();
  t.equal(await unreadCount(database.db, payee), 3);
  await store.append([
    {
      streamId: `user-${payee}`,
      expectedVersion: 'any',
      events: [
        {
          type: 'PersonalDataErased',
          schemaVersion: 1,
          data: { userId: payee, at: new Date().toISOString(), by: randomUUID() },
        },
      ],
    },
  ]);
  await caughtUp();
  t.same((await listNotifications(database.db, { userId: payee, limit: 200 })).items, []);
  t.equal(await unreadCount(database.db, payee), 0);
});
