import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { repoRoot, type TestDatabase } from '@ledger/testkit';

/**
 * What the benchmarks share: bounded settings from the environment, output, time-outs, CPU
 * accounting from Linux /proc (absent elsewhere: the readings are then empty), the services
 * as child processes, and the run's watchdog and database.
 */

/** An integer setting from the environment, checked against its bounds. */
export function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max} (got ${raw})`);
  }
  return value;
}

/** Results on stdout (the last line is the JSON one); progress on stderr. */
export const log = (line = '') => process.stdout.write(`${line}\n`);
export const note = (line: string) => process.stderr.write(`${line}\n`);
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function withTimeout<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** CPU ticks (user + system) of each of the given processes still running. */
export function processTicks(pids: readonly number[]): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // the process has ended, or there is no /proc
    }
  }
  return ticks;
}

/** Ticks used between two readings by the processes present in both. */
export function ticksBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, t] of after) {
    const t0 = before.get(pid);
    if (t0 !== undefined && t >= t0) ticks += t - t0;
  }
  return ticks;
}

/** The whole machine's idle and total ticks since boot. */
export function machineTicks(): { idle: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/** How busy the whole machine was between two machineTicks() readings, in %; NaN without /proc. */
export function machineBusyPct(
  before: ReturnType<typeof machineTicks>,
  after: ReturnType<typeof machineTicks>,
): number {
  if (!before || !after) return Number.NaN;
  return 100 * (1 - (after.idle - before.idle) / Math.max(1, after.total - before.total));
}

/** Clock ticks per second of /proc times (USER_HZ), 100 on Linux. */
export const ticksPerSecond = 100;

/** A reading of startCpuMeter: what was used since it started, in % of one core. */
export interface CpuReading {
  seconds: number;
  /** This process (user + system). */
  selfPct: number;
  /** The given processes of the meter together, each counted if readable at both ends (else 0). */
  pctOf(pids: readonly number[]): number;
  /** Whether a process of the meter was still readable at the end (false without /proc). */
  readable(pid: number): boolean;
  /** How busy the whole machine was, in %; NaN without /proc. */
  machineBusyPct: number;
}

/**
 * Starts measuring the CPU of this process, of `pids` and of the whole machine. A reading
 * divides by the time since the start, or by `seconds` when given (a window that ended a
 * little before the reading).
 */
export function startCpuMeter(pids: readonly number[]): (seconds?: number) => CpuReading {
  const self0 = process.cpuUsage();
  const ticks0 = processTicks(pids);
  const machine0 = machineTicks();
  const t0 = performance.now();
  return (seconds = (performance.now() - t0) / 1000) => {
    const self = process.cpuUsage(self0);
    const ticks1 = processTicks(pids);
    const machine1 = machineTicks();
    const only = (ticks: Map<number, number>, some: readonly number[]) =>
      new Map(some.flatMap((pid) => (ticks.has(pid) ? [[pid, ticks.get(pid)!] as const] : [])));
    return {
      seconds,
      selfPct: ((self.user + self.system) / 1e6 / seconds) * 100,
      pctOf: (some) =>
        (ticksBetween(only(ticks0, some), only(ticks1, some)) / ticksPerSecond / seconds) * 100,
      readable: (pid) => ticks1.has(pid),
      machineBusyPct: machineBusyPct(machine0, machine1),
    };
  };
}

// ---- the services as child processes ------------------------------------------------------

export interface Child {
  name: string;
  process: ChildProcess;
  exit: Promise<number | null>;
  /** The end of what it printed (stdout and stderr). */
  output(): string;
}

/** An entry point (`services/x/src/main.ts`) run as `node --import tsx` with only PATH and `env`. */
export function spawnChild(
  name: string,
  entry: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Child {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', entry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { name, process: child, exit, output: () => out };
}

/** SIGTERM (the services shut down cleanly, and --cpu-prof writes its profile), then SIGKILL. */
export async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const code = await Promise.race([child.exit, sleep(10_000).then(() => 'timeout' as const)]);
  if (code === 'timeout') {
    note(`${child.name} did not stop within 10 s: killing it`);
    child.process.kill('SIGKILL');
    await child.exit;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

const apiStartWaitMs = 30_000;

/**
 * The API (`services/api/src/main.ts`, what `pnpm start:api` runs) as a child listening on a
 * free port of 127.0.0.1; waitForApi tells when it answers.
 */
export async function spawnApi(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<{ child: Child; port: number; url: string }> {
  const port = await freePort();
  const child = spawnChild(
    'the API',
    'services/api/src/main.ts',
    { ...env, HOST: '127.0.0.1', PORT: String(port) },
    nodeArgs,
  );
  return { child, port, url: `http://127.0.0.1:${port}` };
}

/** Until the API answers GET /health/live (30 s at most); fails at once if it exits. */
export async function waitForApi(api: { child: Child; url: string }): Promise<void> {
  const deadline = Date.now() + apiStartWaitMs;
  for (;;) {
    if (api.child.process.exitCode !== null)
      throw new Error(`the API exited ${api.child.process.exitCode}:\n${api.child.output()}`);
    try {
      if ((await fetch(`${api.url}/health/live`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`the API did not answer within ${apiStartWaitMs} ms:\n${api.child.output()}`);
    await sleep(100);
  }
}

// ---- the run ------------------------------------------------------------------------------

/**
 * The whole run's bound: past `ms`, `kill` (the children, if any) runs, the run's database
 * (`database()`, if any yet) is dropped and the process exits with 2. Answers the cancel.
 */
export function startWatchdog(
  ms: number,
  database: () => TestDatabase | undefined,
  kill?: () => void,
): () => void {
  const timer = setTimeout(() => {
    note(`benchmark exceeded ${ms} ms: ${kill ? 'stopping, ' : ''}dropping the database and exiting`);
    kill?.();
    const db = database();
    void (db ? db.drop() : Promise.resolve()).finally(() => process.exit(2));
  }, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/** Drops the run's database (bounded; a failure is noted), or says where it was kept. */
export async function dropDatabase(db: TestDatabase | undefined, keep = false): Promise<void> {
  if (db && keep) note(`database ${db.name} kept (BENCH_KEEP_DB=1): drop it yourself`);
  else if (db) await withTimeout('dropping the database', db.drop(), 30_000).catch((e) => note(String(e)));
}
