import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { accessTokenIssuer } from '@ledger/api/testing';
import {
  bankAccountId,
  createLedger,
  openCustomerAccount,
  runTransferCommand,
  trialBalance,
} from '@ledger/application';
import { markKycVerified, registerWithHash } from '@ledger/application/testing';
import { parseAccountEvent } from '@ledger/contracts';
import { type AccountState, evolveAccount, initialAccountState } from '@ledger/domain/ledger';
import { PostgresEventStore, pgClient } from '@ledger/eventstore';
import { openDatabase } from '@ledger/platform';
import { accountsProjection, ledgerTotalsReadModel } from '@ledger/projection-accounts';
import { readCheckpoints } from '@ledger/readmodel';
import { createTestDatabase, repoRoot } from '@ledger/testkit';
import { Vault } from '@ledger/vault';
import bcrypt from 'bcryptjs';
import pg from 'pg';
import type { Test } from 'tap';

/**
 * The fault kit (issue #14): the bank as separate processes (API, projector, worker) on a
 * fresh PostgreSQL database and a Redis of the test's own, a TCP relay in front of PostgreSQL
 * that a test can stall or cut, seeding through the application layer, and the checks every
 * fault test ends with: nothing acknowledged lost or doubled, the trial balance balanced,
 * every chain verified, the read models equal to the fold of the events.
 *
 * Nothing here is a stand-in: the processes are the entry points `pnpm start:*` runs, the
 * Redis is a real redis-server, the relay forwards real PostgreSQL connections.
 */

/** How long a process may take to come up. */
const startWaitMs = 30_000;
/** How long a killed process may take to be gone. */
const exitWaitMs = 10_000;
/** How long checkLedger waits for the projections to reach the head. */
const catchUpWaitMs = 30_000;
/** Rows read at a time when folding the account streams. */
const scanPageSize = 5_000;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Until `condition()` holds (polled), at most `timeoutMs`; then throws naming `what`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function killAndWait(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), exitWaitMs);
  await gone;
  clearTimeout(timer);
}

// ---- Redis --------------------------------------------------------------------------------

export interface TestRedis {
  url: string;
  port: number;
  /** SIGKILL: the server and its data are gone (no persistence). */
  kill(): Promise<void>;
  /** A new, empty server on the same port; waits until it answers PING. */
  start(): Promise<void>;
}

/** A redis-server of the test's own on a free port, without persistence; killed at teardown. */
export async function startRedis(t: Test): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let out = '';
  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const started = child;
    started.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    started.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor(
      `redis-server on port ${port} ready`,
      async () => {
        if (started.exitCode !== null) throw new Error(`redis-server exited ${started.exitCode}: ${out}`);
        return (await redisPing(port)) === 'PONG';
      },
      startWaitMs,
    );
  };
  t.teardown(() => killAndWait(child));
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, kill: () => killAndWait(child), start };
}

/** PING over a raw socket (RESP): 'PONG', or undefined when nothing answers. */
export function redisPing(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let reply = '';
    let answered = false;
    const done = (value: string | undefined) => {
      if (answered) return;
      answered = true;
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(500, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') ? 'PONG' : reply.trim());
    });
  });
}

// ---- a TCP relay in front of PostgreSQL -----------------------------------------------------

export interface TcpProxy {
  port: number;
  /** `url` with its host and port replaced by the relay's. */
  urlFor(url: string): string;
  /** Holds every byte both ways (connections stay open, nothing arrives) until resume(). */
  stall(): void;
  /** Drops every connection and refuses new ones until resume(). */
  cut(): void;
  /** Forwards again: held bytes flow, new connections are accepted. */
  resume(): void;
  readonly state: 'open' | 'stalled' | 'cut';
  /** Connections relayed now. */
  readonly connections: number;
}

