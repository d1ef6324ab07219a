import { randomUUID } from 'node:crypto';
import { bearer, directorUsername, json, ledgerHarness } from '@ledger/api/testing';
import { userStreamId } from '@ledger/contracts';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { sql } from 'kysely';
import t from 'tap';

// API.md, Audit, through app.inject() against real PostgreSQL and Redis: who may call it,
// the log and streams (nothing to redact: no secret and no clear name is in an event), the
// hash-chain verifier against a tampered row, and the trial balance now (read model) and at
// a point in time (folded from events). outside-verify.test.ts checks the chains from the
// pages alone.

const h = await ledgerHarness(t, 'api_audit', {
  projections: [accountsProjection, transactionsProjection],
  // The read model's tables exist once the runners have caught up with the start.
  waitForProjections: true,
  roles: ['agent', 'manager', 'auditor'],
  noStackTrace: true,
});
const { app, f, runners, director, assertProblem, customer, post, get, openAccount, deposit } = h;
const { agent, manager, auditor } = h.roles;
// The store's event type, without importing the event store into the routes' folder.
type RecordedEvent = Awaited<ReturnType<typeof f.store.readAll>>[number];

async function allStoreEvents(): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = [];
  let after = 0n;
  for (;;) {
    const page = await f.store.readAll({ after, limit: 5000 });
    if (page.length === 0) return all;
    all.push(...page);
    after = page[page.length - 1]!.globalPosition;
  }
}

/** Every page of /api/audit/events, following nextCursor; the raw bodies too. */
async function allAuditEvents(token: string, limit = 200) {
  const items: Record<string, any>[] = [];
  const bodies: string[] = [];
  let url = `/api/audit/events?limit=${limit}`;
  for (let page = 0; page < 1000; page++) {
    const response = await get(url, token);
    if (response.statusCode !== 200) throw new Error(`events: ${response.body}`);
    bodies.push(response.body);
    const body = json(response);
    items.push(...body.items);
    if (body.nextCursor === null) return { items, bodies };
    url = `/api/audit/events?limit=${limit}&cursor=${body.nextCursor}`;
  }
  throw new Error('paging did not end');
}

const endpoints = ['/api/audit/events', '/api/audit/verify', '/api/audit/trial-balance'];

t.test('auditor and director only: 401 without a token, 403 for everyone else', async (t) => {
  const alice = await customer();
  endpoints.push(`/api/audit/streams/${userStreamId(alice.id)}`);
  for (const url of endpoints) {
    assertProblem(t, await get(url), 401, 'unauthorized');
    assertProblem(t, await get(url, 'not-a-token'), 401, 'unauthorized');
    for (const who of [alice, agent, manager]) assertProblem(t, await get(url, who.token), 403, 'forbidden');
    t.equal((await get(url, auditor.token)).statusCode, 200, `auditor: ${url}`);
    t.equal((await get(url, director)).statusCode, 200, `director: ${url}`);
  }
});

/**
 * Every route the app serves, as [method, path], read from Fastify's own route table
 * (printRoutes without common prefixes: one line per node, a child's path continuing its
 * parent's), so a route added later is in the list without anyone adding it here.
 */
function routeTable(): [string, string][] {
  const routes: [string, string][] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^(.*?)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = [...match[1]!].length / 4;
    const path = (depth > 0 ? stack[depth - 1]! : '') + match[2]!;
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method !== '') routes.push([method, path]);
    }
  }
  return routes;
}

