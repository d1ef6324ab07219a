import t, { type Test } from 'tap';
import {
  apiRequest,
  type Customer,
  checkLedger,
  postTransfer,
  type Stack,
  seedCustomers,
  sleep,
  startStack,
  waitFor,
} from './kit.js';

// Issue #14, item 4: the projector and the worker reach PostgreSQL through a relay that the
// test cuts for a few seconds (every connection dropped, new ones refused), while the API,
// on a direct connection, goes on taking transfers. Neither process may exit: each logs the
// failures at warn, retries with backoff, and after the cut the read models catch up to the
// head and the worker expires the holds made before and during the cut. Meanwhile
// /health/ready, with READY_LAG_MAX_SECONDS=2, answers 503 with the lag, then 200 again.

/** The readiness bound of this test's API: small, so a cut of a few seconds passes it. */
const readyLagMaxSeconds = 2;
/** How long the database stays cut at least: past the readiness bound, several retries. */
const cutMs = 6_000;
/** Longest wait for /health/ready to say 503 during the cut (bounded, the lag grows by 1 s a second). */
const unreadyWithinMs = 15_000;
/** Longest wait, after the cut, for catch-up (200 again) and for the holds to expire. */
const recoverWithinMs = 30_000;

async function ready(stack: Stack) {
  return apiRequest(stack, undefined, 'GET', '/health/ready');
}

/** True once `transferId` has its PendingTransferExpired in the log. */
async function expired(stack: Stack, transferId: string): Promise<boolean> {
  const { rows } = await stack.pool.query(
    `SELECT 1 FROM es.events WHERE stream_id = $1 AND type = 'PendingTransferExpired'`,
    [`transfer-${transferId}`],
  );
  return rows.length === 1;
}

/** Lines of a service's output that are JSON logs with this message. */
function logged(output: string, msg: string): { level: number; msg: string }[] {
  return output
    .split('\n')
    .filter((line) => line.includes(`"msg":"${msg}"`))
    .map((line) => JSON.parse(line) as { level: number; msg: string });
}

t.test(
  'a database cut: projector and worker stay up, retry, catch up; readiness 503 while behind, then 200',
  { timeout: 150_000 },
  async (t: Test) => {
    const stack = await startStack(t, {
      throughProxy: ['projector', 'worker'],
      apiEnv: { READY_LAG_MAX_SECONDS: String(readyLagMaxSeconds) },
    });
    const [alice] = (await seedCustomers(stack, {
      customers: 1,
      accountsPerCustomer: 2,
      depositEach: 1_000_00n,
    })) as [Customer];
    const [from, to] = alice.accounts as [string, string];
    const acknowledged: string[] = [];
    const transfer = async (body: Record<string, unknown>) => {
      const sent = await postTransfer(stack, alice, {
        type: 'transfer',
        fromAccountId: from,
        toAccountId: to,
        currency: 'EUR',
        ...body,
      });
      t.equal(sent.status, 201, `transfer ${JSON.stringify(body)}: 201 (${JSON.stringify(sent.body)})`);
      acknowledged.push(sent.body.transaction.id);
      return sent.body.transaction.id as string;
    };

    for (const amount of ['1.00', '2.00', '3.00']) await transfer({ amount });
    await waitFor('ready before the cut', async () => (await ready(stack)).status === 200, recoverWithinMs);
    // Expires during the cut: its job, already dispatched, runs when the worker has its database back.
    const holdBefore = await transfer({ amount: '4.00', mode: 'pending', timeoutSeconds: 3 });
    await waitFor(
      'the hold made before the cut is dispatched',
      async () => {
        const { rows } = await stack.pool.query<{ p: string }>(
          `SELECT position::text AS p FROM readmodel.checkpoints WHERE name = 'dispatcher'`,
        );
        const { rows: hold } = await stack.pool.query<{ p: string }>(
          `SELECT global_position::text AS p FROM es.events WHERE stream_id = $1 AND stream_version = 0`,
          [`transfer-${holdBefore}`],
        );
        return rows.length === 1 && hold.length === 1 && BigInt(rows[0]!.p) >= BigInt(hold[0]!.p);
      },
      recoverWithinMs,
    );

    stack.proxy.cut();
    const cutAt = Date.now();
    // The API reaches the database directly: transfers go on, the read models fall behind.
    for (const amount of ['5.00', '6.00']) await transfer({ amount });
    // Made during the cut: the dispatcher must pick it up from its checkpoint afterwards.
    const holdDuring = await transfer({ amount: '7.00', mode: 'pending', timeoutSeconds: 1 });
    let unready: Awaited<ReturnType<typeof ready>> | undefined;
    await waitFor(
      '/health/ready 503 while the read models lag',
      async () => {
        const answer = await ready(stack);
        if (answer.status === 503) unready = answer;
        return unready !== undefined;
      },
      unreadyWithinMs,
      250,
    ).catch(() => {});
    t.equal(unready?.status, 503, `503 while behind (${JSON.stringify(unready?.body)})`);
    t.match(
      unready?.body,
      {
        status: 'unavailable',
        checks: { postgres: { ok: true }, lag: { ok: false, lagSecondsMax: readyLagMaxSeconds } },
      },
      'unready for the lag, with the lag and its bound in the body',
    );
    t.ok(
      (unready?.body?.checks?.lag?.lagSeconds ?? 0) > readyLagMaxSeconds,
      'the lag in the body passes the bound',
    );
    await sleep(Math.max(0, cutMs - (Date.now() - cutAt)));
    for (const service of [stack.projector, stack.worker]) {
      // Its last words, when it did not stay up: what a reader of a failed run needs.
      const lastLines = service.running
        ? {}
        : { lastLines: service.output().split('\n').slice(-15).join('\n') };
      t.ok(service.running, `the ${service.name} is still running during the cut`, lastLines);
    }
    stack.proxy.resume();

    await waitFor(
      '/health/ready 200 after the catch-up',
      async () => (await ready(stack)).status === 200,
      recoverWithinMs,
    ).catch(() => {});
    const after = await ready(stack);
    t.equal(after.status, 200, `200 once caught up (${JSON.stringify(after.body)})`);
    t.match(after.body, { status: 'ok', checks: { lag: { ok: true } } });
    for (const [what, id] of [
      ['the hold made before the cut', holdBefore],
      ['the hold made during the cut', holdDuring],
    ] as const) {
      await waitFor(`${what} expires`, () => expired(stack, id), recoverWithinMs).catch(() => {});
      t.ok(await expired(stack, id), `${what} expired: the worker works`);
    }
    // A transfer after the cut reaches the read models too.
    await transfer({ amount: '8.00' });

    t.ok(stack.projector.running, 'the projector never exited');
    t.ok(stack.worker.running, 'the worker never exited');
    for (const service of [stack.projector, stack.worker]) {
      const output = service.output();
      const retries = logged(output, 'transient failure; starting over after a backoff');
      t.ok(retries.length > 0, `${service.name}: the failures are logged`);
      t.ok(
        retries.every((line) => line.level === 40),
        `${service.name}: at warn`,
      );
      t.notMatch(output, /failed; exiting/, `${service.name}: no "failed; exiting"`);
    }

    await checkLedger(t, stack, acknowledged);
  },
);
