import { bankClient, bearer, directorEnv, embeddedApp, json, type User } from '@ledger/api/testing';
import { accountStreamId } from '@ledger/application';
import { userStreamId } from '@ledger/contracts';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { auditProjection, listAuditEvents } from '@ledger/projection-audit';
import { usersProjection } from '@ledger/projection-users';
import { runProjection } from '@ledger/readmodel';
import t, { type Test } from 'tap';
import { bcryptHasher } from '../auth/passwords.js';

// Issue #12, defect 1: lists sorted positions as text. Every list pages by a keyset on a
// global position (xid << 16 | n); when the positions of its rows have different numbers of
// digits, ORDER BY on the text alias puts "100…" before "99…" and the numeric keyset then
// drops rows. On the embedded database (PGlite: a fresh cluster starts near xid 750) the
// test writes half its data, burns transaction ids past the next power of ten of the
// positions, writes the other half, and pages every list with a small limit: each row
// exactly once, in the list's order, with positions on both sides of the boundary.

const xidShift = 16n;
/** At most this many transaction ids are burnt to reach the boundary. */
const burnMax = 20_000;
/** Transaction ids the first half of the data may use, at most, before the boundary. */
const firstHalfXids = 600n;
const pagesMax = 500;
const waitMs = 20_000;

const { database, store, logger, app, close } = await embeddedApp('api-paging', {
  env: directorEnv(),
  level: 'warn',
  hasher: bcryptHasher(4),
});
const runners = [auditProjection, usersProjection, accountsProjection, transactionsProjection].map(
  (projection) => runProjection({ db: database.db, store, projection, logger }),
);
t.teardown(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  await close();
});
const bank = await bankClient(app, store, { customerPrefix: 'pager', roles: ['agent'] });

async function currentXid(): Promise<bigint> {
  const [row] = await database.sql.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x');
  return BigInt(row!.x);
}

/** The smallest power of ten above `position`. */
function powerOfTenAbove(position: bigint): bigint {
  let p = 1n;
  while (p <= position) p *= 10n;
  return p;
}

/** Burns transaction ids (one autocommit statement each) until the next one is ≥ `xid`. */
async function burnUntil(xid: bigint): Promise<number> {
  for (let burnt = 0; burnt <= burnMax; burnt++) {
    if ((await currentXid()) >= xid - 1n) return burnt;
  }
  throw new Error(`more than ${burnMax} transaction ids to burn`);
}

/** A self-registered customer, KYC verified (what the KYC flow records), logged in. */
const { customer, director } = bank;
const { agent } = bank.roles;

interface Account {
  id: string;
  owner: User;
}
interface Transaction {
  id: string;
  from: string;
  to: string;
  /** What the command answered: the global position of its append. */
  position: bigint;
}
const users: User[] = [agent];
const accounts: Account[] = [];
const transactions: Transaction[] = [];

async function open(owner: User, type = 'checking'): Promise<Account> {
  const account = { id: (await bank.openAccount(owner, 'EUR', type)).id, owner };
  accounts.push(account);
  return account;
}

function recordTransaction(body: Record<string, any>): void {
  const tx = body.transaction;
  transactions.push({
    id: tx.id,
    from: tx.fromAccountId,
    to: tx.toAccountId,
    position: BigInt(body.position),
  });
}

async function deposit(account: Account, amount: string): Promise<void> {
  recordTransaction(await bank.deposit(account.id, amount));
}

async function transfer(from: Account, to: Account, amount: string): Promise<void> {
  const response = await bank.transfer(from.owner, { fromAccountId: from.id, toAccountId: to.id, amount });
  if (response.statusCode !== 201) throw new Error(`transfer: ${response.statusCode} ${response.body}`);
  recordTransaction(json(response));
}