t.test('a customer or an agent gets 403 from EVERY /api/audit route of the route table', async (t) => {
  const erin = await customer();
  const routes = routeTable().filter(
    ([method, path]) => path.startsWith('/api/audit') && method !== 'HEAD' && method !== 'OPTIONS',
  );
  const paths = new Set(routes.map(([, path]) => path));
  // The table is read right: the routes the contract names (API.md, Audit) are among them.
  for (const known of [
    '/api/audit/events',
    '/api/audit/streams/:streamId',
    '/api/audit/verify',
    '/api/audit/trial-balance',
  ])
    t.ok(paths.has(known), `${known} is in the route table`);
  // And every documented audit path is in it too (a hidden one would be in the table only).
  const documented = Object.keys(json(await get('/openapi.json')).paths).filter((p) =>
    p.startsWith('/api/audit'),
  );
  for (const path of documented) t.ok(paths.has(path.replace(/\{(\w+)\}/g, ':$1')), `${path} served`);
  for (const [method, path] of routes) {
    const url = path.replace(/:streamId\b/g, userStreamId(erin.id)).replace(/:(\w+)/g, randomUUID());
    for (const who of [erin, agent]) {
      const response = await app.inject({
        method: method as 'GET',
        url,
        headers: bearer(who.token),
        ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }),
      });
      assertProblem(t, response, 403, 'forbidden');
    }
  }
  t.ok(routes.length >= 4, `${routes.length} audit routes checked`);
});

/** Every [path, key, value] under `value`: keys at any depth, and the strings they hold. */
function* walk(value: unknown, path = ''): Generator<[string, string | null, unknown]> {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* walk(v, `${path}[${i}]`);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      yield [`${path}.${key}`, key, v];
      yield* walk(v, `${path}.${key}`);
    }
  } else yield [path, null, value];
}

t.test('nothing to redact: no secret, no clear name in /events or /streams', async (t) => {
  const bob = await customer();
  const setup = await app.inject({ method: 'POST', url: '/api/auth/2fa/setup', headers: bearer(bob.token) });
  t.equal(setup.statusCode, 200, setup.body);
  const totpSecret = json(setup).secret as string;
  t.ok(totpSecret.length >= 16, 'a TOTP secret was handed out');

  const stored = (await f.store.readStream(userStreamId(bob.id))) as (RecordedEvent & { data: any })[];
  const registered = stored.find((e) => e.type === 'UserRegistered')!;
  const started = stored.find((e) => e.type === 'TwoFactorSetupStarted')!;
  t.ok(registered && started, 'the user stream holds both events');
  t.ok(
    stored.some((e) => e.type === 'LoginSucceeded'),
    'the stream holds a login too',
  );
  // The secrets are in the vault, named by the events.
  const passwordHash = await f.vault.credentials.get(bob.id, registered.data.passwordId);
  t.match(passwordHash, /^\$2[aby]\$/, 'the vault holds the bcrypt hash UserRegistered names');
  const sealedTotp = await f.vault.credentials.get(bob.id, started.data.factorId);
  t.type(sealedTotp, 'string', 'and the sealed TOTP secret TwoFactorSetupStarted names');
  const secretValues = [passwordHash!, sealedTotp!, totpSecret, totpSecret.toLowerCase()];
  const secretNames = ['password hash', 'sealed TOTP secret', 'TOTP secret', 'TOTP secret, lower case'];

  // The users of this file by name (outside-verify.test.ts takes every one from the users
  // list); every address has an `@`, which no page holds.
  const users = [
    { username: directorUsername, email: 'chief@bank.example' },
    ...[agent, manager, auditor].map((u) => ({ username: u.username, email: `${u.username}@bank.example` })),
    { username: bob.username, email: `${bob.username}@example.com` },
  ];
  const names = users.flatMap((u) => [u.username.toLowerCase(), u.email.toLowerCase()]);

  const { items, bodies } = await allAuditEvents(auditor.token, 7);
  const stream = await get(`/api/audit/streams/${userStreamId(bob.id)}`, auditor.token);
  t.equal(stream.statusCode, 200);
  for (const body of [...bodies, stream.body]) {
    for (const [i, secret] of secretValues.entries())
      t.notOk(body.includes(secret), `secret #${i} (${secretNames[i]}) not in a page`);
    t.notOk(body.includes('$2'), 'no bcrypt hash of any user (staff, director) either');
    t.notOk(body.includes('passwordHash'), 'no passwordHash field');
    t.notOk(body.includes('@'), 'no e-mail address');
  }

  const shown = json(stream).items as Record<string, any>[];
  const everything = [...items, ...shown];
  t.ok(
    items.some((e) => e.streamId.startsWith('username-')) &&
      items.some((e) => e.streamId.startsWith('email-')),
    'reservation streams included',
  );
  t.same(
    everything.filter((e) => e.redacted.length > 0).map((e) => [e.type, e.redacted]),
    [],
    'no event has anything redacted',
  );
  const leaks: string[] = [];
  for (const e of everything) {
    const named = e.streamId.slice(e.streamId.indexOf('-') + 1).toLowerCase();
    if (names.includes(named)) leaks.push(`${e.streamId}: a name in its id`);
    for (const [path, key, value] of walk({ data: e.data, metadata: e.metadata })) {
      if (key !== null && /password(hash)?$|secret|^otp$|token$/i.test(key))
        leaks.push(`${e.type} ${path}: a secret's name`);
      if (typeof value !== 'string') continue;
      if (value === '[redacted]') leaks.push(`${e.type} ${path}: redacted`);
      if (/^\$(2[abxy]?|argon2|scrypt)/.test(value)) leaks.push(`${e.type} ${path}: a password hash`);
      if (value.toUpperCase().includes(totpSecret.toUpperCase()))
        leaks.push(`${e.type} ${path}: the TOTP secret`);
      if (names.includes(value.toLowerCase())) leaks.push(`${e.type} ${path}: a name in clear`);
    }
  }
  t.same(leaks, [], 'no event data or metadata holds a secret, a name or an address in clear');

  t.same(
    shown.map((e) => [e.type, e.streamVersion, e.hash]),
    stored.map((e) => [e.type, e.streamVersion.toString(), e.hash]),
    'the whole stream in version order, hashes as stored',
  );
  t.same(
    shown.map((e) => e.data),
    stored.map((e) => e.data),
    'every event shown exactly as stored',
  );
  const shownRegistered = shown.find((e) => e.type === 'UserRegistered')!;
  t.equal(shownRegistered.data.passwordId, registered.data.passwordId, 'the reference to the vault, shown');
  t.match(shownRegistered.data.username, /^pii1\./, 'the name, sealed');
  t.match(shownRegistered.data.email, /^pii1\./, 'the address, sealed');
  const shownStarted = shown.find((e) => e.type === 'TwoFactorSetupStarted')!;
  t.equal(shownStarted.data.factorId, started.data.factorId);
  t.equal((await get('/api/audit/verify', auditor.token)).json().ok, true, 'the chains still verify');
});

