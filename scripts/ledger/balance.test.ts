import { createLedger, runTransferCommand } from '@ledger/application';
import { createTransfer, fundedAccount, twoPhaseTransfer } from '@ledger/application/testing';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { accountsProjection, listStatement } from '@ledger/projection-accounts';
import { runProjection } from '@ledger/readmodel';
import t from 'tap';
import { ledgerCli } from './testing.js';

// `pnpm ledger balance --as-of` against PostgreSQL equals what the account's statement (the
// accounts read model, as GET /api/accounts/:id/statement shows it) said at each of its
// lines; `trial-balance` balances at every cut, and its numbers add up.

const meta = { actorId: 'test' };
const logger = createLogger({ level: 'silent', name: 'scripts-ledger-balance' });

t.test('balance --as-of: the statement line by line; trial-balance', async (t) => {
  const { store, url, db } = await openTestStore('scripts_ledger_balance', t);
  const projector = runProjection({ db, store, projection: accountsProjection, logger });
  t.teardown(() => projector.stop());
  const ledger = createLedger(store);
  const a = await fundedAccount(ledger, 300_00n, meta);
  const b = await fundedAccount(ledger, 50_00n, meta);
  let head = 0n;
  for (const [from, to, amount] of [
    [a, b, 25_50n],
    [b, a, 70_05n],
    [a, b, 1_00n],
  ] as const) {
    const outcome = await runTransferCommand(ledger, createTransfer(from, to, amount), meta);
    t.equal(outcome.status, 'accepted');
    if (outcome.status === 'accepted') head = outcome.position;
  }
  const hold = await twoPhaseTransfer(ledger, { from: a, to: b, amount: 40_00n }, meta);
  t.equal(hold.status, 'accepted');
  if (hold.status === 'accepted') head = hold.position;
  t.ok(await projector.waitFor(head, 20_000), 'the read model caught up');
  const env = { DATABASE_URL: url };

  for (const accountId of [a, b]) {
    const { items } = await listStatement(db, { accountId, currency: 'EUR', limit: 200 });
    t.ok(items.length >= 2, 'statement lines');
    for (const line of items) {
      const ran = await ledgerCli(['balance', accountId, '--as-of', line.position, '--json'], env);
      t.equal(ran.code, 0, ran.stderr);
      t.same(
        JSON.parse(ran.stdout),
        {
          accountId,
          currency: 'EUR',
          balance: line.balanceAfter,
          available: JSON.parse(ran.stdout).available,
          position: line.position,
        },
        `${accountId} at ${line.position}`,
      );
    }
  }
  // The hold: the posted balance stands, the available one is 40.00 less.
  const now = JSON.parse((await ledgerCli(['balance', a, '--json'], env)).stdout);
  t.match(now, { balance: '343.55', available: '303.55' });
  const text = await ledgerCli(['balance', a, '--as-of', new Date(Date.now() + 60_000).toISOString()], env);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /: 343\.55 EUR \(available 303\.55\)/);
  const before = await ledgerCli(['balance', a, '--as-of', '2000-01-01T00:00:00Z', '--json'], env);
  t.match(JSON.parse(before.stdout), { balance: '0.00', position: '0' }, 'before it was opened');
  const missing = await ledgerCli(['balance', '00000000-0000-4000-8000-000000000000'], env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no account/);

  const tb = await ledgerCli(['trial-balance', '--json'], env);
  t.equal(tb.code, 0, tb.stderr);
  // Every EUR account's money: 350.00 deposited from cash, moved around; 40.00 on hold.
  t.match(JSON.parse(tb.stdout), {
    source: 'events',
    balanced: true,
    position: head.toString(),
    currencies: [
      {
        currency: 'EUR',
        debits: '446.55',
        credits: '446.55',
        pendingDebits: '40.00',
        pendingCredits: '40.00',
        balanced: true,
      },
    ],
  });
  const early = await ledgerCli(['trial-balance', '--as-of', '3'], env);
  t.equal(early.code, 0, early.stderr);
  t.match(early.stdout, /trial balance as of position 3 .*: balanced/);
  const bad = await ledgerCli(['trial-balance', '--as-of', '2026-13-01'], env);
  t.equal(bad.code, 2);
});
