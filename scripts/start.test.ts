import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedCatalog, seededPackId } from '@ledger/application';
import { createTestDatabase, testRedisUrl } from '@ledger/testkit';
import t, { type Test } from 'tap';
import { jsonLines, ledgerCli } from './ledger/testing.js';

const entry = fileURLToPath(new URL('./start.ts', import.meta.url));
const startTimeoutMs = 60_000;
const stopTimeoutMs = 20_000;

/** Starts `pnpm start`'s entry point, waits for its "running" line, returns the docs URL. */
async function startBank(t: Test, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const docs = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`no "running" line within ${startTimeoutMs} ms: ${out}${stderr}`)),
      startTimeoutMs,
    );
    child.stdout.on('data', (d) => {
      out += d;
      const match = /Ledger is running.*API docs: (http:\/\/\S+\/docs)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before it ran: ${out}${stderr}`));
    });
  });
  const stop = async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    const code = await exited;
    clearTimeout(timer);
    return { code, stderr };
  };
  return { docs, base: docs.replace(/\/docs$/, ''), stop };
}

t.test(
  'pnpm start, embedded: PGlite under DATA_DIR, in-process jobs, docs and readiness answer, SIGTERM exits 0',
  async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ledger-start-'));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const bank = await startBank(t, { DATA_DIR: dataDir, DATABASE_URL: '', REDIS_URL: '' });
    const docs = await fetch(bank.docs);
    t.equal(docs.status, 200, '/docs answers');
    t.match(await docs.text(), /swagger/i);
    const ready = await fetch(`${bank.base}/health/ready`);
    t.equal(ready.status, 200);
    const body = (await ready.json()) as { checks: { redis?: unknown; projections: { name: string }[] } };
    t.notOk(body.checks.redis, 'no Redis in the embedded default');
    t.ok(
      body.checks.projections.some((p) => p.name === 'audit'),
      'the projector runs in the same process',
    );
    const { code, stderr } = await bank.stop();
    t.equal(code, 0, 'graceful exit');
    t.equal(stderr, '');
    // The embedded default ships the pack catalog: each seeded pack's stream, created once.
    for (const pack of seedCatalog) {
      const ran = await ledgerCli(['replay', `pack-${seededPackId(pack.name)}`], { DATA_DIR: dataDir });
      t.equal(ran.code, 0, ran.stderr);
      t.same(
        jsonLines(ran.stdout).map((line) => line.type),
        ['PackCreated'],
        `${pack.name} is in the catalog`,
      );
    }
  },
);

t.test('pnpm start with DATABASE_URL and REDIS_URL runs on PostgreSQL and Redis', async (t) => {
  const database = await createTestDatabase('start_test');
  t.teardown(() => database.drop());
  const dataDir = await mkdtemp(join(tmpdir(), 'ledger-start-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const bank = await startBank(t, { DATA_DIR: dataDir, DATABASE_URL: database.url, REDIS_URL: testRedisUrl });
  const ready = await fetch(`${bank.base}/health/ready`);
  const body = (await ready.json()) as { checks: { postgres: { ok: boolean }; redis?: { ok: boolean } } };
  t.equal(ready.status, 200);
  t.equal(body.checks.postgres.ok, true);
  t.equal(body.checks.redis?.ok, true, 'Redis is checked when configured');
  const { code } = await bank.stop();
  t.equal(code, 0);
});

t.test('a bad variable stops start-up with a message naming it, and no stack', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, PORT: 'not-a-port', DATABASE_URL: 'mysql://x' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 1);
  t.match(stderr, /PORT: /);
  t.match(stderr, /DATABASE_URL: /);
  t.notMatch(stderr, /\n\s+at /, 'no stack trace');
});
