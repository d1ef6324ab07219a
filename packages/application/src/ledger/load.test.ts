import { randomUUID } from 'node:crypto';
import { createTransfer, fundedAccount, openRawAccount, rawCredits } from '@ledger/application/testing';
import { type AccountState, evolveAccount, initialAccountState } from '@ledger/domain/ledger';
import type { EventStore } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { accountSnapshotSchema } from './account-snapshot.js';
import {
  accountOnce,
  accountStreamId,
  createLedger,
  type Ledger,
  loadAccount,
  parseAccountEvent,
  readWholeStream,
  runTransferCommand,
} from './index.js';

// Loading accounts against a real PostgreSQL store: loads in flight shared, snapshots read
// and checked against the chain, snapshots written after appends.

const { store, database } = await openTestStore('application_load', t);
const query = (text: string, params: unknown[] = []) =>
  database.sql.query<Record<string, string>>(text, params);
const meta = { actorId: 'test' };

/** The store, with the events its stream reads return counted (everything else as it is). */
function counting(inner: EventStore & { snapshots?: unknown }): EventStore & { eventsRead: number } {
  const counted = {
    eventsRead: 0,
    append: inner.append.bind(inner),
    observeAppends: inner.observeAppends.bind(inner),
    async readStream(streamId: string, options?: { fromVersion?: bigint; limit?: number }) {
      const page = await inner.readStream(streamId, options);
      counted.eventsRead += page.length;
      return page;
    },
    readAll: inner.readAll.bind(inner),
    headPosition: inner.headPosition.bind(inner),
    subscribe: inner.subscribe.bind(inner),
    verify: inner.verify.bind(inner),
    close: async () => {},
    ...(inner.snapshots === undefined ? {} : { snapshots: inner.snapshots }),
  };
  return counted as EventStore & { eventsRead: number };
}

/** The account's state folded from its whole stream, as the events say. */
async function foldedFromEvents(accountId: string): Promise<{ state: AccountState; version: bigint }> {
  const events = await readWholeStream(store, accountStreamId(accountId));
  const state = events.map((e) => parseAccountEvent(e)).reduce(evolveAccount, initialAccountState());
  return { state, version: events.at(-1)!.streamVersion };
}

/** A bank-kind EUR account with `count` posted credits (long streams, fast). */
async function longAccount(count: number): Promise<string> {
  const accountId = await openRawAccount(store, 'EUR');
  await rawCredits(store, { credit: accountId, counterparty: randomUUID(), amount: 123n, count });
  return accountId;
}

const snapshotRow = async (accountId: string) =>
  (
    await query('SELECT stream_version::text AS v, schema FROM es.snapshots WHERE stream_id = $1', [
      accountStreamId(accountId),
    ])
  )[0];

t.test('concurrent loads of a cold account share one read of its stream', async (t) => {
  const accountId = await longAccount(2500);
  const counted = counting(store);
  const ledger = createLedger(counted);
  const calls = 100;
  const loads = await Promise.all(
    Array.from({ length: calls }, (_, i) =>
      i % 2 === 0
        ? loadAccount(ledger, accountId)
        : accountOnce(ledger, accountId).then((state) => ({ state })),
    ),
  );
  const expected = await foldedFromEvents(accountId);
  for (const loaded of loads) t.same(loaded.state, expected.state);
  // One load of the 2501 events, and at most one more of what came after it (nothing).
  t.ok(
    counted.eventsRead <= 2501,
    `events read: ${counted.eventsRead} (one load: 2501; unshared: ${calls} × 2501)`,
  );
  t.equal(ledger.accounts.stats.coldLoads, 1, 'one cold load');
  t.ok(ledger.accounts.stats.tailLoads <= 1, 'at most one load after it');
  await ledger.accounts.snapshots?.idle();
});

t.test('a load asked for after an append sees it, even with a load in flight', async (t) => {
  const accountId = await longAccount(1500);
  const ledger = createLedger(store);
  const first = loadAccount(ledger, accountId);
  await rawCredits(store, { credit: accountId, counterparty: randomUUID(), amount: 1n, count: 1 });
  const after = await loadAccount(ledger, accountId);
  t.equal(after.version, 1501n, 'the load after the append sees it');
  const firstVersion = (await first).version;
  t.ok(firstVersion !== 'no_stream' && firstVersion >= 1500n);
  await ledger.accounts.snapshots?.idle();
});

