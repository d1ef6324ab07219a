import { createLedger, runTransferCommand } from '@ledger/application';
import { createTransfer, fundedAccount, twoPhaseTransfer } from '@ledger/application/testing';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { jsonLines, ledgerCli } from './testing.js';

// `pnpm ledger replay` against PostgreSQL: an account's and a
// transfer's states after each event, folded by the domain's evolve, money as decimals;
// --to by position and by time; an unknown stream.

const meta = { actorId: 'test' };

t.test('replay: states after each event, cut by --to', async (t) => {
  const { store, url } = await openTestStore('scripts_ledger_replay', t);
  const ledger = createLedger(store);
  const from = await fundedAccount(ledger, 500_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  t.equal((await runTransferCommand(ledger, createTransfer(from, to, 12_34n), meta)).status, 'accepted');
  const hold = await twoPhaseTransfer(ledger, { from, to, amount: 100_00n }, meta);
  t.equal(hold.status, 'accepted');
  const holdId = hold.status === 'accepted' ? hold.transfer.id : '';
  const post = await runTransferCommand(
    ledger,
    { type: 'PostPendingTransfer', transferId: holdId, amount: 60_00n, now: new Date() },
    meta,
  );
  t.equal(post.status, 'accepted');
  const accountEvents = await store.readStream(`account-${from}`);
  const env = { DATABASE_URL: url };

  const account = await ledgerCli(['replay', `account-${from}`], env);
  t.equal(account.code, 0, account.stderr);
  const lines = jsonLines(account.stdout);
  t.same(
    lines.map((l) => [l.position, l.type]),
    accountEvents.map((e) => [e.globalPosition.toString(), e.type]),
    'one line per event, in order',
  );
  const states = lines.map((l) => l.state as Record<string, unknown>);
  t.same(
    states.map((s) => [s.status, s.balance, s.available]),
    [
      ['active', '0.00', '0.00'], // opened
      ['active', '500.00', '500.00'], // deposit
      ['active', '487.66', '487.66'], // single-phase 12.34 out
      ['active', '487.66', '387.66'], // hold of 100.00
      ['active', '427.66', '427.66'], // 60.00 of it posted, the rest released
    ],
  );
  t.match(states[4], {
    currency: 'EUR',
    debitsPosted: '72.34',
    creditsPosted: '500.00',
    debitsPending: '0.00',
  });

  const transfer = await ledgerCli(['replay', `transfer-${holdId}`], env);
  t.equal(transfer.code, 0, transfer.stderr);
  const steps = jsonLines(transfer.stdout).map((l) => l.state as Record<string, unknown>);
  t.match(steps, [
    { status: 'pending', amount: '100.00', mode: 'two-phase', debitAccountId: from, creditAccountId: to },
    { status: 'posted', amount: '100.00', postedAmount: '60.00' },
  ]);

  const byPosition = await ledgerCli(
    ['replay', `account-${from}`, '--to', accountEvents[2]!.globalPosition.toString()],
    env,
  );
  t.equal(byPosition.code, 0, byPosition.stderr);
  t.same(
    jsonLines(byPosition.stdout).map((l) => (l.state as { balance: string }).balance),
    ['0.00', '500.00', '487.66'],
  );
  const byTime = await ledgerCli(['replay', `account-${from}`, '--to', accountEvents[1]!.recordedAt], env);
  t.equal(byTime.code, 0, byTime.stderr);
  const lastShown = jsonLines(byTime.stdout).at(-1)!;
  t.ok(Date.parse(lastShown.recordedAt as string) <= Date.parse(accountEvents[1]!.recordedAt));
  t.ok(jsonLines(byTime.stdout).length >= 2, 'the event at that time is included');

  const other = await ledgerCli(['replay', `account-number-${'1'.repeat(10)}`], env);
  t.equal(other.code, 1, 'no such stream');
  t.match(other.stderr, /no evolve for account-number-1111111111's kind/);
  t.match(other.stderr, /no stream account-number-1111111111/);

  const bad = await ledgerCli(['replay', `account-${from}`, '--to', 'yesterday'], env);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--to yesterday: a global position/);
  const none = await ledgerCli(['replay'], env);
  t.equal(none.code, 2);
});
