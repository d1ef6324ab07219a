import type { Logger } from '@ledger/platform';
import { Redis } from 'ioredis';

/** Connecting (TCP and handshake) may take this long before the attempt counts as failed. */
export const redisConnectTimeoutMs = 5_000;
/** Start-up gives up on Redis after this long. */
export const redisStartupTimeoutMs = 10_000;
/** A command waits for at most this many reconnections before it fails (no request hangs on Redis). */
export const redisRetriesPerRequestMax = 2;
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
 * API restart) while each command fails after redisRetriesPerRequestMax reconnections.
 */
export async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: redisConnectTimeoutMs,
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