t.test('/events: the whole log in position order, paged by cursor or by position', async (t) => {
  const store = await allStoreEvents();
  const { items } = await allAuditEvents(auditor.token, 3);
  t.same(
    items.map((e) => [e.position, e.eventId, e.streamId, e.streamVersion, e.type, e.recordedAt, e.hash]),
    store.map((e) => [
      e.globalPosition.toString(),
      e.eventId,
      e.streamId,
      e.streamVersion.toString(),
      e.type,
      e.recordedAt,
      e.hash,
    ]),
    'every event once, in order, over pages of 3',
  );
  t.match(items[0], { schemaVersion: Number, data: Object, metadata: Object, redacted: Array });

  const third = store[2]!;
  const page = json(
    await get(`/api/audit/events?fromPosition=${third.globalPosition}&limit=2`, auditor.token),
  );
  t.same(
    page.items.map((e: any) => e.eventId),
    [third.eventId, store[3]!.eventId],
    'fromPosition is inclusive',
  );
  t.equal(page.nextPosition, (store[3]!.globalPosition + 1n).toString());
  t.type(page.nextCursor, 'string');
  const next = json(await get(`/api/audit/events?fromPosition=${page.nextPosition}&limit=1`, auditor.token));
  t.equal(next.items[0].eventId, store[4]!.eventId, 'nextPosition continues where the page ended');

  const head = store[store.length - 1]!.globalPosition;
  const tail = json(await get(`/api/audit/events?fromPosition=${head + 1n}`, auditor.token));
  t.same(tail, { items: [], nextCursor: null, nextPosition: (head + 1n).toString() }, 'the end of the log');
  const defaults = json(await get('/api/audit/events', auditor.token));
  t.equal(defaults.items.length, Math.min(50, store.length), 'limit defaults to 50');

  for (const query of [
    'limit=0',
    'limit=201',
    'limit=abc',
    'fromPosition=-1',
    'fromPosition=abc',
    'fromPosition=9223372036854775808',
    'fromPosition=99999999999999999999',
    'cursor=not-a-cursor',
    `cursor=${page.nextCursor}&fromPosition=1`,
  ]) {
    assertProblem(t, await get(`/api/audit/events?${query}`, auditor.token), 400, 'validation_failed');
  }
});

