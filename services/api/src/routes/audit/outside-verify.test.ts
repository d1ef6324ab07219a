import { createHash } from 'node:crypto';
import { bearer, json, ledgerHarness, loginRequest, strongPassword, totpAt } from '@ledger/api/testing';
import { markKycVerified } from '@ledger/application/testing';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { usersProjection } from '@ledger/projection-users';
import canonicalize from 'canonicalize';
import t from 'tap';

// Issue #15's done-when: anyone handed the log can check every hash chain in it, with
// nothing but the pages of GET /api/audit/events and an RFC 8785 implementation of their
// own. A realistic day of the bank is made through the API (registrations with names and
// phones, logins, a failed one, 2FA set up and turned on, a password change, a profile
// update, accounts, deposits, transfers), then the whole log is fetched as an auditor and
// every stream's chain is recomputed here: the `canonicalize` package from npm (not the
// event store's canonical-json.ts) and node:crypto's sha256, from the HTTP bodies alone.
//
// The chain (packages/eventstore/src/hash.ts, DESIGN "The event store"): for each stream,
// in version order from 0, hash = sha256(previous hash as its 32 raw bytes ‖ UTF-8 of the
// RFC 8785 JSON of {data, eventId, metadata, recordedAt, schemaVersion, streamId,
// streamVersion (a JSON number), type}); the first event of a stream has an empty previous
// hash. `hash` is shown as lower-case hex.

const h = await ledgerHarness(t, 'api_outside_verify', {
  projections: [usersProjection, accountsProjection, transactionsProjection],
  waitForProjections: true,
  roles: ['agent', 'auditor'],
  noStackTrace: true,
});
const { app, f, director, post, get, openAccount, deposit } = h;
const { auditor } = h.roles;

/** An event as GET /api/audit/events shows it (JSON.parse of the body, nothing else). */
interface ShownEvent {
  position: string;
  eventId: string;
  streamId: string;
  streamVersion: string;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: Record<string, unknown>;
  recordedAt: string;
  hash: string;
  redacted: string[];
}

interface ChainCheck {
  /** Stream id → how many events were checked (all of them, when the chain holds). */
  streams: Map<string, number>;
  /** Stream id → the first event that breaks its chain, and why. */
  broken: Map<string, { streamVersion: string; reason: 'hash_mismatch' | 'version_gap' }>;
  checkedEvents: number;
}

/** The text an event's hash covers, by the outside implementation of RFC 8785. */
function hashedText(e: ShownEvent): string {
  const text = canonicalize({
    data: e.data,
    eventId: e.eventId,
    metadata: e.metadata,
    recordedAt: e.recordedAt,
    schemaVersion: e.schemaVersion,
    streamId: e.streamId,
    streamVersion: Number(e.streamVersion),
    type: e.type,
  });
  if (text === undefined) throw new Error(`event ${e.eventId} has no JSON form`);
  return text;
}

/**
 * Recomputes every stream's chain from the events of the log, in the order the log gives
 * them (global position): each stream's versions must run 0, 1, 2, … and each hash must be
 * sha256(the previous one recomputed here ‖ the event's canonical JSON).
 */
function recomputeChains(events: readonly ShownEvent[]): ChainCheck {
  const heads = new Map<string, { nextVersion: bigint; hash: Buffer }>();
  const check: ChainCheck = { streams: new Map(), broken: new Map(), checkedEvents: 0 };
  for (const e of events) {
    check.checkedEvents++;
    if (check.broken.has(e.streamId)) continue;
    const head = heads.get(e.streamId) ?? { nextVersion: 0n, hash: Buffer.alloc(0) };
    if (BigInt(e.streamVersion) !== head.nextVersion) {
      check.broken.set(e.streamId, { streamVersion: e.streamVersion, reason: 'version_gap' });
      continue;
    }
    const hash = createHash('sha256').update(head.hash).update(hashedText(e), 'utf8').digest();
    if (hash.toString('hex') !== e.hash) {
      check.broken.set(e.streamId, { streamVersion: e.streamVersion, reason: 'hash_mismatch' });
      continue;
    }
    heads.set(e.streamId, { nextVersion: head.nextVersion + 1n, hash });
    check.streams.set(e.streamId, Number(head.nextVersion) + 1);
  }
  return check;
}

