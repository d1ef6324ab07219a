import { randomUUID } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { pgClient } from '@ledger/eventstore';
import { readCheckpoints } from '@ledger/readmodel';
import t, { type Test } from 'tap';
import {
  type Customer,
  checkLedger,
  headOf,
  postTransfer,
  type Service,
  type Stack,
  seedCustomers,
  sleep,
  startStack,
  waitFor,
} from './kit.js';
import { startPostgresServer } from './pg-server.js';

/**
 * Issue #22: scale-out, with processes. Two API processes and two projector processes on one
 * PostgreSQL database and one Redis.
 *
 * a. Eight clients send transfers to both APIs at once, two clients per account, one on
 *    each API (optimistic concurrency across processes on the same streams). One API is
 *    killed (-9) mid-load; a client whose request to it fails with a connection error sends
 *    the same Idempotency-Key and body to the other. Every request ends in a definite answer
 *    (a 503 is retried the same way); nothing acknowledged is lost or doubled, the balances
 *    are what the answers say, and the retried keys answer the same on both APIs afterwards.
 * b. The projector holding the accounts projection's lock (PostgreSQL's pg_locks, mapped to
 *    the process by its sockets) is killed (-9) under load: the other holds every lock and
 *    its read models reach the head within a few seconds; started again, the killed one
 *    stands by.
 */

const clients = 8;
/** Accounts the clients pay from and to: two clients per account, one per API. */
const hotAccounts = 4;
const depositEach = 10_000_00n;
/** One HTTP request's bound: a hang fails the test instead of stalling it. */
const requestBoundMs = 10_000;
/** Tries of one request (connection errors and 503s) before it counts as unanswered. */
const attemptsMax = 8;
/** Load before the API kill, and after it. */
const beforeKillMs = 1_500;
const afterKillMs = 2_500;
/** The bound on a projector failover: every lock held again, every read model at the head. */
const failoverMaxMs = 10_000;
/** How long a started projector may take to say it stands by for every projection. */
const standbyWaitMs = 20_000;

interface Try {
  api: number;
  /** An HTTP status, or what went wrong without one. */
  outcome: number | 'connection error' | 'hung';
  detail?: string;
  startedAt: number;
  endedAt: number;
}

interface Sent {
  key: string;
  customer: Customer;
  body: { type: 'transfer'; fromAccountId: string; toAccountId: string; amount: string; currency: 'EUR' };
  cents: bigint;
  tries: Try[];
  /** The definite answer (not 503), if any. */
  status?: number;
  answer?: any;
}

const isDefinite = (sent: Sent) => sent.status !== undefined;

/**
 * One client's request, to `apis[preferred]` unless this client saw that one fail to
 * connect; a connection error sends the same key and body to the other API, a 503 is
 * retried (same key and body) after a moment.
 */
async function send(stack: Stack, sent: Sent, preferred: number, down: Set<number>): Promise<void> {
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    let api = preferred;
    if (down.has(api)) api = (api + 1) % stack.apiUrls.length;
    if (down.has(api)) {
      down.clear();
      await sleep(200);
    }
    const startedAt = performance.now();
    try {
      const answer = await postTransfer(stack, sent.customer, sent.body, sent.key, {
        apiUrl: stack.apiUrls[api]!,
        signal: AbortSignal.timeout(requestBoundMs),
      });
      sent.tries.push({
        api,
        outcome: answer.status,
        startedAt,
        endedAt: performance.now(),
        ...(answer.status === 503
          ? { detail: `${answer.body?.code}; Retry-After ${answer.headers.get('retry-after')}` }
          : {}),
      });
      if (answer.status === 503) {
        await sleep(100);
        continue;
      }
      sent.status = answer.status;
      sent.answer = answer.body;
      return;
    } catch (error) {
      const hung = (error as Error).name === 'TimeoutError';
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      sent.tries.push({
        api,
        outcome: hung ? 'hung' : 'connection error',
        detail: cause?.code ?? cause?.message ?? String(error),
        startedAt,
        endedAt: performance.now(),
      });
      if (hung) return;
      down.add(api);
    }
  }
}

