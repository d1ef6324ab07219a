import { randomUUID } from 'node:crypto';
import { markKycVerified } from '@ledger/application/testing';
import { riskRuleIds } from '@ledger/contracts';
import type { PostgresEventStore } from '@ledger/eventstore';
import { type Projection, type RunningProjection, runProjection } from '@ledger/readmodel';
import { until } from '@ledger/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Test } from 'tap';
import { authFixture, bearer, json, loginRequest, strongPassword } from './auth-fixture.js';

/**
 * Shared set-up of the route test files that work as the bank's people: the app with its
 * first director (BANK_DIRECTOR_*), the read models it needs, and helpers to log in, register
 * customers (KYC verified unless asked otherwise), create staff through /api/admin/users,
 * call the API, open accounts, deposit into them and transfer. Each test file has its own
 * database (ledgerHarness: PostgreSQL; bankClient serves any app, the embedded one too).
 */

export const directorUsername = 'chief';
export const directorPassword = 'director password 2026';
export const generousRateLimits = { login: '1000/minute', register: '10000/hour', default: '100000/minute' };

export function directorEnv(rateLimits: Record<string, string> = generousRateLimits): Record<string, string> {
  return {
    BANK_DIRECTOR_USERNAME: directorUsername,
    BANK_DIRECTOR_EMAIL: 'chief@bank.example',
    BANK_DIRECTOR_PASSWORD: directorPassword,
    RATE_LIMITS: JSON.stringify(rateLimits),
  };
}

export type StaffRole = 'agent' | 'manager' | 'auditor';

export interface User {
  id: string;
  username: string;
  token: string;
}

export interface BankClientOptions {
  /** Prefix of customer usernames (a number and the time follow). */
  customerPrefix?: string;
  /** Staff created at the start, in this order, by the director. */
  roles?: StaffRole[];
  /** assertProblem also checks that the body shows no stack trace. */
  noStackTrace?: boolean;
}

export interface LedgerHarnessOptions extends BankClientOptions {
  /** RATE_LIMITS of the app (default: generous enough never to be hit). */
  rateLimits?: Record<string, string>;
  /** Read models run for the file's lifetime (stopped at its teardown). */
  projections?: Projection[];
  /** Wait until the read models have caught up with the start (their tables exist). */
  waitForProjections?: boolean;
}

export async function ledgerHarness(t: Test, name: string, options: LedgerHarnessOptions = {}) {
  const f = await authFixture(name);
  t.teardown(f.close);
  const env = directorEnv(options.rateLimits);
  const app = await f.newApp({ env });
  const runners: RunningProjection[] = (options.projections ?? []).map((projection) =>
    runProjection({ db: f.database.db, store: f.store, projection, logger: f.logger }),
  );
  if (runners.length > 0) t.teardown(() => Promise.all(runners.map((r) => r.stop())));
  if (options.waitForProjections) {
    for (const r of runners) await r.waitFor(await f.store.lastWrittenPosition(), 10_000);
  }
  return { f, app, env, runners, ...(await bankClient(app, f.store, options)) };
}

/**
 * The bank's people working through `app` (started with directorEnv(): its first director
 * logs in here) on `store`: the staff of `options.roles` are created at once.
 */
