import { readFileSync } from 'node:fs';

/**
 * What both benchmarks need: bounded settings from the environment, output, time-outs and
 * CPU accounting from Linux /proc (absent elsewhere: the readings are then empty).
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
