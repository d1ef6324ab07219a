import {
  accountOwnerOf,
  cancelSubscription,
  changeSubscriptionPack,
  createLedger,
  loadSubscription,
  seededPackId,
  seedPackCatalog,
  settleSubscription,
  subscribeToPack,
} from '@ledger/application';
import { fundedAccount } from '@ledger/application/testing';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { rebuildProjection, runProjection } from '@ledger/readmodel';
import t from 'tap';
import {
  dueSubscriptionIds,
  getPack,
  getSubscription,
  listPacks,
  listSubscriptions,
  packsProjection,
  subscriptionView,
} from './index.js';

// The packs read model on a real PostgreSQL store: the catalog as the streams define it,
// each subscription equal to the fold of its stream (so the scheduler's queue is the
// domain's next fee time), paging, and a rebuild from 0 that gives the same model.

const logger = createLogger({ level: 'silent', name: 'packs-test' });
const { store, database } = await openTestStore('packs_projection', t);
const ledger = createLedger(store);
const meta = { actorId: 'test' };
const runner = runProjection({ db: database.db, store, projection: packsProjection, logger });
t.teardown(() => runner.stop());

async function caughtUp() {
  const head = await store.lastWrittenPosition();
  if (!(await runner.waitFor(head, 20_000))) throw new Error('behind');
  return head;
}

const t0 = new Date('2027-03-31T10:00:00.000Z');
const day = 86_400_000;
await seedPackCatalog(store, t0);

async function subscriber(packId: string, balance: bigint, now = t0) {
  const accountId = await fundedAccount(ledger, balance, meta);
  const userId = (await accountOwnerOf(ledger, accountId))!;
  const outcome = await subscribeToPack(
    ledger,
    { userId, role: 'customer', metadata: meta, now },
    { packId, accountId },
  );
  if (!outcome.ok) throw new Error(outcome.rejection);
  return { userId, accountId, subscriptionId: outcome.subscription.id };
}

async function fold(subscriptionId: string) {
  const { state } = await loadSubscription(store, subscriptionId);
  if (state.status !== 'exists') throw new Error('no subscription');
  return subscriptionView(state.subscription);
}

t.test('the catalog, public and staff views, paged', async (t) => {
  await caughtUp();
  const all = await listPacks(database.db, { limit: 200, statuses: ['draft', 'active', 'retired'] });
  t.same(
    all.items.map((p) => p.name),
    ['Essential', 'Premium', 'Youth', 'Business'],
  );
  t.match(await getPack(database.db, seededPackId('Premium')), {
    monthlyFee: '12.90',
    currency: 'EUR',
    benefits: { transferAmountMax: '25000.00', dailyDebitMax: '50000.00', freeExternalTransfers: 20 },
    status: 'active',
    version: 1,
  });
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await listPacks(database.db, {
      limit: 1,
      statuses: ['active'],
      ...(cursor === undefined ? {} : { cursor }),
    });
    seen.push(...page.items.map((p) => p.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
  t.same(
    seen,
    all.items.map((p) => p.id),
    'following nextCursor yields each pack once, in order',
  );
});

t.test('each subscription equals the fold of its stream, through its life', async (t) => {
  const paying = await subscriber(seededPackId('Premium'), 100_000n);
  const failing = await subscriber(seededPackId('Business'), 0n);
  const cancelled = await subscriber(seededPackId('Essential'), 10_000n);
  const ids = [paying, failing, cancelled].map((s) => s.subscriptionId);
  const check = async (label: string) => {
    await caughtUp();
    for (const id of ids) t.same(await getSubscription(database.db, id), await fold(id), `${label}: ${id}`);
  };
  await check('started');
  // Started on 31 March: the periods end on 30 April, 31 May (month ends).
  t.equal(
    (await getSubscription(database.db, paying.subscriptionId))?.currentPeriodEnd,
    '2027-04-30T10:00:00.000Z',
  );
  t.equal((await getSubscription(database.db, failing.subscriptionId))?.status, 'past_due');
  t.same(
    await dueSubscriptionIds(database.db, { now: new Date(t0.getTime() + day), limit: 10 }),
    [failing.subscriptionId],
    'a day later only the failed fee is due (its first retry)',
  );
  await changeSubscriptionPack(
    ledger,
    { userId: paying.userId, role: 'customer', metadata: meta, now: new Date(t0.getTime() + 10 * day) },
    { subscriptionId: paying.subscriptionId, packId: seededPackId('Business') },
  );
  await cancelSubscription(
    ledger,
    { userId: cancelled.userId, role: 'customer', metadata: meta, now: new Date(t0.getTime() + 3 * day) },
    { subscriptionId: cancelled.subscriptionId },
  );
  for (let d = 1; d <= 70; d += 3) {
    for (const id of ids) await settleSubscription(ledger, id, new Date(t0.getTime() + d * day), meta);
  }
  await check('after 70 days');
  t.equal((await getSubscription(database.db, failing.subscriptionId))?.status, 'suspended');
  t.equal((await getSubscription(database.db, failing.subscriptionId))?.nextFeeAt, null);
  t.equal((await getSubscription(database.db, cancelled.subscriptionId))?.status, 'cancelled');
  const due = await dueSubscriptionIds(database.db, { now: new Date(t0.getTime() + 200 * day), limit: 10 });
  t.same(due, [paying.subscriptionId], 'only the live subscription has work ahead');

  const mine = await listSubscriptions(database.db, { userId: paying.userId, limit: 50 });
  t.same(
    mine.items.map((s) => s.id),
    [paying.subscriptionId],
    "a user's list holds their own only",
  );

  const head = await caughtUp();
  const rebuilt = await rebuildProjection({
    db: database.db,
    store,
    projection: packsProjection,
    schema: 'packs_rebuild',
    to: head,
  });
  for (const id of ids) {
    t.same(
      await getSubscription(database.db, id, rebuilt.schema),
      await getSubscription(database.db, id),
      'rebuilt from 0: the same',
    );
  }
  t.same(
    await listPacks(database.db, {
      limit: 200,
      statuses: ['draft', 'active', 'retired'],
      schema: rebuilt.schema,
    }),
    await listPacks(database.db, { limit: 200, statuses: ['draft', 'active', 'retired'] }),
  );
});
