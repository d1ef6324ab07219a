import { randomUUID } from 'node:crypto';
import { accountPackStreamId, subscriptionStreamId } from '@ledger/contracts';
import { balanceOf } from '@ledger/domain/ledger';
import { addMonths } from '@ledger/domain/packs';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import {
  bankAccountId,
  createLedger,
  createTransfer,
  ensureBankAccounts,
  type Ledger,
  loadAccount,
  loadTransfer,
  openCustomerAccount,
  runTransferCommand,
  transferIdFor,
} from '../ledger/index.js';
import {
  cancelSubscription,
  changePack,
  changeSubscriptionPack,
  createPack,
  feeTransferId,
  loadSubscription,
  type PackCaller,
  seedCatalog,
  seededPackId,
  seedPackCatalog,
  settleSubscription,
  subscribeToPack,
} from './index.js';

// Packs on a real PostgreSQL store, with a clock the test moves: fees per period, once each
// however many settle at once, the pro-rata of a change, dunning then suspension, benefits.

const { store } = await openTestStore('application_packs', t);
const ledger = createLedger(store);
const meta = { actorId: 'test' };
const t0 = new Date('2027-01-10T09:00:00.000Z');
const day = 86_400_000;
const at = (ms: number) => new Date(t0.getTime() + ms);

await seedPackCatalog(store, t0);
const essential = seededPackId('Essential');
const premium = seededPackId('Premium');
const business = seededPackId('Business');
const youth = seededPackId('Youth');

const customer = (userId: string, now = t0): PackCaller => ({
  userId,
  role: 'customer',
  metadata: meta,
  now,
});

async function account(balance: bigint, ownerId = randomUUID()) {
  const opened = await openCustomerAccount(
    ledger,
    { ownerId, accountType: 'checking', currency: 'EUR', kycVerified: true, now: t0 },
    meta,
  );
  if (!opened.ok) throw new Error(opened.code);
  if (balance > 0n) {
    await ensureBankAccounts(ledger, 'EUR', t0, meta);
    const deposit = await runTransferCommand(
      ledger,
      {
        type: 'CreateTransfer',
        transferId: transferIdFor('teller', randomUUID()),
        debitAccountId: bankAccountId('EUR', 'cash'),
        creditAccountId: opened.account.id,
        amount: balance,
        currency: 'EUR',
        code: 'deposit',
        mode: 'single-phase',
        now: t0,
      },
      meta,
    );
    t.equal(deposit.status, 'accepted', 'the deposit is made');
  }
  return { ownerId, accountId: opened.account.id };
}

async function balance(accountId: string, on: Ledger = ledger) {
  const { state } = await loadAccount(on, accountId);
  if (state.status === 'none') throw new Error('no account');
  return balanceOf(state);
}

/** The fee transfers of a subscription's charges that were posted, read from the store. */
async function postedFees(subscriptionId: string) {
  const { state } = await loadSubscription(store, subscriptionId);
  if (state.status !== 'exists') throw new Error('no subscription');
  const events = await store.readStream(subscriptionStreamId(subscriptionId));
  const paid = events
    .filter((e) => e.type === 'SubscriptionChargePaid')
    .map((e) => e.data as { transferId: string });
  const transfers = await Promise.all(paid.map((p) => loadTransfer(ledger, p.transferId)));
  return transfers.map(({ state: transfer }) => {
    if (transfer.status === 'none' || transfer.status === 'rejected') throw new Error('fee transfer missing');
    return { status: transfer.status, amount: transfer.amount, code: transfer.code };
  });
}