/** Transfers from `clients` clients until stop(); client c pays from account c % hotAccounts. */
function startLoad(stack: Stack, customers: Customer[]) {
  let stopped = false;
  const sent: Sent[] = [];
  const run = async (c: number) => {
    const down = new Set<number>();
    const customer = customers[c % hotAccounts]!;
    for (let n = 0; !stopped; n++) {
      const to = customers[(c + 1 + (n % (hotAccounts - 1))) % hotAccounts]!;
      const cents = BigInt(1 + Math.floor(Math.random() * 99));
      const one: Sent = {
        key: randomUUID(),
        customer,
        body: {
          type: 'transfer',
          fromAccountId: customer.accounts[0]!,
          toAccountId: to.accounts[0]!,
          amount: `0.${String(cents).padStart(2, '0')}`,
          currency: 'EUR',
        },
        cents,
        tries: [],
      };
      sent.push(one);
      // Clients c and c + hotAccounts pay from the same account, at the same time, each on
      // another API; each switches API every request.
      await send(stack, one, (c + n + Math.floor(c / hotAccounts)) % stack.apiUrls.length, down);
    }
  };
  const running = Promise.all(Array.from({ length: clients }, (_, c) => run(c)));
  return {
    sent,
    async stop(): Promise<Sent[]> {
      stopped = true;
      await running;
      return sent;
    },
  };
}

/** Answers from both APIs that overlapped in time on one account (as payer or payee). */
function crossApiOverlaps(sent: Sent[]): number {
  const byAccount = new Map<string, Try[]>();
  for (const s of sent) {
    for (const one of s.tries) {
      if (typeof one.outcome !== 'number') continue;
      for (const account of [s.body.fromAccountId, s.body.toAccountId]) {
        byAccount.set(account, [...(byAccount.get(account) ?? []), one]);
      }
    }
  }
  let overlaps = 0;
  for (const tries of byAccount.values()) {
    const sorted = [...tries].sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length && sorted[j]!.startedAt < sorted[i]!.endedAt; j++) {
        if (sorted[j]!.api !== sorted[i]!.api) overlaps++;
      }
    }
  }
  return overlaps;
}

/** Every request ended in a definite answer, 201; a 503 on the way carried Retry-After. */
function checkAnswers(t: Test, sent: Sent[]) {
  const hung = sent.filter((s) => s.tries.some((one) => one.outcome === 'hung'));
  t.equal(hung.length, 0, 'no request hung', { hung: hung.slice(0, 3).map((s) => s.tries) });
  const open = sent.filter((s) => !isDefinite(s));
  t.equal(open.length, 0, `every one of ${sent.length} requests ended in a definite answer`, {
    open: open.slice(0, 3).map((s) => s.tries),
  });
  const statuses: Record<string, number> = {};
  for (const s of sent) statuses[String(s.status)] = (statuses[String(s.status)] ?? 0) + 1;
  t.same(statuses, { 201: sent.length }, 'every transfer answered 201');
  const bad503 = sent
    .flatMap((s) => s.tries)
    .filter((one) => one.outcome === 503 && !/^unavailable; Retry-After [1-9]/.test(one.detail ?? ''));
  t.equal(bad503.length, 0, 'every 503 on the way was `unavailable` with Retry-After', { bad503 });
  const other = sent
    .flatMap((s) => s.tries)
    .filter((one) => typeof one.outcome === 'number' && one.outcome !== 201 && one.outcome !== 503);
  t.equal(other.length, 0, 'no other status on the way (no 409 between the APIs, no 500)', { other });
}

/** The sums each account must show, from the answers: posted, or reserved while pending/held. */
function expectedTotals(sent: Sent[], customers: Customer[]) {
  const totals = new Map<string, { debits: bigint; credits: bigint }>();
  for (const c of customers) totals.set(c.accounts[0]!, { debits: 0n, credits: depositEach });
  for (const s of sent) {
    if (s.status !== 201 || s.answer?.transaction?.status === 'rejected') continue;
    totals.get(s.body.fromAccountId)!.debits += s.cents;
    totals.get(s.body.toAccountId)!.credits += s.cents;
  }
  return totals;
}