/** Every page of /api/audit/events as the auditor, following nextCursor. */
async function fetchLog(limit: number): Promise<{ events: ShownEvent[]; pages: number }> {
  const events: ShownEvent[] = [];
  let url = `/api/audit/events?limit=${limit}`;
  for (let pages = 1; pages <= 1000; pages++) {
    const response = await get(url, auditor.token);
    if (response.statusCode !== 200) throw new Error(`events: ${response.body}`);
    const body = JSON.parse(response.body) as { items: ShownEvent[]; nextCursor: string | null };
    events.push(...body.items);
    if (body.nextCursor === null) return { events, pages };
    url = `/api/audit/events?limit=${limit}&cursor=${encodeURIComponent(body.nextCursor)}`;
  }
  throw new Error('paging did not end');
}

// ------------------------------------------------------------------ a day of the bank

interface Customer {
  id: string;
  username: string;
  password: string;
  token: string;
}

let n = 0;
async function register(profile: Record<string, string>): Promise<Customer> {
  n++;
  const username = `outside${n}_${Date.now().toString(36)}`;
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { username, email: `${username}@example.com`, password: strongPassword, ...profile },
  });
  if (response.statusCode !== 201) throw new Error(`register: ${response.body}`);
  return { id: json(response).user.id, username, password: strongPassword, token: '' };
}

async function login(user: Customer, otp?: string): Promise<void> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: user.username, password: user.password, ...(otp === undefined ? {} : { otp }) },
  });
  if (response.statusCode !== 200) throw new Error(`login ${user.username}: ${response.body}`);
  user.token = json(response).accessToken;
}

const ana = await register({ firstName: 'Ana', lastName: 'Ferreira', phone: '+351 912 345 678' });
const ben = await register({
  firstName: 'Benoît',
  lastName: 'Lefèvre',
  phone: '+33 6 12 34 56 78',
  dateOfBirth: '1988-04-12',
});
const chloe = await register({ firstName: 'Chloé', lastName: 'Nakamura', phone: '+81 90 1234 5678' });
for (const c of [ana, ben, chloe]) await login(c);

// A failed login (a wrong password), then the right one.
const failed = await loginRequest(app, ana.username, 'not the password at all');
if (failed.statusCode !== 401) throw new Error(`failed login: ${failed.body}`);

// A profile update, before KYC locks the names.
const patched = await app.inject({
  method: 'PATCH',
  url: '/api/auth/me',
  headers: bearer(ben.token),
  payload: { lastName: 'Lefèvre-Martin', phone: '+33 6 98 76 54 32' },
});
if (patched.statusCode !== 200) throw new Error(`PATCH /me: ${patched.body}`);
// What the KYC flow records (the application has no command for it yet).
for (const c of [ana, ben, chloe]) await markKycVerified(f.store, c.id);

// 2FA: set up, turned on with a code, and a login that needs the next one.
const setup = await app.inject({ method: 'POST', url: '/api/auth/2fa/setup', headers: bearer(ana.token) });
if (setup.statusCode !== 200) throw new Error(`2fa setup: ${setup.body}`);
const totpSecret = json(setup).secret as string;
const enabled = await app.inject({
  method: 'POST',
  url: '/api/auth/2fa/enable',
  headers: bearer(ana.token),
  payload: { otp: await totpAt(totpSecret, f.clock.now()), password: ana.password },
});
if (enabled.statusCode !== 204) throw new Error(`2fa enable: ${enabled.body}`);
await login(ana, await totpAt(totpSecret, new Date(f.clock.now().getTime() + 30_000)));

// A password change: every session ends, a login with the new one.
const changed = await app.inject({
  method: 'POST',
  url: '/api/auth/password',
  headers: bearer(chloe.token),
  payload: { currentPassword: chloe.password, newPassword: 'a brand new passphrase 2026' },
});
if (changed.statusCode !== 204) throw new Error(`password: ${changed.body}`);
chloe.password = 'a brand new passphrase 2026';
await login(chloe);