t.test('three months pass: three fees, each once, even with two schedulers at once', async (t) => {
  const { ownerId, accountId } = await account(100_000n);
  const feeIncomeBefore = await balance(bankAccountId('EUR', 'fee-income'));
  const started = await subscribeToPack(ledger, customer(ownerId), { packId: premium, accountId });
  if (!started.ok) throw new Error(started.rejection);
  t.equal(started.subscription.status, 'active');
  t.equal(started.subscription.periodEnd.toISOString(), '2027-02-10T09:00:00.000Z');
  // A second ledger is a second process: its scheduler races this one's on every tick.
  const other = createLedger(store);
  for (let d = 1; d < 90; d++) {
    const now = at(d * day);
    await Promise.all([
      settleSubscription(ledger, started.subscription.id, now, meta),
      settleSubscription(other, started.subscription.id, now, meta),
    ]);
  }
  const fees = await postedFees(started.subscription.id);
  t.same(
    fees.map((f) => [f.status, f.amount, f.code]),
    [
      ['posted', 1290n, 'fee'],
      ['posted', 1290n, 'fee'],
      ['posted', 1290n, 'fee'],
    ],
    'periods 0, 1 and 2 charged, 12.90 each',
  );
  t.equal(await balance(accountId), 100_000n - 3n * 1290n, 'the account paid exactly three fees');
  t.equal(
    (await balance(bankAccountId('EUR', 'fee-income'))) - feeIncomeBefore,
    3n * 1290n,
    'fee income credited with them',
  );
  const settled = await settleSubscription(ledger, started.subscription.id, at(89 * day), meta);
  t.equal(settled?.steps, 0, 'a re-run later the same day finds nothing to do');
  t.equal(settled?.subscription.period, 2);
  t.equal(settled?.subscription.periodEnd.toISOString(), addMonths(t0, 3).toISOString());
});

t.test('a mid-month change charges the pro-rata difference, to the minor unit', async (t) => {
  const { ownerId, accountId } = await account(100_000n);
  const started = await subscribeToPack(ledger, customer(ownerId), { packId: essential, accountId });
  if (!started.ok) throw new Error(started.rejection);
  // 2027-01-10 → 2027-02-10: 31 days; on 2027-01-25, 16 days are left (the 25th included).
  const changeAt = new Date('2027-01-25T15:30:00.000Z');
  const changed = await changeSubscriptionPack(ledger, customer(ownerId, changeAt), {
    subscriptionId: started.subscription.id,
    packId: premium,
  });
  if (!changed.ok) throw new Error(changed.rejection);
  t.equal(changed.subscription.packId, premium);
  // (12.90 − 2.00) × 16 ÷ 31 = 5.6258… → 5.62 charged (rounded down).
  t.same(
    (await postedFees(started.subscription.id)).map((f) => f.amount),
    [200n, 562n],
    'the essential fee, then the pro-rata to premium',
  );
  // Back down on 2027-02-03 (7 days left): (2.00 − 12.90) × 7 ÷ 31 = −2.4612… → 2.47 refunded.
  const downAt = new Date('2027-02-03T08:00:00.000Z');
  const down = await changeSubscriptionPack(ledger, customer(ownerId, downAt), {
    subscriptionId: started.subscription.id,
    packId: essential,
  });
  if (!down.ok) throw new Error(down.rejection);
  t.equal(await balance(accountId), 100_000n - 200n - 562n + 247n, 'the refund reached the account');
  const events = await store.readStream(subscriptionStreamId(started.subscription.id));
  const changes = events.filter((e) => e.type === 'SubscriptionPackChanged').map((e) => e.data);
  t.match(changes, [
    { daysLeft: 16, periodDays: 31, fromFee: '200', toFee: '1290', adjustment: '562' },
    { daysLeft: 7, periodDays: 31, fromFee: '1290', toFee: '200', adjustment: '-247' },
  ]);
  // The next period costs the pack's fee in full (the refund is the third transfer).
  await settleSubscription(ledger, started.subscription.id, new Date('2027-02-10T09:00:00.000Z'), meta);
  t.same(
    (await postedFees(started.subscription.id)).map((f) => f.amount),
    [200n, 562n, 247n, 200n],
  );
});

