import { randomUUID } from 'node:crypto';
import { transferIdFor } from '@ledger/application';
import { pgClient } from '@ledger/eventstore';
import { defaultProjectionsFor } from '@ledger/projector';
import { readCheckpoints, rebuildAndCompare } from '@ledger/readmodel';
import t, { type Test } from 'tap';
import {
  type Customer,
  checkLedger,
  headOf,
  postTransfer,
  type Stack,
  seedCustomers,
  sleep,
  startStack,
  waitFor,
} from './kit.js';
import { startPostgresServer } from './pg-server.js';

// Issue #22, the PostgreSQL server itself crashes: the bank (API and projector) runs on a
// server of the test's own (pg-server.ts), and every process of that server is SIGKILLed,
// then started again a second later on the same data directory (crash recovery from the WAL).
// Twice: once in the middle of a load of eight clients sending transfers (requests in flight,
// commits whose answer never left), and once in a lull of that load, right after the
// projector applied a last transfer. The read models commit without waiting for their WAL
// flush (synchronous_commit off, readmodel's advanceCheckpoint): in the lull, the server's WAL
// writer stopped, nothing writes their last commits out, so that crash loses the projector's
// last batches, data and checkpoint together (as a power cut would), and the projector must
// apply them again.
//
// Each request answers something definite (201, 422) or a retryable 503 with Retry-After;
// a client retries a 503 (or a lost connection) with the same Idempotency-Key and body until
// it has a definite answer. The API and the projector recover by themselves, and listen
// again for appends (LISTEN), not left polling. After: nothing acknowledged lost or applied
// twice, the trial balance balanced, every chain verified, the projections at the head, and
// every read model equal to a replay of the log into a fresh schema.

/** Concurrent clients, each a customer sending transfers one after the other. */
const clients = 8;
/** Load before the first crash; the server down, each time; load after each restart. */
const loadBeforeCrashMs = 3_000;
const downMs = 1_000;
const loadAfterRestartMs = 2_500;
/** Attempts of one transfer (the first included) before the test gives up on it. */
const attemptsMax = 80;
/** Pause before a retry (shorter than Retry-After: the test keeps the load on). */
const retryPauseMs = 250;
/** One request's bound: a request still unanswered after it counts as hung. */
const requestBoundMs = 15_000;
/** Transfers sent one at a time to time the projector, before the load and after it. */
const delaySamples = 5;
/** The median of those delays, at most (the projector polls once a second when not woken). */
const projectorDelayMedianMaxMs = 500;
/** Longest a projection may take to apply one transfer (a failure beyond, not a slow sample). */
const projectorDelayMaxMs = 5_000;
/** The API answers a transfer again, the services listen again, within this long of a restart. */
const recoveryWithinMs = 10_000;
/** Longest the load may take to fall quiet, and the projector to reach the head, for the lull. */
const lullWithinMs = 20_000;
/** The services whose LISTEN session must be back, by application_name. */
const listeners = ['ledger-api', 'ledger-projector'];

interface Tally {
  /** Status (or 'network error', 'hung') → count, over every attempt. */
  statuses: Map<string, number>;
  /** Answers that are neither definite nor a retryable 503 with Retry-After. */
  bad: string[];
  /** Transfers without a definite answer after attemptsMax attempts. */
  unresolved: string[];
  /** Transfer ids answered 201, with when. */
  acknowledged: { id: string; at: number }[];
  /** 201s whose id is not the one the key names (transferIdFor). */
  wrongIds: string[];
  /** Definite answers that took more than one attempt. */
  retriedToDefinite: number;
}

function count(tally: Tally, what: string): void {
  tally.statuses.set(what, (tally.statuses.get(what) ?? 0) + 1);
}

