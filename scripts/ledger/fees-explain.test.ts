import { randomUUID } from 'node:crypto';
import {
  bankAccountId,
  changeSubscriptionPack,
  createLedger,
  ensureBankAccounts,
  openCustomerAccount,
  type PackCaller,
  runTransferCommand,
  seededPackId,
  seedPackCatalog,
  settleSubscription,
  subscribeToPack,
} from '@ledger/application';
import { subscriptionStreamId } from '@ledger/contracts';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { jsonLines, ledgerCli } from './testing.js';

// `pnpm ledger fees:explain` against PostgreSQL: a subscription started on Essential, moved
// to Premium mid-period (the README's example: 21 of 31 days left, 7.38), whose next fee
// fails then is paid after a deposit, explained period by period (exit 0); the change's
// recorded amount altered by SQL (exit 1); bad arguments (exit 2).

const meta = { actorId: 'test' };
const t0 = new Date('2027-01-10T09:00:00.000Z');

t.test('fees:explain: periods, a pro-rata change, a failed then paid fee; then tampered', async (t) => {
  const { store, url, database } = await openTestStore('scripts_ledger_fees_explain', t);
  const ledger = createLedger(store);
  await seedPackCatalog(store, t0);
  const ownerId = randomUUID();
  const opened = await openCustomerAccount(
    ledger,
    { ownerId, accountType: 'checking', currency: 'EUR', kycVerified: true, now: t0 },
    meta,
  );
  if (!opened.ok) throw new Error(opened.code);
  const accountId = opened.account.id;
  await ensureBankAccounts(ledger, 'EUR', t0, meta);
  const deposit = (amount: bigint, now: Date) =>
    runTransferCommand(
      ledger,
      {
        type: 'CreateTransfer',
        transferId: randomUUID(),
        debitAccountId: bankAccountId('EUR', 'cash'),
        creditAccountId: accountId,
        amount,
        currency: 'EUR',
        code: 'deposit',
        mode: 'single-phase',
        now,
      },
      meta,
    );
  t.equal((await deposit(20_00n, t0)).status, 'accepted');
  const caller = (now: Date): PackCaller => ({ userId: ownerId, role: 'customer', metadata: meta, now });

  const started = await subscribeToPack(ledger, caller(t0), { packId: seededPackId('Essential'), accountId });
  if (!started.ok) throw new Error(started.rejection);
  const id = started.subscription.id;
  const changed = await changeSubscriptionPack(ledger, caller(new Date('2027-01-20T12:00:00.000Z')), {
    subscriptionId: id,
    packId: seededPackId('Premium'),
  });
  t.ok(changed.ok, 'changed to Premium');
  // 20.00 − 2.00 − 7.38 = 10.62: Premium's 12.90 cannot be paid when period 1 begins.
  const failed = await settleSubscription(ledger, id, new Date('2027-02-10T10:00:00.000Z'), meta);
  t.equal(failed?.subscription.status, 'past_due');
  t.equal((await deposit(100_00n, new Date('2027-02-10T18:00:00.000Z'))).status, 'accepted');
  const paid = await settleSubscription(ledger, id, new Date('2027-02-11T10:00:00.000Z'), meta);
  t.equal(paid?.subscription.status, 'active');
  const env = { DATABASE_URL: url };

  const ran = await ledgerCli(['fees:explain', '--subscription', id], env);
  t.equal(ran.code, 0, ran.stderr);
  const out = ran.stdout;
  t.match(out, `fees:explain subscription ${id}: account ${accountId}, EUR`);
  t.match(out, /^period 0: 2027-01-10 → 2027-02-10 {2}Essential v1 \(.*\), monthly fee 2\.00$/m);
  t.match(out, /^ {2}fee 2\.00, as recorded$/m);
  t.match(out, /^ {2}charge p0 2\.00: paid$/m);
  t.match(out, /^ {2}change 0 on 2027-01-20T12:00:00\.000Z: Essential v1 .* → Premium v1 /m);
  t.match(
    out,
    /^ {4}pro-rata \(new fee 12\.90 − fee basis 2\.00\) × days left 21 ÷ days in period 31 = 7\.38, as recorded$/m,
  );
  t.match(out, /^ {4}charge c0 7\.38: paid$/m);
  t.match(out, /^period 1: 2027-02-10 → 2027-03-10 {2}Premium v1 \(.*\), monthly fee 12\.90$/m);
  t.match(out, /^ {2}fee 12\.90, as recorded$/m);
  t.match(out, /^ {2}charge p1 12\.90: paid$/m);
  t.match(
    out,
    /^ {4}attempt 0 2027-02-10T10:00:00\.000Z: failed \(insufficient_funds\), next attempt 2027-02-11T10:00:00\.000Z; transfer \S+ refused 12\.90 \(insufficient_funds\)$/m,
  );
  t.match(out, /^ {4}attempt 1 2027-02-11T10:00:00\.000Z: paid; transfer \S+ posted 12\.90$/m);
  t.match(out, /every recomputed amount equals the recorded one \(2 period\(s\)\)\n$/);
  t.notMatch(out, '≠');

  const json = await ledgerCli(['fees:explain', '--subscription', id, '--json'], env);
  t.equal(json.code, 0, json.stderr);
  const periods = jsonLines(json.stdout);
  t.same(
    periods.map((p) => [p.period, (p.fee as { recomputed: string }).recomputed, p.matches]),
    [
      [0, '2.00', true],
      [1, '12.90', true],
    ],
  );
  t.match(periods[0], { changes: [{ adjustment: { recorded: '7.38', recomputed: '7.38', matches: true } }] });

  // The change's adjustment altered behind the store's back: 7.39 recorded, 7.38 recomputed.
  const sql = database.sql;
  await sql.query('ALTER TABLE es.events DISABLE TRIGGER events_append_only');
  await sql.query(
    `UPDATE es.events SET data = jsonb_set(data, '{adjustment}', '"739"')
      WHERE stream_id = $1 AND type = 'SubscriptionPackChanged'`,
    [subscriptionStreamId(id)],
  );
  await sql.query('ALTER TABLE es.events ENABLE TRIGGER events_append_only');
  const tampered = await ledgerCli(['fees:explain', '--subscription', id], env);
  t.equal(tampered.code, 1, tampered.stderr);
  t.match(tampered.stdout, '= 7.38 ≠ recorded 7.39');
  t.match(tampered.stdout, 'DIFFERS from the record in period(s) 0');

  const unknown = await ledgerCli(['fees:explain', '--subscription', randomUUID()], env);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /no subscription/);
});

t.test('fees:explain: bad arguments are usage errors', async (t) => {
  const none = await ledgerCli(['fees:explain']);
  t.equal(none.code, 2);
  t.match(none.stderr, /--subscription is required/);
  const notUuid = await ledgerCli(['fees:explain', '--subscription', 'abc']);
  t.equal(notUuid.code, 2);
  t.match(notUuid.stderr, /not a UUID/);
  const unknownOption = await ledgerCli(['fees:explain', '--frobnicate']);
  t.equal(unknownOption.code, 2);
  const help = await ledgerCli(['fees:explain', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: pnpm ledger fees:explain/);
});