t.test('/streams/:streamId: paged by version, 404 for no such stream, ids validated', async (t) => {
  const carol = await customer();
  const streamId = userStreamId(carol.id);
  const stored = await f.store.readStream(streamId);
  t.ok(stored.length >= 3);
  const first = json(await get(`/api/audit/streams/${streamId}?limit=2`, director));
  t.equal(first.streamId, streamId);
  t.same(
    first.items.map((e: any) => e.streamVersion),
    ['0', '1'],
  );
  t.equal(first.nextVersion, '2');
  const rest = json(
    await get(`/api/audit/streams/${streamId}?cursor=${first.nextCursor}&limit=200`, director),
  );
  t.same(
    [...first.items, ...rest.items].map((e: any) => e.eventId),
    stored.map((e) => e.eventId),
    'the two pages are the stream',
  );
  t.equal(rest.nextCursor, null);
  const past = json(await get(`/api/audit/streams/${streamId}?fromVersion=${stored.length}`, director));
  t.same(past.items, [], 'past the end of an existing stream: an empty page');

  assertProblem(t, await get(`/api/audit/streams/user-${randomUUID()}`, auditor.token), 404, 'not_found');
  assertProblem(t, await get('/api/audit/streams/nothing?fromVersion=5', auditor.token), 404, 'not_found');
  for (const bad of ['user%20x', 'user%22x', '%2Fetc', '-leading-dash', 'a%00b', 'user%3Cscript%3E']) {
    assertProblem(t, await get(`/api/audit/streams/${bad}`, auditor.token), 400, 'validation_failed');
  }
  assertProblem(
    t,
    await get(`/api/audit/streams/${streamId}?fromVersion=x`, auditor.token),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await get(`/api/audit/streams/${'a'.repeat(257)}`, auditor.token),
    400,
    'validation_failed',
  );
  // Ids past Fastify's default 100-character path parameter still reach the route.
  const longId = `x-${'a'.repeat(254)}`;
  assertProblem(t, await get(`/api/audit/streams/${longId}`, auditor.token), 404, 'not_found');
});