t.test('a fee that cannot be paid: retried after 1, 3 and 7 days, then suspended', async (t) => {
  const { ownerId, accountId } = await account(0n);
  const started = await subscribeToPack(ledger, customer(ownerId), { packId: business, accountId });
  if (!started.ok) throw new Error(started.rejection);
  t.equal(started.subscription.status, 'past_due', 'the first fee failed');
  t.equal(
    started.subscription.outstanding[0]?.dueAt.toISOString(),
    at(day).toISOString(),
    'retried a day later',
  );
  const id = started.subscription.id;
  for (const d of [1, 2, 3]) await settleSubscription(ledger, id, at(d * day), meta);
  let { state } = await loadSubscription(store, id);
  if (state.status !== 'exists') throw new Error('gone');
  t.equal(state.subscription.outstanding[0]?.failures, 3, 'attempts on days 0, 1 and 3 failed');
  t.equal(state.subscription.status, 'past_due');
  for (const d of [4, 5, 6, 7]) await settleSubscription(ledger, id, at(d * day), meta);
  ({ state } = await loadSubscription(store, id));
  if (state.status !== 'exists') throw new Error('gone');
  t.equal(state.subscription.status, 'suspended', 'the fourth failure on day 7 suspends it');
  const events = await store.readStream(subscriptionStreamId(id));
  t.same(
    events
      .filter((e) => e.type === 'SubscriptionChargeFailed')
      .map((e) => (e.data as { attempt: number; at: string }).at),
    [0, 1, 3, 7].map((d) => at(d * day).toISOString()),
  );
  t.equal(await balance(accountId), 0n, 'nothing was taken');
  const later = await settleSubscription(ledger, id, at(200 * day), meta);
  t.equal(later?.steps, 0, 'a suspended subscription begins no period and charges nothing');
  // Paid in time, the next attempt clears it.
  const second = await account(0n);
  const s2 = await subscribeToPack(ledger, customer(second.ownerId), {
    packId: premium,
    accountId: second.accountId,
  });
  if (!s2.ok) throw new Error(s2.rejection);
  await runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: transferIdFor('teller', randomUUID()),
      debitAccountId: bankAccountId('EUR', 'cash'),
      creditAccountId: second.accountId,
      amount: 5_000n,
      currency: 'EUR',
      code: 'deposit',
      mode: 'single-phase',
      now: t0,
    },
    meta,
  );
  const paid = await settleSubscription(ledger, s2.subscription.id, at(day), meta);
  t.equal(paid?.subscription.status, 'active', 'paid on the first retry: active again');
  t.equal(await balance(second.accountId), 5_000n - 1290n);
  const last = (await store.readStream(subscriptionStreamId(s2.subscription.id))).at(-1);
  t.match(
    last,
    {
      type: 'SubscriptionChargePaid',
      data: { key: 'p0', attempt: 1, transferId: feeTransferId(s2.subscription.id, 'p0', 1) },
    },
    'the retry is attempt 1, with a transfer of its own',
  );
});

t.test('benefits: premium lets through what essential refuses', async (t) => {
  const payee = await account(0n);
  const run = async (packId: string) => {
    const { ownerId, accountId } = await account(2_000_000n);
    const started = await subscribeToPack(ledger, customer(ownerId), { packId, accountId });
    if (!started.ok) throw new Error(started.rejection);
    return createTransfer(
      ledger,
      { userId: ownerId, role: 'customer', kycStatus: 'verified', metadata: meta, now: t0 },
      {
        idempotencyKey: randomUUID(),
        fromAccountId: accountId,
        to: { accountId: payee.accountId },
        amount: 1_500_000n,
        currency: 'EUR',
        mode: 'immediate',
        reference: null,
      },
    );
  };
  const refused = await run(essential);
  t.match(refused, {
    status: 'rejected',
    rejection: { code: 'limit_exceeded', limit: 'transfer_amount_max' },
  });
  const allowed = await run(premium);
  t.equal(allowed.status, 'accepted', 'premium raises the per-transfer limit to 25,000.00');
});

