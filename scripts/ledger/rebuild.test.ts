import { randomUUID } from 'node:crypto';
import {
  bankAccountId,
  createLedger,
  openCustomerAccount,
  type PersonalDataPorts,
  runTransferCommand,
} from '@ledger/application';
import { markKycVerified, registerWithHash } from '@ledger/application/testing';
import type { TransferCommand } from '@ledger/domain/ledger';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { defaultProjectionsFor, startProjector } from '@ledger/projector';
import { readCheckpoints } from '@ledger/readmodel';
import { Vault } from '@ledger/vault';
import t from 'tap';
import { ledgerCli } from './testing.js';

// `pnpm ledger rebuild` against PostgreSQL: after a random history made through the
// application layer (registrations, KYC, opens, deposits, transfers, holds posted or voided,
// reversals), every projection's rebuild reproduces its live read model exactly (exit 0); a
// read-model row edited by SQL is named (exit 1); --swap puts the rebuild in its place and
// the running projector carries on from the moved checkpoint.

const meta = { actorId: 'test' };
const logger = createLogger({ level: 'silent', name: 'scripts-ledger-rebuild' });
const passwordHash = '$2a$04$abcdefghijklmnopqrstuuJkVYxYz1m1bXkzqgGXtK3wX0lZzGZGa';

t.setTimeout(300_000);

/** A seeded generator (mulberry32): the same history for a seed, printed with the test. */
function seeded(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
}

