/**
 * End-to-end transfers per second through the real HTTP API, in two scenarios (uniform: random
 * transfers over 10,000 accounts; hot: every transfer between 4 accounts), each beside the raw
 * PostgreSQL ceiling of the same work in plain SQL, on one fresh database.
 *
 *   pnpm bench:transfers
 *
 * Processes. The API runs as BENCH_APIS child processes (2), each on its own port of
 * 127.0.0.1 (`node --import tsx services/api/src/main.ts`, what `pnpm start:api` runs), with
 * LOG_LEVEL=warn, Redis for rate limits and revocations (shared by the replicas, as in any
 * multi-replica deployment), rate limits raised out of the way; the first bootstraps the
 * director from BANK_DIRECTOR_*, and the others start once it listens. The projector runs as
 * BENCH_PROJECTORS child processes (2; `services/projector/src/main.ts`), as in production:
 * each projection runs in whichever holds its lock, the other standing by. On this 2-core
 * machine they all compete for CPU, which is what production would see too. This process
 * seeds, generates the load (autocannon), samples the projection lag and the children's
 * memory, checks the invariants and runs the raw SQL ceilings; it never serves a request, so
 * the APIs' CPU is their own.
 *
 * Seeding (before anything is measured) bypasses HTTP on purpose: it calls the application
 * layer (packages/application: registerUser, openCustomerAccount, runTransferCommand) on the
 * same event store, so every seeded event is decided by the same deciders and appended with
 * the same expected versions as through the API, without 10,000+ HTTP round trips and one
 * bcrypt hash (~250 ms at cost 12) per registered user. Concretely:
 *   - staff go through HTTP as the tests do: the director comes from the bootstrap, logs in,
 *     creates an agent (POST /api/admin/users), and the agent logs in;
 *   - BENCH_CUSTOMERS customers are registered with one bcrypt hash computed once (they share
 *     a password) and then marked KYC-verified (the KycStatusChanged event the KYC flow
 *     records, appended by markKycVerified of @ledger/application/testing: the application
 *     has no command for it yet), so each may own several accounts: API.md requires KYC for a
 *     second account, and openCustomerAccount is called with kycVerified: true, as the
 *     accounts route does for a verified owner;
 *   - BENCH_ACCOUNTS EUR accounts are spread over the customers (customer c owns accounts
 *     c, c + BENCH_CUSTOMERS, ...), and BENCH_HOT_ACCOUNTS (4) more, the hot ones (hot
 *     account h owned by customer h mod BENCH_CUSTOMERS). Funding: the agent makes one cash
 *     deposit per customer into its first account (runTransferCommand, code "deposit", the
 *     agent as actor) of 1,000,000.00 EUR per account the customer owns, and the customer
 *     then transfers 1,000,000.00 to each of its other accounts; each hot account gets its
 *     own deposit of 1,000,000.00 and sends nothing (its daily debits start at zero). Not one
 *     deposit per account: every deposit debits the bank's single cash account, so deposits
 *     are serialised (one commit each, ~4 ms here): 10,000 would take about a minute;
 *   - access tokens: customer 0 logs in over HTTP; the others get tokens from the API's own
 *     issuer (@ledger/api/testing accessTokenIssuer: login's signing options and claims, with
 *     the API's JWT secret), so no request of the load skips any check: JWT verification, the
 *     revocation list, the user stream and account ownership all run per request. Every
 *     replica must accept one such token before the load starts.
 *
 * The load: autocannon, BENCH_CONNECTIONS connections (32) split over the APIs (one
 * autocannon instance per API, run together; their latency histograms are merged, so p50
 * and p99 are of all answers), each request a POST /api/transactions transfer with its own
 * Idempotency-Key, an amount of 0.01 to 99.99 EUR, authenticated as the owner of
 * fromAccountId. Reported per scenario: 2xx per second, p50 and p99 latency (autocannon's,
 * whole milliseconds), errors (non-2xx answers + socket errors and time-outs).
 *   - Uniform, BENCH_DURATION_S seconds (20) after BENCH_WARMUP_S seconds of warm-up (3):
 *     between two random distinct accounts of BENCH_ACCOUNTS (the debited one never a
 *     customer's first account, whose daily debit limit the funding used up). With
 *     BENCH_RULES_COMPARE=1 the window is four phases (see below). During the window the
 *     projection lag is sampled (see below).
 *   - Hot, BENCH_HOT_S seconds (10) after BENCH_HOT_WARMUP_S seconds of warm-up (2): between
 *     two random distinct hot accounts, so every debit lands on one of 4 streams (the debits
 *     spread evenly over them). Before it the director changes the settings (PUT
 *     /api/admin/settings): the EUR daily debit limit raised out of the way (999,999,999,999.99;
 *     the default 25,000.00 refuses a hot account after ~500 transfers), and every fraud and
 *     AML rule OFF: velocity (more than a few debits of one account in minutes) and the others
 *     would hold most hot transfers for review, which would measure the review path, not the
 *     hot-account path. Nothing is refused for limits or funds (each hot account holds
 *     1,000,000.00 and the transfers move it around the 4): a check fails on any 4xx or held
 *     transfer of the hot scenario.
 * A settings change goes through the first API; the same PUT to each other replica records
 * nothing (the settings are already those) but reads the settings stream there, so no replica
 * holds a transfer to its cached settings (settingsMaxAgeMs) when the next phase starts.
 *
 * Projection lag (with projectors): during the uniform window, every 100 ms the store's head
 * position is read with the time and, in the same statement, every projection's checkpoint
 * (readmodel.checkpoints). A head that moved since the last reading is a sample; its lag is
 * the time from that reading to the first reading where every checkpoint is at or past it
 * (so each lag is rounded up to the 100 ms period; a head already reached counts 0). After
 * the window no sample is added and those pending are followed for up to 30 s; any never
 * reached is reported. Reported: p50 and p99 of the lags, and each projection's own p99.
 *
 * Memory: every 250 ms from spawn to stop, VmRSS of each child (/proc/<pid>/status; absent
 * elsewhere); rssMbMax is the largest over every API and projector and every sample.
 *
 * Invariants, from the events (not from a read model), over both scenarios: every account
 * stream folded with the domain's evolveAccount; per currency Σ debits = Σ credits; no
 * customer account's available balance below −(its overdraft limit) (the hot ones included);
 * each posted transfer has exactly one debit and one credit leg; and the posted transfers
 * (TransferPosted, code "transfer") are exactly the transfers autocannon saw a 201 for, in
 * either scenario, plus those whose request was still in flight when an autocannon run
 * stopped (it drops its connections at the end without waiting; each such request may or may
 * not have been posted, and is counted separately): none lost, none doubled. With projectors
 * running, their checkpoints must also reach the head and the accounts read model's trial
 * balance must balance. (Before the warm-up the projector is given up to 30 s to finish
 * projecting the seeding, so the measured window sees it following the load.)
 *
 * The raw ceilings, after the APIs and projectors have stopped: schema bench_raw in the same
 * database, a balances table; per transaction BEGIN, two balance UPDATEs (in account order, so
 * the row locks never wait in a cycle; the debit guarded by balance >= amount), two INSERTs
 * into entries, COMMIT (prepared statements, one round trip each), BENCH_RAW_CLIENTS clients
 * (32) on a pg Pool for BENCH_RAW_S seconds (8). Twice: over BENCH_ACCOUNTS rows (rawCeilingTps,
 * the uniform scenario's ceiling), then, the schema made afresh, over BENCH_HOT_ACCOUNTS rows
 * (rawHotCeilingTps: the hot-row ceiling, every transaction queueing on the same few row
 * locks). uniformRatio (= ratio) and hotRatio are each scenario's 2xx/s over its ceiling.
 *
 * Environment (all bounded): BENCH_ACCOUNTS (10000), BENCH_CUSTOMERS (500), BENCH_CONNECTIONS
 * (32), BENCH_DURATION_S (20), BENCH_WARMUP_S (3), BENCH_HOT_ACCOUNTS (4, from 2 to 64),
 * BENCH_HOT_S (10), BENCH_HOT_WARMUP_S (2), BENCH_RAW_S (8), BENCH_RAW_CLIENTS (32),
 * BENCH_APIS (2, from 1 to 4), BENCH_PROJECTORS (2, from 0 to 4; 0 = no projector, and no
 * projection lag), BENCH_PROJECTOR (1; 0 = no projector, whatever BENCH_PROJECTORS says),
 * BENCH_RULES_COMPARE (1: the uniform window is four phases of BENCH_DURATION_S / 2 with the
 * fraud and AML rules off, on, on, off, switched by the director through PUT
 * /api/admin/settings, and both throughputs are reported with their ratio; 0: one window
 * under the settings' defaults, every rule active), BENCH_CPU_PROF_DIR (unset; a directory:
 * the API and projector children run with --cpu-prof there, each profile written when it
 * stops and named after its pid, which is printed), BENCH_KEEP_DB (unset; 1 leaves the
 * database behind, for looking into a failed check). With the defaults the whole run takes
 * about 3 minutes on the 2-core development machine (under 4 when shared); past 6 the watchdog
 * ends it.
 *
 * The last line of stdout is one JSON object with the headline numbers: transfersPerSecond,
 * p50Ms, p99Ms (= uniformP99Ms), errors, rawCeilingTps, ratio (= uniformRatio), the rules
 * comparison's rulesOnTps, rulesOffTps, rulesOnRatio, heldForReview (BENCH_RULES_COMPARE=1),
 * hotTransfersPerSecond, hotP50Ms, hotP99Ms, hotErrors, rawHotCeilingTps, hotRatio,
 * projectionLagP50Ms and projectionLagP99Ms (null without projectors), rssMbMax, apis,
 * projectors, invariantsHold. A failed invariant makes the exit code 1.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { accessTokenIssuer } from '@ledger/api/testing';
import {
  bankAccountId,
  createLedger,
  openCustomerAccount,
  runTransferCommand,
  transferIdFor,
  trialBalance,
} from '@ledger/application';
import { markKycVerified, registerWithHash } from '@ledger/application/testing';
import { parseAccountEvent, riskRuleIds } from '@ledger/contracts';
import {
  type AccountState,
  availableBalanceOf,
  evolveAccount,
  formatAmount,
  initialAccountState,
} from '@ledger/domain/ledger';
import { type EventMetadata, PostgresEventStore, pgClient } from '@ledger/eventstore';
import { openDatabase } from '@ledger/platform';
import { ledgerTotalsReadModel } from '@ledger/projection-accounts';
import { readCheckpoints } from '@ledger/readmodel';
import { createTestDatabase, type TestDatabase, testRedisUrl } from '@ledger/testkit';
import { Vault } from '@ledger/vault';
import autocannon from 'autocannon';
import bcrypt from 'bcryptjs';
import pg from 'pg';
import {
  type Child,
  dropDatabase,
  envInt,
  log,
  note,
  sleep,
  spawnApi,
  spawnChild,
  startCpuMeter,
  startWatchdog,
  stopChild,
  waitForApi,
} from './common.js';

// ---- bounds -----------------------------------------------------------------------------

const accountCount = envInt('BENCH_ACCOUNTS', 10_000, 2, 100_000);
const customerCount = Math.min(envInt('BENCH_CUSTOMERS', 500, 1, 10_000), accountCount);
const connections = envInt('BENCH_CONNECTIONS', 32, 1, 512);
const durationS = envInt('BENCH_DURATION_S', 20, 1, 60);
const warmupS = envInt('BENCH_WARMUP_S', 3, 0, 20);
const rawS = envInt('BENCH_RAW_S', 8, 1, 30);
const rawClients = envInt('BENCH_RAW_CLIENTS', 32, 1, 64);
/** The hot scenario: its accounts (the raw hot-row ceiling has as many rows), window, warm-up. */
const hotAccountCount = envInt('BENCH_HOT_ACCOUNTS', 4, 2, 64);
const hotS = envInt('BENCH_HOT_S', 10, 1, 60);
const hotWarmupS = envInt('BENCH_HOT_WARMUP_S', 2, 0, 20);
/** API replicas, each its own process on its own port; the load is split over them. */
const apiCount = envInt('BENCH_APIS', 2, 1, 4);
/** Projector processes (0: none); BENCH_PROJECTOR=0, the older knob, also means none. */
const projectorCount = envInt('BENCH_PROJECTOR', 1, 0, 1) === 0 ? 0 : envInt('BENCH_PROJECTORS', 2, 0, 4);
const runProjector = projectorCount > 0;
/**
 * 1: the measured window is four phases of BENCH_DURATION_S / 2 each, the fraud and AML rules
 * off, on, on, off (the director switches them through PUT /api/admin/settings), so both
 * are measured in the same sitting and neither gains from going second; 0: one window with
 * the rules as the defaults have them (every rule active).
 */