// The boundary: the next power of ten of the positions, far enough ahead for the first half.
const start = await currentXid();
const boundary = powerOfTenAbove((start + firstHalfXids) << xidShift);
const boundaryXid = (boundary + (1n << xidShift) - 1n) >> xidShift;
if (boundaryXid - start > BigInt(burnMax)) throw new Error(`boundary ${boundary} too far from xid ${start}`);

// The first half, below the boundary.
const alice = await customer();
const bob = await customer();
users.push(alice, bob);
const a1 = await open(alice);
const a2 = await open(alice, 'savings');
const b1 = await open(bob);
await deposit(a1, '100.00');
await deposit(b1, '50.00');
await transfer(a1, b1, '10.00');
await transfer(b1, a1, '5.00');
await transfer(a1, a2, '7.00');
await deposit(a1, '1.00');
const xidAfterFirstHalf = await currentXid();
if (xidAfterFirstHalf >= boundaryXid) throw new Error('the first half went past the boundary');

const burnt = await burnUntil(boundaryXid);

// The second half, at or above the boundary.
const carol = await customer();
users.push(carol);
const a3 = await open(alice);
const b2 = await open(bob, 'savings');
const c1 = await open(carol);
await deposit(a1, '20.00');
await deposit(c1, '30.00');
await deposit(b2, '3.00');
await transfer(a1, b1, '2.00');
await transfer(c1, a1, '4.00');
await transfer(a1, a3, '1.50');
await transfer(b2, a2, '0.50');
await transfer(a3, a2, '0.25');
await deposit(a1, '0.01');

const head = await store.lastWrittenPosition();
for (const r of runners) {
  if (!(await r.waitFor(head, waitMs))) throw new Error('a read model did not catch up');
}

type RecordedEvent = Awaited<ReturnType<typeof store.readAll>>[number];

async function allStoreEvents(): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  let after = 0n;
  for (let page = 0; page < pagesMax; page++) {
    const events = await store.readAll({ after, limit: 1000 });
    if (events.length === 0) return all;
    all.push(...events);
    after = events[events.length - 1]!.globalPosition;
  }
  throw new Error('readAll did not end');
}
const storeEvents = await allStoreEvents();

/** Where a stream began (an account's opening, a user's registration), from the store. */
async function firstPosition(streamId: string): Promise<bigint> {
  const [first] = await store.readStream(streamId, { limit: 1 });
  if (first === undefined) throw new Error(`no stream ${streamId}`);
  return first.globalPosition;
}

/** Every page of a list over HTTP, following nextCursor (with ?minPosition=). */
async function pages(t: Test, url: string, token: string): Promise<Record<string, any>[]> {
  const items: Record<string, any>[] = [];
  const sep = url.includes('?') ? '&' : '?';
  let cursor: string | null = null;
  for (let page = 0; page < pagesMax; page++) {
    const response = await app.inject({
      method: 'GET',
      url: `${url}${sep}minPosition=${head}${cursor === null ? '' : `&cursor=${cursor}`}`,
      headers: bearer(token),
    });
    if (response.statusCode !== 200) throw new Error(`GET ${url}: ${response.statusCode} ${response.body}`);
    const body = json(response);
    items.push(...body.items);
    cursor = body.nextCursor;
    if (cursor === null) {
      t.comment(`${url}: ${page + 1} pages`);
      return items;
    }
  }
  throw new Error(`${url}: paging did not end`);
}

/** Some positions below the boundary, some at or above it: the test is not vacuous. */
function straddles(t: Test, positions: readonly bigint[], what: string): void {
  t.ok(
    positions.some((p) => p < boundary) && positions.some((p) => p >= boundary),
    `${what}: positions on both sides of ${boundary}`,
  );
}

/** `positions` strictly increase ('asc') or decrease ('desc'), compared as numbers. */
function ordered(t: Test, positions: readonly bigint[], order: 'asc' | 'desc', what: string): void {
  const bad = positions.findIndex(
    (p, i) => i > 0 && (order === 'asc' ? p <= positions[i - 1]! : p >= positions[i - 1]!),
  );
  t.equal(bad, -1, `${what}: positions ${order === 'asc' ? 'increase' : 'decrease'}`);
}

