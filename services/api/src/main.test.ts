import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { within } from '@ledger/api/testing';
import { createTestDatabase, testRedisUrl } from '@ledger/testkit';
import t from 'tap';

// `pnpm start:api` as a real process: real port, real signals, real exit codes.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const mainPath = join(repoRoot, 'services/api/src/main.ts');
const startTimeoutMs = 30_000;
const exitTimeoutMs = 20_000;

/** The parent's environment without anything that configures the ledger, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of [
    'PORT',
    'HOST',
    'DATABASE_URL',
    'DATA_DIR',
    'REDIS_URL',
    'JWT_SECRET',
    'SMTP_URL',
    'CORS_ORIGINS',
    'LOG_LEVEL',
    'RATE_LIMITS',
    'BANK_DIRECTOR_USERNAME',
    'BANK_DIRECTOR_EMAIL',
    'BANK_DIRECTOR_PASSWORD',
    'NODE_OPTIONS', // tap's loader hooks are not for the child
  ]) {
    delete base[name];
  }
  return { ...base, ...env };
}

function startMain(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', mainPath], {
    cwd: repoRoot,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return { code: child.exitCode, signal: child.signalCode };
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal };
}

function collect(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text += chunk;
  });
  return () => text;
}

t.test('starts, serves /health/live over HTTP, and exits 0 on SIGTERM', async (t) => {
  const testDb = await createTestDatabase('api_main');
  const dataDir = await mkdtemp(join(tmpdir(), 'api-main-'));
  const child = startMain({
    DATABASE_URL: testDb.url,
    REDIS_URL: testRedisUrl,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
  });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await testDb.drop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const stderr = collect(child.stderr);
  const lines: Record<string, unknown>[] = [];
  const listening = new Promise<{ url: string; docs: string }>((resolve, reject) => {
    const reader = createInterface({ input: child.stdout! });
    reader.on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (typeof entry.url === 'string' && typeof entry.docs === 'string') {
        resolve({ url: entry.url, docs: entry.docs });
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${stderr()}`)));
  });

  const { url, docs } = await within(startTimeoutMs, listening, 'start-up log line');
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.equal(docs, `${url}/docs`, 'the log names the docs URL');

  const live = await within(5_000, fetch(`${url}/health/live`), 'GET /health/live');
  t.equal(live.status, 200);
  t.same(await live.json(), { status: 'ok' });
  const ready = await within(5_000, fetch(`${url}/health/ready`), 'GET /health/ready');
  t.equal(ready.status, 200, 'PostgreSQL and Redis ready');

  child.kill('SIGTERM');
  const exit = await within(exitTimeoutMs, exitOf(child), 'exit after SIGTERM');
  t.same(exit, { code: 0, signal: null }, 'graceful exit');
  t.ok(
    lines.some((l) => l.msg === 'stopped'),
    'logged that it stopped',
  );
  t.equal(stderr(), '', 'nothing on stderr');
});

t.test('PORT=abc: exit 1, the variable named on stderr, no stack trace', async (t) => {
  const child = startMain({ PORT: 'abc', DATA_DIR: join(tmpdir(), 'api-main-unused') });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const stderr = collect(child.stderr);
  const stdout = collect(child.stdout);
  const exit = await within(exitTimeoutMs, exitOf(child), 'exit on bad config');
  t.same(exit, { code: 1, signal: null });
  t.match(stderr(), /PORT: must be an integer from 0 to 65535/);
  t.notMatch(stderr(), /\n\s+at /, 'no stack trace');
  t.notMatch(stderr(), /ConfigError/, 'the message, not the error object');
  t.equal(stdout(), '', 'nothing started');
});