t.test('trial balance: now from the read model, as of a time or a position from the events', async (t) => {
  const before = json(await get('/api/audit/trial-balance?asOf=2000-01-01T00:00:00Z', auditor.token));
  t.same(before, {
    source: 'events',
    asOf: '2000-01-01T00:00:00.000Z',
    position: '0',
    balanced: true,
    currencies: [],
  });

  const dave = await customer();
  const open = async (currency: string, type = 'checking') => (await openAccount(dave, currency, type)).id;
  const eur1 = await open('EUR');
  const eur2 = await open('EUR', 'savings');
  const jpy = await open('JPY');
  const first = await deposit(eur1, '100.00', 'EUR');
  const afterFirst = (await deposit(eur1, '50.25', 'EUR')).position;
  const last = await deposit(jpy, '1200', 'JPY');
  const afterDeposits = last.position;
  // The cut by time: the recording time of the last deposit (the database's clock). Read
  // from its stream: $all shows it only once no older transaction on the server is open.
  const lastDeposit = (await f.store.readStream(`transfer-${last.transaction.id}`))[0]!;
  t.ok(lastDeposit.globalPosition <= BigInt(afterDeposits), 'the deposit’s transfer event');
  await new Promise((resolve) => setTimeout(resolve, 20));

  const moved = await post('/api/transactions', dave.token, {
    type: 'transfer',
    fromAccountId: eur1,
    toAccountId: eur2,
    amount: '30.00',
    currency: 'EUR',
  });
  t.equal(moved.statusCode, 201, moved.body);
  const held = await post('/api/transactions', dave.token, {
    type: 'transfer',
    fromAccountId: eur1,
    toAccountId: eur2,
    amount: '10.00',
    currency: 'EUR',
    mode: 'pending',
  });
  t.equal(held.statusCode, 201, held.body);
  const head = json(held).position as string;
  // Both the read model and a fold read $all: wait until it shows everything written.
  for (const r of runners) t.ok(await r.waitFor(BigInt(head), 10_000), 'read models caught up');

  const now = await get(`/api/audit/trial-balance?minPosition=${head}`, auditor.token);
  t.equal(now.statusCode, 200, now.body);
  // The JPY deposits, before and after the EUR transfers.
  const jpyTotals = {
    currency: 'JPY',
    debits: '1200',
    credits: '1200',
    pendingDebits: '0',
    pendingCredits: '0',
    balanced: true,
  };
  const expectedNow = [
    {
      currency: 'EUR',
      debits: '180.25',
      credits: '180.25',
      pendingDebits: '10.00',
      pendingCredits: '10.00',
      balanced: true,
    },
    jpyTotals,
  ];
  t.match(json(now), { source: 'read_model', asOf: null, balanced: true });
  t.same(json(now).currencies, expectedNow, 'deposits 150.25 + transfer 30.00 EUR, 1200 JPY; 10.00 held');
  t.ok(BigInt(json(now).position) >= BigInt(head), 'the read model stands at or past the last command');

  const asOfDeposits = json(
    await get(`/api/audit/trial-balance?asOf=${lastDeposit.recordedAt}`, auditor.token),
  );
  t.match(asOfDeposits, { source: 'events', asOf: lastDeposit.recordedAt, balanced: true });
  t.same(
    asOfDeposits.currencies,
    [
      {
        currency: 'EUR',
        debits: '150.25',
        credits: '150.25',
        pendingDebits: '0.00',
        pendingCredits: '0.00',
        balanced: true,
      },
      jpyTotals,
    ],
    'as of the last deposit: the sum of the deposits, not today’s totals',
  );
  t.equal(asOfDeposits.position, afterDeposits, 'the last event of the cut');

  const atFirst = json(await get(`/api/audit/trial-balance?atPosition=${afterFirst}`, director));
  t.same(
    atFirst.currencies.map((c: any) => [c.currency, c.debits, c.credits]),
    [['EUR', '150.25', '150.25']],
    'at the position of the second deposit',
  );
  // A position inside an append (the first leg of the first deposit): the cut takes the
  // whole append, never one leg of a transfer.
  const firstLegs = (await allStoreEvents()).filter(
    (e) =>
      e.type === 'AccountLegPosted' && (e.data as { transferId: string }).transferId === first.transaction.id,
  );
  t.equal(firstLegs.length, 2, 'a deposit has two legs');
  const midAppend = json(
    await get(`/api/audit/trial-balance?atPosition=${firstLegs[0]!.globalPosition}`, director),
  );
  t.same(
    midAppend.currencies.map((c: any) => [c.currency, c.debits, c.credits, c.balanced]),
    [['EUR', '100.00', '100.00', true]],
    'both legs of the first deposit',
  );
  t.ok(BigInt(midAppend.position) >= firstLegs[1]!.globalPosition, 'the cut ran to the end of the append');
  const future = new Date(Date.now() + 3600_000).toISOString();
  const folded = json(await get(`/api/audit/trial-balance?asOf=${future}`, auditor.token));
  t.same(folded.currencies, expectedNow, 'folding every event agrees with the read model');

  // Point in time for holds too: voided now, still held at the position before the void.
  const voided = await post(`/api/transactions/${json(held).transaction.id}/void`, dave.token, undefined);
  t.equal(voided.statusCode, 200, voided.body);
  for (const r of runners) t.ok(await r.waitFor(BigInt(json(voided).position), 10_000));
  const afterVoid = json(await get(`/api/audit/trial-balance?asOf=${future}`, auditor.token));
  t.same(
    afterVoid.currencies[0],
    { ...expectedNow[0], pendingDebits: '0.00', pendingCredits: '0.00' },
    'the hold released',
  );
  t.same(json(await get('/api/audit/trial-balance', auditor.token)).currencies, afterVoid.currencies);
  t.same(
    json(await get(`/api/audit/trial-balance?atPosition=${head}`, auditor.token)).currencies,
    expectedNow,
    'at the position of the hold: still held',
  );
  const offset = json(
    await get(
      `/api/audit/trial-balance?asOf=${encodeURIComponent('2000-01-01T01:00:00+01:00')}`,
      auditor.token,
    ),
  );
  t.equal(offset.asOf, '2000-01-01T00:00:00.000Z', 'an offset is read and answered in UTC');

  for (const query of [
    'asOf=yesterday',
    'asOf=2026-13-01T00:00:00Z',
    'asOf=1700000000',
    'atPosition=-3',
    `asOf=${future}&atPosition=5`,
    'minPosition=x',
  ]) {
    assertProblem(t, await get(`/api/audit/trial-balance?${query}`, auditor.token), 400, 'validation_failed');
  }
  assertProblem(t, await get(`/api/audit/trial-balance?asOf=${future}`, dave.token), 403, 'forbidden');
  assertProblem(t, await get(`/api/audit/trial-balance?asOf=${future}`), 401, 'unauthorized');
});