/** The ids of these transactions, newest first (by the positions their commands answered). */
const newestFirst = (list: readonly Transaction[]) =>
  [...list].sort((x, y) => (x.position < y.position ? 1 : -1)).map((x) => x.id);

/** Each id once, and the same set as expected. */
function exactlyOnce(t: Test, got: readonly string[], expected: readonly string[], what: string): void {
  t.equal(new Set(got).size, got.length, `${what}: no row twice`);
  t.same([...got].sort(), [...expected].sort(), `${what}: every row`);
}

t.test('the data straddles a power of ten of the positions', async (t) => {
  t.comment(`xid ${start} → ${xidAfterFirstHalf}, burnt ${burnt}, boundary ${boundary} (xid ${boundaryXid})`);
  straddles(
    t,
    storeEvents.map((e) => e.globalPosition),
    'the store',
  );
});

t.test('statement lines of each account, newest first', async (t) => {
  let straddling = 0;
  for (const account of accounts) {
    const touching = transactions.filter((x) => x.from === account.id || x.to === account.id);
    const expected = newestFirst(touching);
    const positions = touching.map((x) => x.position);
    if (positions.some((p) => p < boundary) && positions.some((p) => p >= boundary)) straddling++;
    for (const [token, limit] of [
      [account.owner.token, 2],
      [agent.token, 3],
    ] as const) {
      const what = `account ${account.id}, limit ${limit}`;
      const items = await pages(t, `/api/accounts/${account.id}/transactions?limit=${limit}`, token);
      const ids = items.map((i) => i.transactionId as string);
      exactlyOnce(t, ids, expected, what);
      t.same(ids, expected, `${what}: newest first`);
      ordered(
        t,
        items.map((i) => BigInt(i.position)),
        'desc',
        what,
      );
    }
  }
  t.ok(straddling >= 3, `${straddling} statements straddle the boundary`);
  straddles(
    t,
    transactions.filter((x) => x.from === a1.id || x.to === a1.id).map((x) => x.position),
    'statement of a1',
  );
});

t.test('transactions, newest first: all (staff) and a customer’s own', async (t) => {
  straddles(
    t,
    transactions.map((x) => x.position),
    'all transactions',
  );
  for (const limit of [2, 3]) {
    const what = `all, limit ${limit}`;
    const items = await pages(t, `/api/transactions?limit=${limit}`, agent.token);
    const ids = items.map((i) => i.id as string);
    exactlyOnce(t, ids, newestFirst(transactions), what);
    t.same(ids, newestFirst(transactions), `${what}: newest first`);
    ordered(
      t,
      items.map((i) => BigInt(i.position)),
      'desc',
      what,
    );
  }
  for (const who of [alice, bob, carol]) {
    const what = `own of ${who.id}`;
    const own = new Set(accounts.filter((a) => a.owner === who).map((a) => a.id));
    const mine = transactions.filter((x) => own.has(x.from) || own.has(x.to));
    const items = await pages(t, '/api/transactions?limit=2', who.token);
    const ids = items.map((i) => i.id as string);
    exactlyOnce(t, ids, newestFirst(mine), what);
    t.same(ids, newestFirst(mine), `${what}: newest first`);
    ordered(
      t,
      items.map((i) => BigInt(i.position)),
      'desc',
      what,
    );
    if (who === alice)
      straddles(
        t,
        mine.map((x) => x.position),
        'alice’s transactions',
      );
  }
});