/** One transfer, retried with the same key and body until a definite answer (bounded). */
async function transfer(stack: Stack, from: Customer, to: Customer, tally: Tally): Promise<void> {
  const key = randomUUID();
  const body = {
    type: 'transfer',
    fromAccountId: from.accounts[0],
    toAccountId: to.accounts[0],
    amount: '1.00',
    currency: 'EUR',
  };
  for (let attempt = 1; attempt <= attemptsMax; attempt++) {
    let answer: Awaited<ReturnType<typeof postTransfer>> | undefined;
    try {
      answer = await postTransfer(stack, from, body, key, { signal: AbortSignal.timeout(requestBoundMs) });
    } catch (error) {
      const hung = (error as Error).name === 'TimeoutError';
      count(tally, hung ? 'hung' : 'network error');
      if (hung) tally.bad.push(`key ${key}: no answer within ${requestBoundMs} ms`);
    }
    if (answer !== undefined) {
      count(tally, String(answer.status));
      if (answer.status === 503) {
        if (!/^[1-9][0-9]*$/.test(answer.headers.get('retry-after') ?? ''))
          tally.bad.push(`key ${key}: 503 without Retry-After (${JSON.stringify(answer.body)})`);
      } else if (answer.status === 201 || answer.status === 422) {
        if (attempt > 1) tally.retriedToDefinite++;
        if (answer.status === 201) {
          const id = String(answer.body?.transaction?.id);
          tally.acknowledged.push({ id, at: Date.now() });
          if (id !== transferIdFor(from.id, key)) tally.wrongIds.push(id);
        }
        return;
      } else {
        tally.bad.push(`key ${key}: ${answer.status} ${JSON.stringify(answer.body)}`);
        return;
      }
    }
    await sleep(retryPauseMs);
  }
  tally.unresolved.push(key);
}

/** Every projection the projector runs, replayed into a fresh schema and compared with the live one. */
async function compareWithRebuilds(t: Test, stack: Stack): Promise<void> {
  const db = pgClient(stack.pool).kysely();
  for (const projection of defaultProjectionsFor(stack.store)) {
    const schema = `${projection.schema}_rebuild`;
    try {
      const result = await rebuildAndCompare({ db, store: stack.store, projection, schema });
      const differing = result.tables.filter((table) => !table.equal);
      t.ok(
        result.equal,
        `the ${projection.name} read model equals its rebuild at ${result.position} (${result.tables.length} tables)`,
        result.equal
          ? {}
          : { differing: JSON.stringify(differing), migrations: JSON.stringify(result.migrations) },
      );
    } finally {
      await db.schema.dropSchema(schema).ifExists().cascade().execute();
    }
  }
}

/**
 * How long after each of `samples` transfers (one at a time, the load stopped) every
 * projection of the projector has applied it, in ms: a projector that hears the API's
 * NOTIFY applies it in tens of milliseconds, one left polling only within its interval.
 */
async function projectorDelays(stack: Stack, from: Customer, to: Customer, tally: Tally, samples: number) {
  const db = pgClient(stack.pool).kysely();
  const names = new Set(defaultProjectionsFor(stack.store).map((p) => p.name));
  const delays: number[] = [];
  for (let i = 0; i < samples; i++) {
    const sent = await postTransfer(stack, from, {
      type: 'transfer',
      fromAccountId: from.accounts[0],
      toAccountId: to.accounts[0],
      amount: '1.00',
      currency: 'EUR',
    });
    if (sent.status !== 201) throw new Error(`a transfer: ${sent.status} ${JSON.stringify(sent.body)}`);
    const sentAt = Date.now();
    tally.acknowledged.push({ id: sent.body.transaction.id, at: sentAt });
    const position = BigInt(sent.body.position);
    await waitFor(
      'the projector applies a transfer',
      async () =>
        (await readCheckpoints(db)).filter((c) => names.has(c.name)).every((c) => c.position >= position),
      projectorDelayMaxMs,
      5,
    );
    delays.push(Date.now() - sentAt);
    // Apart by a varying pause: not in step with any polling interval.
    await sleep(100 + Math.floor(Math.random() * 300));
  }
  return delays.sort((a, b) => a - b);
}

/** Which of `listeners` have a session on the database that LISTENs (its last statement). */
async function listening(stack: Stack): Promise<string[]> {
  const { rows } = await stack.pool.query<{ name: string }>(
    `SELECT DISTINCT application_name AS name FROM pg_stat_activity
      WHERE datname = current_database() AND query LIKE 'LISTEN %' AND application_name = ANY($1)
      ORDER BY 1`,
    [listeners],
  );
  return rows.map((r) => r.name);
}

