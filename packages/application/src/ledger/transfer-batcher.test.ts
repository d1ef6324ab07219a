import { randomUUID } from 'node:crypto';
import { createTransfer } from '@ledger/application/testing';
import { balanceOf, type TransferCommand } from '@ledger/domain/ledger';
import { PostgresEventStore } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import {
  bankAccountId,
  createLedger,
  ensureBankAccounts,
  type Ledger,
  loadAccount,
  openCustomerAccount,
  runTransferCommand,
  transferIdFor,
  transferStreamId,
} from './index.js';
import type { TransferOutcome } from './transfers.js';

// Hot accounts: creates decided in memory and appended together (transfer-batcher.ts),
// against a real PostgreSQL event store, with real concurrency.

const { store, database } = await openTestStore('application_batcher', t);
const ledger = createLedger(store);
const meta = { actorId: 'test' };
await ensureBankAccounts(ledger, 'EUR', new Date(), meta);

async function open(onLedger: Ledger = ledger): Promise<string> {
  const result = await openCustomerAccount(
    onLedger,
    { ownerId: randomUUID(), accountType: 'checking', currency: 'EUR', kycVerified: true, now: new Date() },
    meta,
  );
  if (!result.ok) throw new Error(result.code);
  return result.account.id;
}

async function fund(accountId: string, amount: bigint): Promise<void> {
  const outcome = await runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: transferIdFor('teller', randomUUID()),
      debitAccountId: bankAccountId('EUR', 'cash'),
      creditAccountId: accountId,
      amount,
      currency: 'EUR',
      code: 'deposit',
      mode: 'single-phase',
      now: new Date(),
    },
    meta,
  );
  if (outcome.status !== 'accepted')
    throw new Error(`deposit ${JSON.stringify(outcome, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
}

async function balance(accountId: string, on: Ledger = ledger): Promise<bigint> {
  const { state } = await loadAccount(on, accountId);
  if (state.status === 'none') throw new Error(`no account ${accountId}`);
  return balanceOf(state);
}

/** The position an outcome answers with (accepted or replayed). */
const positionOf = (outcome: TransferOutcome | undefined) =>
  outcome !== undefined && outcome.status !== 'rejected' ? outcome.position : null;

/** The position a transfer's own stream ends at, as stored. */
async function storedPosition(transferId: string): Promise<bigint> {
  const events = await store.readStream(transferStreamId(transferId));
  return events.at(-1)!.globalPosition;
}

t.test('200 creates on 4 hot accounts at once: each its own outcome, far fewer appends', async (t) => {
  const accounts = [await open(), await open(), await open(), await open()];
  for (const id of accounts) await fund(id, 1_000_00n);
  const before = { ...ledger.transfers.stats };
  const commands = Array.from({ length: 200 }, (_, i) =>
    createTransfer(accounts[i % 4]!, accounts[(i + 1 + (i % 3)) % 4]!, BigInt(1 + (i % 7))),
  );
  const outcomes = await Promise.all(commands.map((c) => runTransferCommand(ledger, c, meta)));
  t.same(
    outcomes.map((o) => o.status),
    commands.map(() => 'accepted'),
    'every transfer accepted',
  );
  t.same(
    outcomes.map((o) => (o.status === 'accepted' ? o.transfer.id : null)),
    commands.map((c) => c.transferId),
    'each answer is its own transfer',
  );
  t.same(
    outcomes.map((o) => (o.status === 'accepted' ? o.position : null)),
    await Promise.all(commands.map((c) => storedPosition(c.transferId))),
    "each answer has its own transfer's position",
  );
  const batches = ledger.transfers.stats.batches - before.batches;
  t.equal(ledger.transfers.stats.batchedCommands - before.batchedCommands, 200, 'all went through batches');
  t.ok(batches <= 200 / 4, `${batches} appends for 200 transfers`);
  // Money moved exactly as decided: each account's net from the commands.
  const net = new Map(accounts.map((id) => [id, 1_000_00n]));
  for (const c of commands) {
    if (c.type !== 'CreateTransfer') continue;
    net.set(c.debitAccountId, net.get(c.debitAccountId)! - c.amount);
    net.set(c.creditAccountId, net.get(c.creditAccountId)! + c.amount);
  }
  // Read from the store through a ledger with no cache: what is stored, not what was remembered.
  const fresh = createLedger(store);
  for (const id of accounts) t.equal(await balance(id, fresh), net.get(id), `balance of ${id.slice(0, 8)}`);
  t.ok((await store.verify()).ok, 'chains verify');
});

t.test('transfers on unrelated accounts are not made one append: each is its own batch', async (t) => {
  const accounts = await Promise.all(Array.from({ length: 20 }, () => open()));
  for (const id of accounts.slice(0, 10)) await fund(id, 10_00n);
  const before = ledger.transfers.stats.batches;
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      runTransferCommand(ledger, createTransfer(accounts[i]!, accounts[10 + i]!, 1_00n), meta),
    ),
  );
  t.same(
    outcomes.map((o) => o.status),
    outcomes.map(() => 'accepted'),
  );
  t.equal(ledger.transfers.stats.batches - before, 10, 'ten batches of one');
});

t.test('one account, 20 debits of 1.00 against 10.00: the first 10 in arrival order win', async (t) => {
  const from = await open();
  const to = await open();
  await fund(from, 10_00n);
  const commands = Array.from({ length: 20 }, () => createTransfer(from, to, 1_00n));
  const outcomes = await Promise.all(commands.map((c) => runTransferCommand(ledger, c, meta)));
  t.same(
    outcomes.map((o) => (o.status === 'rejected' ? o.rejection.code : o.status)),
    [...Array(10).fill('accepted'), ...Array(10).fill('insufficient_funds')],
    'decided in order',
  );
  t.equal(await balance(from, createLedger(store)), 0n);
  t.equal(await balance(to, createLedger(store)), 10_00n);
});

t.test('two processes on the same hot accounts: none lost, none doubled', async (t) => {
  const other = createLedger(await PostgresEventStore.open(database.sql, { migrate: false }));
  t.teardown(() => other.store.close());
  const accounts = [await open(), await open(), await open(), await open()];
  for (const id of accounts) await fund(id, 1_000_00n);
  const commands = Array.from({ length: 160 }, (_, i) =>
    createTransfer(accounts[i % 4]!, accounts[(i + 2) % 4]!, BigInt(100 + i)),
  );
  const conflictsBefore = ledger.transfers.stats.conflicts + other.transfers.stats.conflicts;
  const outcomes = await Promise.all(
    commands.map((c, i) => runTransferCommand(i % 2 === 0 ? ledger : other, c, meta)),
  );
  t.ok(
    outcomes.every((o) => o.status === 'accepted'),
    'every transfer accepted',
  );
  const conflicts = ledger.transfers.stats.conflicts + other.transfers.stats.conflicts - conflictsBefore;
  t.comment(`batches decided again after the other process wrote: ${conflicts}`);
  const fresh = createLedger(store);
  const net = new Map(accounts.map((id) => [id, 1_000_00n]));
  for (const c of commands) {
    if (c.type !== 'CreateTransfer') continue;
    net.set(c.debitAccountId, net.get(c.debitAccountId)! - c.amount);
    net.set(c.creditAccountId, net.get(c.creditAccountId)! + c.amount);
  }
  for (const id of accounts) t.equal(await balance(id, fresh), net.get(id), `balance of ${id.slice(0, 8)}`);
  const counts = await Promise.all(
    commands.map(async (c) => (await store.readStream(transferStreamId(c.transferId))).length),
  );
  t.same(
    counts,
    commands.map(() => 1),
    'each transfer stored once',
  );
  // A stale fold in one process is caught by its expected versions, and decided again.
  const otherConflicts = other.transfers.stats.conflicts;
  await runTransferCommand(ledger, createTransfer(accounts[0]!, accounts[1]!, 1n), meta);
  const late = await Promise.all(
    [0, 1, 2].map(() => runTransferCommand(other, createTransfer(accounts[0]!, accounts[1]!, 1n), meta)),
  );
  t.same(
    late.map((o) => o.status),
    ['accepted', 'accepted', 'accepted'],
  );
  t.ok(
    other.transfers.stats.conflicts > otherConflicts,
    'its batch met the other write and was decided again',
  );
  t.equal(await balance(accounts[1]!, createLedger(store)), net.get(accounts[1]!)! + 4n);
});

t.test('a replay in a batch is answered as the first time; the others go on', async (t) => {
  const a = await open();
  const b = await open();
  await fund(a, 100_00n);
  const first = createTransfer(a, b, 5_00n);
  const firstOutcome = await runTransferCommand(ledger, first, meta);
  t.equal(firstOutcome.status, 'accepted');
  const others = Array.from({ length: 5 }, () => createTransfer(a, b, 1_00n));
  const outcomes = await Promise.all([first, ...others].map((c) => runTransferCommand(ledger, c, meta)));
  t.equal(outcomes[0]!.status, 'replayed', 'the same transfer again: replayed');
  t.equal(positionOf(outcomes[0]), positionOf(firstOutcome), 'with the first answer position');
  t.same(
    outcomes.slice(1).map((o) => o.status),
    others.map(() => 'accepted'),
  );
  t.equal(await balance(a, createLedger(store)), 100_00n - 5_00n - 5n * 1_00n, 'the replay moved nothing');
});

t.test('a poisoned command fails alone: the rest of its batch is appended', async (t) => {
  const a = await open();
  const b = await open();
  await fund(a, 100_00n);
  const good = Array.from({ length: 6 }, () => createTransfer(a, b, 1_00n));
  // Its deciding throws: an external transfer names a beneficiary (an invariant, asserted).
  const badDecide = createTransfer(a, b, 1_00n, { code: 'external', mode: 'two-phase' });
  // Its append fails: metadata the store cannot serialise (a bigint).
  const badAppend = createTransfer(a, b, 1_00n);
  const poisonedMeta = { actorId: 'test', poison: 1n } as unknown as typeof meta;
  const runs = [
    ...good.slice(0, 3).map((c) => runTransferCommand(ledger, c, meta)),
    runTransferCommand(ledger, badDecide, meta),
    runTransferCommand(ledger, badAppend, poisonedMeta),
    ...good.slice(3).map((c) => runTransferCommand(ledger, c, meta)),
  ];
  const settled = await Promise.allSettled(runs);
  t.same(
    settled.map((s) => (s.status === 'fulfilled' ? s.value.status : 'failed')),
    ['accepted', 'accepted', 'accepted', 'failed', 'failed', 'accepted', 'accepted', 'accepted'],
  );
  for (const c of [badDecide, badAppend]) {
    t.same(await store.readStream(transferStreamId(c.transferId)), [], 'the poisoned one wrote nothing');
  }
  t.equal(await balance(a, createLedger(store)), 100_00n - 6_00n);
  t.ok((await store.verify()).ok, 'chains verify');
});

t.test('commands sent to run alone after a failed append are not overtaken by later ones', async (t) => {
  const a = await open();
  const b = await open();
  await fund(a, 3_00n);
  const poisonedMeta = { actorId: 'test', poison: 1n } as unknown as typeof meta;
  // One batch: its append fails (the poison), so each of the three runs alone.
  const first = [
    runTransferCommand(ledger, createTransfer(a, b, 1_00n), poisonedMeta),
    runTransferCommand(ledger, createTransfer(a, b, 2_00n), meta),
    runTransferCommand(ledger, createTransfer(a, b, 2_00n), meta),
  ];
  await new Promise((resolve) => setImmediate(resolve));
  // Sent once that batch is taken: it must be decided after the three.
  const later = runTransferCommand(ledger, createTransfer(a, b, 1_00n), meta);
  const settled = await Promise.allSettled([...first, later]);
  t.same(
    settled.map((s) =>
      s.status === 'rejected'
        ? 'failed'
        : s.value.status === 'rejected'
          ? s.value.rejection.code
          : s.value.status,
    ),
    ['failed', 'accepted', 'insufficient_funds', 'accepted'],
    'in arrival order: 2.00 paid, then 2.00 refused, then the later 1.00 paid',
  );
});

t.test('a request whose deadline passed leaves the batch having appended nothing', async (t) => {
  const a = await open();
  const b = await open();
  await fund(a, 100_00n);
  const expired = new AbortController();
  expired.abort(new Error('too late'));
  const late = createTransfer(a, b, 7_00n);
  const onTime = Array.from({ length: 4 }, () => createTransfer(a, b, 1_00n));
  const settled = await Promise.allSettled([
    runTransferCommand({ ...ledger, deadline: { signal: expired.signal } }, late, meta),
    ...onTime.map((c) => runTransferCommand(ledger, c, meta)),
  ]);
  t.equal(settled[0]!.status, 'rejected');
  t.match((settled[0] as PromiseRejectedResult).reason, { message: 'too late' });
  t.same(
    settled.slice(1).map((s) => (s.status === 'fulfilled' ? s.value.status : 'failed')),
    onTime.map(() => 'accepted'),
  );
  t.same(await store.readStream(transferStreamId(late.transferId)), []);
});

t.test('posts, voids and refusals still answer as before around batches', async (t) => {
  const a = await open();
  const b = await open();
  await fund(a, 10_00n);
  // A refusal recorded in a batch is the answer to the same request again.
  const tooMuch: TransferCommand = createTransfer(a, b, 50_00n, {
    limits: { transferAmountMax: 20_00n },
  });
  const both = await Promise.all(
    [tooMuch, createTransfer(a, b, 1_00n)].map((c) => runTransferCommand(ledger, c, meta)),
  );
  t.equal(both[0]!.status, 'rejected');
  t.equal(both[1]!.status, 'accepted');
  const again = await runTransferCommand(ledger, tooMuch, meta);
  t.same(again, both[0], 'the recorded refusal, again');
});
