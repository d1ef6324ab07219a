import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import t from 'tap';
import deadlinePlugin, { timeoutRetryAfterSeconds } from './deadline.js';
import problemsPlugin from './problems.js';

// Over real HTTP (a listening server and fetch), since what broke fastify's own handler
// timeout is when Node emits a request's 'close': light-my-request would not show it.

const timeoutMs = 200;
/** How long the slow handlers work: well past the deadline, and bounded. */
const slowMs = 1_500;

interface Seen {
  aborted: boolean;
  reason: string | undefined;
}

async function start(): Promise<{
  app: FastifyInstance;
  url: string;
  seen: Map<string, Seen>;
  entered: Set<string>;
}> {
  const app = Fastify({ logger: false });
  await app.register(problemsPlugin);
  await app.register(deadlinePlugin, { timeoutMs });
  const seen = new Map<string, Seen>();
  const entered = new Set<string>();
  const record = (key: string, signal: AbortSignal) =>
    seen.set(key, {
      aborted: signal.aborted,
      reason: signal.aborted
        ? String(
            (signal.reason as { code?: string; message?: string })?.code ?? (signal.reason as Error)?.message,
          )
        : undefined,
    });
  const slow = async (key: string, signal: AbortSignal) => {
    entered.add(key);
    // Works until the deadline signal aborts, or slowMs.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, slowMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    record(key, signal);
    return { finished: true };
  };
  app.get('/slow', async (request) => slow('get-slow', request.deadline));
  app.post('/slow', async (request) => slow('post-slow', request.deadline));
  // A command whose append is sent just before the deadline and committed after it.
  app.post('/committing', async (request) => {
    const deadline = request.appendDeadline;
    await sleep(timeoutMs - 50);
    deadline.signal.throwIfAborted();
    deadline.sent?.();
    await sleep(timeoutMs);
    record('committing', deadline.signal);
    return { committed: true };
  });
  app.post('/fast', async (request) => {
    await sleep(20);
    record('post-fast', request.deadline);
    return { ok: true };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { app, url: `http://127.0.0.1:${address.port}`, seen, entered };
}

const json = { 'content-type': 'application/json' };

t.test('a POST with a body keeps its deadline signal and gets its answer', async (t) => {
  const { app, url, seen } = await start();
  t.teardown(() => app.close());
  const response = await fetch(`${url}/fast`, { method: 'POST', headers: json, body: '{"a":1}' });
  t.equal(response.status, 200);
  t.same(await response.json(), { ok: true });
  // fastify 5.12's handlerTimeout had aborted it once the body was read.
  t.same(seen.get('post-fast'), { aborted: false, reason: undefined }, 'not aborted by reading the body');
});

t.test('past the deadline a GET and a POST get a 503 timeout problem, and their signal aborts', async (t) => {
  const { app, url, seen } = await start();
  t.teardown(() => app.close());
  for (const [method, key] of [
    ['GET', 'get-slow'],
    ['POST', 'post-slow'],
  ] as const) {
    const response = await fetch(`${url}/slow`, {
      method,
      ...(method === 'POST' ? { headers: json, body: '{"a":1}' } : {}),
    });
    t.equal(response.status, 503, `${method}: 503`);
    t.match(response.headers.get('content-type'), /^application\/problem\+json/);
    t.match(await response.json(), {
      status: 503,
      code: 'timeout',
      detail: `No answer within ${timeoutMs} ms`,
    });
    t.equal(response.headers.get('retry-after'), String(timeoutRetryAfterSeconds), `${method}: Retry-After`);
    // The handler's own answer comes later and is dropped; it saw why it was stopped.
    await t.resolves(async () => {
      for (let i = 0; i < 100 && !seen.has(key); i++) await sleep(20);
    });
    t.same(seen.get(key), { aborted: true, reason: 'timeout' }, `${method}: the handler's signal aborted`);
  }
  const after = await fetch(`${url}/fast`, { method: 'POST', headers: json, body: '{}' });
  t.equal(after.status, 200, 'the server answers the next request');
});

t.test(
  'an append sent before the deadline is waited for: the answer is its outcome, not a 503',
  async (t) => {
    const { app, url, seen } = await start();
    t.teardown(() => app.close());
    const response = await fetch(`${url}/committing`, { method: 'POST', headers: json, body: '{}' });
    t.equal(response.status, 200, 'the late answer of a committed command');
    t.same(await response.json(), { committed: true });
    t.same(
      seen.get('committing'),
      { aborted: true, reason: 'timeout' },
      'its signal still aborted at the deadline',
    );
  },
);

t.test('a client that goes away aborts the deadline signal before the deadline', async (t) => {
  const { app, url, seen, entered } = await start();
  t.teardown(() => app.close());
  const client = new AbortController();
  const request = fetch(`${url}/slow`, { method: 'POST', headers: json, body: '{}', signal: client.signal });
  for (let i = 0; i < 100 && !entered.has('post-slow'); i++) await sleep(10);
  t.ok(entered.has('post-slow'), 'the handler is running');
  client.abort();
  await t.rejects(request, 'the client gave up');
  for (let i = 0; i < 100 && !seen.has('post-slow'); i++) await sleep(10);
  t.same(
    seen.get('post-slow'),
    { aborted: true, reason: 'the client went away before the answer was sent' },
    'aborted for the disconnect, not the deadline',
  );
});

t.test('timeoutMs must be a positive integer', async (t) => {
  for (const timeoutMs of [0, -1, 1.5, Number.NaN]) {
    const app = Fastify({ logger: false });
    await t.rejects(
      (async () => {
        await app.register(deadlinePlugin, { timeoutMs });
        await app.ready();
      })(),
      RangeError,
      String(timeoutMs),
    );
    await app.close().catch(() => {});
  }
});