const compareRules = envInt('BENCH_RULES_COMPARE', 1, 0, 1) === 1;
/** For investigating a failed check: the database is left behind (and named). */
const keepDatabase = process.env.BENCH_KEEP_DB === '1';
const cpuProfDir = process.env.BENCH_CPU_PROF_DIR ? resolve(process.env.BENCH_CPU_PROF_DIR) : undefined;

const currency = 'EUR';
/** Each account's opening deposit, in major units: far more than the load can move out. */
const depositAmount = '1000000.00';
/** Concurrent seeding commands (registrations, account openings). */
const seedConcurrency = 16;
/** bcrypt cost of the seeded customers' shared password hash: the production cost. */
const passwordCost = 12;
/**
 * The hot scenario's EUR limits (the director's PUT /api/admin/settings): the daily debit cap
 * far above what thousands of transfers a second move out of 4 accounts (the defaults, 25,000
 * a day, refuse a hot account after ~500 of them); per transfer as the defaults (10,000).
 */
const hotLimits = {
  transferAmountMax: '10000.00',
  dailyDebitMax: '999999999999.99',
  unverifiedDailyDebitMax: '250.00',
};
const settleWaitMs = 15_000;
const projectionWaitMs = 60_000;
const preloadCatchUpMs = 30_000;
/** Projection lag: the head is sampled this often; pending samples are followed this long after. */
const lagSampleMs = 100;
const lagDrainMs = 30_000;
/** /proc/<pid>/status VmRSS of every child, this often. */
const rssSampleMs = 250;
const scanPageSize = 20_000;
/** The whole run; beyond it the children are killed, the database dropped, the process exits. */
const runTimeoutMs = 360_000;

// ---- helpers ----------------------------------------------------------------------------

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);

