import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Test } from 'tap';
import { freePort, sleep, waitFor } from './kit.js';

/**
 * A PostgreSQL server of the test's own (issue #22): initdb in a temporary directory, then
 * `postgres` on a free port of 127.0.0.1, so a test can crash the server itself (every
 * process of it SIGKILLed, as a power cut of the database host would, less the page cache)
 * and start it again on the same data directory: crash recovery from the WAL.
 *
 * initdb and postgres refuse to run as root: as root, they run as the `postgres` OS user
 * (spawn's uid/gid, the same as `runuser -u postgres`, but the child is the postmaster
 * itself, whose pid the crash needs), and the directory is chowned to it.
 */

/** How long initdb, a start (crash recovery included) or a clean stop may take. */
const initdbWaitMs = 60_000;
const startWaitMs = 30_000;
const stopWaitMs = 10_000;
/** Output kept for a failure's message, the last this many characters. */
const outputKeptMax = 200_000;

export interface TestPostgresServer {
  /** The `postgres` database of the server, as superuser `postgres` (trust). */
  url: string;
  port: number;
  /** Its data directory (under a temporary directory deleted at teardown). */
  dataDir: string;
  /** True while the postmaster runs. */
  readonly running: boolean;
  /** What the server printed so far (its log goes to stderr), over every start. */
  output(): string;
  /**
   * A crash: the postmaster stopped (SIGSTOP, so it forks nothing and notices nothing),
   * every process it started SIGKILLed, then the postmaster SIGKILLed; waits until all are
   * gone. Nothing shuts down: the next start recovers from the WAL.
   */
  crash(): Promise<void>;
  /**
   * SIGSTOPs the WAL writer until the next crash: a commit that does not wait for its flush
   * (synchronous_commit off) then stays in the WAL buffers, written by nothing, until a
   * synchronous commit flushes the WAL past it; the crash loses it. (A SIGKILL spares what
   * was written to the kernel: this is how a test loses what a power cut would.)
   */
  stopWalWriter(): Promise<void>;
  /** Starts it on the same data directory and port; waits until it accepts connections. */
  start(): Promise<void>;
  /** A fast shutdown (SIGINT), a crash if it takes longer than stopWaitMs. */
  stop(): Promise<void>;
}

/** The newest PostgreSQL's bin directory: /usr/lib/postgresql/<highest>/bin, else pg_config --bindir. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^[0-9]+(\.[0-9]+)?$/.test(v) && existsSync(join(root, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  }
  const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  if (!existsSync(join(dir, 'postgres')))
    throw new Error(`no postgres binary in ${dir} (pg_config --bindir)`);
  return dir;
}

/** The uid and gid to run PostgreSQL as: the `postgres` user when this process is root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The pids of every process descending from `pid`, from /proc. */
async function descendantsOf(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const found = new Set<number>([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, parent] of parents) {
      if (found.has(parent) && !found.has(child)) {
        found.add(child);
        grew = true;
      }
    }
  }
  found.delete(pid);
  return [...found];
}

