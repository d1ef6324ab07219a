import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { normalizeIP } from '@fastify/rate-limit';
import { HttpProblem } from '../problem.js';

/**
 * Password hashing: bcrypt (bcryptjs) on a small pool of worker threads (PasswordWorkers),
 * so the API's event loop never runs a hash. Checks wait in one lane per client address,
 * the lanes take turns, and one lane never holds every thread: a flood of wrong logins
 * from one address leaves a thread free for another address's login, which one shared
 * first-come queue made wait for the whole flood (issue #12: 40 parallel wrong logins took
 * a real login from 0.35 s to 10.8 s). Each lane and the whole queue are bounded.
 */

/** API.md: bcrypt, cost ≥ 12. The production cost; only tests that do not test hashing lower it. */
export const passwordCostProduction = 12;
/** bcrypt's own floor; tests may go down to it for speed. */
export const passwordCostMin = 4;

export interface PasswordCheckOptions {
  /**
   * The client's address (`request.ip`; IPv6 counts per /64). Checks without one share a
   * lane of their own, which takes its turn like an address's but has no per-address bound.
   */
  client?: string | undefined;
}

export interface PasswordHasher {
  readonly cost: number;
  hash(password: string, options?: PasswordCheckOptions): Promise<string>;
  verify(password: string, hash: string, options?: PasswordCheckOptions): Promise<boolean>;
  /**
   * Spends one verification's time for a login of an unknown user, so the response time
   * does not tell which usernames exist.
   */
  burn(password: string, options?: PasswordCheckOptions): Promise<void>;
}

/**
 * Threads of the shared pool (at most the cores): one hash each at a time. With two, one
 * address uses one of them at most. More would only share the same cores with the event
 * loop, PostgreSQL and Redis.
 */
export const passwordThreadsMax = 2;
/**
 * Checks queued or running, all addresses together; beyond it 503 overloaded. 128 checks
 * are 128 × ~0.3 s / 2 threads ≈ 20 s of work at cost 12: within the 30 s handler timeout.
 */
export const passwordQueueLengthMax = 128;
/**
 * Checks of one address queued or running; beyond it 429 rate_limited. The address's own
 * excess, refused at once: its lane never holds more than this, so it takes at most
 * 1/16 of the queue, and a few addresses cannot fill it for everyone else.
 */
export const passwordChecksPerAddressMax = 8;
/** Retry-After of both refusals: a turn of the queue is about a hash, well under a second. */
export const passwordRetryAfterSeconds = 1;

/** A refusal to queue a check; plugins/password-workers.ts gives it a Retry-After header. */
export class PasswordCheckRefused extends HttpProblem {
  override readonly retryAfterSeconds = passwordRetryAfterSeconds;
}

type Job = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };
type Outcome = { ok: true; value: unknown } | { ok: false; message: string };

interface Task {
  lane: Lane;
  job: Job;
  /** Order of arrival, among all checks. */
  seq: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** One client address's checks (or those without an address), while it has some. */
interface Lane {
  key: string;
  queue: Task[];
  running: number;
  /** The round its last check started in. */
  round: number | undefined;
}

interface Thread {
  worker: Worker;
  task: Task | undefined;
  /** The error it died of, reported with its exit. */
  failure: unknown;
}

export interface PasswordWorkersOptions {
  /** Default: min(passwordThreadsMax, available cores). */
  threads?: number;
  queueLengthMax?: number;
  perAddressMax?: number;
  /** Called as each check starts on a thread, with its lane ('' for checks without a client). */
  onStart?: (lane: string) => void;
}

const workerUrl = new URL('./password-worker.mjs', import.meta.url);
/** The lane of checks made without a client address. */
const unattributed = '';

/**
 * bcrypt on worker threads, shared fairly between client addresses.
 *
 * Turns: the lanes take turns in rounds (start-time fair queuing with checks of equal
 * cost). A lane's next check belongs to the round after the one its previous check started
 * in, a lane just arrived to the current round; the next free thread takes the check of
 * the earliest round, the earliest arrived first among equals. So a check from a new
 * address goes before the next check of an address already served, whatever that one has
 * queued. Share: one lane runs on at most all threads but one, so while a single address
 * keeps the pool busy a thread is free for anyone else's check at once (and that address's
 * own throughput is one thread less, when nobody else hashes).
 *
 * Threads start on demand and do not keep the process alive while idle. Apps retain() the
 * pool; once the last has released it (on close), the threads exit as soon as nothing is
 * queued. A later check starts them again.
 */
export class PasswordWorkers {
  readonly threadsMax: number;
  readonly queueLengthMax: number;
  readonly perAddressMax: number;
  /** Checks of one lane running at once. */
  readonly runningPerLaneMax: number;
  readonly #onStart: ((lane: string) => void) | undefined;
  /** The lanes with checks queued or running. */
  readonly #lanes = new Map<string, Lane>();
  /** The round of the check started last. */
  #round = 0;
  #arrivals = 0;
  #total = 0;
  /** Live threads (not asked to stop), and those of them waiting for work. */
  readonly #threads = new Set<Thread>();
  readonly #idle: Thread[] = [];
  /** One promise per thread not yet exited. */
  readonly #exits = new Set<Promise<void>>();
  #users = 0;
  /** No user left: threads exit once idle. */
  #draining = false;