/** Every projection of the projector, by name → its checkpoint. */
async function projectionCheckpoints(stack: Stack): Promise<Map<string, bigint>> {
  const names = new Set(defaultProjectionsFor(stack.store).map((p) => p.name));
  const checkpoints = await readCheckpoints(pgClient(stack.pool).kysely());
  return new Map(checkpoints.filter((c) => names.has(c.name)).map((c) => [c.name, c.position]));
}

t.test(
  'the PostgreSQL server crashes, under load and in a lull, and restarts: every request ends definite, nothing lost or doubled, read models equal their rebuild',
  { timeout: 150_000 },
  async (t) => {
    const server = await startPostgresServer(t, {
      // Crash recovery syncs the data directory first: one syncfs instead of an fsync a file.
      settings: { recovery_init_sync_method: 'syncfs' },
    });
    // No worker: its dispatcher commits synchronously, which would flush the projector's
    // batches in the lull (it recovers from a lost database as the projector does:
    // database-blip.test.ts).
    const stack = await startStack(t, { server, without: ['worker'] });
    const customers = await seedCustomers(stack, { customers: clients, depositEach: 1_000_000_00n });
    const [alice, bob] = customers as [Customer, Customer];
    const tally: Tally = {
      statuses: new Map(),
      bad: [],
      unresolved: [],
      acknowledged: [],
      wrongIds: [],
      retriedToDefinite: 0,
    };
    t.same(await listening(stack), listeners, 'the API and the projector LISTEN for appends');
    const delaysBefore = await projectorDelays(stack, alice, bob, tally, delaySamples);
    t.comment(`projector delays before the crashes (ms): ${delaysBefore.join(', ')}`);

    let loading = true;
    let paused = false;
    let busy = 0;
    const load = Promise.all(
      customers.map(async (from, i) => {
        const to = customers[(i + 1) % customers.length]!;
        while (loading) {
          if (paused) {
            await sleep(20);
            continue;
          }
          busy++;
          try {
            await transfer(stack, from, to, tally);
          } finally {
            busy--;
          }
        }
      }),
    );

    /** Crashes the server, starts it again after downMs; what the projections had committed then. */
    const crashAndRestart = async (what: string) => {
      // Visible, not necessarily flushed: what a crash may take back.
      const committed = await projectionCheckpoints(stack);
      const projectorAt = stack.projector.output().length;
      const before = tally.acknowledged.length;
      await server.crash();
      const crashedAt = Date.now();
      t.notOk(server.running, `${what}: the server is down`);
      await sleep(downMs);
      await server.start();
      const upAt = Date.now();
      t.comment(
        `${what}: the server down ${upAt - crashedAt} ms (crash recovery included), ${before} transfers acknowledged before`,
      );
      return { committed, projectorAt, upAt };
    };
    /** Load on for loadAfterRestartMs after `upAt`; a transfer acknowledged in that time. */
    const loadAfter = async (what: string, upAt: number) => {
      await waitFor(
        'a transfer acknowledged after the restart',
        () => tally.acknowledged.some((a) => a.at > upAt),
        recoveryWithinMs,
      ).catch(() => {});
      const first = tally.acknowledged.find((a) => a.at > upAt);
      t.ok(first, `${what}: the API acknowledges transfers again after the restart`);
      if (first) t.comment(`${what}: the first 201 ${first.at - upAt} ms after the restart`);
      await sleep(Math.max(0, loadAfterRestartMs - (Date.now() - upAt)));
    };
    /** Where each projection started over after a crash: name → position (its first "active"). */
    const restartedAt = (projectorAt: number) => {
      const first = new Map<string, bigint>();
      for (const line of stack.projector.output().slice(projectorAt).split('\n')) {
        if (!line.includes('"msg":"active"')) continue;
        const { subscriber, position } = JSON.parse(line) as { subscriber: string; position: string };
        if (!first.has(subscriber)) first.set(subscriber, BigInt(position));
      }
      return first;
    };
    /** The projections that started over below what they had committed when the server died. */
    const lostBatches = (crash: { committed: Map<string, bigint>; projectorAt: number }) =>
      [...restartedAt(crash.projectorAt)]
        .filter(([name, position]) => position < (crash.committed.get(name) ?? 0n))
        .map(([name, position]) => `${name} ${crash.committed.get(name)} → ${position}`);

    await sleep(loadBeforeCrashMs);
    const { rows: sessions } = await stack.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()',
    );
    t.comment(`${sessions[0]?.n} sessions on the database under load`);
    const underLoad = await crashAndRestart('under load');
    await loadAfter('under load', underLoad.upAt);

    // The lull: no request in flight, the projector at the head. Then, the WAL writer stopped,
    // one transfer: its append commits synchronously (flushed), the projector's batches for it
    // do not, and nothing flushes them before the crash.
    paused = true;
    await waitFor('the load quiet', () => busy === 0, lullWithinMs);
    const atHead = async () => {
      const head = await headOf(stack.pool);
      await waitFor(
        'the projector at the head',
        async () => [...(await projectionCheckpoints(stack)).values()].every((p) => p >= head),
        lullWithinMs,
        10,
      );
    };
    await atHead();
    await server.stopWalWriter();
    // One transfer, applied by the projector.
    await projectorDelays(stack, alice, bob, tally, 1);
    await atHead();
    const inLull = await crashAndRestart('in a lull');
    paused = false;
    await loadAfter('in a lull', inLull.upAt);
    loading = false;
    await load;

    const statuses = Object.fromEntries([...tally.statuses].sort());
    t.comment(`answers over every attempt: ${JSON.stringify(statuses)}`);
    t.equal(tally.bad.length, 0, 'every answer is definite or a 503 with Retry-After', {
      bad: tally.bad.slice(0, 10),
    });
    t.equal(tally.unresolved.length, 0, `every transfer ends definite within ${attemptsMax} attempts`, {
      unresolved: tally.unresolved.slice(0, 10),
    });
    t.ok((tally.statuses.get('503') ?? 0) > 0, 'some requests met the crash (503)');
    t.ok(tally.retriedToDefinite > 0, `retried transfers ended definite (${tally.retriedToDefinite})`);
    t.equal(tally.wrongIds.length, 0, 'every 201 names the transfer its key names');

    for (const service of [stack.api, stack.projector]) {
      t.ok(service.running, `the ${service.name} never exited`, {
        ...(service.running ? {} : { lastLines: service.output().split('\n').slice(-15).join('\n') }),
      });
    }
    for (const [what, crash] of [
      ['under load', underLoad],
      ['in a lull', inLull],
    ] as const) {
      const since = stack.projector.output().slice(crash.projectorAt);
      t.match(
        since,
        /transient failure; starting over after a backoff/,
        `${what}: the projector logged the failure`,
      );
      t.notMatch(since, /failed; exiting/, `${what}: the projector did not give up`);
      t.ok(restartedAt(crash.projectorAt).size > 0, `${what}: the projections active again`);
    }
    const lostUnderLoad = lostBatches(underLoad);
    t.comment(
      `under load: ${lostUnderLoad.length === 0 ? 'no read model batch lost' : `read model batches lost, applied again: ${lostUnderLoad.join(', ')}`}`,
    );
    const lostInLull = lostBatches(inLull);
    t.equal(
      lostInLull.length,
      inLull.committed.size,
      `in a lull: every projection's last batch, committed without its flush, lost with its checkpoint (${lostInLull.join(', ')})`,
    );

    await waitFor(
      'the API and the projector listening again',
      async () => JSON.stringify(await listening(stack)) === JSON.stringify(listeners),
      recoveryWithinMs,
    ).catch(() => {});
    t.same(await listening(stack), listeners, 'the API and the projector LISTEN for appends again');
    await waitFor(
      'the projector at the head after the load',
      async () => {
        const head = await headOf(stack.pool);
        return [...(await projectionCheckpoints(stack)).values()].every((p) => p >= head);
      },
      lullWithinMs,
    );
    const delaysAfter = await projectorDelays(stack, alice, bob, tally, delaySamples);
    t.comment(`projector delays after the crashes (ms): ${delaysAfter.join(', ')}`);
    t.ok(
      delaysAfter[Math.floor(delaySamples / 2)]! < projectorDelayMedianMaxMs,
      `after the crashes the projector applies a transfer within ${projectorDelayMedianMaxMs} ms (median): it is not left polling`,
    );

    await checkLedger(
      t,
      stack,
      tally.acknowledged.map((a) => a.id),
    );
    await compareWithRebuilds(t, stack);
  },
);