/** The accounts read model (checkLedger has shown it equals the fold) against the answers. */
async function checkTotals(t: Test, stack: Stack, sent: Sent[], customers: Customer[]) {
  const expected = expectedTotals(sent, customers);
  const { rows } = await stack.pool.query<{ id: string; debits: string; credits: string }>(
    `SELECT id::text AS id, (debits_posted + debits_pending)::text AS debits,
            (credits_posted + credits_pending)::text AS credits
       FROM accounts.accounts WHERE id = ANY($1::uuid[])`,
    [[...expected.keys()]],
  );
  const actual = Object.fromEntries(rows.map((r) => [r.id, { debits: r.debits, credits: r.credits }]));
  const wanted = Object.fromEntries(
    [...expected].map(([id, v]) => [id, { debits: String(v.debits), credits: String(v.credits) }]),
  );
  t.same(actual, wanted, 'each account holds exactly the transfers answered 201 (none lost, none twice)');
  // Nothing beyond the answered: one transfer stream per deposit and per acknowledged key.
  const { rows: streams } = await stack.pool.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM es.events WHERE stream_id LIKE 'transfer-%' AND stream_version = 0`,
  );
  t.equal(
    Number(streams[0]?.n),
    customers.length + new Set(sent.filter((s) => s.status === 201).map((s) => s.answer.transaction.id)).size,
    'no transfer in the log that was not answered (a retry made none of its own)',
  );
}

/** A counter of an API's /metrics (0 when absent). */
async function counter(apiUrl: string, name: string): Promise<number> {
  const text = await (
    await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(requestBoundMs) })
  ).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

/** Batches of new transfers an API decided again because another process wrote one of their accounts. */
const conflictsMetric = 'ledger_transfer_batch_conflicts_total';

// ---- who holds the projections' locks ---------------------------------------------------------

/** The local TCP ports of process `pid`'s sockets (Linux /proc). */
async function localPorts(pid: number): Promise<Set<number>> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const socket = /^socket:\[(\d+)\]$/.exec(link);
    if (socket) inodes.add(socket[1]!);
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) ports.add(Number.parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/**
 * For each projection, the projector process whose session holds its advisory lock
 * (`pg_try_advisory_lock(hashtext('projection:' || name))`, subscriber.ts): its name, 'none',
 * or 'another' (a session no running projector owns).
 */
async function lockHolders(stack: Stack, names: string[]): Promise<Map<string, string>> {
  const { rows } = await stack.pool.query<{ name: string; port: number | null }>(
    `SELECT n.name, a.client_port AS port
       FROM unnest($1::text[]) AS n(name)
       LEFT JOIN pg_locks l
         ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext('projection:' || n.name)::bigint
       LEFT JOIN pg_stat_activity a ON a.pid = l.pid`,
    [names],
  );
  const owners = await Promise.all(
    stack.projectors.map(async (p) => {
      const pid = p.pid();
      return { name: p.name, ports: pid === undefined ? new Set<number>() : await localPorts(pid) };
    }),
  );
  return new Map(
    rows.map((r) => [
      r.name,
      r.port === null ? 'none' : (owners.find((o) => o.ports.has(r.port!))?.name ?? 'another'),
    ]),
  );
}

/** The read models a projector process runs, from its 'projector started' line. */
function projectionNames(projector: Service): string[] {
  const line = projector
    .output()
    .split('\n')
    .find((l) => l.includes('"msg":"projector started"'));
  if (!line) throw new Error(`${projector.name} did not say it started`);
  return JSON.parse(line).projections;
}

/** The subscribers for which `log` (JSON lines) says `msg`. */
function subscribersSaying(log: string, msg: string): Set<string> {
  const found = new Set<string>();
  for (const line of log.split('\n')) {
    if (!line.includes(`"msg":${JSON.stringify(msg)}`)) continue;
    const subscriber = JSON.parse(line).subscriber;
    if (typeof subscriber === 'string') found.add(subscriber);
  }
  return found;
}

async function positions(stack: Stack, names: string[]): Promise<Map<string, bigint>> {
  const checkpoints = await readCheckpoints(pgClient(stack.pool).kysely());
  return new Map(checkpoints.filter((c) => names.includes(c.name)).map((c) => [c.name, c.position]));
}

t.test(
  'two API and two projector processes: kill -9 of an API, then of the active projector',
  { timeout: 120_000 },
  async (t) => {
    // A PostgreSQL server of its own: two APIs and two projectors hold about 60 connections,
    // which beside another test's on the shared server could pass its limit.
    const server = await startPostgresServer(t);
    const stack = await startStack(t, { server, apis: 2, projectors: 2, without: ['worker'] });
    t.equal(stack.apis.length, 2, 'two API processes');
    t.not(stack.apiUrls[0], stack.apiUrls[1], 'on two ports');
    t.equal(stack.projectors.length, 2, 'two projector processes');
    const customers = await seedCustomers(stack, { customers: hotAccounts, depositEach });
    const everything: Sent[] = [];

    await t.test('a: transfers on both APIs, one API killed -9 mid-load', { timeout: 45_000 }, async (t) => {
      const load = startLoad(stack, customers);
      await sleep(beforeKillMs);
      const killedAfter = load.sent.length;
      await stack.apis[1]!.kill('SIGKILL');
      t.notOk(stack.apis[1]!.running, `${stack.apis[1]!.name} killed after ${killedAfter} requests`);
      await sleep(afterKillMs);
      const sent = await load.stop();
      everything.push(...sent);
      t.comment(`${sent.length} requests, ${sent.filter((s) => s.tries.length > 1).length} tried again`);
      t.comment(
        `${stack.apis[0]!.name}: ${conflictsMetric} ${await counter(stack.apiUrls[0]!, conflictsMetric)}`,
      );

      checkAnswers(t, sent);
      const overlaps = crossApiOverlaps(sent);
      t.ok(overlaps > 0, `requests on one account overlapped on the two APIs (${overlaps} pairs)`);
      const movedOver = sent.filter((s) =>
        s.tries.some((one, i) => one.outcome === 'connection error' && s.tries[i + 1]?.api !== one.api),
      );
      const broken = movedOver.filter((s) =>
        s.tries.some((one) => one.outcome === 'connection error' && one.detail !== 'ECONNREFUSED'),
      );
      t.ok(movedOver.length > 0, `${movedOver.length} requests failed to connect and went to the other API`);
      t.comment(
        `${broken.length} of them failed on a connection open to it (reset, closed), the others were refused: ${[
          ...new Set(
            broken.flatMap((s) =>
              s.tries.filter((one) => one.outcome === 'connection error').map((one) => one.detail),
            ),
          ),
        ]}`,
      );
      t.ok(
        movedOver.every((s) => s.tries.at(-1)?.api === 0 && s.status === 201),
        'each answered 201 by the API left',
      );

      await checkLedger(
        t,
        stack,
        sent.filter((s) => s.status === 201).map((s) => s.answer.transaction.id),
      );
      await checkTotals(t, stack, everything, customers);

      // The killed API back: the keys that moved over answer the same on both APIs.
      await stack.apis[1]!.start();
      for (const s of movedOver) {
        for (const api of [0, 1]) {
          const again = await postTransfer(stack, s.customer, s.body, s.key, { apiUrl: stack.apiUrls[api]! });
          t.same(
            { status: again.status, id: again.body?.transaction?.id, state: again.body?.transaction?.status },
            { status: 201, id: s.answer.transaction.id, state: s.answer.transaction.status },
            `key ${s.key.slice(0, 8)} again on ${stack.apis[api]!.name}: the first answer`,
          );
        }
      }
    });

    await t.test('b: the active projector killed -9 under load', { timeout: 60_000 }, async (t) => {
      // Each lock's name: the read models, and the chain checkpoint recorder when it runs
      // (CHECKPOINT_EVERY): whatever subscribers the projectors say they run.
      const readModels = projectionNames(stack.projector);
      let names: string[] = [];
      await waitFor(
        'every read model active in one projector',
        () => {
          names = [
            ...new Set(stack.projectors.flatMap((p) => [...subscribersSaying(p.output(), 'active')])),
          ].sort();
          return readModels.every((n) => names.includes(n));
        },
        15_000,
      );
      let holders = new Map<string, string>();
      await waitFor(
        'every projection lock held',
        async () => {
          holders = await lockHolders(stack, names);
          return [...holders.values()].every((h) => stack.projectors.some((p) => p.name === h));
        },
        15_000,
      );
      t.comment(`lock holders: ${JSON.stringify(Object.fromEntries(holders))}`);
      const victim = stack.projectors.find((p) => p.name === holders.get('accounts'))!;
      const survivor = stack.projectors.find((p) => p !== victim)!;
      const logs = (p: Service) =>
        `${p.name}: active ${[...subscribersSaying(p.output(), 'active')]}; standby ${[
          ...subscribersSaying(p.output(), 'standby: another instance is active'),
        ]}`;
      t.comment(logs(victim));
      t.comment(logs(survivor));
      t.ok(
        [...holders].every(
          ([name, h]) => h !== victim.name || subscribersSaying(victim.output(), 'active').has(name),
        ),
        `${victim.name}'s log says active for each lock it holds`,
      );

      const load = startLoad(stack, customers);
      await sleep(1_000);
      const survivorRun = survivor.output().length;
      await victim.kill('SIGKILL');
      const killedAt = performance.now();
      const headAtKill = await headOf(stack.pool);
      let tookOverMs = Number.NaN;
      let last = '';
      await waitFor(
        `${survivor.name} holds every lock and every read model is at ${headAtKill}`,
        async () => {
          const [now, at] = await Promise.all([lockHolders(stack, names), positions(stack, names)]);
          last = JSON.stringify({
            holders: Object.fromEntries(now),
            positions: Object.fromEntries([...at].map(([n, p]) => [n, String(p)])),
          });
          const done =
            [...now.values()].every((h) => h === survivor.name) &&
            names.every((n) => (at.get(n) ?? -1n) >= headAtKill);
          if (done) tookOverMs = performance.now() - killedAt;
          return done;
        },
        failoverMaxMs + 5_000,
        50,
      ).catch(() => {});
      t.ok(
        tookOverMs <= failoverMaxMs,
        `${survivor.name} took over and caught up in ${Math.round(tookOverMs)} ms (≤ ${failoverMaxMs})`,
        { last },
      );
      const nowActive = subscribersSaying(survivor.output().slice(survivorRun), 'active');
      t.ok(
        [...holders].every(([name, h]) => h !== victim.name || nowActive.has(name)),
        `${survivor.name}'s log says active for each projection it took over`,
      );
      await sleep(1_000);
      const sent = await load.stop();
      everything.push(...sent);
      t.comment(`${sent.length} requests during the failover`);
      const conflicts = await Promise.all(stack.apiUrls.map((url) => counter(url, conflictsMetric)));
      t.ok(
        conflicts.every((n) => n > 0),
        `each API decided batches again after the other process wrote their accounts (${conflicts})`,
      );
      checkAnswers(t, sent);
      await checkLedger(
        t,
        stack,
        everything.filter((s) => s.status === 201).map((s) => s.answer.transaction.id),
      );
      await checkTotals(t, stack, everything, customers);

      // Started again, the killed one stands by for every projection and takes no lock.
      const run = victim.output().length;
      await victim.start();
      let standby = new Set<string>();
      await waitFor(
        `${victim.name} on standby for every projection`,
        () => {
          standby = subscribersSaying(victim.output().slice(run), 'standby: another instance is active');
          return names.every((n) => standby.has(n));
        },
        standbyWaitMs,
      ).catch(() => {});
      t.same([...standby].sort(), [...names].sort(), `${victim.name} stands by for every projection`);
      t.equal(
        subscribersSaying(victim.output().slice(run), 'active').size,
        0,
        `${victim.name} is active for none`,
      );
      const after = await lockHolders(stack, names);
      t.ok(
        [...after.values()].every((h) => h === survivor.name),
        `${survivor.name} still holds every lock`,
        { after: Object.fromEntries(after) },
      );
      // And it still projects.
      const one = await postTransfer(
        stack,
        customers[0]!,
        {
          type: 'transfer',
          fromAccountId: customers[0]!.accounts[0],
          toAccountId: customers[1]!.accounts[0],
          amount: '0.01',
          currency: 'EUR',
        },
        undefined,
        { apiUrl: stack.apiUrls[1]! },
      );
      t.equal(one.status, 201, 'a transfer on the restarted API');
      const position = BigInt(one.body.position);
      await waitFor(
        'the read models past the new transfer',
        async () => [...(await positions(stack, names)).values()].every((p) => p >= position),
        5_000,
      ).catch(() => {});
      const at = await positions(stack, names);
      t.ok(
        names.every((n) => (at.get(n) ?? -1n) >= position),
        'every read model past it within 5 s',
      );
    });
  },
);
