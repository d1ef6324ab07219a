import type { EventStore } from '@ledger/eventstore';
import { readCheckpoints } from '@ledger/readmodel';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';

/** Each readiness check (and each metrics refresh) gives up after this long. */
export const checkTimeoutMs = 2_000;

/** Probes and scrapes arrive every few seconds: their request lines would drown the log; failures still show. */
export const probeLogLevel = 'warn';

export interface CheckResult {
  ok: boolean;
  latencyMs: number;
  /** A short, fixed reason when not ok; the cause itself goes to the log only. */
  error?: 'timeout' | 'unreachable' | 'not_connected';
}

export interface ProjectionLag {
  name: string;
  /** Last position the projection has applied. */
  position: bigint;
  /** Store head minus `position`; 0n when caught up. Positions are sparse, so this is not an event count. */
  lagPositions: bigint;
  /**
   * How long the projection has been behind: now minus the later of its last checkpoint
   * update and the append of the first event it has not applied; 0 when caught up.
   */
  lagSeconds: number;
}

export interface LagCheck {
  /** False when some read model's lagSeconds is above lagSecondsMax, or the lag could not be read. */
  ok: boolean;
  /** The largest lagSeconds of all read models; 0 when none is behind (or none exists yet). */
  lagSeconds: number;
  /** The bound (READY_LAG_MAX_SECONDS). */
  lagSecondsMax: number;
  /** Set when the lag could not be read: the checkpoints or the head did not answer. */
  error?: 'timeout' | 'unreachable';
}

/**
 * Readiness' judgement of lag: a read model further behind than `lagSecondsMax` (its
 * projector or the worker's dispatcher stopped, or cannot keep up) makes the instance
 * unready, so the outage shows where operators look. Every checkpoint counts, the
 * dispatcher's included: a checkpoint left by a projection no longer run must be deleted.
 */
export function judgeLag(
  lags: { projections: readonly ProjectionLag[] } | { error: unknown },
  lagSecondsMax: number,
): LagCheck {
  if ('error' in lags) {
    return {
      ok: false,
      lagSeconds: 0,
      lagSecondsMax,
      error: lags.error instanceof CheckTimeout ? 'timeout' : 'unreachable',
    };
  }
  const lagSeconds = Math.max(0, ...lags.projections.map((p) => p.lagSeconds));
  return { ok: lagSeconds <= lagSecondsMax, lagSeconds, lagSecondsMax };
}

export class CheckTimeout extends Error {
  override readonly name = 'CheckTimeout';
}

/** Rejects with CheckTimeout when `promise` has not settled within `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `probe` with a time-out and measures it; never throws. */
export async function timedCheck(
  probe: () => Promise<unknown>,
  onError: (error: unknown) => void,
): Promise<CheckResult> {
  const started = performance.now();
  try {
    await withDeadline(probe(), checkTimeoutMs, 'check');
    return { ok: true, latencyMs: elapsedMs(started) };
  } catch (error) {
    onError(error);
    return {
      ok: false,
      latencyMs: elapsedMs(started),
      error: error instanceof CheckTimeout ? 'timeout' : 'unreachable',
    };
  }
}

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

export function checkPostgres(
  ping: () => Promise<void>,
  onError: (error: unknown) => void,
): Promise<CheckResult> {
  return timedCheck(ping, onError);
}

export function checkRedis(
  redis: Redis | undefined,
  onError: (error: unknown) => void,
): Promise<CheckResult> {
  if (!redis) {
    // REDIS_URL is set but no client was handed in: a wiring mistake, reported rather than hidden.
    return Promise.resolve({ ok: false, latencyMs: 0, error: 'not_connected' });
  }
  return timedCheck(() => redis.ping(), onError);
}

/** The store's head and every projection's lag behind it, as of `now`. */
export async function projectionLags(
  store: EventStore,
  db: Kysely<any>,
  now: Date = new Date(),
): Promise<{ head: bigint; projections: ProjectionLag[] }> {
  const head = await withDeadline(store.headPosition(), checkTimeoutMs, 'event store');
  const checkpoints = await withDeadline(readCheckpoints(db), checkTimeoutMs, 'checkpoints');
  // Behind since the later of its last move and the first event it has not applied: after
  // an idle hour, a new event is seconds behind, not an hour (readiness judges this).
  const firstUnapplied = new Map<bigint, Promise<number | undefined>>();
  const firstAfter = (position: bigint) => {
    let at = firstUnapplied.get(position);
    if (!at) {
      at = withDeadline(store.readAll({ after: position, limit: 1 }), checkTimeoutMs, 'event store').then(
        (events) => (events[0] ? Date.parse(events[0].recordedAt) : undefined),
      );
      firstUnapplied.set(position, at);
    }
    return at;
  };
  const projections = await Promise.all(
    checkpoints.map(async (c): Promise<ProjectionLag> => {
      const lagPositions = head > c.position ? head - c.position : 0n;
      if (lagPositions === 0n) return { name: c.name, position: c.position, lagPositions, lagSeconds: 0 };
      const since = Math.max(c.updatedAt.getTime(), (await firstAfter(c.position)) ?? now.getTime());
      const lagSeconds = Math.max(0, (now.getTime() - since) / 1000);
      return { name: c.name, position: c.position, lagPositions, lagSeconds };
    }),
  );
  return { head, projections };
}
