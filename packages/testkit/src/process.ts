import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root, for spawning entry points by their path from it. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

const startWaitMs = 20_000;

export interface SpawnedService {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exit: Promise<number | null>;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
}

/**
 * Runs an entry point (`services/x/src/main.ts`) as its own process with only PATH and
 * `env`; when `startedMessage` is given, resolves once a JSON log line carries it as `msg`.
 * `teardown` registers the SIGKILL that ends it if the test does not.
 */
export async function spawnService(options: {
  entry: string;
  env: Record<string, string>;
  startedMessage?: string;
  teardown: (fn: () => void) => void;
}): Promise<SpawnedService> {
  const child = spawn(process.execPath, ['--import', 'tsx', options.entry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  options.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  if (options.startedMessage) {
    const deadline = Date.now() + startWaitMs;
    while (!out.split('\n').some((line) => line.includes(`"msg":"${options.startedMessage}"`))) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before starting:\n${out}`);
      if (Date.now() > deadline)
        throw new Error(`no "${options.startedMessage}" within ${startWaitMs} ms:\n${out}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return { child, exit, output: () => out };
}

/** The exit code, or 'timeout' when the process is still running after `ms`. */
export async function exitWithin(
  exit: Promise<number | null>,
  ms: number,
): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const result = await Promise.race([exit, timeout]);
  clearTimeout(timer);
  return result;
}