// Accounts, deposits, transfers (one of them held, then posted).
const accounts = {
  ana: (await openAccount(ana)).id,
  ben: (await openAccount(ben)).id,
  benSavings: (await openAccount(ben, 'EUR', 'savings')).id,
  chloe: (await openAccount(chloe)).id,
};
await deposit(accounts.ana, '1500.00');
await deposit(accounts.ben, '820.50');
await deposit(accounts.chloe, '99.99');
async function transfer(user: Customer, from: string, to: string, amount: string, mode?: 'pending') {
  const response = await post('/api/transactions', user.token, {
    type: 'transfer',
    fromAccountId: from,
    toAccountId: to,
    amount,
    currency: 'EUR',
    ...(mode === undefined ? {} : { mode }),
  });
  if (response.statusCode !== 201) throw new Error(`transfer: ${response.body}`);
  return json(response) as { transaction: { id: string }; position: string };
}
await transfer(ana, accounts.ana, accounts.ben, '250.00');
await transfer(ben, accounts.ben, accounts.chloe, '70.25');
await transfer(ben, accounts.ben, accounts.benSavings, '100.00');
const held = await transfer(chloe, accounts.chloe, accounts.ana, '12.34', 'pending');
const posted = await post(`/api/transactions/${held.transaction.id}/post`, chloe.token, {});
if (posted.statusCode !== 200) throw new Error(`post: ${posted.body}`);
const lastPosition = BigInt(json(posted).position as string);

/**
 * The whole log, once it shows the last command ($all is read below the oldest transaction
 * still open on the server: a page may end just before a write that is committing).
 */