  constructor(options: PasswordWorkersOptions = {}) {
    this.threadsMax = options.threads ?? Math.max(1, Math.min(passwordThreadsMax, availableParallelism()));
    this.queueLengthMax = options.queueLengthMax ?? passwordQueueLengthMax;
    this.perAddressMax = options.perAddressMax ?? passwordChecksPerAddressMax;
    this.runningPerLaneMax = Math.max(1, this.threadsMax - 1);
    this.#onStart = options.onStart;
    for (const [name, value] of Object.entries({
      threads: this.threadsMax,
      queueLengthMax: this.queueLengthMax,
      perAddressMax: this.perAddressMax,
    })) {
      if (!Number.isInteger(value) || value < 1 || value > 1024) {
        throw new RangeError(`${name} must be an integer from 1 to 1024`);
      }
    }
  }

  /** Runs a bcrypt job on a thread, in the client's turn. */
  run(job: Job, client?: string): Promise<unknown> {
    const key = laneOf(client);
    const lane = this.#lanes.get(key);
    if (key !== unattributed && lane && lane.queue.length + lane.running >= this.perAddressMax) {
      return Promise.reject(
        new PasswordCheckRefused(
          429,
          'rate_limited',
          `Too many password checks from this address in progress: retry in ${passwordRetryAfterSeconds} s`,
        ),
      );
    }
    if (this.#total >= this.queueLengthMax) {
      // A 503 rather than a wait of minutes; the client retries later.
      return Promise.reject(
        new PasswordCheckRefused(503, 'overloaded', 'Too many password checks in progress: retry shortly'),
      );
    }
    return new Promise((resolve, reject) => {
      const joined = lane ?? { key, queue: [], running: 0, round: undefined };
      if (!lane) this.#lanes.set(key, joined);
      joined.queue.push({ lane: joined, job, seq: this.#arrivals++, resolve, reject });
      this.#total++;
      this.#pump();
    });
  }

  /** Counts, for tests and metrics; `ofClient`: the client's checks queued or running. */
  stats(client?: string): { threads: number; running: number; queued: number; ofClient: number } {
    let running = 0;
    for (const thread of this.#threads) if (thread.task) running++;
    const lane = client === undefined ? undefined : this.#lanes.get(laneOf(client));
    return {
      threads: this.#threads.size,
      running,
      queued: this.#total - running,
      ofClient: lane ? lane.queue.length + lane.running : 0,
    };
  }

  /**
   * One more user of the pool (an app). The returned release, once called by every user,
   * makes the threads exit as soon as nothing is queued; it resolves when they have.
   */
  retain(): () => Promise<void> {
    this.#users++;
    this.#draining = false;
    let released = false;
    return async () => {
      if (!released) {
        released = true;
        this.#users--;
      }
      if (this.#users > 0) return;
      this.#draining = true;
      for (const thread of [...this.#idle]) this.#stop(thread);
      await Promise.all(this.#exits);
    };
  }

  /** Stops every thread now; queued and running checks fail with 503. The pool can be used again. */
  async close(): Promise<void> {
    const refused = () =>
      new PasswordCheckRefused(503, 'overloaded', 'The password checker is shutting down: retry shortly');
    for (const thread of [...this.#threads]) {
      const task = thread.task;
      thread.task = undefined;
      if (task) this.#finish(task, true, { error: refused() });
      this.#stop(thread);
    }
    for (const lane of [...this.#lanes.values()]) {
      for (const task of lane.queue.splice(0)) this.#finish(task, false, { error: refused() });
    }
    await Promise.all(this.#exits);
  }

  /** The lane whose turn it is, and the round of its check; none when no check may start. */
  #next(): { lane: Lane; round: number } | undefined {
    let best: { lane: Lane; round: number } | undefined;
    for (const lane of this.#lanes.values()) {
      const head = lane.queue[0];
      if (!head || lane.running >= this.runningPerLaneMax) continue;
      const round = lane.round === undefined ? this.#round : Math.max(this.#round, lane.round + 1);
      if (!best || round < best.round || (round === best.round && head.seq < best.lane.queue[0]!.seq)) {
        best = { lane, round };
      }
    }
    return best;
  }

  #pump(): void {
    for (;;) {
      const next = this.#next();
      if (!next) return;
      const thread = this.#idle.pop() ?? this.#spawn();
      if (!thread) return;
      const { lane, round } = next;
      const task = lane.queue.shift()!;
      lane.running++;
      lane.round = round;
      this.#round = round;
      thread.task = task;
      thread.worker.ref();
      this.#onStart?.(lane.key);
      thread.worker.postMessage(task.job);
    }
  }

  #spawn(): Thread | undefined {
    if (this.#threads.size >= this.threadsMax) return undefined;
    // No loader (tsx, tap's) in the threads: the worker is plain JavaScript.
    const worker = new Worker(workerUrl, { execArgv: [], name: 'bcrypt' });
    const thread: Thread = { worker, task: undefined, failure: undefined };
    this.#threads.add(thread);
    const exit = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        this.#exits.delete(exit);
        this.#lost(thread, thread.failure ?? new Error(`a password thread exited with code ${code}`));
        resolve();
      });
    });
    this.#exits.add(exit);
    worker.on('error', (error) => {
      thread.failure = error;
    });
    worker.on('message', (outcome: Outcome) => this.#done(thread, outcome));
    return thread;
  }

  #done(thread: Thread, outcome: Outcome): void {
    const task = thread.task;
    thread.task = undefined;
    if (task) this.#finish(task, true, outcome.ok ? outcome : { error: new Error(outcome.message) });
    if (!this.#threads.has(thread)) return;
    thread.worker.unref();
    this.#idle.push(thread);
    this.#pump();
    // No app uses the pool any more: a thread without work exits.
    if (this.#draining) for (const idle of [...this.#idle]) this.#stop(idle);
  }

  /** A thread that died (not one stopped here): its check fails (a 500), another thread takes over. */
  #lost(thread: Thread, error: unknown): void {
    if (!this.#threads.delete(thread)) return;
    this.#dropIdle(thread);
    const task = thread.task;
    thread.task = undefined;
    if (task) this.#finish(task, true, { error });
    this.#pump();
  }

  #stop(thread: Thread): void {
    this.#threads.delete(thread);
    this.#dropIdle(thread);
    void thread.worker.terminate();
  }

  #dropIdle(thread: Thread): void {
    const at = this.#idle.indexOf(thread);
    if (at >= 0) this.#idle.splice(at, 1);
  }

  #finish(task: Task, wasRunning: boolean, outcome: { value: unknown } | { error: unknown }): void {
    this.#total--;
    const lane = task.lane;
    if (wasRunning) lane.running--;
    if (lane.running === 0 && lane.queue.length === 0) this.#lanes.delete(lane.key);
    if ('error' in outcome) task.reject(outcome.error);
    else task.resolve(outcome.value);
  }
}

/** IPv6 addresses count per /64 (as the rate limits do): one host has millions of addresses. */
function laneOf(client: string | undefined): string {
  return client === undefined || client === '' ? unattributed : normalizeIP(client);
}

let shared: PasswordWorkers | undefined;

/** The process's pool: hashing capacity is the machine's cores, whichever app asks. */
export function sharedPasswordWorkers(): PasswordWorkers {
  shared ??= new PasswordWorkers();
  return shared;
}

/**
 * A bcrypt hash of the given cost that no password matches, for burn(): comparing with it
 * costs what comparing with a real hash of that cost does (salt and digest are arbitrary).
 */
function unmatchableHash(cost: number): string {
  return `$2b$${String(cost).padStart(2, '0')}$${'burnburnburnburnburnbu'}${'.'.repeat(31)}`;
}

export function bcryptHasher(
  cost: number = passwordCostProduction,
  options: { workers?: PasswordWorkers } = {},
): PasswordHasher {
  if (!Number.isInteger(cost) || cost < passwordCostMin || cost > 31) {
    throw new RangeError(`bcrypt cost must be an integer from ${passwordCostMin} to 31`);
  }
  const workers = () => options.workers ?? sharedPasswordWorkers();
  const burnHash = unmatchableHash(cost);
  const compare = (password: string, hash: string, client: string | undefined) =>
    workers().run({ op: 'compare', password, hash }, client) as Promise<boolean>;
  return {
    cost,
    hash: (password, o) => workers().run({ op: 'hash', password, cost }, o?.client) as Promise<string>,
    verify: (password, hash, o) => compare(password, hash, o?.client),
    async burn(password, o) {
      await compare(password, burnHash, o?.client);
    },
  };
}

/** The cost a bcrypt hash was made with ($2b$12$... → 12). */
export function bcryptCostOf(hash: string): number {
  const match = /^\$2[aby]\$(\d\d)\$/.exec(hash);
  if (!match) throw new RangeError('not a bcrypt hash');
  return Number(match[1]);
}