export async function bankClient(
  app: FastifyInstance,
  store: PostgresEventStore,
  options: BankClientOptions = {},
) {
  function assertProblem(t: Test, response: LightMyRequestResponse, status: number, code: string) {
    t.equal(response.statusCode, status, `status ${status} (${response.body.slice(0, 300)})`);
    t.match(response.headers['content-type'], /^application\/problem\+json/);
    t.match(json(response), { status, code });
    if (options.noStackTrace) t.notMatch(response.body, /\bat .*\.(ts|js):\d+/, 'no stack trace');
  }

  async function login(username: string, password = strongPassword): Promise<string> {
    const response = await loginRequest(app, username, password);
    if (response.statusCode !== 200) throw new Error(`login ${username}: ${response.body}`);
    return json(response).accessToken;
  }

  let n = 0;
  const customerPrefix = options.customerPrefix ?? 'cust';

  /** A self-registered customer, KYC verified (what the KYC flow records) unless `kyc` is false. */
  async function customer(kyc = true): Promise<User> {
    n++;
    const username = `${customerPrefix}${n}_${Date.now().toString(36)}`;
    const response = await app.inject({
      method: 'POST',
      url: '/api/auth/register',
      payload: { username, email: `${username}@example.com`, password: strongPassword },
    });
    if (response.statusCode !== 201) throw new Error(`register: ${response.body}`);
    const id = json(response).user.id as string;
    if (kyc) await markKycVerified(store, id);
    return { id, username, token: await login(username) };
  }

  const director = await login(directorUsername, directorPassword);

  /** POST /api/admin/users as `token` (the director's by default); the answer unchecked. */
  async function createStaff(role: string, token = director) {
    n++;
    const username = `${role}${n}_${Date.now().toString(36)}`;
    const response = await app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(token),
      payload: { username, email: `${username}@bank.example`, password: strongPassword, role },
    });
    return { response, username };
  }

  /** A member of staff created by the director, logged in. */
  async function staff(role: StaffRole): Promise<User> {
    const { response, username } = await createStaff(role);
    if (response.statusCode !== 201) throw new Error(`staff: ${response.body}`);
    return { id: json(response).user.id, username, token: await login(username) };
  }

  const roles: Partial<Record<StaffRole, User>> = {};
  for (const role of options.roles ?? []) roles[role] = await staff(role);

  /** POST with a fresh idempotency key (`key: null` sends none), and a payload if given. */
  const post = (url: string, token: string, payload?: unknown, key: string | null = randomUUID()) =>
    app.inject({
      method: 'POST',
      url,
      headers: { ...bearer(token), ...(key === null ? {} : { 'idempotency-key': key }) },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  /** GET, as `token` if given. */
  const get = (url: string, token?: string) =>
    app.inject({ method: 'GET', url, ...(token === undefined ? {} : { headers: bearer(token) }) });

  async function openAccount(user: User, currency = 'EUR', type = 'checking') {
    const response = await post('/api/accounts', user.token, { type, currency }, null);
    if (response.statusCode !== 201) throw new Error(`open: ${response.body}`);
    return json(response).account as { id: string; accountNumber: string; currency: string };
  }

  /** A deposit by the agent created at the start (`roles` must include 'agent'). */
  async function deposit(accountId: string, amount: string, currency = 'EUR') {
    const agent = roles.agent;
    if (agent === undefined) throw new Error('deposit: the harness has no agent (options.roles)');
    const response = await post('/api/transactions', agent.token, {
      type: 'deposit',
      accountId,
      amount,
      currency,
    });
    if (response.statusCode !== 201) throw new Error(`deposit: ${response.body}`);
    const { transaction } = json(response);
    if (transaction.status !== 'held_for_review') return json(response);
    // Above cashApprovalMin the desk's cash waits for a manager: the director approves it,
    // so a test's funding is in the account when this resolves.
    const approved = await post(
      `/api/admin/transactions/${transaction.id}/approve`,
      director,
      { reason: 'test funding' },
      null,
    );
    if (approved.statusCode !== 200) throw new Error(`deposit approval: ${approved.body}`);
    return json(approved);
  }

  /** A transfer between two accounts in EUR, as `user`, with a fresh idempotency key by default. */
  const transfer = (user: User, body: Record<string, unknown>, key: string | null = randomUUID()) =>
    post('/api/transactions', user.token, { type: 'transfer', currency: 'EUR', ...body }, key);

  /** An account's balance, as `user` sees it. */
  const balanceOf = async (user: User, accountId: string) =>
    json(await get(`/api/accounts/${accountId}/balance`, user.token)).balance as string;

  /**
   * What was written since `head` (at most `limit` events), once $all is readable up to the
   * last write: it is read below the oldest transaction open on the server (other test files' too).
   */
  async function writtenSince(head: bigint, limit = 1000) {
    const last = await store.lastWrittenPosition();
    await until(
      'the log is readable up to what was written',
      async () => (await store.headPosition()) >= last,
      10_000,
    );
    return store.readAll({ after: head, limit });
  }

  /**
   * What a refused request may write since `head`: the record of its refusal (TransferRefused,
   * on its own transfer stream, so its key answers the same 422 again) and nothing else: no
   * leg, no account event. `refusals`: how many 422s were answered.
   */
  async function onlyRefusalsSince(t: Test, head: bigint, refusals: number) {
    const written = await writtenSince(head);
    t.same(
      written.map((e) => [e.type, e.streamId.startsWith('transfer-')]),
      Array.from({ length: refusals }, () => ['TransferRefused', true]),
      `nothing written but the ${refusals} refusal record(s)`,
    );
  }

  /**
   * PUT /api/admin/settings as the director: the whole new settings (what `settings` leaves
   * out gets the bank's defaults), answered 200 or thrown.
   */
  async function putSettings(settings: Record<string, unknown>) {
    const response = await app.inject({
      method: 'PUT',
      url: '/api/admin/settings',
      headers: { authorization: `Bearer ${director}` },
      payload: { limits: {}, ...settings },
    });
    if (response.statusCode !== 200) throw new Error(`settings: ${response.body}`);
    return json(response);
  }

  /**
   * Every fraud and AML rule off (the other settings their defaults): for tests of volume and
   * concurrency, which are not about the rules (those have their own, with the rules on).
   */
  const rulesOff = () => putSettings({ rules: Object.fromEntries(riskRuleIds.map((id) => [id, 'off'])) });

  return {
    director,
    roles: roles as Record<StaffRole, User>,
    putSettings,
    rulesOff,
    assertProblem,
    login,
    customer,
    createStaff,
    staff,
    post,
    get,
    openAccount,
    deposit,
    transfer,
    balanceOf,
    writtenSince,
    onlyRefusalsSince,
  };
}
