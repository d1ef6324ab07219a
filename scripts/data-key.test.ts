import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createTestDatabase, exitWithin, repoRoot } from '@ledger/testkit';
import pg from 'pg';
import t, { type Test } from 'tap';

/**
 * DATA_KEY at start-up, end to end: the bank started with one key, then with another, must
 * stop with a clear message and write nothing (every row of every table, every sequence and
 * the DATA_DIR files compared), then start again with the right key and serve the same user.
 */

const startEntry = 'scripts/start.ts';
const apiEntry = 'services/api/src/main.ts';
// A deadline, not a pause: generous, since a busy CI machine has taken more than 30 s.
const startWaitMs = 90_000;
const stopWaitMs = 20_000;
/** How long a refused start may take: open the database, read one row, exit. */
const refuseWaitMs = 15_000;

const keyA = `data-key-test-A-${randomBytes(24).toString('base64url')}`;
const keyB = `data-key-test-B-${randomBytes(24).toString('base64url')}`;

interface Run {
  child: ChildProcess;
  exit: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

/** An entry point as its own process, with only PATH and `env` (as `pnpm start` would get). */
function run(t: Test, entry: string, env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, exit, stdout: () => out, stderr: () => err };
}

/** `pnpm start` until its "running" line; `stop()` sends SIGTERM and gives the exit code. */
async function startBank(t: Test, env: Record<string, string>) {
  const bank = run(t, startEntry, env);
  const deadline = Date.now() + startWaitMs;
  let base: string | undefined;
  while (base === undefined) {
    const match = /Ledger is running.*API docs: (http:\/\/\S+)\/docs/.exec(bank.stdout());
    if (match) base = match[1]!;
    else if (bank.child.exitCode !== null)
      throw new Error(`exited ${bank.child.exitCode} before it ran:\n${bank.stdout()}${bank.stderr()}`);
    else if (Date.now() > deadline)
      throw new Error(`not running within ${startWaitMs} ms:\n${bank.stdout()}`);
    else await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const stop = async () => {
    bank.child.kill('SIGTERM');
    const code = await exitWithin(bank.exit, stopWaitMs);
    return { code, stderr: bank.stderr() };
  };
  return { base, stop, stdout: () => bank.stdout(), stderr: () => bank.stderr() };
}

type Query = <R>(text: string) => Promise<R[]>;

/**
 * Everything a start could have written: the schemas, every table's row count and a hash of
 * all its rows, every sequence's position (a rolled-back insert still moves one).
 */
async function snapshot(query: Query): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const schemas = await query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`,
  );
  out.schemas = schemas.map((r) => r.name).join(',');
  const tables = await query<{ schema: string; name: string }>(
    `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
     WHERE table_type = 'BASE TABLE' AND table_schema NOT LIKE 'pg\\_%'
       AND table_schema NOT IN ('pg_catalog', 'information_schema')
     ORDER BY 1, 2`,
  );
  for (const { schema, name } of tables) {
    const id = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`;
    const [row] = await query<{ n: number; h: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS h
       FROM ${id} t`,
    );
    out[`table ${schema}.${name}`] = `${row!.n} rows, md5 ${row!.h}`;
  }
  const sequences = await query<{ schema: string; name: string; last: string | null }>(
    `SELECT schemaname AS schema, sequencename AS name, last_value::text AS last FROM pg_sequences
     WHERE schemaname NOT LIKE 'pg\\_%' ORDER BY 1, 2`,
  );
  for (const s of sequences) out[`sequence ${s.schema}.${s.name}`] = String(s.last);
  return out;
}

async function postgresSnapshot(url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await snapshot(async (text) => (await client.query(text)).rows);
  } finally {
    await client.end();
  }
}

/** The embedded database, opened as PGlite once the process that owned it has exited. */
async function pgliteSnapshot(dataDir: string): Promise<Record<string, string>> {
  const pglite = await PGlite.create(join(dataDir, 'pglite'));
  try {
    return await snapshot(async <R>(text: string) => (await pglite.query<R>(text)).rows);
  } finally {
    await pglite.close();
  }
}

/**
 * The DATA_DIR's files and a hash of each (the kept secrets live there); the embedded
 * database's own files are compared by their contents instead (opening it touches them).
 */
async function dirSnapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.parentPath.startsWith(join(dir, 'pglite'))) continue;
    const path = join(entry.parentPath, entry.name);
    out[path.slice(dir.length)] = createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  }
  return out;
}

async function post(base: string, path: string, body: unknown, token?: string) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

t.test(
  'a wrong DATA_KEY stops pnpm start and pnpm start:api with a clear message and writes nothing',
  async (t) => {
    const database = await createTestDatabase('data_key_test');
    t.teardown(() => database.drop());
    const dataDir = await mkdtemp(join(tmpdir(), 'ledger-data-key-'));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const env = { DATABASE_URL: database.url, DATA_DIR: dataDir };
    const user = {
      username: 'vault_owner',
      email: 'vault.owner@example.com',
      password: 'correct horse battery staple',
      firstName: 'Nadia',
    };

    // 1. Key A: register a user (its first name sealed under a key wrapped by A), stop cleanly.
    const first = await startBank(t, { ...env, DATA_KEY: keyA });
    const registered = await post(first.base, '/api/auth/register', user);
    t.equal(registered.status, 201, `registered: ${JSON.stringify(registered.body)}`);
    const userId = registered.body.user?.id as string;
    t.equal(
      (await post(first.base, '/api/auth/login', { username: user.username, password: user.password }))
        .status,
      200,
    );
    const firstStop = await first.stop();
    t.equal(firstStop.code, 0, 'stops cleanly');

    const before = await postgresSnapshot(database.url);
    const filesBefore = await dirSnapshot(dataDir);
    t.ok(before['table vault.master']?.startsWith('1 rows'), 'the vault recorded its check value');
    t.ok(
      Object.keys(before).filter((k) => k.startsWith('table ')).length > 5,
      'the snapshot covers the event store, read models and the vault',
    );

    // 2. Key B, both entry points: refused, quickly, with the message, nothing written.
    for (const entry of [startEntry, apiEntry]) {
      const started = Date.now();
      const wrong = run(t, entry, { ...env, DATA_KEY: keyB });
      const code = await exitWithin(wrong.exit, refuseWaitMs);
      t.equal(code, 1, `${entry} with another DATA_KEY exits 1 (took ${Date.now() - started} ms)`);
      t.match(wrong.stderr(), /DATA_KEY does not match the key this database was sealed under/);
      t.match(wrong.stderr(), /nothing was written/);
      t.notMatch(wrong.stderr(), /\n\s+at /, 'no stack trace');
      t.notMatch(wrong.stdout(), /Ledger is running|listening/i, 'it never served');
      t.same(await postgresSnapshot(database.url), before, `${entry}: every table and sequence unchanged`);
      t.same(await dirSnapshot(dataDir), filesBefore, `${entry}: DATA_DIR unchanged`);
    }

    // 3. Key A again: it starts, the user logs in and reads the sealed profile.
    const again = await startBank(t, { ...env, DATA_KEY: keyA });
    const login = await post(again.base, '/api/auth/login', {
      username: user.username,
      password: user.password,
    });
    t.equal(login.status, 200, 'the user can still log in');
    if (login.status !== 200)
      t.comment(
        `login answered ${JSON.stringify(login.body)}; the bank said: ${again.stdout()}${again.stderr()}`,
      );
    t.equal(login.body.user?.id, userId);
    const me = await fetch(`${again.base}/api/auth/me`, {
      headers: { authorization: `Bearer ${login.body.accessToken}` },
    });
    t.equal(me.status, 200);
    const profile = ((await me.json()) as { user: { firstName: string | null; email: string } }).user;
    t.equal(profile.firstName, 'Nadia', 'the sealed first name opens with key A');
    t.equal(profile.email, user.email);
    t.equal((await again.stop()).code, 0);
    t.not(
      JSON.stringify(await postgresSnapshot(database.url)),
      JSON.stringify(before),
      'the snapshot does see writes: the run with key A changed it',
    );
  },
);

t.test(
  'embedded default: the data-key file of DATA_DIR is the key; another DATA_KEY is refused, nothing written',
  async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ledger-data-key-embedded-'));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const env = { DATA_DIR: dataDir };
    const user = {
      username: 'embedded_owner',
      email: 'embedded.owner@example.com',
      password: 'another long passphrase',
      lastName: 'Benali',
    };

    // 1. No DATA_KEY: the first start makes <DATA_DIR>/data-key and seals under it.
    const first = await startBank(t, env);
    const registered = await post(first.base, '/api/auth/register', user);
    t.equal(registered.status, 201, `registered: ${JSON.stringify(registered.body)}`);
    t.equal((await first.stop()).code, 0, 'stops cleanly');
    const fileKey = (await readFile(join(dataDir, 'data-key'), 'utf8')).trim();
    t.ok(fileKey.length >= 32, 'the first start kept a generated DATA_KEY in DATA_DIR');
    t.not(fileKey, keyB);

    const before = await pgliteSnapshot(dataDir);
    const filesBefore = await dirSnapshot(dataDir);
    t.ok(before['table vault.master']?.startsWith('1 rows'), 'the vault recorded its check value');

    // 2. DATA_KEY set to another key: refused, nothing written to the database or DATA_DIR.
    const started = Date.now();
    const wrong = run(t, startEntry, { ...env, DATA_KEY: keyB });
    t.equal(await exitWithin(wrong.exit, refuseWaitMs), 1, `exits 1 (took ${Date.now() - started} ms)`);
    t.match(wrong.stderr(), /DATA_KEY does not match the key this database was sealed under/);
    t.match(wrong.stderr(), /data-key file of its DATA_DIR/, 'and says where the embedded key is');
    t.notMatch(wrong.stderr(), /\n\s+at /, 'no stack trace');
    t.notMatch(wrong.stdout(), /Ledger is running/, 'it never served');
    t.same(
      await pgliteSnapshot(dataDir),
      before,
      'every table and sequence of the embedded database unchanged',
    );
    t.same(await dirSnapshot(dataDir), filesBefore, 'the kept secrets unchanged');

    // 3. Without DATA_KEY again (the file's key): it starts and the user is served.
    const again = await startBank(t, env);
    const login = await post(again.base, '/api/auth/login', { email: user.email, password: user.password });
    t.equal(login.status, 200, 'the user can still log in');
    if (login.status !== 200)
      t.comment(
        `login answered ${JSON.stringify(login.body)}; the bank said: ${again.stdout()}${again.stderr()}`,
      );
    t.equal(login.body.user?.lastName, 'Benali', 'the sealed last name opens with the file key');
    t.equal((await again.stop()).code, 0);
  },
);
