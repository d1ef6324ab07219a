import type { Logger } from '@ledger/platform';
import { Redis } from 'ioredis';

/** Connecting (TCP and handshake) may take this long before the attempt counts as failed. */
export const redisConnectTimeoutMs = 5_000;
/** Start-up gives up on Redis after this long. */
export const redisStartupTimeoutMs = 10_000;
/**
 * Every command answers within this or fails ("Command timed out"): a revocation check or a
 * rate-limit count never holds a request longer, whatever Redis does.
 */
export const redisCommandTimeoutMs = 500;
/**
 * A command sent while the connection is down would wait in ioredis' offline queue for a
 * reconnection that may not come: it fails at once instead (the offline queue is off), and
 * this bounds the reconnections a command already sent may wait for.
 */
export const redisRetriesPerRequestMax = 1;
/** Reconnection back-off grows by this per attempt, up to redisRetryDelayMaxMs. */
const redisRetryDelayStepMs = 200;
const redisRetryDelayMaxMs = 2_000;

/** The URL with any password replaced, for log lines. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return '[unparseable]';
  }
}

/**
 * Opens ioredis and waits until it is ready, within redisStartupTimeoutMs; rejects (and
 * disconnects) otherwise, so a wrong REDIS_URL stops start-up with a clear message.
 * Afterwards it reconnects forever with a capped back-off (Redis restarts must not need an
 * API restart) while each command fails fast: at once while disconnected, and after
 * redisCommandTimeoutMs at most otherwise. Its callers decide what a failure means (see
 * docs/design.md, "Without Redis"): a revocation check fails closed (503 `unavailable`).
 */
export async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: redisConnectTimeoutMs,
    commandTimeout: redisCommandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: redisRetriesPerRequestMax,
    retryStrategy: (attempt) => Math.min(attempt * redisRetryDelayStepMs, redisRetryDelayMaxMs),
  });
  let lastError: unknown;
  redis.on('error', (error: unknown) => {
    lastError = error;
    logger.warn({ err: error }, 'Redis connection error');
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`Redis at ${redactRedisUrl(url)} was not ready within ${redisStartupTimeoutMs} ms`, {
                cause: lastError,
              }),
            ),
          redisStartupTimeoutMs,
        );
      }),
    ]);
  } catch (error) {
    redis.disconnect();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return redis;
}

/** QUIT lets pending replies arrive; when Redis does not answer in time, the socket is just dropped. */
export const redisQuitTimeoutMs = 2_000;

export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.quit(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, redisQuitTimeoutMs);
      }),
    ]);
  } catch {
    // Already closing or closed: nothing left to wait for.
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}
