import { randomUUID } from 'node:crypto';
import { openRawAccount, rawCredits, rawTransfer } from '@ledger/application/testing';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { accountStreamId } from '../ledger/index.js';
import { accountBalanceAt, balanceAtPageSize } from './balance-at.js';

// The point-in-time balance of one account, folded from its stream in a real PostgreSQL
// event store: now, at a position, as of a time, across pages; null for no account.

const { store } = await openTestStore('application_balance_at', t);

const pause = () => new Promise((resolve) => setTimeout(resolve, 20));

t.test('no such account: null', async (t) => {
  t.equal(await accountBalanceAt(store, randomUUID()), null);
  t.equal(await accountBalanceAt(store, randomUUID(), { asOf: new Date(), atPosition: 5n }), null);
});

t.test('now, at a position, as of a time; holds count against the available balance', async (t) => {
  const [account, other] = [await openRawAccount(store, 'EUR'), await openRawAccount(store, 'EUR')];
  const opened = (await store.readStream(accountStreamId(account)))[0]!;
  await pause();
  const deposit = await rawTransfer(store, {
    debit: other,
    credit: account,
    amount: 100_00n,
    leg: { kind: 'posted' },
  });
  const depositLeg = (await store.readStream(accountStreamId(account), { fromVersion: 1n }))[0]!;
  await pause();
  const hold = await rawTransfer(store, {
    debit: account,
    credit: other,
    amount: 30_00n,
    leg: { kind: 'pending' },
  });
  const holdLeg = (await store.readStream(accountStreamId(account), { fromVersion: 2n }))[0]!;

  t.same(await accountBalanceAt(store, account), {
    accountId: account,
    currency: 'EUR',
    balance: 100_00n,
    available: 70_00n,
    position: holdLeg.globalPosition,
  });
  t.ok(holdLeg.globalPosition <= hold.position);

  const atDeposit = { accountId: account, currency: 'EUR', balance: 100_00n, available: 100_00n };
  t.same(await accountBalanceAt(store, account, { atPosition: depositLeg.globalPosition }), {
    ...atDeposit,
    position: depositLeg.globalPosition,
  });
  t.same(await accountBalanceAt(store, account, { atPosition: holdLeg.globalPosition - 1n }), {
    ...atDeposit,
    position: depositLeg.globalPosition,
  });
  t.ok(depositLeg.globalPosition <= deposit.position);
  t.same(await accountBalanceAt(store, account, { asOf: new Date(depositLeg.recordedAt) }), {
    ...atDeposit,
    position: depositLeg.globalPosition,
  });
  t.same(
    await accountBalanceAt(store, account, { asOf: new Date(opened.recordedAt) }),
    { accountId: account, currency: 'EUR', balance: 0n, available: 0n, position: opened.globalPosition },
    'opened, nothing moved yet',
  );
  t.same(
    await accountBalanceAt(store, account, { asOf: new Date('2000-01-01T00:00:00Z') }),
    { accountId: account, currency: 'EUR', balance: 0n, available: 0n, position: 0n },
    'before it was opened: its currency, a zero balance, no position',
  );
  // Both cuts: the fold stops at whichever comes first.
  t.same(
    await accountBalanceAt(store, account, {
      asOf: new Date(Date.now() + 3600_000),
      atPosition: depositLeg.globalPosition,
    }),
    { ...atDeposit, position: depositLeg.globalPosition },
  );
});

t.test('a stream longer than a page: folded across pages, the cut in a later page', async (t) => {
  const [account, other] = [await openRawAccount(store, 'JPY'), await openRawAccount(store, 'JPY')];
  const count = balanceAtPageSize + 150;
  await rawCredits(store, { credit: account, counterparty: other, amount: 2n, count });
  const all = await accountBalanceAt(store, account);
  t.match(all, { currency: 'JPY', balance: BigInt(2 * count), available: BigInt(2 * count) });
  // Versions: 0 is AccountOpened, 1..count the credits.
  const [late] = await store.readStream(accountStreamId(account), {
    fromVersion: BigInt(balanceAtPageSize + 100),
  });
  const atLate = await accountBalanceAt(store, account, { atPosition: late!.globalPosition });
  t.same(atLate, {
    accountId: account,
    currency: 'JPY',
    balance: BigInt(2 * (balanceAtPageSize + 100)),
    available: BigInt(2 * (balanceAtPageSize + 100)),
    position: late!.globalPosition,
  });
});