/** Runs `task(i)` for i in [0, n) with at most `limit` at once; the first failure rejects. */
async function forEachLimit(n: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** An amount from 0.01 to 99.99 as a decimal string, built from digits (never a float). */
function randomAmount(): string {
  const units = randomInt(100);
  const cents = randomInt(units === 0 ? 1 : 0, 100);
  return `${units}.${String(cents).padStart(2, '0')}`;
}

// ---- the API over HTTP -------------------------------------------------------------------

async function http(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

// ---- CPU accounting (Linux /proc; absent elsewhere) ---------------------------------------

interface CpuWindow {
  /** PostgreSQL transactions (each single statement outside BEGIN is one) in the database. */
  transactions: number;
  /** % of one core. */
  benchPct: number;
  apiPct: number;
  projectorPct: number;
  postgresPct: number;
  /** postgresPct split by the backends' application_name (ledger-api, ledger-projector, …). */
  postgresPctBy: Map<string, number>;
  machineBusyPct: number;
}

/** CPU over a window: this process, the API and projector children, the database's backends. */
async function startCpuWindow(
  pool: pg.Pool,
  databaseName: string,
  apis: readonly Child[],
  projectors: readonly Child[],
): Promise<() => Promise<CpuWindow>> {
  const { rows } = await pool.query<{ pid: number; app: string }>(
    'SELECT pid, application_name AS app FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [databaseName],
  );
  const pgPids = rows.map((r) => r.pid);
  const statements = async () =>
    Number(
      (
        await pool.query<{ n: string }>(
          'SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = $1',
          [databaseName],
        )
      ).rows[0]?.n ?? 0,
    );
  const statements0 = await statements();
  const pidsOf = (children: readonly Child[]) => children.map((c) => c.process.pid ?? -1);
  const apiPids = pidsOf(apis);
  const projectorPids = pidsOf(projectors);
  const meter = startCpuMeter([...pgPids, ...apiPids, ...projectorPids]);
  const t0 = performance.now();
  return async () => {
    const s = (performance.now() - t0) / 1000;
    // Statistics reach pg_stat_database within a second or so of each transaction.
    await sleep(1500);
    const transactions = (await statements()) - statements0;
    const cpu = meter(s);
    const postgresPctBy = new Map<string, number>();
    for (const { pid, app } of rows) {
      const name = app || 'other';
      postgresPctBy.set(name, (postgresPctBy.get(name) ?? 0) + cpu.pctOf([pid]));
    }
    return {
      transactions,
      benchPct: cpu.selfPct,
      apiPct: cpu.pctOf(apiPids),
      projectorPct: cpu.pctOf(projectorPids),
      postgresPct: cpu.pctOf(pgPids),
      postgresPctBy,
      machineBusyPct: cpu.machineBusyPct,
    };
  };
}

/** The API process's event store counters (its /metrics): group commit and read batching. */
type StoreCounters = Record<'appends' | 'transactions' | 'reads' | 'queries', number>;

async function scrapeStoreCounters(url: string): Promise<StoreCounters | undefined> {
  try {
    const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    const counters = {
      appends: value('ledger_eventstore_appends_total'),
      transactions: value('ledger_eventstore_append_transactions_total'),
      reads: value('ledger_eventstore_stream_reads_total'),
      queries: value('ledger_eventstore_stream_read_queries_total'),
    };
    return Object.values(counters).every(Number.isFinite) ? counters : undefined;
  } catch {
    return undefined;
  }
}

/** The counters of every API replica, summed (undefined if one has none). */
async function scrapeAllStoreCounters(urls: readonly string[]): Promise<StoreCounters | undefined> {
  const all = await Promise.all(urls.map(scrapeStoreCounters));
  if (all.some((c) => c === undefined)) return undefined;
  return all.reduce<StoreCounters>(
    (sum, c) => ({
      appends: sum.appends + c!.appends,
      transactions: sum.transactions + c!.transactions,
      reads: sum.reads + c!.reads,
      queries: sum.queries + c!.queries,
    }),
    { appends: 0, transactions: 0, reads: 0, queries: 0 },
  );
}

const countersBetween = (a: StoreCounters | undefined, b: StoreCounters | undefined) =>
  a && b
    ? {
        appends: b.appends - a.appends,
        transactions: b.transactions - a.transactions,
        reads: b.reads - a.reads,
        queries: b.queries - a.queries,
      }
    : undefined;

// ---- projection lag and memory, sampled during the run --------------------------------------

/** Projection lags measured over a window (ms); byProjection: each projection's own. */
interface ProjectionLags {
  lagsMs: number[];
  byProjection: Map<string, number[]>;
  /** Samples no projection set had reached when the drain gave up. */
  pending: number;
}

/**
 * Projection lag as time: every lagSampleMs the store's head position is read with the time
 * and the projections' checkpoints; a head that moved is kept as a sample, and its lag is the
 * time from its reading to the first reading where every checkpoint is at or past it (each
 * projection's own lag likewise, by its checkpoint alone). So a lag is rounded up to a sample
 * period and includes a read's round trip; a head already reached when read counts 0. stop()
 * takes no more samples and follows those pending for at most lagDrainMs: one never reached
 * is counted, not dropped silently.
 */
function startLagSampler(pool: pg.Pool): () => Promise<ProjectionLags> {
  const pendingSamples: { position: bigint; at: number; waiting: Set<string> }[] = [];
  const lagsMs: number[] = [];
  const byProjection = new Map<string, number[]>();
  const record = (name: string, ms: number) => {
    const list = byProjection.get(name) ?? [];
    list.push(ms);
    byProjection.set(name, list);
  };
  let sampling = true;
  let last = -1n;
  let failure: unknown;
  const read = async () => {
    // One statement, one snapshot: the head and every checkpoint as of the same moment.
    const { rows } = await pool.query<{ head: string | null; name: string | null; position: string | null }>(
      `SELECT h.head, c.name, c.position::text AS position
         FROM (SELECT max(global_position)::text AS head FROM es.events) h
         LEFT JOIN readmodel.checkpoints c ON true`,
    );
    const at = performance.now();
    const checkpoints = new Map<string, bigint>();
    for (const row of rows) if (row.name !== null) checkpoints.set(row.name, BigInt(row.position ?? '-1'));
    const reached = (name: string, position: bigint) => (checkpoints.get(name) ?? -1n) >= position;
    for (const sample of pendingSamples) {
      for (const name of sample.waiting) {
        if (!reached(name, sample.position)) continue;
        sample.waiting.delete(name);
        record(name, at - sample.at);
      }
    }
    // Positions grow along the queue, so samples are reached in order.
    while (pendingSamples.length > 0 && pendingSamples[0]!.waiting.size === 0)
      lagsMs.push(at - pendingSamples.shift()!.at);
    const head = BigInt(rows[0]?.head ?? '0');
    if (sampling && head > last) {
      const waiting = new Set<string>();
      for (const name of checkpoints.keys()) {
        if (reached(name, head)) record(name, 0);
        else waiting.add(name);
      }
      if (waiting.size === 0) lagsMs.push(0);
      else pendingSamples.push({ position: head, at, waiting });
    }
    if (head > last) last = head;
  };
  const loop = (async () => {
    let deadline = Number.POSITIVE_INFINITY;
    while (sampling || (pendingSamples.length > 0 && Date.now() < deadline)) {
      const t = performance.now();
      try {
        await read();
      } catch (error) {
        failure ??= error;
      }
      if (!sampling && deadline === Number.POSITIVE_INFINITY) deadline = Date.now() + lagDrainMs;
      await sleep(Math.max(0, lagSampleMs - (performance.now() - t)));
    }
  })();
  return async () => {
    sampling = false;
    await loop;
    if (failure !== undefined) note(`  projection lag sampler: ${String(failure)}`);
    return { lagsMs, byProjection, pending: pendingSamples.length };
  };
}

/** The value at percentile p (0–100) of ascending `sorted`, NaN when empty. */
const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

/** VmRSS of a process in kB, from /proc/<pid>/status; undefined when gone or without /proc. */
function rssKb(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Samples every child's RSS every rssSampleMs until stopped; the largest of each, by name. */
function startRssSampler(children: () => readonly Child[]): () => Map<string, number> {
  const maxKb = new Map<string, number>();
  const sample = () => {
    for (const child of children()) {
      const kb = rssKb(child.process.pid);
      if (kb !== undefined && kb > (maxKb.get(child.name) ?? 0)) maxKb.set(child.name, kb);
    }
  };
  sample();
  const timer = setInterval(sample, rssSampleMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    sample();
    return maxKb;
  };
}

// ---- seeding ------------------------------------------------------------------------------

interface Seeded {
  /** Customer ids and usernames, by index; they share `password`. */
  customers: string[];
  usernames: string[];
  password: string;
  /** Account ids, and the index of each one's owner in `customers`. */
  accounts: string[];
  ownerOf: number[];
  /** The hot scenario's accounts (hot account i is owned by customer i mod BENCH_CUSTOMERS). */
  hotAccounts: string[];
  hotOwnerOf: number[];
  /** The transfers of the seeding (deposits and spreading), not the load's. */
  fundingIds: Set<string>;
}

async function seed(store: PostgresEventStore, vault: Vault, agentId: string): Promise<Seeded> {
  // The seeding process's own ledger context (its caches and locks), as the API has its own.
  const ledger = createLedger(store);
  const now = () => new Date();
  const system: EventMetadata = { actorId: 'system:bench', correlationId: randomUUID() };

  let t0 = performance.now();
  const password = randomBytes(18).toString('base64url');
  const passwordHash = await bcrypt.hash(password, passwordCost);
  const customers = Array.from({ length: customerCount }, () => randomUUID());
  const tag = randomBytes(3).toString('hex');
  const usernames = customers.map((_, i) => `bench${tag}c${i}`);
  await forEachLimit(customerCount, seedConcurrency, async (i) => {
    const userId = customers[i]!;
    const username = usernames[i]!;
    const registered = await registerWithHash(
      { store, vault },
      {
        type: 'Register',
        now: now(),
        userId,
        username,
        email: `${username}@bench.example`,
        role: 'customer',
        profile: { firstName: 'Bench', lastName: `Customer ${i}`, dateOfBirth: null, phone: null },
        via: 'self',
      },
      passwordHash,
      { ...system, correlationId: userId },
    );
    if (!registered.ok) throw new Error(`registering customer ${i}: ${registered.code}`);
    // What the KYC flow records once a document is verified (as the API tests do): the
    // application has no command for it yet, so the event is appended as that flow will.
    await markKycVerified(store, userId, system, now());
  });
  note(`  ${customerCount} customers registered and KYC-verified (${seconds(t0)} s)`);

  t0 = performance.now();
  const accounts: string[] = new Array(accountCount);
  const ownerOf: number[] = new Array(accountCount);
  // Customer c owns the accounts c, c + customerCount, c + 2 × customerCount, ...
  await forEachLimit(customerCount, seedConcurrency, async (c) => {
    for (let a = c; a < accountCount; a += customerCount) {
      const opened = await openCustomerAccount(
        ledger,
        {
          ownerId: customers[c]!,
          accountType: a < customerCount ? 'checking' : 'savings',
          currency,
          kycVerified: true,
          now: now(),
        },
        { ...system, actorId: customers[c]! },
      );
      if (!opened.ok) throw new Error(`opening account ${a}: ${opened.code}`);
      accounts[a] = opened.account.id;
      ownerOf[a] = c;
    }
  });
  const hotAccounts: string[] = new Array(hotAccountCount);
  const hotOwnerOf: number[] = new Array(hotAccountCount);
  await forEachLimit(hotAccountCount, seedConcurrency, async (h) => {
    const c = h % customerCount;
    const opened = await openCustomerAccount(
      ledger,
      { ownerId: customers[c]!, accountType: 'checking', currency, kycVerified: true, now: now() },
      { ...system, actorId: customers[c]! },
    );
    if (!opened.ok) throw new Error(`opening hot account ${h}: ${opened.code}`);
    hotAccounts[h] = opened.account.id;
    hotOwnerOf[h] = c;
  });
  note(`  ${accountCount} accounts opened, and ${hotAccountCount} hot ones (${seconds(t0)} s)`);

  t0 = performance.now();
  const perAccount = BigInt(depositAmount.replace('.', ''));
  const cash = bankAccountId(currency, 'cash');
  const fundingIds = new Set<string>();
  const transfer = async (
    caller: string,
    code: 'deposit' | 'transfer',
    debitAccountId: string,
    creditAccountId: string,
    amount: bigint,
  ) => {
    const transferId = transferIdFor(caller, randomUUID());
    fundingIds.add(transferId);
    const outcome = await runTransferCommand(
      ledger,
      {
        type: 'CreateTransfer',
        transferId,
        debitAccountId,
        creditAccountId,
        amount,
        currency,
        ...(code === 'transfer' ? { code, limits: {} } : { code }),
        mode: 'single-phase',
        reference: 'bench funding',
        now: now(),
      },
      { actorId: caller, correlationId: transferId },
    );
    if (outcome.status !== 'accepted') throw new Error(`funding: ${JSON.stringify(outcome)}`);
  };
  // Every deposit debits the one cash account, so deposits queue behind each other (the
  // application's per-stream lock, one commit each): 10,000 of them would take a minute
  // here. So the agent deposits each customer's whole share into the customer's first
  // account, and the customer then moves one share to each of its other accounts (these
  // transfers run in parallel across customers).
  await forEachLimit(customerCount, seedConcurrency, async (c) => {
    let shares = 0n;
    for (let a = c; a < accountCount; a += customerCount) shares++;
    await transfer(agentId, 'deposit', cash, accounts[c]!, perAccount * shares);
  });
  // The hot accounts only receive: their daily debit limits are untouched when the hot load starts.
  for (const hot of hotAccounts) await transfer(agentId, 'deposit', cash, hot, perAccount);
  note(`  ${customerCount + hotAccountCount} cash deposits by the agent (${seconds(t0)} s)`);
  t0 = performance.now();
  await forEachLimit(customerCount, seedConcurrency, async (c) => {
    for (let a = c + customerCount; a < accountCount; a += customerCount) {
      await transfer(customers[c]!, 'transfer', accounts[c]!, accounts[a]!, perAccount);
    }
  });
  note(
    `  ${accountCount - customerCount} transfers spreading them over the other accounts (${seconds(t0)} s)`,
  );
  return { customers, usernames, password, accounts, ownerOf, hotAccounts, hotOwnerOf, fundingIds };
}

// ---- the load -----------------------------------------------------------------------------

interface LoadTracker {
  /** Transfer ids of the 201 answers that posted. */
  created: Set<string>;
  /** Transfer ids of the 201 answers held for review by the fraud and AML rules. */
  held: Set<string>;
  /** Requests sent and not answered yet: Idempotency-Key → the caller's user id. */
  outstanding: Map<string, string>;
  /** Answers by status code, and a few bodies of non-2xx ones. */
  statuses: Map<number, number>;
  samples: string[];
}

/** One transfer of a scenario: the accounts (by id) and the index of the debited one's owner. */
type PickTransfer = () => { from: string; to: string; owner: number };

/** The uniform scenario: two random distinct accounts of BENCH_ACCOUNTS. */
function uniformTransfers(seeded: Seeded): PickTransfer {
  const n = seeded.accounts.length;
  return () => {
    // Debits come from the accounts that received a share: a customer's first account
    // sent the shares out today, which its daily debit limit remembers.
    const from = customerCount < n ? randomInt(customerCount, n) : randomInt(n);
    let to = randomInt(n - 1);
    if (to >= from) to++;
    return { from: seeded.accounts[from]!, to: seeded.accounts[to]!, owner: seeded.ownerOf[from]! };
  };
}

/** The hot scenario: two random distinct accounts of the BENCH_HOT_ACCOUNTS hot ones. */
function hotTransfers(seeded: Seeded): PickTransfer {
  const n = seeded.hotAccounts.length;
  return () => {
    const from = randomInt(n);
    let to = randomInt(n - 1);
    if (to >= from) to++;
    return { from: seeded.hotAccounts[from]!, to: seeded.hotAccounts[to]!, owner: seeded.hotOwnerOf[from]! };
  };
}

/**
 * One autocannon run over every API replica at once: an instance per API, the connections
 * split between them. Its parts are autocannon's unaggregated results (skipAggregateResult),
 * so several runs' latencies combine exactly (combineRuns); duration is the longest part's.
 */
interface LoadRun {
  parts: autocannon.Result[];
  duration: number;
}

function autocannonPart(
  url: string,
  partConnections: number,
  seconds: number,
  pick: PickTransfer,
  seeded: Seeded,
  tokens: string[],
  tracker: LoadTracker,
) {
  return new Promise<autocannon.Result>((resolveRun, reject) => {
    autocannon(
      {
        url,
        connections: partConnections,
        duration: seconds,
        timeout: 10,
        skipAggregateResult: true,
        requests: [
          {
            method: 'POST',
            path: '/api/transactions',
            setupRequest(request, ctx) {
              const context = ctx as Record<string, unknown>;
              const { from, to, owner } = pick();
              const key = randomUUID();
              context.key = key;
              tracker.outstanding.set(key, seeded.customers[owner]!);
              request.headers = {
                'content-type': 'application/json',
                authorization: `Bearer ${tokens[owner]}`,
                'idempotency-key': key,
              };
              request.body = JSON.stringify({
                type: 'transfer',
                fromAccountId: from,
                toAccountId: to,
                amount: randomAmount(),
                currency,
                reference: 'bench transfer',
              });
              return request;
            },
            onResponse(status, body, ctx) {
              const context = ctx as Record<string, unknown>;
              tracker.outstanding.delete(context.key as string);
              tracker.statuses.set(status, (tracker.statuses.get(status) ?? 0) + 1);
              if (status === 201) {
                const { transaction } = JSON.parse(body) as { transaction: { id: string; status: string } };
                (transaction.status === 'held_for_review' ? tracker.held : tracker.created).add(
                  transaction.id,
                );
              } else if (tracker.samples.length < 5) {
                tracker.samples.push(`${status} ${body.slice(0, 300)}`);
              }
            },
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolveRun(result)),
    );
  });
}

async function runLoad(
  urls: readonly string[],
  seconds: number,
  pick: PickTransfer,
  seeded: Seeded,
  tokens: string[],
  tracker: LoadTracker,
): Promise<LoadRun> {
  const split = urls
    .map((url, i) => ({
      url,
      connections: Math.floor(connections / urls.length) + (i < connections % urls.length ? 1 : 0),
    }))
    .filter((part) => part.connections > 0);
  const parts = await Promise.all(
    split.map((part) => autocannonPart(part.url, part.connections, seconds, pick, seeded, tokens, tracker)),
  );
  return { parts, duration: Math.max(...parts.map((p) => p.duration)) };
}

/** autocannon.aggregateResult, which @types/autocannon does not declare. */
const aggregateResult = (
  autocannon as unknown as {
    aggregateResult(
      results: autocannon.Result[],
      opts: { url: string; connections: number },
    ): autocannon.Result;
  }
).aggregateResult;

/**
 * Runs as one result: counts summed, latency percentiles of all their answers together (the
 * HDR histograms merged), duration the sum of the runs' (they ran one after the other).
 */
function combineRuns(runs: readonly LoadRun[]): autocannon.Result {
  if (runs.length === 0) throw new Error('no run to combine');
  // aggregateResult adds into the first part's statusCodeStats: it gets copies.
  const result = aggregateResult(structuredClone(runs.flatMap((r) => r.parts)), {
    url: 'http://127.0.0.1',
    connections,
  });
  result.duration = runs.reduce((sum, r) => sum + r.duration, 0);
  return result;
}

const status201 = (r: autocannon.Result) => r.statusCodeStats?.['201']?.count ?? 0;

interface RulesComparison {
  onTps: number;
  offTps: number;
  /** on / off: 1 is no cost; the issue's bound is ≥ 0.9. */
  ratio: number;
  onP99Ms: number;
  offP99Ms: number;
}

function compareModes(phases: readonly { on: boolean; run: LoadRun }[]): RulesComparison {
  const of = (on: boolean) => {
    const r = combineRuns(phases.filter((p) => p.on === on).map((p) => p.run));
    return { tps: r['2xx'] / Math.max(1, r.duration), p99: r.latency.p99 };
  };
  const on = of(true);
  const off = of(false);
  return { onTps: on.tps, offTps: off.tps, ratio: on.tps / off.tps, onP99Ms: on.p99, offP99Ms: off.p99 };
}

// ---- invariants ---------------------------------------------------------------------------

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Waits until the head of the store has not moved for a second: the API's last answers are in. */
async function settle(pool: pg.Pool): Promise<bigint> {
  const head = async () =>
    BigInt(
      (await pool.query<{ p: string | null }>('SELECT max(global_position)::text AS p FROM es.events'))
        .rows[0]?.p ?? '0',
    );
  const deadline = Date.now() + settleWaitMs;
  let last = await head();
  for (;;) {
    await sleep(1000);
    const now = await head();
    if (now === last || Date.now() > deadline) return now;
    last = now;
  }
}

interface AccountEventRow {
  stream_id: string;
  stream_version: string;
  type: string;
  data: unknown;
}

async function checkInvariants(
  pool: pg.Pool,
  tracker: LoadTracker,
  ok201: number,
  fundingIds: ReadonlySet<string>,
): Promise<Check[]> {
  const checks: Check[] = [];

  // Fold every account stream with the domain's evolve, page by page in (stream, version) order.
  const states = new Map<string, AccountState>();
  let cursor: [string, string] | null = null;
  let events = 0;
  for (;;) {
    const { rows }: { rows: AccountEventRow[] } = await pool.query<AccountEventRow>(
      // ORDER BY names the table's columns (e.x): the output's stream_version is text.
      `SELECT e.stream_id, e.stream_version::text AS stream_version, e.type, e.data FROM es.events e
          WHERE e.stream_id LIKE 'account-%' AND e.stream_id NOT LIKE 'account-number-%'
            ${cursor ? 'AND (e.stream_id, e.stream_version) > ($2, $3::bigint)' : ''}
          ORDER BY e.stream_id, e.stream_version LIMIT $1`,
      cursor ? [scanPageSize, ...cursor] : [scanPageSize],
    );
    for (const row of rows) {
      const id = row.stream_id.slice('account-'.length);
      const event = parseAccountEvent({ type: row.type, data: row.data, streamId: row.stream_id });
      states.set(id, evolveAccount(states.get(id) ?? initialAccountState(), event));
    }
    events += rows.length;
    if (rows.length < scanPageSize) break;
    const last: AccountEventRow = rows[rows.length - 1]!;
    cursor = [last.stream_id, last.stream_version];
  }
  const sums = new Map<string, { debits: bigint; credits: bigint }>();
  let customers = 0;
  let belowOverdraft = 0;
  let lowest: bigint | undefined;
  for (const account of states.values()) {
    if (account.status === 'none') continue;
    const sum = sums.get(account.currency) ?? { debits: 0n, credits: 0n };
    sum.debits += account.debitsPosted;
    sum.credits += account.creditsPosted;
    sums.set(account.currency, sum);
    if (account.kind !== 'customer') continue;
    customers++;
    const available = availableBalanceOf(account);
    if (lowest === undefined || available < lowest) lowest = available;
    if (available < -account.flags.overdraftLimit) belowOverdraft++;
  }
  // The same totals straight from the events in SQL (exact numeric), as a cross-check of the fold.
  const [sql] = (
    await pool.query<{ debits: string; credits: string; events: string }>(
      `SELECT coalesce(sum((data->>'amount')::numeric) FILTER (WHERE type = 'AccountLegPosted' AND data->>'side' = 'debit'), 0)::text AS debits,
              coalesce(sum((data->>'amount')::numeric) FILTER (WHERE type = 'AccountLegPosted' AND data->>'side' = 'credit'), 0)::text AS credits,
              count(*)::text AS events
         FROM es.events WHERE stream_id LIKE 'account-%' AND stream_id NOT LIKE 'account-number-%'`,
    )
  ).rows;
  const folded = [...sums.values()].reduce(
    (a, b) => ({ debits: a.debits + b.debits, credits: a.credits + b.credits }),
    { debits: 0n, credits: 0n },
  );
  checks.push({
    name: 'the fold saw every account event (SQL count and sums agree)',
    ok:
      sql?.events === String(events) &&
      sql.debits === folded.debits.toString() &&
      sql.credits === folded.credits.toString(),
    detail: `SQL ${sql?.events} events, debits ${sql?.debits}, credits ${sql?.credits} (minor units); folded ${events}, ${folded.debits}, ${folded.credits}`,
  });
  for (const [cur, { debits, credits }] of sums) {
    checks.push({
      name: `trial balance ${cur} (from ${events} account events): Σ debits = Σ credits`,
      ok: debits === credits,
      detail: `debits ${formatAmount(debits, cur as 'EUR')}, credits ${formatAmount(credits, cur as 'EUR')}`,
    });
  }
  checks.push({
    name: 'no customer account available balance below −overdraft',
    ok: customers === accountCount + hotAccountCount && belowOverdraft === 0,
    detail: `${customers} customer accounts, ${belowOverdraft} below, lowest available ${
      lowest === undefined ? 'n/a' : formatAmount(lowest, currency)
    } ${currency}`,
  });

  // One atomic append per transfer: each posted transfer has exactly one debit and one credit leg.
  const { rows: legs } = await pool.query<{ transfers: string; bad: string; sample: string | null }>(
    `WITH t AS (SELECT data->>'transferId' AS id FROM es.events WHERE type = 'TransferPosted'),
          l AS (SELECT data->>'transferId' AS id,
                       count(*) FILTER (WHERE data->>'side' = 'debit') AS debits,
                       count(*) FILTER (WHERE data->>'side' = 'credit') AS credits
                  FROM es.events WHERE type = 'AccountLegPosted' GROUP BY 1)
     SELECT count(*)::text AS transfers,
            count(*) FILTER (WHERE l.debits IS DISTINCT FROM 1 OR l.credits IS DISTINCT FROM 1)::text AS bad,
            min(t.id) FILTER (WHERE l.debits IS DISTINCT FROM 1 OR l.credits IS DISTINCT FROM 1) AS sample
       FROM t LEFT JOIN l USING (id)`,
  );
  checks.push({
    name: 'every posted transfer has one debit leg and one credit leg',
    ok: legs[0]?.bad === '0',
    detail: `${legs[0]?.transfers} transfers, ${legs[0]?.bad} without exactly one of each${
      legs[0]?.sample ? ` (e.g. ${legs[0].sample})` : ''
    }`,
  });

  // Posted transfers of the load (the seeding's own are left out) against the 201s.
  const { rows: posted } = await pool.query<{ id: string }>(
    `SELECT data->>'transferId' AS id FROM es.events WHERE type = 'TransferPosted'`,
  );
  const postedIds = new Set<string>();
  let fundingPosted = 0;
  for (const { id } of posted) {
    if (fundingIds.has(id)) fundingPosted++;
    else postedIds.add(id);
  }
  const inFlight = new Set([...tracker.outstanding].map(([key, caller]) => transferIdFor(caller, key)));
  let missing = 0;
  for (const id of tracker.created) if (!postedIds.has(id)) missing++;
  let unexplained = 0;
  let postedInFlight = 0;
  for (const id of postedIds) {
    if (tracker.created.has(id)) continue;
    if (inFlight.has(id)) postedInFlight++;
    else unexplained++;
  }
  // Held for review by the rules (201, status held_for_review): a TransferPending with a review.
  const { rows: heldRows } = await pool.query<{ id: string }>(
    `SELECT data->>'transferId' AS id FROM es.events WHERE type = 'TransferPending' AND data ? 'review'`,
  );
  const heldIds = new Set(heldRows.map((row) => row.id));
  let heldUnexplained = 0;
  for (const id of heldIds) if (!tracker.held.has(id) && !inFlight.has(id)) heldUnexplained++;
  let heldMissing = 0;
  for (const id of tracker.held) if (!heldIds.has(id)) heldMissing++;
  checks.push({
    name: 'held transfers = the 201 held_for_review answers (+ requests in flight when it stopped)',
    ok: heldUnexplained === 0 && heldMissing === 0,
    detail: `${heldIds.size} held; answered held ${tracker.held.size}; held but not answered so ${heldUnexplained}; answered held but not stored ${heldMissing}`,
  });
  checks.push({
    name: 'posted transfers = the 201s autocannon saw (+ requests in flight when it stopped)',
    ok:
      missing === 0 &&
      unexplained === 0 &&
      tracker.created.size + tracker.held.size === ok201 &&
      fundingPosted === fundingIds.size,
    detail:
      `${postedIds.size} posted = ${tracker.created.size} answered 201 + ${postedInFlight} of ` +
      `${inFlight.size} unanswered at stop; 201s counted by autocannon ${ok201}; ` +
      `201 but not posted ${missing}; posted but neither ${unexplained} ` +
      `(and the ${fundingPosted} of ${fundingIds.size} funding transfers)`,
  });
  return checks;
}

/** Waits (at most `ms`) until every projection checkpoint reached the store's head; the lag left. */
async function projectionLag(pool: pg.Pool, ms: number): Promise<bigint> {
  const db = pgClient(pool).kysely();
  const deadline = Date.now() + ms;
  for (;;) {
    const [row] = (
      await pool.query<{ p: string | null }>('SELECT max(global_position)::text AS p FROM es.events')
    ).rows;
    const head = BigInt(row?.p ?? '0');
    const checkpoints = await readCheckpoints(db);
    // Bigints: no Math.min.
    let lowest = head;
    for (const c of checkpoints) if (c.position < lowest) lowest = c.position;
    const lag = checkpoints.length === 0 ? head : head - lowest;
    if (lag <= 0n || Date.now() > deadline) return lag < 0n ? 0n : lag;
    await sleep(250);
  }
}

async function checkReadModel(pool: pg.Pool, head: bigint): Promise<{ checks: Check[]; waitedS: number }> {
  const db = pgClient(pool).kysely();
  const t0 = performance.now();
  const deadline = Date.now() + projectionWaitMs;
  let behind: string[] = [];
  for (;;) {
    const checkpoints = await readCheckpoints(db);
    behind = checkpoints.filter((c) => c.position < head).map((c) => `${c.name} at ${c.position}`);
    if ((checkpoints.length > 0 && behind.length === 0) || Date.now() > deadline) break;
    await sleep(250);
  }
  const waitedS = (performance.now() - t0) / 1000;
  const checks: Check[] = [
    {
      name: 'projector: every checkpoint reached the head',
      ok: behind.length === 0,
      detail:
        behind.length === 0 ? `after ${waitedS.toFixed(1)} s` : `head ${head}; behind: ${behind.join(', ')}`,
    },
  ];
  if (behind.length === 0) {
    const balance = await trialBalance({ readModel: ledgerTotalsReadModel(db) });
    checks.push({
      name: 'read model trial balance balanced',
      ok: balance.currencies.length > 0 && balance.balanced,
      detail: balance.currencies.map((r) => `${r.currency} ${r.debits}/${r.credits}`).join(', '),
    });
  }
  return { checks, waitedS };
}

// ---- the raw PostgreSQL ceiling ----------------------------------------------------------

interface RawResult {
  tps: number;
  committed: number;
  insufficient: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  check: Check;
}

/** `accounts` rows (BENCH_ACCOUNTS, or the hot scenario's few: its hot-row ceiling); a fresh schema each. */
async function rawCeiling(url: string, accounts: number): Promise<RawResult> {
  const pool = new pg.Pool({ connectionString: url, max: rawClients });
  pool.on('error', (error) => note(`raw pool error: ${String(error)}`));
  try {
    await pool.query(`
      DROP SCHEMA IF EXISTS bench_raw CASCADE;
      CREATE SCHEMA bench_raw;
      CREATE TABLE bench_raw.balances (account_id int PRIMARY KEY, balance bigint NOT NULL);
      CREATE TABLE bench_raw.entries (
        id bigserial PRIMARY KEY, transfer_id uuid NOT NULL, account_id int NOT NULL,
        amount bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO bench_raw.balances SELECT g, 100000000 FROM generate_series(0, ${accounts - 1}) g;
      ANALYZE bench_raw.balances;`);
    const [before] = (
      await pool.query<{ s: string }>('SELECT sum(balance)::text AS s FROM bench_raw.balances')
    ).rows;
    let committed = 0;
    let insufficient = 0;
    let errors = 0;
    let firstError: unknown;
    let stop = false;
    const latencies: number[] = [];
    const loop = async () => {
      const client = await pool.connect();
      try {
        while (!stop) {
          const from = randomInt(accounts);
          let to = randomInt(accounts - 1);
          if (to >= from) to++;
          const amount = String(randomInt(1, 10_000));
          const transferId = randomUUID();
          const started = performance.now();
          try {
            await client.query('BEGIN');
            // Locks in account order, so two transfers never wait on each other in a cycle.
            let debited = true;
            for (const account of from < to ? [from, to] : [to, from]) {
              if (account === from) {
                const r = await client.query({
                  name: 'raw_debit',
                  text: 'UPDATE bench_raw.balances SET balance = balance - $2 WHERE account_id = $1 AND balance >= $2',
                  values: [from, amount],
                });
                debited = r.rowCount === 1;
                if (!debited) break;
              } else {
                await client.query({
                  name: 'raw_credit',
                  text: 'UPDATE bench_raw.balances SET balance = balance + $2 WHERE account_id = $1',
                  values: [to, amount],
                });
              }
            }
            if (!debited) {
              await client.query('ROLLBACK');
              insufficient++;
              continue;
            }
            const entry = {
              name: 'raw_entry',
              text: 'INSERT INTO bench_raw.entries (transfer_id, account_id, amount) VALUES ($1, $2, $3)',
            };
            await client.query({ ...entry, values: [transferId, from, `-${amount}`] });
            await client.query({ ...entry, values: [transferId, to, amount] });
            await client.query('COMMIT');
            committed++;
            latencies.push(performance.now() - started);
          } catch (error) {
            errors++;
            firstError ??= error;
            await client.query('ROLLBACK').catch(() => {});
          }
        }
      } finally {
        client.release();
      }
    };
    const t0 = performance.now();
    const loops = Array.from({ length: rawClients }, loop);
    await sleep(rawS * 1000);
    stop = true;
    const elapsedS = (performance.now() - t0) / 1000;
    const committedInWindow = committed;
    await Promise.all(loops);
    if (firstError !== undefined) note(`  raw: first error (${errors} in all): ${String(firstError)}`);
    const [after] = (
      await pool.query<{ s: string; entries: string; bad: string }>(
        `SELECT (SELECT sum(balance) FROM bench_raw.balances)::text AS s,
                (SELECT count(*) FROM bench_raw.entries)::text AS entries,
                (SELECT count(*) FROM bench_raw.balances WHERE balance < 0)::text AS bad`,
      )
    ).rows;
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => percentile(latencies, p);
    return {
      tps: committedInWindow / elapsedS,
      committed,
      insufficient,
      errors,
      p50Ms: pct(50),
      p99Ms: pct(99),
      check: {
        name: `raw SQL, ${accounts} rows: total balance unchanged, 2 entries per commit, no negative balance`,
        ok: after?.s === before?.s && after?.entries === String(committed * 2) && after?.bad === '0',
        detail: `sum ${before?.s} → ${after?.s}, ${after?.entries} entries for ${committed} commits, ${after?.bad} negative`,
      },
    };
  } finally {
    await pool.end();
  }
}

// ---- main ---------------------------------------------------------------------------------

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function printTable(rows: [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) log(`${k.padEnd(width)} | ${v}`);
}

/** One scenario's load window, with what was measured beside it. */
interface Window {
  result: autocannon.Result;
  cpu: CpuWindow;
  store: StoreCounters | undefined;
}

const perSecond = (r: autocannon.Result) => r['2xx'] / Math.max(0.001, r.duration);

const statusesOf = (r: autocannon.Result) =>
  Object.entries(r.statusCodeStats ?? {})
    .map(([status, { count }]) => `${status}×${count}`)
    .join(', ') || 'none';

const describeLoad = (r: autocannon.Result) =>
  `${fmt(perSecond(r))} 2xx/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}, ` +
  `socket errors ${r.errors} (timeouts ${r.timeouts})`;

const describeCpu = (cpu: CpuWindow) =>
  `CPU api ${Math.round(cpu.apiPct)}%, projector ${Math.round(cpu.projectorPct)}%, postgres ${Math.round(cpu.postgresPct)}%, ` +
  `bench ${Math.round(cpu.benchPct)}%, machine ${Math.round(cpu.machineBusyPct)}% busy`;

/** ms of CPU per 2xx transfer from a window's % of a core. */
const cpuMsPer = (pct: number, r: autocannon.Result) =>
  ((pct * 10 * r.duration) / Math.max(1, r['2xx'])).toFixed(2);

const describeStore = (store: StoreCounters | undefined) =>
  store
    ? `${fmt(store.appends)} appends in ${fmt(store.transactions)} transactions ` +
      `(${(store.appends / Math.max(1, store.transactions)).toFixed(1)} each); ` +
      `${fmt(store.reads)} stream reads in ${fmt(store.queries)} queries ` +
      `(${(store.reads / Math.max(1, store.queries)).toFixed(1)} each)`
    : 'n/a (no counters on /metrics)';

const round3 = (n: number) => Math.round(n * 1000) / 1000;

async function main(): Promise<void> {
  const startedAt = performance.now();
  note(
    `transfer benchmark: ${accountCount} accounts of ${customerCount} customers, ${connections} connections over ` +
      `${apiCount} API process(es), ${warmupS} s warm-up + ${durationS} s; hot: ${hotAccountCount} accounts, ` +
      `${hotWarmupS} s + ${hotS} s; raw SQL ${rawClients} clients × ${rawS} s (uniform and hot); ` +
      `${projectorCount} projector process(es)`,
  );
  let db: TestDatabase | undefined;
  const apis: Child[] = [];
  const projectors: Child[] = [];
  const children = () => [...apis, ...projectors];
  let pool: pg.Pool | undefined;
  let store: PostgresEventStore | undefined;
  let stopRss: (() => Map<string, number>) | undefined;
  const dataDir = await mkdtemp(join(tmpdir(), 'ledger-bench-'));
  const cleanup = async () => {
    await Promise.all(children().map(stopChild));
    stopRss?.();
    await store?.close().catch((e: unknown) => note(String(e)));
    store = undefined;
    await pool?.end().catch((e: unknown) => note(String(e)));
    pool = undefined;
    await dropDatabase(db, keepDatabase);
    db = undefined;
    await rm(dataDir, { recursive: true, force: true });
  };
  const stopWatchdog = startWatchdog(
    runTimeoutMs,
    () => db,
    () => {
      for (const child of children()) child.process.kill('SIGKILL');
    },
  );

  const checks: Check[] = [];
  let tracker: LoadTracker;
  let warm: autocannon.Result | undefined;
  let uniform: Window;
  let hotWarm: autocannon.Result | undefined;
  let hot: Window;
  let raw: RawResult;
  let rawHot: RawResult;
  let projectionWaitS: number | undefined;
  let lag: ProjectionLags | undefined;
  let rssMaxKb = new Map<string, number>();
  let rulesComparison: RulesComparison | undefined;
  try {
    db = await createTestDatabase('ledger_bench_transfers');
    note(`database ${db.name}`);
    pool = new pg.Pool({ connectionString: db.url, max: seedConcurrency });
    pool.on('error', (error) => note(`pool error: ${String(error)}`));
    store = await PostgresEventStore.open(pgClient(pool));

    const jwtSecret = randomBytes(36).toString('base64url');
    const dataKey = randomBytes(36).toString('base64url');
    const director = { username: 'benchdirector', password: randomBytes(18).toString('base64url') };
    const serviceEnv = { DATABASE_URL: db.url, LOG_LEVEL: 'warn', DATA_DIR: dataDir, DATA_KEY: dataKey };
    const apiEnv = {
      ...serviceEnv,
      REDIS_URL: testRedisUrl,
      JWT_SECRET: jwtSecret,
      RATE_LIMITS: JSON.stringify({ default: '9999999/second', login: '1000/minute' }),
    };
    const nodeArgs = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
    let t0 = performance.now();
    // The first API bootstraps the director; the other replicas start once it has.
    const first = await spawnApi(
      {
        ...apiEnv,
        BANK_DIRECTOR_USERNAME: director.username,
        BANK_DIRECTOR_EMAIL: 'director@bench.example',
        BANK_DIRECTOR_PASSWORD: director.password,
      },
      nodeArgs,
    );
    first.child.name = 'API 1';
    apis.push(first.child);
    for (let i = 0; i < projectorCount; i++)
      projectors.push(
        spawnChild(`projector ${i + 1}`, 'services/projector/src/main.ts', serviceEnv, nodeArgs),
      );
    stopRss = startRssSampler(children);
    await waitForApi(first);
    const others: Awaited<ReturnType<typeof spawnApi>>[] = [];
    for (let i = 1; i < apiCount; i++) {
      const started = await spawnApi(apiEnv, nodeArgs);
      started.child.name = `API ${i + 1}`;
      apis.push(started.child);
      others.push(started);
    }
    const url = first.url;
    const urls = [first.url, ...others.map((o) => o.url)];
    if (cpuProfDir)
      note(
        `CPU profiles in ${cpuProfDir}: ${children()
          .map((c) => `${c.name} pid ${c.process.pid}`)
          .join(', ')}`,
      );
    note(`API 1 listening on ${url} (${seconds(t0)} s)`);

    // Staff over HTTP, as the tests do: the bootstrapped director creates an agent.
    t0 = performance.now();
    const directorLogin = await http(url, 'POST', '/api/auth/login', director);
    if (directorLogin.status !== 200)
      throw new Error(`director login: ${JSON.stringify(directorLogin.json)}`);
    const agent = { username: 'benchagent', password: randomBytes(18).toString('base64url') };
    const created = await http(
      url,
      'POST',
      '/api/admin/users',
      { ...agent, email: 'agent@bench.example', role: 'agent' },
      directorLogin.json.accessToken,
    );
    if (created.status !== 201) throw new Error(`creating the agent: ${JSON.stringify(created.json)}`);
    const agentId = created.json.user.id as string;
    const agentLogin = await http(url, 'POST', '/api/auth/login', agent);
    if (agentLogin.status !== 200) throw new Error(`agent login: ${JSON.stringify(agentLogin.json)}`);
    note(`director and agent ready (${seconds(t0)} s)`);

    t0 = performance.now();
    note('seeding through the application layer:');
    const seedDatabase = await openDatabase({ databaseUrl: db.url, dataDir, applicationName: 'bench-seed' });
    const seeded = await seed(store, await Vault.open(seedDatabase.db, dataKey), agentId);
    await seedDatabase.close();
    note(`seeded in ${seconds(t0)} s`);
    await store.close();
    store = undefined;
    await Promise.all(others.map(waitForApi));
    note(`${apis.length} API process(es) listening: ${urls.join(', ')}`);

    // Customer 0 logs in for real; the others get the same kind of token from the API's
    // issuer (its signing options and claims), and one of those must be accepted (by every
    // replica) before the load starts.
    const issuer = await accessTokenIssuer(jwtSecret);
    const tokens = seeded.customers.map((id) => issuer.issue({ id, role: 'customer' }));
    await issuer.close();
    const login0 = await http(url, 'POST', '/api/auth/login', {
      username: seeded.usernames[0],
      password: seeded.password,
    });
    if (login0.status !== 200) throw new Error(`customer login: ${JSON.stringify(login0.json)}`);
    tokens[0] = login0.json.accessToken;
    for (const replica of urls) {
      const me = await http(replica, 'GET', '/api/auth/me', undefined, tokens[tokens.length - 1]);
      if (me.status !== 200 || me.json.user.id !== seeded.customers[tokens.length - 1])
        throw new Error(`a signed token was refused by ${replica}: ${me.status} ${JSON.stringify(me.json)}`);
    }

    // The projector follows the seeding as it goes; let it finish that backlog (bounded), so
    // the measured window sees it keeping up with the load rather than replaying the set-up.
    if (runProjector) {
      t0 = performance.now();
      const behind = await projectionLag(pool, preloadCatchUpMs);
      note(
        behind === 0n
          ? `projector caught up with the seeding (${seconds(t0)} s)`
          : `projector still ${behind} positions behind after ${seconds(t0)} s: the load starts anyway`,
      );
    }

    const directorToken = directorLogin.json.accessToken as string;
    /**
     * The director replaces the settings through the first API; the same PUT to each other
     * replica records nothing (the settings are already these) but reads the settings stream
     * there, so no replica holds a transfer to its cached settings (settingsMaxAgeMs).
     */
    const putSettings = async (body: object) => {
      for (const replica of urls) {
        const put = await http(replica, 'PUT', '/api/admin/settings', body, directorToken);
        if (put.status !== 200) throw new Error(`settings through ${replica}: ${JSON.stringify(put.json)}`);
      }
    };
    const rulesOff = Object.fromEntries(riskRuleIds.map((id) => [id, 'off']));
    const measure = async (run: () => Promise<autocannon.Result>): Promise<Window> => {
      const counters0 = await scrapeAllStoreCounters(urls);
      const cpuWindow = await startCpuWindow(pool!, db!.name, apis, projectors);
      const result = await run();
      const cpu = await cpuWindow();
      return { result, cpu, store: countersBetween(counters0, await scrapeAllStoreCounters(urls)) };
    };

    // ---- uniform: random transfers over BENCH_ACCOUNTS accounts --------------------------
    tracker = {
      created: new Set(),
      held: new Set(),
      outstanding: new Map(),
      statuses: new Map(),
      samples: [],
    };
    const uniformPick = uniformTransfers(seeded);
    if (warmupS > 0) {
      warm = combineRuns([await runLoad(urls, warmupS, uniformPick, seeded, tokens, tracker)]);
      note(`warm-up: ${describeLoad(warm)}`);
    }
    let lagDrained: Promise<ProjectionLags> | undefined;
    uniform = await measure(async () => {
      const stopLag = runProjector ? startLagSampler(pool!) : undefined;
      const phases: { on: boolean; run: LoadRun }[] = [];
      if (compareRules) {
        const phaseS = Math.max(1, Math.ceil(durationS / 2));
        for (const on of [false, true, true, false]) {
          await putSettings(on ? { limits: {} } : { limits: {}, rules: rulesOff });
          const run = await runLoad(urls, phaseS, uniformPick, seeded, tokens, tracker);
          phases.push({ on, run });
          note(`  rules ${on ? 'on ' : 'off'}: ${describeLoad(combineRuns([run]))}`);
        }
        rulesComparison = compareModes(phases);
      } else {
        phases.push({ on: true, run: await runLoad(urls, durationS, uniformPick, seeded, tokens, tracker) });
      }
      // No more lag samples: those pending are followed while the CPU window closes.
      lagDrained = stopLag?.();
      return combineRuns(phases.map((p) => p.run));
    });
    note(`uniform: ${describeLoad(uniform.result)}; ${describeCpu(uniform.cpu)}`);
    for (const sample of tracker.samples) note(`  non-2xx sample: ${sample}`);
    tracker.samples = [];
    lag = await lagDrained;
    if (lag) {
      const sorted = [...lag.lagsMs].sort((a, b) => a - b);
      note(
        `projection lag in the uniform window: p50 ${Math.round(percentile(sorted, 50))} ms, ` +
          `p99 ${Math.round(percentile(sorted, 99))} ms over ${sorted.length} samples` +
          (lag.pending > 0 ? `; ${lag.pending} never reached within ${lagDrainMs / 1000} s` : ''),
      );
    }

    // ---- hot: every transfer between the BENCH_HOT_ACCOUNTS hot accounts ------------------
    // Limits raised out of the way, and the rules off: velocity alone would hold most.
    await putSettings({ limits: { [currency]: hotLimits }, rules: rulesOff });
    const hotPick = hotTransfers(seeded);
    const heldBefore = tracker.held.size;
    if (hotWarmupS > 0) {
      hotWarm = combineRuns([await runLoad(urls, hotWarmupS, hotPick, seeded, tokens, tracker)]);
      note(`hot warm-up: ${describeLoad(hotWarm)}`);
    }
    hot = await measure(async () =>
      combineRuns([await runLoad(urls, hotS, hotPick, seeded, tokens, tracker)]),
    );
    note(`hot: ${describeLoad(hot.result)}; ${describeCpu(hot.cpu)}`);
    for (const sample of tracker.samples) note(`  non-2xx sample: ${sample}`);
    const hotRefused = (hotWarm?.['4xx'] ?? 0) + hot.result['4xx'];
    const hotHeld = tracker.held.size - heldBefore;
    checks.push({
      name: 'hot scenario: nothing refused (4xx) or held for review',
      ok: hotRefused === 0 && hotHeld === 0,
      detail: `${hotRefused} 4xx (warm-up included), ${hotHeld} held; answers ${statusesOf(hot.result)}`,
    });

    // ---- invariants, over both scenarios ------------------------------------------------
    t0 = performance.now();
    const head = await settle(pool);
    const ok201 = [warm, uniform.result, hotWarm, hot.result].reduce(
      (sum, r) => sum + (r ? status201(r) : 0),
      0,
    );
    try {
      checks.push(...(await checkInvariants(pool, tracker, ok201, seeded.fundingIds)));
    } catch (error) {
      checks.push({ name: 'invariant checks ran to the end', ok: false, detail: String(error) });
    }
    note(`invariants from the events checked (${seconds(t0)} s)`);
    if (runProjector) {
      const readModel = await checkReadModel(pool, head);
      projectionWaitS = readModel.waitedS;
      checks.push(...readModel.checks);
    }
    await Promise.all(children().map(stopChild));
    rssMaxKb = stopRss();
    stopRss = undefined;
    for (const child of children()) {
      if (child.process.exitCode !== 0)
        note(`${child.name} exited ${child.process.exitCode}:\n${child.output().slice(-3000)}`);
      else if (child.output().trim()) note(`${child.name} said:\n${child.output().slice(-3000)}`);
    }

    // ---- the raw SQL ceilings, with nothing else running -------------------------------
    t0 = performance.now();
    raw = await rawCeiling(db.url, accountCount);
    checks.push(raw.check);
    note(
      `raw SQL ceiling, ${accountCount} rows: ${fmt(raw.tps)} tx/s, p50 ${raw.p50Ms.toFixed(1)} ms, ` +
        `p99 ${raw.p99Ms.toFixed(1)} ms, ${raw.insufficient} refused, ${raw.errors} errors (${seconds(t0)} s)`,
    );
    t0 = performance.now();
    rawHot = await rawCeiling(db.url, hotAccountCount);
    checks.push(rawHot.check);
    note(
      `raw SQL hot-row ceiling, ${hotAccountCount} rows: ${fmt(rawHot.tps)} tx/s, p50 ${rawHot.p50Ms.toFixed(1)} ms, ` +
        `p99 ${rawHot.p99Ms.toFixed(1)} ms, ${rawHot.insufficient} refused, ${rawHot.errors} errors (${seconds(t0)} s)`,
    );
  } finally {
    await cleanup();
    stopWatchdog();
  }

  const r = uniform.result;
  const h = hot.result;
  const transfersPerSecond = perSecond(r);
  const hotTransfersPerSecond = perSecond(h);
  const errors = r.non2xx + r.errors;
  const hotErrors = h.non2xx + h.errors;
  const lagsSorted = [...(lag?.lagsMs ?? [])].sort((a, b) => a - b);
  const lagP50 = Math.round(percentile(lagsSorted, 50));
  const lagP99 = Math.round(percentile(lagsSorted, 99));
  const rssMbMax = Math.max(0, ...rssMaxKb.values()) / 1024;
  const rssByProcess = [...rssMaxKb].map(([name, kb]) => `${name} ${fmt(kb / 1024)}`).join(', ');
  const cpuPerTransfer = (w: Window) =>
    `api ${cpuMsPer(w.cpu.apiPct, w.result)} ms, postgres ${cpuMsPer(w.cpu.postgresPct, w.result)} ms ` +
    `(${[...w.cpu.postgresPctBy]
      .sort((a, b) => b[1] - a[1])
      .map(([app, pct]) => `${app} ${cpuMsPer(pct, w.result)}`)
      .join(', ')}), ` +
    `projector ${cpuMsPer(w.cpu.projectorPct, w.result)} ms`;
  const cpuInWindow = (w: Window) =>
    `api ${Math.round(w.cpu.apiPct)}, projector ${Math.round(w.cpu.projectorPct)}, postgres ${Math.round(w.cpu.postgresPct)}, ` +
    `load generator ${Math.round(w.cpu.benchPct)}; machine (${availableParallelism()} cores) ${Math.round(w.cpu.machineBusyPct)}% busy`;
  log();
  printTable([
    ['uniform transfers/s (2xx)', fmt(transfersPerSecond)],
    ['uniform latency p50 / p99 (2xx)', `${r.latency.p50} / ${r.latency.p99} ms (max ${r.latency.max})`],
    ['uniform requests answered', `${fmt(r.requests.total)} in ${r.duration} s (${statusesOf(r)})`],
    [
      'uniform errors (non-2xx + socket)',
      `${errors} (${r.non2xx} non-2xx, ${r.errors} socket errors, ${r.timeouts} timeouts)`,
    ],
    [
      'raw SQL ceiling',
      `${fmt(raw.tps)} tx/s over ${accountCount} rows (p50 ${raw.p50Ms.toFixed(1)} ms, p99 ${raw.p99Ms.toFixed(1)} ms)`,
    ],
    ['uniform ratio API / raw', (transfersPerSecond / raw.tps).toFixed(3)],
    [
      'fraud and AML rules',
      rulesComparison === undefined
        ? 'as the settings have them (BENCH_RULES_COMPARE=0)'
        : `on ${fmt(rulesComparison.onTps)} / off ${fmt(rulesComparison.offTps)} 2xx/s = ${rulesComparison.ratio.toFixed(3)} ` +
          `(p99 on ${rulesComparison.onP99Ms} ms, off ${rulesComparison.offP99Ms} ms; ${tracker.held.size} held for review)`,
    ],
    [
      'projection lag (uniform window)',
      lag === undefined
        ? 'n/a (no projector)'
        : `p50 ${lagP50} ms, p99 ${lagP99} ms (${lagsSorted.length} samples every ${lagSampleMs} ms` +
          `${lag.pending > 0 ? `, ${lag.pending} never reached` : ''})`,
    ],
    [
      'projection lag p99 by projection',
      lag === undefined
        ? 'n/a'
        : [...lag.byProjection]
            .map(
              ([name, ms]) =>
                `${name} ${Math.round(
                  percentile(
                    [...ms].sort((a, b) => a - b),
                    99,
                  ),
                )}`,
            )
            .join(', ') + ' ms',
    ],
    ['uniform CPU per 2xx transfer', cpuPerTransfer(uniform)],
    [
      'uniform PostgreSQL transactions per 2xx',
      `${(uniform.cpu.transactions / Math.max(1, r['2xx'])).toFixed(2)} (statements outside BEGIN count one each; appends are batched)`,
    ],
    ['uniform API event store', describeStore(uniform.store)],
    ['uniform CPU (% of a core)', cpuInWindow(uniform)],
    ['hot transfers/s (2xx)', `${fmt(hotTransfersPerSecond)} between ${hotAccountCount} accounts`],
    ['hot latency p50 / p99 (2xx)', `${h.latency.p50} / ${h.latency.p99} ms (max ${h.latency.max})`],
    ['hot requests answered', `${fmt(h.requests.total)} in ${h.duration} s (${statusesOf(h)})`],
    [
      'hot errors (non-2xx + socket)',
      `${hotErrors} (${h.non2xx} non-2xx, ${h.errors} socket errors, ${h.timeouts} timeouts)`,
    ],
    [
      'raw SQL hot-row ceiling',
      `${fmt(rawHot.tps)} tx/s over ${hotAccountCount} rows (p50 ${rawHot.p50Ms.toFixed(1)} ms, p99 ${rawHot.p99Ms.toFixed(1)} ms)`,
    ],
    ['hot ratio API / raw', (hotTransfersPerSecond / rawHot.tps).toFixed(3)],
    ['hot CPU per 2xx transfer', cpuPerTransfer(hot)],
    ['hot API event store', describeStore(hot.store)],
    ['hot CPU (% of a core)', cpuInWindow(hot)],
    ['RSS max (MB)', `${fmt(rssMbMax)} (${rssByProcess || 'n/a'})`],
    [
      'set-up',
      `${accountCount} accounts, ${customerCount} customers, ${connections} connections over ${apiCount} API process(es), ` +
        `${durationS} s uniform, ${hotS} s hot`,
    ],
    [
      'projector',
      runProjector
        ? `${projectorCount} process(es); caught up ${projectionWaitS?.toFixed(1)} s after the load`
        : 'off',
    ],
    [
      'load average now',
      loadavg()
        .map((l) => l.toFixed(1))
        .join(' '),
    ],
  ]);
  log();
  for (const check of checks) log(`${check.ok ? 'PASS' : 'FAIL'} ${check.name}: ${check.detail}`);
  const invariantsHold = checks.every((c) => c.ok);
  if (!invariantsHold) process.exitCode = 1;
  log(`total run time: ${seconds(startedAt)} s`);
  const uniformRatio = round3(transfersPerSecond / raw.tps);
  log(
    JSON.stringify({
      transfersPerSecond: Math.round(transfersPerSecond),
      p50Ms: r.latency.p50,
      p99Ms: r.latency.p99,
      errors,
      rawCeilingTps: Math.round(raw.tps),
      ratio: uniformRatio,
      uniformRatio,
      uniformP99Ms: r.latency.p99,
      ...(rulesComparison === undefined
        ? {}
        : {
            rulesOnTps: Math.round(rulesComparison.onTps),
            rulesOffTps: Math.round(rulesComparison.offTps),
            rulesOnRatio: round3(rulesComparison.ratio),
            heldForReview: tracker.held.size,
          }),
      hotTransfersPerSecond: Math.round(hotTransfersPerSecond),
      hotP50Ms: h.latency.p50,
      hotP99Ms: h.latency.p99,
      hotErrors,
      rawHotCeilingTps: Math.round(rawHot.tps),
      hotRatio: round3(hotTransfersPerSecond / rawHot.tps),
      projectionLagP50Ms: Number.isFinite(lagP50) ? lagP50 : null,
      projectionLagP99Ms: Number.isFinite(lagP99) ? lagP99 : null,
      rssMbMax: Math.round(rssMbMax),
      apis: apiCount,
      projectors: projectorCount,
      invariantsHold,
    }),
  );
}

main().catch((error: unknown) => {
  note(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});
