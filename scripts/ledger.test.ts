import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedger, runTransferCommand } from '@ledger/application';
import { createTransfer, externalTransfer, fundedAccount } from '@ledger/application/testing';
import { type EventStore, PostgresEventStore, type SqlClient } from '@ledger/eventstore';
import { openDatabase } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { createTestDatabase, repoRoot, until } from '@ledger/testkit';
import t, { type Test } from 'tap';
import { openReadOnlyStore } from './ledger/cli.js';
import { main } from './ledger/main.js';

// `pnpm ledger`, spawned as an operator runs it: the command table's help, usage errors
// (exit 2, the message, no stack trace), and rules:backtest against PostgreSQL
// (DATABASE_URL) and the embedded database (DATA_DIR), with --json parsed.

const meta = { actorId: 'test' };
const runTimeoutMs = 60_000;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pnpm ledger <args>` as its own process, with only `env`. */
function spawnLedger(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const child = spawn('pnpm', ['--silent', 'ledger', ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`pnpm ledger ${args.join(' ')}: no exit within ${runTimeoutMs} ms\n${stdout}${stderr}`),
      );
    }, runTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The same command line run in this process (scripts/ledger.ts's main), with only `env`. */
async function ledgerCli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    env,
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

/** Every event stored, visible yet or not (count and last position): what "nothing was written" compares. */
async function stored(sql: SqlClient): Promise<{ count: bigint; last: bigint }> {
  const [row] = await sql.query<{ count: string; last: string | null }>(
    'SELECT count(*)::text AS count, max(global_position)::text AS last FROM es.events',
  );
  return { count: BigInt(row!.count), last: BigInt(row!.last ?? '0') };
}

/**
 * The head once every stored event is visible: readers see positions below the oldest
 * transaction still open on the server, which another test's database may hold back.
 */
async function settledHead(store: EventStore, sql: SqlClient): Promise<bigint> {
  const { last } = await stored(sql);
  await until('every stored event visible', async () => (await store.headPosition()) >= last, 20_000);
  return last;
}

const noStack = (t: Test, text: string) => t.notMatch(text, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');

t.test('help: the command table, and each command its own', async (t) => {
  const all = await ledgerCli(['--help']);
  t.equal(all.code, 0, all.stderr);
  t.match(all.stdout, /Usage: pnpm ledger <command>/);
  t.match(all.stdout, /rules:backtest\s+replay history/);

  const own = await spawnLedger(['rules:backtest', '--help']);
  t.equal(own.code, 0, own.stderr);
  t.match(own.stdout, /--rule <id>/);
  t.match(own.stdout, /--threshold <name>=<value>/);
  t.match(own.stdout, /structuring/);
});

t.test('usage errors: exit 2, the message, no stack trace', async (t) => {
  const badRule = await spawnLedger(['rules:backtest', '--rule', 'no_such_rule']);
  t.equal(badRule.code, 2);
  t.match(badRule.stderr, /unknown rule "no_such_rule": one of large_amount, velocity/);
  noStack(t, badRule.stderr);
  t.equal(badRule.stdout, '');

  for (const [args, message] of [
    [['rules:backtest'], /--rule is required/],
    [['rules:backtest', '--rule', 'velocity', '--threshold', 'speed=3'], /speed: unknown threshold/],
    [['rules:backtest', '--rule', 'velocity', '--threshold', 'velocityCount=abc'], /a whole number/],
    [['rules:backtest', '--rule', 'large_amount', '--threshold', 'reviewAmountMin=3000'], /per currency/],
    [['rules:backtest', '--rule', 'velocity', '--examples', '101'], /from 0 to 100/],
    [['rules:backtest', '--rule', 'velocity', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['rules:backtest', '--rule', 'sanctioned_payee', '--watch-list-file', '/nonexistent.json'], /ENOENT/],
    [['no:such:command'], /unknown command "no:such:command"/],
  ] as const) {
    const ran = await ledgerCli([...args]);
    t.equal(ran.code, 2, args.join(' '));
    t.match(ran.stderr, message, args.join(' '));
    noStack(t, ran.stderr);
  }
});

t.test(
  'against DATABASE_URL: --json, thresholds overridden, the watch list from a file, read only',
  async (t) => {
    const { store, url, database } = await openTestStore('scripts_ledger_cli', t);
    const ledger = createLedger(store);
    const from = await fundedAccount(ledger, 100_000_00n, meta);
    const to = await fundedAccount(ledger, 0n, meta);
    const big = createTransfer(from, to, 6000_00n);
    const small = createTransfer(from, to, 3000_00n);
    for (const command of [big, small]) {
      const outcome = await runTransferCommand(ledger, command, meta);
      t.equal(outcome.status, 'accepted');
    }
    const sent = await externalTransfer(
      ledger,
      {
        from,
        beneficiary: { iban: 'DE89370400440532013000', name: 'Acme Shell Co' },
        amount: 10_00n,
        reference: null,
      },
      meta,
    );
    const head = await settledHead(store, database.sql);
    const before = await stored(database.sql);
    const env = { DATABASE_URL: url };

    const json = await spawnLedger(['rules:backtest', '--rule', 'large_amount', '--json'], env);
    t.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    t.match(report, {
      ruleId: 'large_amount',
      position: head.toString(),
      attempts: 3,
      fired: 1,
      accounts: 1,
      history: { judged: 0, flagged: 0 },
      firedOnly: 1,
      thresholds: { reviewAmountMin: { EUR: '5000.00' } },
    });
    t.equal(typeof report.events, 'number');
    t.same(
      report.examples.map((e: { transferId: string; amount: string; currency: string }) => [
        e.transferId,
        e.amount,
        e.currency,
      ]),
      [[big.transferId, '6000.00', 'EUR']],
    );
    t.same(report.examples[0].figures, { amount: '6000.00', reviewAmountMin: '5000.00' });

    const lower = await ledgerCli(
      ['rules:backtest', '--rule', 'large_amount', '--threshold', 'reviewAmountMin.EUR=3000.00', '--json'],
      env,
    );
    t.equal(lower.code, 0, lower.stderr);
    t.match(JSON.parse(lower.stdout), { fired: 2, thresholds: { reviewAmountMin: { EUR: '3000.00' } } });

    const text = await ledgerCli(['rules:backtest', '--rule', 'large_amount', '--examples', '1'], env);
    t.equal(text.code, 0, text.stderr);
    t.match(text.stdout, /would be held by large_amount: 1 on 1 account/);
    t.match(text.stdout, new RegExp(`${big.transferId}\\s+transfer 6000\\.00 EUR\\s+posted`));

    const dir = await mkdtemp(join(tmpdir(), 'ledger-cli-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const watchList = join(dir, 'watch.json');
    await writeFile(watchList, JSON.stringify([{ name: 'ACME shell co' }]));
    const sanctioned = await ledgerCli(
      ['rules:backtest', '--rule', 'sanctioned_payee', '--watch-list-file', watchList, '--json'],
      env,
    );
    t.equal(sanctioned.code, 0, sanctioned.stderr);
    t.match(JSON.parse(sanctioned.stdout), {
      fired: 1,
      watchListEntries: 1,
      examples: [{ transferId: sent.id, code: 'external', figures: { matchedOn: 'name' } }],
    });

    // The commands' store could not write if it tried: its sessions are read-only.
    const readOnly = await openReadOnlyStore(env);
    t.teardown(() => readOnly.close());
    await t.rejects(
      readOnly.store.append([
        { streamId: `probe-${from}`, expectedVersion: 'any', events: [{ type: 'Probe', data: {} }] },
      ]),
      /read-only transaction/,
    );
    t.same(await stored(database.sql), before, 'nothing was written');
  },
);

t.test('a database without an event store, and no embedded database: exit 2', async (t) => {
  const empty = await createTestDatabase('scripts_ledger_cli_empty');
  t.teardown(() => empty.drop());
  const ran = await ledgerCli(['rules:backtest', '--rule', 'velocity'], { DATABASE_URL: empty.url });
  t.equal(ran.code, 2, ran.stderr);
  t.match(ran.stderr, /no event store/);
  noStack(t, ran.stderr);

  const dir = await mkdtemp(join(tmpdir(), 'ledger-cli-none-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const none = await ledgerCli(['rules:backtest', '--rule', 'velocity'], { DATA_DIR: dir });
  t.equal(none.code, 2, none.stderr);
  t.match(none.stderr, /no embedded database/);
});

t.test('against the embedded database under DATA_DIR', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ledger-cli-embedded-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  // Made as `pnpm start` makes it, then closed: a PGlite database belongs to one process.
  const database = await openDatabase({ databaseUrl: undefined, dataDir, applicationName: 'test' });
  const store = await PostgresEventStore.open(database.sql);
  const ledger = createLedger(store);
  const from = await fundedAccount(ledger, 10_000_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  const transfers = [createTransfer(from, to, 950_00n), createTransfer(from, to, 960_00n)];
  for (const command of transfers)
    t.equal((await runTransferCommand(ledger, command, meta)).status, 'accepted');
  const head = await store.headPosition();
  await store.close();
  await database.close();

  const ran = await ledgerCli(
    ['rules:backtest', '--rule', 'structuring', '--threshold', 'structuringCount=2', '--json'],
    { DATA_DIR: dataDir },
  );
  t.equal(ran.code, 0, ran.stderr);
  t.match(JSON.parse(ran.stdout), {
    position: head.toString(),
    attempts: 2,
    fired: 1,
    examples: [{ transferId: transfers[1]!.transferId, amount: '960.00', figures: { count: '2' } }],
  });
});