t.test('/openapi.json documents the audit routes with their schemas', async (t) => {
  const doc = json(await get('/openapi.json'));
  const paths = doc.paths as Record<string, any>;
  for (const path of [
    '/api/audit/events',
    '/api/audit/streams/{streamId}',
    '/api/audit/verify',
    '/api/audit/trial-balance',
  ]) {
    t.ok(paths[path]?.get, `${path} documented`);
    t.ok(paths[path].get.responses['200'], `${path}: its 200 response`);
    t.ok(paths[path].get.responses['403'], `${path}: its 403 response`);
  }
  const names = (path: string) => (paths[path].get.parameters ?? []).map((p: any) => p.name);
  t.same(names('/api/audit/events').sort(), ['cursor', 'fromPosition', 'limit']);
  t.ok(names('/api/audit/streams/{streamId}').includes('streamId'));
  t.same(names('/api/audit/trial-balance').sort(), ['asOf', 'atPosition', 'minPosition']);
});

// Last: it breaks the chain of one event, then mends it.
t.test('/verify: ok on an honest store; names the tampered event', async (t) => {
  const clean = json(await get('/api/audit/verify', auditor.token));
  const count = (await allStoreEvents()).length;
  t.equal(clean.ok, true);
  t.equal(clean.firstBadEvent, null);
  t.ok(clean.checkedEvents >= count, `every event checked (${clean.checkedEvents} ≥ ${count})`);

  const victim = (await allStoreEvents()).find((e) => e.type === 'AccountLegPosted')!;
  t.ok(victim, 'a leg to tamper with');
  const db = f.database.db;
  const original = await sql<{ data: string }>`
    SELECT data::text AS data FROM es.events WHERE event_id = ${victim.eventId}::uuid`.execute(db);
  const setData = async (data: string) => {
    await sql`ALTER TABLE es.events DISABLE TRIGGER events_append_only`.execute(db);
    try {
      await sql`UPDATE es.events SET data = ${data}::jsonb WHERE event_id = ${victim.eventId}::uuid`.execute(
        db,
      );
    } finally {
      await sql`ALTER TABLE es.events ENABLE TRIGGER events_append_only`.execute(db);
    }
  };
  await setData(JSON.stringify({ ...(victim.data as object), amount: '99999999' }));
  t.teardown(() => setData(original.rows[0]!.data));

  const tampered = json(await get('/api/audit/verify', director));
  t.same(tampered, {
    ok: false,
    checkedEvents: tampered.checkedEvents,
    firstBadEvent: {
      eventId: victim.eventId,
      streamId: victim.streamId,
      streamVersion: victim.streamVersion.toString(),
      position: victim.globalPosition.toString(),
      reason: 'hash_mismatch',
    },
  });

  await setData(original.rows[0]!.data);
  t.equal(json(await get('/api/audit/verify', auditor.token)).ok, true, 'mended, it verifies again');
});