/** A real TCP relay on a free port of 127.0.0.1 to `target`; closed at teardown. */
export async function startTcpProxy(t: Test, target: { host: string; port: number }): Promise<TcpProxy> {
  let state: 'open' | 'stalled' | 'cut' = 'open';
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    if (state === 'cut') {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(target.port, target.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    if (state === 'stalled') {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  );
  return {
    port,
    urlFor(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    stall() {
      state = 'stalled';
      for (const [a, b] of pairs) {
        a.pause();
        b.pause();
      }
    },
    cut() {
      state = 'cut';
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    resume() {
      state = 'open';
      for (const [a, b] of pairs) {
        a.resume();
        b.resume();
      }
    },
    get state() {
      return state;
    },
    get connections() {
      return pairs.size;
    },
  };
}

// ---- the services -------------------------------------------------------------------------

export interface Service {
  readonly name: string;
  /** Started and not exited. */
  readonly running: boolean;
  pid(): number | undefined;
  /** What it printed so far (JSON log lines), stdout and stderr, over every start. */
  output(): string;
  /** Resolves with the exit code (null: a signal) of the current run. */
  exit(): Promise<number | null>;
  /** Default SIGKILL; waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it (again) with the same environment; waits until it is up. */
  start(): Promise<void>;
}

type ServiceName = 'api' | 'projector' | 'worker';

const entries: Record<ServiceName, string> = {
  api: 'services/api/src/main.ts',
  projector: 'services/projector/src/main.ts',
  worker: 'services/worker/src/main.ts',
};
const startedMessages: Record<Exclude<ServiceName, 'api'>, string> = {
  projector: 'projector started',
  worker: 'worker started',
};

function service(
  t: Test,
  name: ServiceName,
  env: Record<string, string>,
  apiUrl?: string,
  /** Its name in messages and Service.name when there are several: 'api-2'. */
  label: string = name,
): Service {
  let child: ChildProcess | undefined;
  let exitCode: Promise<number | null> = Promise.resolve(null);
  let out = '';
  let runOut = 0;
  t.teardown(() => killAndWait(child));
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  return {
    name: label,
    get running() {
      return running();
    },
    pid: () => (running() ? child?.pid : undefined),
    output: () => out,
    exit: () => exitCode,
    kill: (signal = 'SIGKILL') => killAndWait(child, signal),
    async start() {
      if (running()) throw new Error(`${label} is already running`);
      runOut = out.length;
      child = spawn(process.execPath, ['--import', 'tsx', entries[name]], {
        cwd: repoRoot,
        env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (d: Buffer) => {
        out += d.toString();
        if (out.length > 4_000_000) {
          const cut = out.length - 2_000_000;
          out = out.slice(cut);
          runOut = Math.max(0, runOut - cut);
        }
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const current = child;
      exitCode = new Promise((resolve) => current.once('exit', (code) => resolve(code)));
      const up =
        name === 'api'
          ? async () => {
              try {
                return (await fetch(`${apiUrl}/health/live`, { signal: AbortSignal.timeout(1_000) })).ok;
              } catch {
                return false;
              }
            }
          : () => out.slice(runOut).includes(`"msg":"${startedMessages[name]}"`);
      await waitFor(
        `${label} up`,
        async () => {
          if (!running())
            throw new Error(`${label} exited ${current.exitCode} while starting:\n${out.slice(runOut)}`);
          return up();
        },
        startWaitMs,
      );
    },
  };
}

export interface Stack {
  databaseUrl: string;
  databaseName: string;
  redis: TestRedis;
  /** The relay in front of PostgreSQL that the services named in `throughProxy` use. */
  proxy: TcpProxy;
  jwtSecret: string;
  /** The services' DATA_KEY, and the vault on it (the test process's, for seeding). */
  dataKey: string;
  vault: Vault;
  /** The first API's (stack.apis[0]). */
  apiUrl: string;
  /** The first API (stack.apis[0]). */
  api: Service;
  /** The first projector (stack.projectors[0]). */
  projector: Service;
  /** Every API process (StackOptions.apis), each on its own port: apiUrls[i] is apis[i]'s. */
  apis: Service[];
  apiUrls: string[];
  /** Every projector process (StackOptions.projectors), on the same database. */
  projectors: Service[];
  worker: Service;
  /** The test process's own connection to the database (not through the relay). */
  pool: pg.Pool;
  store: PostgresEventStore;
}

export interface StackOptions {
  /** Added to every process's environment. */
  env?: Record<string, string>;
  apiEnv?: Record<string, string>;
  projectorEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Services that reach PostgreSQL through `stack.proxy` (default none). */
  throughProxy?: ServiceName[];
  /** Not started (start them with stack.<name>.start()). */
  without?: ('projector' | 'worker')[];
  /** The PostgreSQL server to make the database on (pg-server.ts's); default the shared test server. */
  server?: { url: string };
  /** API processes, each on its own port, one database and Redis (default 1). */
  apis?: number;
  /** Projector processes: one active per projection, the others standby (default 1). */
  projectors?: number;
}

/**
 * A fresh database, a Redis of the test's own and the three services as child processes,
 * each up when this resolves. Everything is dropped, killed or closed at teardown.
 */
export async function startStack(t: Test, options: StackOptions = {}): Promise<Stack> {
  const database = await createTestDatabase('ledger_fault', options.server?.url);
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  pool.on('error', () => {});
  // Teardowns run last-registered first: this one runs after the services are killed.
  t.teardown(async () => {
    await pool.end();
    await database.drop();
  });
  const redis = await startRedis(t);
  const proxy = await startTcpProxy(t, {
    host: '127.0.0.1',
    port: Number(new URL(database.url).port || 5432),
  });
  const jwtSecret = randomBytes(36).toString('base64url');
  const dataKey = randomBytes(36).toString('base64url');
  const apiPorts = await Promise.all(Array.from({ length: options.apis ?? 1 }, () => freePort()));
  if (apiPorts.length < 1 || new Set(apiPorts).size !== apiPorts.length) throw new Error('API ports');
  const apiUrls = apiPorts.map((port) => `http://127.0.0.1:${port}`);
  // The same on every replica (docs/operations.md).
  const apiTotpKey = randomBytes(36).toString('base64url');
  const through = new Set(options.throughProxy ?? []);
  const envOf = (name: ServiceName, own: Record<string, string> | undefined) => ({
    DATABASE_URL: through.has(name) ? proxy.urlFor(database.url) : database.url,
    REDIS_URL: redis.url,
    JWT_SECRET: jwtSecret,
    TOTP_KEY: randomBytes(36).toString('base64url'),
    DATA_KEY: dataKey,
    RATE_LIMITS: JSON.stringify({ default: '1000000/second', login: '100000/minute' }),
    ...options.env,
    ...own,
  });
  const apis = apiPorts.map((port, i) =>
    service(
      t,
      'api',
      {
        ...envOf('api', { TOTP_KEY: apiTotpKey, ...options.apiEnv }),
        HOST: '127.0.0.1',
        PORT: String(port),
      },
      apiUrls[i],
      i === 0 ? 'api' : `api-${i + 1}`,
    ),
  );
  const projectors = Array.from({ length: Math.max(1, options.projectors ?? 1) }, (_, i) =>
    service(
      t,
      'projector',
      envOf('projector', options.projectorEnv),
      undefined,
      i === 0 ? 'projector' : `projector-${i + 1}`,
    ),
  );
  const [api, projector] = [apis[0]!, projectors[0]!];
  const apiUrl = apiUrls[0]!;
  const worker = service(t, 'worker', envOf('worker', options.workerEnv));
  // The first API first: it migrates the event store; then the other replicas.
  await api.start();
  await Promise.all(apis.slice(1).map((a) => a.start()));
  const without = new Set(options.without ?? []);
  await Promise.all([
    ...(without.has('projector') ? [] : projectors.map((p) => p.start())),
    without.has('worker') ? undefined : worker.start(),
  ]);
  const store = await PostgresEventStore.open(pgClient(pool));
  t.teardown(() => store.close());
  const vault = await openSeedVault(database.url, dataKey, t);
  return {
    databaseUrl: database.url,
    databaseName: database.name,
    redis,
    proxy,
    jwtSecret,
    dataKey,
    vault,
    apiUrl,
    api,
    projector,
    apis,
    apiUrls,
    projectors,
    worker,
    pool,
    store,
  };
}

// ---- seeding and requests -----------------------------------------------------------------

export interface Customer {
  id: string;
  /** An access token, as login would issue it. */
  token: string;
  accounts: string[];
}

/** The vault of a database the services run on, with their DATA_KEY: seeding seals as they do. */
export async function openSeedVault(databaseUrl: string, dataKey: string, t?: Test): Promise<Vault> {
  const database = await openDatabase({
    databaseUrl,
    dataDir: '/nonexistent',
    applicationName: 'ledger-seed',
  });
  t?.teardown(() => database.close());
  return Vault.open(database.db, dataKey);
}

/**
 * Registered, KYC-verified customers, each with `accountsPerCustomer` EUR checking accounts
 * funded with `depositEach` minor units from the bank's cash account; through the
 * application layer of the test process, on the stack's database.
 */
export async function seedCustomers(
  stack: Pick<Stack, 'store' | 'jwtSecret' | 'vault'>,
  options: { customers: number; accountsPerCustomer?: number; depositEach: bigint },
): Promise<Customer[]> {
  const ledger = createLedger(stack.store);
  const issuer = await accessTokenIssuer(stack.jwtSecret);
  // bcrypt's lowest cost: nobody logs in with it, tokens are issued directly.
  const passwordHash = await bcrypt.hash(randomBytes(12).toString('base64url'), 4);
  const meta = { actorId: 'system:fault-test', correlationId: randomUUID() };
  const tag = randomBytes(3).toString('hex');
  try {
    return await Promise.all(
      Array.from({ length: options.customers }, async (_, i) => {
        const id = randomUUID();
        const username = `fault${tag}c${i}`;
        const registered = await registerWithHash(
          stack,
          {
            type: 'Register',
            now: new Date(),
            userId: id,
            username,
            email: `${username}@fault.example`,
            role: 'customer',
            profile: { firstName: 'Fault', lastName: `Customer ${i}`, dateOfBirth: null, phone: null },
            via: 'self',
          },
          passwordHash,
          { ...meta, correlationId: id },
        );
        if (!registered.ok) throw new Error(`registering customer ${i}: ${registered.code}`);
        await markKycVerified(stack.store, id, meta);
        const accounts: string[] = [];
        for (let a = 0; a < (options.accountsPerCustomer ?? 1); a++) {
          const opened = await openCustomerAccount(
            ledger,
            { ownerId: id, accountType: 'checking', currency: 'EUR', kycVerified: true, now: new Date() },
            { ...meta, actorId: id },
          );
          if (!opened.ok) throw new Error(`opening an account: ${opened.code}`);
          accounts.push(opened.account.id);
          if (options.depositEach > 0n) {
            const deposit = await runTransferCommand(
              ledger,
              {
                type: 'CreateTransfer',
                transferId: randomUUID(),
                debitAccountId: bankAccountId('EUR', 'cash'),
                creditAccountId: opened.account.id,
                amount: options.depositEach,
                currency: 'EUR',
                code: 'deposit',
                mode: 'single-phase',
                now: new Date(),
              },
              meta,
            );
            if (deposit.status !== 'accepted') throw new Error(`deposit: ${deposit.status}`);
          }
        }
        return { id, token: issuer.issue({ id, role: 'customer' }), accounts };
      }),
    );
  } finally {
    await issuer.close();
  }
}

/** Each request's bound, so a hanging API fails the test instead of stalling it. */
const requestTimeoutMs = 30_000;

/**
 * A request to the API as `customer`, to `options.apiUrl` (one of stack.apiUrls; default
 * stack.apiUrl); never throws on an HTTP status (a network error still throws).
 */
export async function apiRequest(
  stack: Stack,
  customer: Customer | undefined,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; apiUrl?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${options.apiUrl ?? stack.apiUrl}${path}`, {
    method,
    headers: {
      ...(customer ? { authorization: `Bearer ${customer.token}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: options.signal ?? AbortSignal.timeout(requestTimeoutMs),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body, headers: response.headers };
}

/**
 * POST /api/transactions as `customer` with an Idempotency-Key (a fresh UUID unless given),
 * to `init.apiUrl` (default stack.apiUrl).
 */
export async function postTransfer(
  stack: Stack,
  customer: Customer,
  body: Record<string, unknown>,
  key: string = randomUUID(),
  init: { signal?: AbortSignal; apiUrl?: string } = {},
): Promise<{ status: number; body: any; headers: Headers; key: string }> {
  const answer = await apiRequest(stack, customer, 'POST', '/api/transactions', {
    body,
    headers: { 'idempotency-key': key },
    ...init,
  });
  return { ...answer, key };
}

// ---- the checks after a fault ---------------------------------------------------------------

/** The position of the last event written (visible to readers or not yet). */
export async function headOf(pool: pg.Pool): Promise<bigint> {
  const { rows } = await pool.query<{ p: string | null }>(
    'SELECT max(global_position)::text AS p FROM es.events',
  );
  return BigInt(rows[0]?.p ?? '0');
}

interface FoldRow {
  stream_id: string;
  v: string;
  type: string;
  data: unknown;
}

/** Every account stream folded with the domain's evolve, by account id. */
async function foldAccounts(pool: pg.Pool): Promise<Map<string, AccountState>> {
  const states = new Map<string, AccountState>();
  let cursor: [string, string] | null = null;
  for (;;) {
    const { rows }: { rows: FoldRow[] } = await pool.query<FoldRow>(
      `SELECT e.stream_id, e.stream_version::text AS v, e.type, e.data FROM es.events e
        WHERE e.stream_id LIKE 'account-%' AND e.stream_id NOT LIKE 'account-number-%'
          ${cursor ? 'AND (e.stream_id, e.stream_version) > ($2, $3::bigint)' : ''}
        ORDER BY e.stream_id, e.stream_version LIMIT $1`,
      cursor ? [scanPageSize, ...cursor] : [scanPageSize],
    );
    for (const row of rows) {
      const id = row.stream_id.slice('account-'.length);
      const event = parseAccountEvent({ type: row.type, data: row.data as never, streamId: row.stream_id });
      states.set(id, evolveAccount(states.get(id) ?? initialAccountState(), event));
    }
    if (rows.length < scanPageSize) return states;
    const last: FoldRow = rows[rows.length - 1]!;
    cursor = [last.stream_id, last.v];
  }
}

export interface LedgerCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

/**
 * What must hold after every fault (issue #14), one entry each:
 * - every acknowledged transfer id is in the log (not lost), and no account holds two legs of
 *   one kind and side for one transfer (nothing applied twice);
 * - per currency, Σ debits = Σ credits (posted, and pending) over the fold of every account
 *   stream;
 * - every hash chain verifies;
 * - once every projection reached the head (bounded wait), the accounts read model equals the
 *   fold, account by account, and its trial balance is balanced.
 * Call it once the load has stopped: the head is taken when it starts.
 */
export async function ledgerChecks(stack: Stack, acknowledged: Iterable<string>): Promise<LedgerCheck[]> {
  const { pool } = stack;
  const checks: LedgerCheck[] = [];
  const ids = [...new Set(acknowledged)];
  const { rows: found } = await pool.query<{ id: string }>(
    `SELECT substr(stream_id, length('transfer-') + 1) AS id FROM es.events
      WHERE stream_id = ANY($1::text[]) AND stream_version = 0`,
    [ids.map((id) => `transfer-${id}`)],
  );
  const present = new Set(found.map((r) => r.id));
  const lost = ids.filter((id) => !present.has(id));
  checks.push({
    name: `every acknowledged transfer is in the log (${ids.length})`,
    ok: lost.length === 0,
    detail: `lost: ${lost.slice(0, 5).join(', ')}`,
  });

  const { rows: doubled } = await pool.query<{ transfer_id: string; stream_id: string; type: string }>(
    `SELECT data->>'transferId' AS transfer_id, stream_id, type FROM es.events
      WHERE type IN ('AccountLegPending', 'AccountLegPosted', 'AccountLegReleased')
      GROUP BY 1, 2, 3, data->>'side' HAVING count(*) > 1 LIMIT 5`,
  );
  checks.push({
    name: 'no transfer applied twice (one leg of each kind and side per account)',
    ok: doubled.length === 0,
    detail: JSON.stringify(doubled),
  });

  const head = await headOf(pool);
  const states = await foldAccounts(pool);
  const sums = new Map<string, { dp: bigint; cp: bigint; dn: bigint; cn: bigint }>();
  for (const a of states.values()) {
    if (a.status === 'none') continue;
    const s = sums.get(a.currency) ?? { dp: 0n, cp: 0n, dn: 0n, cn: 0n };
    s.dp += a.debitsPosted;
    s.cp += a.creditsPosted;
    s.dn += a.debitsPending;
    s.cn += a.creditsPending;
    sums.set(a.currency, s);
  }
  checks.push({ name: 'the fold found accounts', ok: sums.size > 0 });
  for (const [currency, s] of sums) {
    checks.push({
      name: `trial balance ${currency} from the events`,
      ok: s.dp === s.cp && s.dn === s.cn,
      detail: `posted debits ${s.dp}, credits ${s.cp}; pending debits ${s.dn}, credits ${s.cn}`,
    });
  }

  const verified = await stack.store.verify();
  checks.push({
    name: 'every hash chain verifies',
    ok: verified.ok,
    detail: `${verified.checkedEvents} events; first bad: ${JSON.stringify(verified.firstBadEvent, (_, v) =>
      typeof v === 'bigint' ? String(v) : v,
    )}`,
  });

  const db = pgClient(pool).kysely();
  let behind: string[] = [];
  await waitFor(
    'every projection at the head',
    async () => {
      const checkpoints = await readCheckpoints(db);
      behind = checkpoints.filter((c) => c.position < head).map((c) => `${c.name} at ${c.position}`);
      return checkpoints.length > 0 && behind.length === 0;
    },
    catchUpWaitMs,
    100,
  ).catch(() => {});
  checks.push({
    name: `every projection reached the head ${head}`,
    ok: behind.length === 0,
    detail: `behind: ${behind.join(', ')}`,
  });
  if (behind.length > 0) return checks;

  const { rows } = await pool.query<{
    id: string;
    status: string;
    debits_posted: string;
    credits_posted: string;
    debits_pending: string;
    credits_pending: string;
  }>(
    `SELECT id::text AS id, status, debits_posted::text AS debits_posted, credits_posted::text AS credits_posted,
            debits_pending::text AS debits_pending, credits_pending::text AS credits_pending
       FROM ${pg.escapeIdentifier(accountsProjection.schema)}.accounts`,
  );
  const mismatched: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    seen.add(row.id);
    const a = states.get(row.id);
    if (
      a === undefined ||
      a.status === 'none' ||
      a.status !== row.status ||
      String(a.debitsPosted) !== row.debits_posted ||
      String(a.creditsPosted) !== row.credits_posted ||
      String(a.debitsPending) !== row.debits_pending ||
      String(a.creditsPending) !== row.credits_pending
    )
      mismatched.push(row.id);
  }
  const missing = [...states].filter(([id, a]) => a.status !== 'none' && !seen.has(id)).map(([id]) => id);
  checks.push({
    name: 'the accounts read model equals the fold of every account stream',
    ok: rows.length > 0 && mismatched.length === 0 && missing.length === 0,
    detail: `${rows.length} rows; differ: ${mismatched.slice(0, 3).join(', ')}; missing: ${missing.slice(0, 3).join(', ')}`,
  });
  const balance = await trialBalance({ readModel: ledgerTotalsReadModel(db) });
  checks.push({ name: 'the read model trial balance is balanced', ok: balance.balanced });
  return checks;
}

/** ledgerChecks, each asserted with t.ok (its detail shown when it fails). */
export async function checkLedger(t: Test, stack: Stack, acknowledged: Iterable<string>): Promise<void> {
  for (const check of await ledgerChecks(stack, acknowledged)) {
    t.ok(check.ok, check.name, check.ok ? {} : { detail: check.detail });
  }
}