async function wholeLog(limit: number) {
  for (let attempt = 0; ; attempt++) {
    const log = await fetchLog(limit);
    const last = log.events.at(-1);
    if (last !== undefined && BigInt(last.position) >= lastPosition) return log;
    if (attempt >= 50) throw new Error('the log never showed the last command');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const { events, pages } = await wholeLog(10);

t.test('the outside RFC 8785 implementation is RFC 8785 (its example, §3.2.3)', async (t) => {
  const input = String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\u0022\/",
    "literals": [null, true, false]
  }`;
  t.equal(
    canonicalize(JSON.parse(input)),
    String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
  );
  t.equal(
    canonicalize({ b: 1, a: { d: [], c: {} } }),
    '{"a":{"c":{},"d":[]},"b":1}',
    'keys sorted at every depth',
  );
});

t.test('every chain of the log recomputes from the HTTP pages alone', async (t) => {
  t.ok(pages > 3, `the log came in ${pages} pages, by nextCursor`);
  t.ok(events.length > 60, `a realistic log: ${events.length} events`);

  // The log is in global-position order, each event once.
  const positions = events.map((e) => BigInt(e.position));
  t.ok(
    positions.every((p, i) => i === 0 || p > positions[i - 1]!),
    'positions strictly increase',
  );
  t.equal(new Set(events.map((e) => e.eventId)).size, events.length, 'no event twice');

  t.same(
    events.filter((e) => e.redacted.length > 0).map((e) => [e.streamId, e.type, e.redacted]),
    [],
    'nothing redacted anywhere: an outsider sees every hashed byte',
  );
  t.notOk(
    events.some((e) => JSON.stringify(e).includes('[redacted]')),
    'no "[redacted]" value either',
  );

  const check = recomputeChains(events);
  t.same([...check.broken], [], 'every event matches its recomputed hash, no gap in any stream');
  t.equal(check.checkedEvents, events.length, 'every event checked');
  const counted = [...check.streams.values()].reduce((a, b) => a + b, 0);
  t.equal(counted, events.length, 'and every one of them continues its stream’s chain');

  // Each stream from version 0 to its last, in order: its versions in log order are 0…n-1.
  const byStream = new Map<string, string[]>();
  for (const e of events) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e.streamVersion]);
  for (const [streamId, versions] of byStream) {
    if (versions.some((v, i) => v !== String(i))) t.fail(`${streamId}: versions ${versions.join(',')}`);
  }
  t.equal(check.streams.size, byStream.size, `all ${byStream.size} streams checked`);

  // The identity streams are among them: users (3 customers, the director, the agent, the
  // auditor) and their username and email reservations, by keyed hash.
  const kinds = new Map<string, number>();
  for (const streamId of check.streams.keys()) {
    const kind = streamId.startsWith('account-number-') ? 'account-number' : streamId.split('-')[0]!;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  t.comment(`streams checked: ${JSON.stringify(Object.fromEntries(kinds))}`);
  const users = 6;
  t.equal(kinds.get('user'), users, 'every user stream checked');
  t.equal(kinds.get('username'), users, 'every username reservation stream checked');
  t.equal(kinds.get('email'), users, 'every email reservation stream checked');
  t.ok((kinds.get('account') ?? 0) >= 4, 'account streams checked');
  t.ok((kinds.get('transfer') ?? 0) >= 7, 'transfer streams checked');
  for (const kind of ['user', 'username', 'email', 'account', 'transfer']) t.ok(kinds.get(kind)! > 0, kind);

  // Every kind of event the day made is in what was checked.
  const types = new Set(events.map((e) => e.type));
  for (const type of [
    'UserRegistered',
    'UsernameReserved',
    'EmailReserved',
    'LoginSucceeded',
    'LoginFailed',
    'ProfileUpdated',
    'KycStatusChanged',
    'TwoFactorSetupStarted',
    'TwoFactorEnabled',
    'PasswordChanged',
    'AccountOpened',
    'AccountLegPosted',
    'AccountLegPending',
    'TransferPosted',
    'TransferPending',
    'PendingTransferPosted',
  ]) {
    t.ok(types.has(type), `${type} checked`);
  }

  // What the chains cover is the sealed form of names, never the names, and no secret.
  const registered = events.filter((e) => e.type === 'UserRegistered');
  t.equal(registered.length, users);
  const page = JSON.stringify(events);
  for (const c of [ana, ben, chloe]) t.notOk(page.includes(c.username), `${c.username} not in the log`);
  for (const clear of ['Ferreira', 'Benoît', 'Lefèvre', 'Nakamura', '912 345 678', '1988-04-12', '@'])
    t.notOk(page.includes(clear), `${clear} not in the log`);
  t.notOk(page.includes(totpSecret), 'nor the TOTP secret');
  t.notOk(page.includes('$2'), 'nor a bcrypt hash');
  t.ok(
    registered.every((e) => /^pii1\./.test((e.data as { firstName: string | null }).firstName ?? 'pii1.')),
    'names sealed',
  );

  // The auditor's own verifier agrees.
  const verify = json(await get('/api/audit/verify', auditor.token));
  t.match(verify, { ok: true, firstBadEvent: null });
  t.ok(verify.checkedEvents >= events.length);
});

t.test('the recomputation catches one changed character, and a missing event', async (t) => {
  t.same([...recomputeChains(events).broken], [], 'the honest copy holds');

  // One character of one event's data, in a copy of the fetched log: a phone number sealed
  // in the middle of a user stream (ProfileUpdated), and an amount in a transfer's legs.
  for (const [type, field] of [
    ['ProfileUpdated', 'phone'],
    ['AccountLegPosted', 'amount'],
  ] as const) {
    const copy = structuredClone(events);
    const victim = copy.find((e) => e.type === type)!;
    const data = victim.data as Record<string, string>;
    const original = data[field]!;
    const i = original.length - 2;
    data[field] = `${original.slice(0, i)}${original[i] === '1' ? '2' : '1'}${original.slice(i + 1)}`;
    t.not(data[field], original);
    t.equal(data[field]!.length, original.length, 'one character changed');

    const check = recomputeChains(copy);
    t.same(
      [...check.broken],
      [[victim.streamId, { streamVersion: victim.streamVersion, reason: 'hash_mismatch' }]],
      `${type}.${field} changed: its stream, and only its stream, fails at that event`,
    );
  }

  // Changing the stored hash instead: that event fails, so a forged hash cannot hide a change.
  const forged = structuredClone(events);
  const forgedEvent = forged.find((e) => e.type === 'PasswordChanged')!;
  forgedEvent.hash = `${forgedEvent.hash.slice(0, -1)}${forgedEvent.hash.endsWith('0') ? '1' : '0'}`;
  t.same(recomputeChains(forged).broken.get(forgedEvent.streamId), {
    streamVersion: forgedEvent.streamVersion,
    reason: 'hash_mismatch',
  });

  // An event left out of a stream: a gap.
  const userStream = events.find((e) => e.type === 'TwoFactorEnabled')!.streamId;
  const dropped = events.filter((e) => !(e.streamId === userStream && e.streamVersion === '1'));
  t.same(recomputeChains(dropped).broken.get(userStream), { streamVersion: '2', reason: 'version_gap' });

  // A key's order or spacing is not a change: the canonical form is the same.
  const reordered = events.map((e) => ({
    ...e,
    data: JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(e.data as object).reverse()))),
  }));
  t.same([...recomputeChains(reordered).broken], [], 'the same events with their keys in another order');
});

t.test('the director sees the same log (the pages are the auditor’s, not a special view)', async (t) => {
  const first = await get('/api/audit/events?limit=200', director);
  t.equal(first.statusCode, 200);
  const items = JSON.parse(first.body).items as ShownEvent[];
  t.same(
    items.map((e) => [e.eventId, e.hash]),
    events.slice(0, items.length).map((e) => [e.eventId, e.hash]),
  );
});
