import type { DestinationStream } from 'pino';

/** A pino destination that keeps the lines, so tests can read what was logged and stay quiet. */
export function captureLog(): DestinationStream & {
  lines: () => Record<string, unknown>[];
  text: () => string;
} {
  const written: string[] = [];
  return {
    write(line: string) {
      written.push(line);
    },
    lines: () => written.map((l) => JSON.parse(l) as Record<string, unknown>),
    text: () => written.join(''),
  };
}

/** Rejects when `promise` takes longer than `ms`: every wait in a test is bounded. */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