t.test('a cold load reads the snapshot and only the events after it', async (t) => {
  const accountId = await longAccount(1200);
  const warm = createLedger(store);
  await loadAccount(warm, accountId);
  await warm.accounts.snapshots?.idle();
  t.match(
    await snapshotRow(accountId),
    { v: '1200', schema: accountSnapshotSchema },
    'the first load wrote one',
  );
  await rawCredits(store, { credit: accountId, counterparty: randomUUID(), amount: 7n, count: 30 });

  const counted = counting(store);
  const cold = createLedger(counted);
  const loaded = await loadAccount(cold, accountId);
  const expected = await foldedFromEvents(accountId);
  t.same(loaded, expected, 'the same state and version as the whole fold');
  t.equal(counted.eventsRead, 31, "the snapshot's own event (its hash checked) and the 30 after it");
  t.match(cold.accounts.stats, { coldLoads: 1, snapshotsUsed: 1, snapshotsRejected: 0, eventsRead: 31 });
});

t.test('a snapshot that does not match the chain, or does not parse, is ignored', async (t) => {
  const cases: [string, string][] = [
    ['another hash', `UPDATE es.snapshots SET hash = sha256('x') WHERE stream_id = $1`],
    [
      'a state that does not parse',
      `UPDATE es.snapshots SET state = '{"status": "active"}' WHERE stream_id = $1`,
    ],
    [
      'an amount that is not minor units',
      `UPDATE es.snapshots SET state = jsonb_set(state, '{creditsPosted}', '1.5') WHERE stream_id = $1`,
    ],
    ['another schema', `UPDATE es.snapshots SET schema = 'account/0' WHERE stream_id = $1`],
    ['a version past the stream', `UPDATE es.snapshots SET stream_version = 5000 WHERE stream_id = $1`],
  ];
  for (const [what, change] of cases) {
    const accountId = await longAccount(600);
    const warm = createLedger(store);
    await loadAccount(warm, accountId);
    await warm.accounts.snapshots?.idle();
    t.ok(await snapshotRow(accountId), `${what}: a snapshot was written`);
    await query(change, [accountStreamId(accountId)]);

    const told: string[] = [];
    const counted = counting(store);
    const cold = createLedger(counted, { warn: (details) => told.push(String(details.reason)) });
    const loaded = await loadAccount(cold, accountId);
    t.same(loaded, await foldedFromEvents(accountId), `${what}: the whole stream folded`);
    t.match(cold.accounts.stats, { snapshotsUsed: 0, snapshotsRejected: 1 }, `${what}: counted`);
    t.equal(told.length, 1, `${what}: told (${told[0]})`);
    t.ok(counted.eventsRead >= 601, `${what}: every event read`);
    await cold.accounts.snapshots?.idle();
  }
});

/** `n` transfers of 1 cent from `from` to `to`, one after the other. */
async function transfers(ledger: Ledger, from: string, to: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const outcome = await runTransferCommand(ledger, createTransfer(from, to, 1n), meta);
    if (outcome.status !== 'accepted') throw new Error(`transfer ${i}: ${outcome.status}`);
  }
}

t.test('appends write a snapshot every snapshotEvery events; a failed write fails no command', async (t) => {
  const told: unknown[] = [];
  const ledger = createLedger(store, { snapshotEvery: 5, warn: (details) => told.push(details) });
  const from = await fundedAccount(ledger, 100_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  await transfers(ledger, from, to, 12);
  await ledger.accounts.snapshots?.idle();
  // `from`: opened (0), deposit (1), 12 debits (2..13): a snapshot at 4 (5 events folded), at 9.
  t.match(await snapshotRow(from), { v: '9' });
  t.match(ledger.accounts.snapshots?.stats, { failed: 0 });
  t.same((await loadAccount(createLedger(store), from)).state, (await foldedFromEvents(from)).state);

  // Snapshot writes fail (the table is gone): the commands go on, the failures are counted.
  await query('ALTER TABLE es.snapshots RENAME TO snapshots_away');
  try {
    await transfers(ledger, from, to, 10);
    await ledger.accounts.snapshots?.idle();
  } finally {
    await query('ALTER TABLE es.snapshots_away RENAME TO snapshots');
  }
  t.ok((ledger.accounts.snapshots?.stats.failed ?? 0) >= 2, 'the failed writes are counted');
  t.equal(told.length, 1, 'and told once for the run of failures');
  t.equal((await loadAccount(ledger, from)).version, 23n, 'every transfer was appended');
  await transfers(ledger, from, to, 5);
  await ledger.accounts.snapshots?.idle();
  // The failed ones were at 14 and 19: the next is at 24.
  t.match(await snapshotRow(from), { v: '24' }, 'writes succeed again once they can');
});