t.test('accounts in opening order: all and by user (staff), own (customer)', async (t) => {
  const opened = new Map<string, bigint>();
  for (const e of storeEvents)
    if (e.type === 'AccountOpened') opened.set((e.data as { accountId: string }).accountId, e.globalPosition);
  for (const account of accounts)
    t.equal(opened.get(account.id), await firstPosition(accountStreamId(account.id)));
  const inOrder = (ids: readonly string[]) =>
    [...ids].sort((x, y) => (opened.get(x)! < opened.get(y)! ? -1 : 1));
  const check = (items: Record<string, any>[], expected: readonly string[], what: string) => {
    const ids = items.map((i) => i.id as string);
    exactlyOnce(t, ids, expected, what);
    t.same(ids, inOrder(expected), `${what}: in opening order`);
  };

  const all = await pages(t, '/api/accounts?limit=2', agent.token);
  check(all, [...opened.keys()], 'all accounts');
  straddles(t, [...opened.values()], 'all accounts');
  for (const who of [alice, bob, carol]) {
    const expected = accounts.filter((a) => a.owner === who).map((a) => a.id);
    check(
      await pages(t, `/api/accounts?limit=2&userId=${who.id}`, agent.token),
      expected,
      `by user ${who.id}`,
    );
    check(await pages(t, '/api/accounts?limit=1', who.token), expected, `own of ${who.id}`);
  }
  straddles(
    t,
    [a1.id, a3.id].map((id) => opened.get(id)!),
    'alice’s accounts',
  );
});

t.test('users in registration order (staff)', async (t) => {
  const registered = new Map<string, bigint>();
  for (const e of storeEvents) {
    if (e.type === 'UserRegistered') registered.set((e.data as { userId: string }).userId, e.globalPosition);
  }
  for (const user of users) t.equal(registered.get(user.id), await firstPosition(userStreamId(user.id)));
  const expected = [...registered.keys()].sort((x, y) => (registered.get(x)! < registered.get(y)! ? -1 : 1));
  for (const limit of [1, 2, 3]) {
    const items = await pages(t, `/api/admin/users?limit=${limit}`, director);
    const ids = items.map((i) => i.id as string);
    exactlyOnce(t, ids, expected, `users, limit ${limit}`);
    t.same(ids, expected, `users, limit ${limit}: in registration order`);
    for (const user of users) t.ok(ids.includes(user.id), `user ${user.id} listed`);
  }
  straddles(t, [...registered.values()], 'users');
});

t.test('audit events: GET /api/audit/events (cursor and fromPosition), in position order', async (t) => {
  const expected = storeEvents.map((e) => e.eventId);
  const items = await pages(t, '/api/audit/events?limit=3', director);
  t.same(
    items.map((i) => i.eventId),
    expected,
    'every event once, in order (cursor)',
  );
  ordered(
    t,
    items.map((i) => BigInt(i.position)),
    'asc',
    'audit events',
  );
  const byPosition: string[] = [];
  let from = '0';
  for (let page = 0; page < pagesMax; page++) {
    const response = await app.inject({
      url: `/api/audit/events?limit=2&fromPosition=${from}`,
      headers: bearer(director),
    });
    t.equal(response.statusCode, 200);
    const body = json(response);
    byPosition.push(...body.items.map((i: { eventId: string }) => i.eventId));
    if (body.items.length === 0) break;
    from = body.nextPosition;
  }
  t.same(byPosition, expected, 'every event once, in order (fromPosition)');
});

t.test('audit read model: listAuditEvents asc and desc', async (t) => {
  const expected = storeEvents.map((e) => ({ position: e.globalPosition, eventId: e.eventId }));
  straddles(
    t,
    expected.map((e) => e.position),
    'audit read model',
  );
  for (const order of ['asc', 'desc'] as const) {
    for (const limit of [2, 3]) {
      const got: { position: bigint; eventId: string }[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < pagesMax; page++) {
        const result = await listAuditEvents(database.db, {
          limit,
          order,
          ...(cursor === undefined ? {} : { cursor }),
        });
        got.push(...result.items.map((i) => ({ position: i.position, eventId: i.eventId })));
        if (result.nextCursor === null) break;
        cursor = result.nextCursor;
      }
      t.same(
        got,
        order === 'asc' ? expected : [...expected].reverse(),
        `${order}, limit ${limit}: every event once, in order`,
      );
    }
  }
});
