// What the append and read batchers share.

/**
 * `run`, once, in a microtask after the first call: calls made meanwhile (by callers woken
 * in the same microtask run) join that one run.
 */
export function onceInMicrotask(run: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      run();
    });
  };
}

/** The connection broke (or the server is going away): a batch's members would each fail the same way. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? '';
  return /^(08|57P)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code);
}