t.test('rebuild: every projection after a random history; an edited row; --swap', async (t) => {
  const { store, url, db, database } = await openTestStore('scripts_ledger_rebuild', t);
  const vault = await Vault.open(db, 'ledger-rebuild-test-data-key-0123456789abcdef');
  const ports: PersonalDataPorts = { store, vault };
  const ledger = createLedger(store);
  const projector = startProjector({ db, store, logger, lingerMs: 0 });
  t.teardown(() => projector.stop());
  const env = { DATABASE_URL: url };

  const seed = Number(process.env.REBUILD_TEST_SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (REBUILD_TEST_SEED to repeat)`);
  const random = seeded(seed);

  const accounts: string[] = [];
  for (let i = 0; i < 4; i++) {
    const userId = randomUUID();
    const registered = await registerWithHash(
      ports,
      {
        type: 'Register',
        now: new Date(),
        userId,
        username: `rebuild-${i}-${userId.slice(0, 8)}`,
        email: `rebuild-${i}-${userId.slice(0, 8)}@example.com`,
        role: 'customer',
        profile: { firstName: `Customer ${i}`, lastName: null, dateOfBirth: null, phone: null },
        via: 'self',
      },
      passwordHash,
      meta,
    );
    if (!registered.ok) throw new Error(registered.code);
    if (i % 2 === 0) await markKycVerified(store, userId, meta);
    for (let k = 0; k < 1 + (i % 2); k++) {
      const opened = await openCustomerAccount(
        ledger,
        { ownerId: userId, accountType: 'checking', currency: 'EUR', kycVerified: true, now: new Date() },
        meta,
      );
      if (!opened.ok) throw new Error(opened.code);
      accounts.push(opened.account.id);
    }
  }

  const transfers: string[] = [];
  const holds: string[] = [];
  const tally: Record<string, number> = {};
  for (let step = 0; step < 60; step++) {
    const kind = ['deposit', 'deposit', 'transfer', 'transfer', 'hold', 'post', 'void', 'reverse'][
      random(8)
    ]!;
    const now = new Date();
    let command: TransferCommand;
    if (kind === 'deposit' || kind === 'transfer' || kind === 'hold') {
      const to = accounts[random(accounts.length)]!;
      const from = accounts[random(accounts.length)]!;
      command = {
        type: 'CreateTransfer',
        transferId: randomUUID(),
        debitAccountId: kind === 'deposit' ? bankAccountId('EUR', 'cash') : from,
        creditAccountId: to,
        amount: BigInt(1 + random(kind === 'deposit' ? 50_000 : 20_000)),
        currency: 'EUR',
        ...(kind === 'deposit' ? { code: 'deposit' } : { code: 'transfer', limits: {} }),
        mode: kind === 'hold' ? 'two-phase' : 'single-phase',
        now,
      } as TransferCommand;
    } else if (kind === 'reverse') {
      const target = transfers[random(Math.max(transfers.length, 1))];
      if (target === undefined) continue;
      command = {
        type: 'ReverseTransfer',
        transferId: randomUUID(),
        originalTransferId: target,
        reason: 'rebuild test',
        now,
      };
    } else {
      const target = holds.splice(random(Math.max(holds.length, 1)), 1)[0];
      if (target === undefined) continue;
      command =
        kind === 'post'
          ? { type: 'PostPendingTransfer', transferId: target, ...(random(2) ? { amount: 1n } : {}), now }
          : { type: 'VoidPendingTransfer', transferId: target, now };
    }
    const outcome = await runTransferCommand(ledger, command, meta);
    if (outcome.status !== 'accepted') continue;
    tally[kind] = (tally[kind] ?? 0) + 1;
    if (command.type === 'CreateTransfer') (kind === 'hold' ? holds : transfers).push(command.transferId);
  }
  t.comment(`accepted: ${JSON.stringify(tally)}`);
  t.ok((tally.deposit ?? 0) > 0 && (tally.transfer ?? 0) > 0, 'deposits and transfers in the history');

  const head = await store.lastWrittenPosition();
  t.ok(await projector.waitFor(head, 30_000), 'the live read models caught up');

  const names = defaultProjectionsFor(store).map((p) => p.name);
  for (const known of ['accounts', 'audit', 'kyc', 'notifications', 'packs', 'transactions', 'users'])
    t.ok(names.includes(known), `${known} is one of the projector's projections`);
  for (const name of names) {
    const ran = await ledgerCli(['rebuild', name, '--json'], env);
    t.equal(ran.code, 0, `${name}: ${ran.stdout}${ran.stderr}`);
    const result = JSON.parse(ran.stdout);
    t.match(result, { projection: name, equal: true, action: 'dropped', position: head.toString() });
    t.ok(result.tables.length > 0, `${name} compares ${result.tables.length} tables`);
  }

  // The text report names each table.
  const text = await ledgerCli(['rebuild', 'accounts'], env);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /accounts\.accounts\s+\d+ rows\s+sha256 [0-9a-f]{16}\s+equal/);
  t.match(text.stdout, /^equal: the rebuild reproduces every table of accounts/m);
  t.match(text.stdout, /^dropped: accounts_rebuild$/m);

  // A row edited by SQL: the table and its key are named; the live row is left as it was.
  const victim = accounts[0]!;
  await database.sql.query('UPDATE accounts.accounts SET credits_posted = credits_posted + 1 WHERE id = $1', [
    victim,
  ]);
  const edited = await ledgerCli(['rebuild', 'accounts'], env);
  t.equal(edited.code, 1, edited.stderr);
  t.match(edited.stdout, /accounts\.accounts .* DIFFERS/);
  t.match(edited.stdout, new RegExp(`\\{"id":"${victim}"\\}: differs`));
  t.match(edited.stdout, /^different: 1 of \d+ tables differ: accounts\.accounts$/m);
  const editedJson = JSON.parse((await ledgerCli(['rebuild', 'accounts', '--json'], env)).stdout);
  t.same(editedJson.differingTables, ['accounts']);
  t.same(editedJson.tables.find((x: { table: string }) => x.table === 'accounts').differingKeys, [
    { key: { id: victim }, kind: 'differs' },
  ]);

  // A row deleted: missing in live.
  await database.sql.query(
    'DELETE FROM transactions.transactions WHERE ctid = (SELECT ctid FROM transactions.transactions LIMIT 1)',
  );
  const deleted = await ledgerCli(['rebuild', 'transactions'], env);
  t.equal(deleted.code, 1);
  t.match(deleted.stdout, /transactions\.transactions .* DIFFERS/);
  t.match(deleted.stdout, /: missing in live/);

  // --keep leaves the fresh schema; a second run refuses it (exit 2) until it is gone.
  const kept = await ledgerCli(['rebuild', 'accounts', '--keep'], env);
  t.equal(kept.code, 1);
  t.match(kept.stdout, /^kept: accounts_rebuild/m);
  const again = await ledgerCli(['rebuild', 'accounts'], env);
  t.equal(again.code, 2);
  t.match(again.stderr, /schema "accounts_rebuild" exists/);
  const other = await ledgerCli(['rebuild', 'accounts', '--schema', 'accounts_second', '--json'], env);
  t.equal(other.code, 1, 'another name for the fresh schema');
  t.equal(JSON.parse(other.stdout).rebuilt, 'accounts_second');
  await db.schema.dropSchema('accounts_rebuild').cascade().execute();

  // --swap: the rebuild replaces the edited live model; the checkpoint stays at the head; the
  // running projector carries on into the swapped-in tables.
  const swapped = await ledgerCli(['rebuild', 'accounts', '--swap', '--keep'], env);
  t.equal(swapped.code, 1, 'it differed before the swap');
  t.match(
    swapped.stdout,
    /^swapped: accounts_rebuild is now accounts, checkpoint "accounts" at \d+; the replaced one kept as accounts_previous$/m,
  );
  const after = await ledgerCli(['rebuild', 'accounts'], env);
  t.equal(after.code, 0, `equal after the swap: ${after.stdout}`);
  const checkpoint = (await readCheckpoints(db)).find((c) => c.name === 'accounts');
  t.equal(checkpoint?.position, head);
  const more = await runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: randomUUID(),
      debitAccountId: bankAccountId('EUR', 'cash'),
      creditAccountId: victim,
      amount: 1_00n,
      currency: 'EUR',
      code: 'deposit',
      mode: 'single-phase',
      now: new Date(),
    },
    meta,
  );
  t.equal(more.status, 'accepted');
  if (more.status === 'accepted') t.ok(await projector.waitFor(more.position, 30_000), 'projector went on');
  const afterMore = await ledgerCli(['rebuild', 'accounts', '--json'], env);
  t.equal(afterMore.code, 0, afterMore.stdout);
  t.equal(JSON.parse(afterMore.stdout).position, (more as { position: bigint }).position.toString());
  const swappedTransactions = await ledgerCli(['rebuild', 'transactions', '--swap'], env);
  t.equal(swappedTransactions.code, 1);
  t.match(swappedTransactions.stdout, /the replaced one dropped/);
  t.equal((await ledgerCli(['rebuild', 'transactions'], env)).code, 0, 'the deleted row is back');

  // Usage.
  const help = await ledgerCli(['rebuild', '--help'], env);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: pnpm ledger rebuild <projection>/);
  const unknown = await ledgerCli(['rebuild', 'nope'], env);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /no projection "nope"; one of: .*accounts/);
  t.equal((await ledgerCli(['rebuild'], env)).code, 2);
});