/** Gone, or a zombie (its memory, shared memory included, already released). */
async function gone(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** True once a connection to `url` answers SELECT 1. */
async function accepts(url: string): Promise<boolean> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 1_000,
    query_timeout: 1_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A PostgreSQL server of the test's own, started; stopped and its directory deleted at teardown. */
export async function startPostgresServer(
  t: Test,
  options: { settings?: Record<string, string> } = {},
): Promise<TestPostgresServer> {
  const bin = postgresBinDir();
  const user = runAs();
  const dir = await mkdtemp(join(tmpdir(), 'ledger-pg-'));
  const dataDir = join(dir, 'data');
  let child: ChildProcess | undefined;
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > outputKeptMax * 2) out = out.slice(-outputKeptMax);
  };
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const exited = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => c.once('exit', () => resolve()));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C.UTF-8', TZ: 'UTC' };

  const crash = async () => {
    const postmaster = child;
    if (!postmaster || !running() || postmaster.pid === undefined) return;
    const pid = postmaster.pid;
    // Stopped, it neither forks new children nor reacts to theirs dying.
    signal(pid, 'SIGSTOP');
    const children = await descendantsOf(pid);
    for (const c of children) signal(c, 'SIGKILL');
    signal(pid, 'SIGKILL');
    await Promise.race([exited(postmaster), sleep(stopWaitMs)]);
    if (running()) throw new Error(`the postmaster ${pid} is still running after SIGKILL`);
    await waitFor(
      `the processes of the postmaster ${pid} gone`,
      async () => (await Promise.all(children.map(gone))).every(Boolean),
      stopWaitMs,
    );
  };

  const stopWalWriter = async () => {
    const pid = child?.pid;
    if (!running() || pid === undefined) throw new Error('the PostgreSQL server is not running');
    let walWriter: number | undefined;
    for (const c of await descendantsOf(pid)) {
      const title = await readFile(`/proc/${c}/cmdline`, 'utf8').catch(() => '');
      if (title.startsWith('postgres: walwriter')) walWriter = c;
    }
    if (walWriter === undefined) throw new Error(`no WAL writer among the processes of ${pid}`);
    const stopped = walWriter;
    signal(stopped, 'SIGSTOP');
    await waitFor(
      `the WAL writer ${stopped} stopped`,
      async () => {
        const stat = await readFile(`/proc/${stopped}/stat`, 'utf8').catch(() => '');
        return /^[Tt]/.test(stat.slice(stat.lastIndexOf(')') + 2));
      },
      stopWaitMs,
      10,
    );
  };

  const stop = async () => {
    const postmaster = child;
    if (!postmaster || !running() || postmaster.pid === undefined) return;
    signal(postmaster.pid, 'SIGINT');
    await Promise.race([exited(postmaster), sleep(stopWaitMs)]);
    if (running()) await crash();
  };

  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

  const start = async () => {
    if (running()) throw new Error('the PostgreSQL server is already running');
    const settings: Record<string, string> = {
      listen_addresses: '127.0.0.1',
      fsync: 'on',
      shared_buffers: '32MB',
      // The stack holds up to about 80 (three services' pools, their lock and LISTEN sessions).
      max_connections: '120',
      logging_collector: 'off',
      log_min_messages: 'warning',
      ...options.settings,
    };
    const args = ['-D', dataDir, '-p', String(port), '-k', dir];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    const started = spawn(join(bin, 'postgres'), args, {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user ?? {}),
    });
    child = started;
    started.stdout?.on('data', keep);
    started.stderr?.on('data', keep);
    await waitFor(
      `PostgreSQL on port ${port} accepting connections`,
      async () => {
        if (started.exitCode !== null || started.signalCode !== null)
          throw new Error(
            `postgres exited (${started.exitCode ?? started.signalCode}):\n${out.slice(-4_000)}`,
          );
        return accepts(url);
      },
      startWaitMs,
      100,
    );
  };

  t.teardown(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  if (user) await chown(dir, user.uid, user.gid);
  await new Promise<void>((resolve, reject) => {
    const initdb = spawn(
      join(bin, 'initdb'),
      // --no-sync: a crash here kills processes, not the host: the page cache survives it.
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'],
      { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) },
    );
    let initOut = '';
    initdb.stdout?.on('data', (d: Buffer) => {
      initOut += d.toString();
    });
    initdb.stderr?.on('data', (d: Buffer) => {
      initOut += d.toString();
    });
    const timer = setTimeout(() => initdb.kill('SIGKILL'), initdbWaitMs);
    initdb.once('error', reject);
    initdb.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`initdb failed (${code ?? sig}):\n${initOut.slice(-4_000)}`));
    });
  });
  await start();
  return {
    url,
    port,
    dataDir,
    get running() {
      return running();
    },
    output: () => out,
    crash,
    stopWalWriter,
    start,
    stop,
  };
}