t.test('refusals: another account, the same pack twice, a retired pack, a draft', async (t) => {
  const { ownerId, accountId } = await account(10_000n);
  const stranger = randomUUID();
  t.match(await subscribeToPack(ledger, customer(stranger), { packId: essential, accountId }), {
    ok: false,
    rejection: 'account_not_found',
  });
  const first = await subscribeToPack(ledger, customer(ownerId), { packId: youth, accountId });
  if (!first.ok) throw new Error(first.rejection);
  t.equal(first.subscription.outstanding.length, 0, 'youth: the first period is waived');
  t.match(await subscribeToPack(ledger, customer(ownerId), { packId: youth, accountId }), {
    ok: false,
    rejection: 'already_subscribed',
  });
  t.match(await subscribeToPack(ledger, customer(ownerId), { packId: premium, accountId }), {
    ok: false,
    rejection: 'already_subscribed',
  });
  t.match(
    await changeSubscriptionPack(ledger, customer(ownerId), {
      subscriptionId: first.subscription.id,
      packId: youth,
    }),
    { ok: false, rejection: 'already_subscribed' },
  );
  t.match(
    await changeSubscriptionPack(ledger, customer(stranger), {
      subscriptionId: first.subscription.id,
      packId: premium,
    }),
    { ok: false, rejection: 'subscription_not_found' },
  );

  const manager = { userId: randomUUID(), role: 'manager' as const, metadata: meta, now: t0 };
  const packId = randomUUID();
  const body = { ...seedCatalog[0]!, name: 'Legacy', status: 'active' as const };
  t.match(await createPack(store, { ...manager, role: 'customer' }, { packId, body }), {
    ok: false,
    rejection: 'forbidden',
  });
  t.match(await createPack(store, manager, { packId, body }), { ok: true, pack: { version: 1 } });
  t.match(await changePack(store, manager, { packId, body: { ...body, status: 'retired' } }), {
    ok: true,
    pack: { version: 2, status: 'retired' },
  });
  const other = await account(10_000n);
  t.match(await subscribeToPack(ledger, customer(other.ownerId), { packId, accountId: other.accountId }), {
    ok: false,
    rejection: 'pack_retired',
  });
  t.match(await changePack(store, manager, { packId, body: { ...body, status: 'active' } }), {
    ok: false,
    rejection: 'pack_retired',
  });
  const draftId = randomUUID();
  await createPack(store, manager, { packId: draftId, body: { ...body, status: 'draft' } });
  t.match(
    await subscribeToPack(ledger, customer(other.ownerId), { packId: draftId, accountId: other.accountId }),
    {
      ok: false,
      rejection: 'pack_not_found',
    },
  );
  for (const [monthlyFee, message] of [
    ['-1.00', 'must not be negative'],
    ['1.001', "has more decimals than the currency's exponent"],
    ['1e3', 'must be a plain decimal string, e.g. "12.50"'],
  ] as const) {
    t.match(await createPack(store, manager, { packId: randomUUID(), body: { ...body, monthlyFee } }), {
      ok: false,
      rejection: 'invalid_pack',
      errors: [{ path: 'monthlyFee', message }],
    });
  }
  t.match(await createPack(store, manager, { packId: randomUUID(), body: { ...body, currency: 'XYZ' } }), {
    ok: false,
    rejection: 'invalid_pack',
    errors: [{ path: 'currency' }],
  });
});

t.test('a cancellation frees the slot; benefits last to the end of the period', async (t) => {
  const { ownerId, accountId } = await account(10_000n);
  const started = await subscribeToPack(ledger, customer(ownerId), { packId: premium, accountId });
  if (!started.ok) throw new Error(started.rejection);
  const cancelAt = at(5 * day);
  const cancelled = await cancelSubscription(ledger, customer(ownerId, cancelAt), {
    subscriptionId: started.subscription.id,
  });
  t.match(cancelled, { ok: true, subscription: { status: 'cancelled' } });
  if (!cancelled.ok) throw new Error(cancelled.rejection);
  t.equal(cancelled.subscription.endsAt?.toISOString(), started.subscription.periodEnd.toISOString());
  const slot = await store.readStream(accountPackStreamId(accountId));
  t.same(
    slot.map((e) => e.type),
    ['AccountPackTaken', 'AccountPackReleased'],
  );
  const later = await settleSubscription(ledger, started.subscription.id, at(100 * day), meta);
  t.equal(later?.steps, 0, 'no period begins after a cancellation');
  t.same((await postedFees(started.subscription.id)).length, 1, 'only the first fee was charged');
  const again = await subscribeToPack(ledger, customer(ownerId, cancelAt), { packId: essential, accountId });
  t.equal(again.ok, true, 'the account may take a pack again');
});
