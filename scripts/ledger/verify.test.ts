import { createLedger, runTransferCommand } from '@ledger/application';
import { createTransfer, fundedAccount } from '@ledger/application/testing';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { ledgerCli } from './testing.js';

// `pnpm ledger verify` against PostgreSQL: a clean store passes (exit 0); after one event's
// data is changed by SQL behind the store's back, it fails (exit 1) naming that event.

const meta = { actorId: 'test' };

t.test('verify: clean, then one event altered by SQL', async (t) => {
  const { store, url, database } = await openTestStore('scripts_ledger_verify', t);
  const ledger = createLedger(store);
  const from = await fundedAccount(ledger, 1_000_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  const transfers = [createTransfer(from, to, 10_00n), createTransfer(from, to, 20_00n)];
  for (const command of transfers)
    t.equal((await runTransferCommand(ledger, command, meta)).status, 'accepted');
  const env = { DATABASE_URL: url };

  const clean = await ledgerCli(['verify', '--progress'], env);
  t.equal(clean.code, 0, clean.stderr);
  t.match(clean.stdout, /events, every hash chain intact/);
  t.match(clean.stderr, /^verify: \d+ events checked$/m, 'a progress line when asked');

  const quiet = await ledgerCli(['verify', '--json'], env);
  t.equal(quiet.code, 0, quiet.stderr);
  t.equal(quiet.stderr, '', 'no progress line unless asked (not a terminal)');
  const report = JSON.parse(quiet.stdout);
  t.match(report, { ok: true, firstBadEvent: null });
  t.ok(report.checkedEvents >= 10, 'every event checked');

  // The first transfer's event on its own stream: altered, its chain breaks there.
  const streamId = `transfer-${transfers[0]!.transferId}`;
  const [target] = await store.readStream(streamId, { limit: 1 });
  const sql = database.sql;
  await sql.query('ALTER TABLE es.events DISABLE TRIGGER events_append_only');
  await sql.query(
    `UPDATE es.events SET data = jsonb_set(data, '{amount}', '"999999"') WHERE stream_id = $1 AND stream_version = 0`,
    [streamId],
  );
  await sql.query('ALTER TABLE es.events ENABLE TRIGGER events_append_only');

  const bad = await ledgerCli(['verify'], env);
  t.equal(bad.code, 1, bad.stderr);
  t.match(bad.stdout, 'first bad event:');
  t.match(
    bad.stdout,
    `stream ${streamId} version 0 global position ${target!.globalPosition} (event ${target!.eventId})`,
  );
  t.match(bad.stdout, /hash_mismatch: .*altered/);

  const json = await ledgerCli(['verify', '--json'], env);
  t.equal(json.code, 1);
  t.match(JSON.parse(json.stdout), {
    ok: false,
    firstBadEvent: {
      streamId,
      streamVersion: '0',
      globalPosition: target!.globalPosition.toString(),
      reason: 'hash_mismatch',
    },
  });
});

t.test('verify: a bad option is a usage error', async (t) => {
  const ran = await ledgerCli(['verify', '--frobnicate']);
  t.equal(ran.code, 2);
  t.match(ran.stderr, /Unknown option '--frobnicate'/);
  const help = await ledgerCli(['verify', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: pnpm ledger verify/);
});
