import { json, ledgerHarness, loginRequest, strongPassword } from '@ledger/api/testing';
import { markKycVerified } from '@ledger/application/testing';
import { exportLimits, identityEventSchemaVersion, userStreamId } from '@ledger/contracts';
import { accountsProjection } from '@ledger/projection-accounts';
import { sql } from 'kysely';
import t from 'tap';

// API.md, Auth: GET /api/auth/me/export, through app.inject() against real PostgreSQL and
// Redis with the accounts projection running. The caller's own data only: the profile
// opened from the sealed log, accounts and statements from the read model (amounts as
// decimal strings), security events from their stream; bounded, and never another's.

const h = await ledgerHarness(t, 'api_me_export', {
  projections: [accountsProjection],
  waitForProjections: true,
  roles: ['agent'],
  noStackTrace: true,
});
const { app, f, director, assertProblem, customer, get, login, openAccount, deposit, transfer } = h;
const { agent } = h.roles;

const profile = {
  firstName: 'Amélie',
  lastName: 'Benali-Ørsted',
  dateOfBirth: '1988-02-29',
  phone: '+213 555 12 34 56',
};
const username = `amelie_${Date.now().toString(36)}`;
const registered = await app.inject({
  method: 'POST',
  url: '/api/auth/register',
  payload: { username, email: `${username}@example.com`, password: strongPassword, ...profile },
});
if (registered.statusCode !== 201) throw new Error(`register: ${registered.body}`);
const aliceId = json(registered).user.id as string;
await markKycVerified(f.store, aliceId);
const failed = await loginRequest(app, username, 'not the password at all');
// A failed login, recorded in her stream (assertions wait for the subtests: tap ends at the first).
if (failed.statusCode !== 401) throw new Error(`wrong password: ${failed.body}`);
const alice = { id: aliceId, username, token: await login(username) };

const bob = await customer();
const checking = await openAccount(alice, 'EUR', 'checking');
const savings = await openAccount(alice, 'EUR', 'savings');
const bobs = await openAccount(bob);
await deposit(checking.id, '100.00');
await deposit(bobs.id, '50.00');
const sent = async (user: typeof alice, fromAccountId: string, toAccountId: string, amount: string) => {
  const response = await transfer(user, { fromAccountId, toAccountId, amount });
  if (response.statusCode !== 201) throw new Error(`transfer: ${response.body}`);
  return json(response).position as string;
};
await sent(alice, checking.id, savings.id, '30.25');
await sent(alice, checking.id, bobs.id, '5.10');
const last = await sent(bob, bobs.id, savings.id, '2.00');

const exportOf = (token: string | undefined, query = `?minPosition=${last}`) =>
  get(`/api/auth/me/export${query}`, token);

t.test('a customer exports exactly their own data, amounts as decimal strings', async (t) => {
  const response = await exportOf(alice.token);
  t.equal(response.statusCode, 200, response.body.slice(0, 300));
  t.match(response.headers['content-type'], /^application\/json/);
  t.equal(response.headers['cache-control'], 'no-store');
  t.equal(response.headers['content-disposition'], `attachment; filename="ledger-export-${alice.id}.json"`);
  const body = json(response);
  t.ok(Date.parse(body.exportedAt) > 0 && body.exportedAt.endsWith('Z'), 'exportedAt in ISO 8601 UTC');
  t.ok(BigInt(body.position) >= BigInt(last), 'the read model stood at or past her last write');

  const [stored] = await f.store.readStream(userStreamId(alice.id), { limit: 1 });
  t.notOk(JSON.stringify(stored?.data).includes(profile.lastName), 'the log holds her name sealed');
  t.same(body.profile, {
    id: alice.id,
    username,
    email: `${username}@example.com`,
    ...profile,
    role: 'customer',
    twoFactorEnabled: false,
    kycStatus: 'verified',
    createdAt: body.profile.createdAt,
    locale: 'en',
  });

  t.same(
    body.accounts.map((a: Record<string, unknown>) => [
      a.id,
      a.userId,
      a.type,
      a.balance,
      a.availableBalance,
    ]),
    [
      [checking.id, alice.id, 'checking', '64.65', '64.65'],
      [savings.id, alice.id, 'savings', '32.25', '32.25'],
    ],
    'her two accounts, in opening order, balances in decimal strings',
  );
  t.same(body.accounts[0].accountNumber, checking.accountNumber);
  t.equal(body.accountsTruncated, false);

  const lines = (i: number) =>
    body.statements[i].lines.map((l: Record<string, unknown>) => [
      l.direction,
      l.amount,
      l.balanceAfter,
      l.code,
    ]);
  t.same(
    body.statements.map((s: Record<string, unknown>) => [s.accountId, s.truncated]),
    [
      [checking.id, false],
      [savings.id, false],
    ],
  );
  t.same(
    lines(0),
    [
      ['debit', '5.10', '64.65', 'transfer'],
      ['debit', '30.25', '69.75', 'transfer'],
      ['credit', '100.00', '100.00', 'deposit'],
    ],
    'checking: newest first, with the balance after each',
  );
  t.same(
    lines(1),
    [
      ['credit', '2.00', '32.25', 'transfer'],
      ['credit', '30.25', '30.25', 'transfer'],
    ],
    'savings: her own transfer and the one bob sent her',
  );
  t.equal(body.statements[0].lines[0].counterparty, bobs.id, 'whom she paid is her data');

  t.same(body.notifications, []);
  t.same(body.consents, []);
  const types = body.securityEvents.map((e: { type: string }) => e.type);
  t.same(
    types.filter((type: string) => type.startsWith('Login')),
    ['LoginSucceeded', 'LoginFailed'],
    'her failed and her successful login, newest first',
  );
  const times = body.securityEvents.map((e: { at: string }) => Date.parse(e.at));
  t.same(
    times,
    [...times].sort((a, b) => b - a),
    'newest first',
  );
  t.equal(body.securityEventsTruncated, false);

  for (const text of [bob.id, bob.username, bobs.accountNumber, '"50.00"', '"55.10"', '"53.10"']) {
    t.notOk(response.body.includes(text), `nothing of bob's own: ${text}`);
  }
});

t.test('another customer gets their own export, nothing of hers', async (t) => {
  const response = await exportOf(bob.token);
  t.equal(response.statusCode, 200, response.body.slice(0, 300));
  const body = json(response);
  t.equal(body.profile.id, bob.id);
  t.same(
    body.accounts.map((a: Record<string, unknown>) => [a.id, a.balance]),
    [[bobs.id, '53.10']],
  );
  t.same(
    body.statements[0].lines.map((l: Record<string, unknown>) => [l.direction, l.amount, l.balanceAfter]),
    [
      ['debit', '2.00', '53.10'],
      ['credit', '5.10', '55.10'],
      ['credit', '50.00', '50.00'],
    ],
  );
  for (const text of [alice.id, username, profile.lastName, profile.phone, checking.accountNumber]) {
    t.notOk(response.body.includes(text), `nothing of alice's own: ${text}`);
  }
});

t.test('staff get their own export too', async (t) => {
  for (const [who, token, role] of [
    ['agent', agent.token, 'agent'],
    ['director', director, 'director'],
  ] as const) {
    const response = await exportOf(token, '');
    t.equal(response.statusCode, 200, `${who}: ${response.body.slice(0, 300)}`);
    t.equal(response.headers['cache-control'], 'no-store');
    const body = json(response);
    t.equal(body.profile.role, role, `${who}: their own profile`);
    t.same(body.accounts, [], `${who}: no customer's accounts`);
    t.same(body.statements, []);
    t.ok(
      body.securityEvents.some((e: { type: string }) => e.type === 'LoginSucceeded'),
      `${who}: their own login`,
    );
    t.notOk(response.body.includes(alice.id), `${who}: nothing of alice`);
  }
});

t.test('401 without a valid token', async (t) => {
  const none = await exportOf(undefined);
  assertProblem(t, none, 401, 'unauthorized');
  t.equal(none.headers['cache-control'], 'no-store');
  assertProblem(t, await exportOf('not.a.token'), 401, 'unauthorized');
});

t.test('a bad minPosition is a 400', async (t) => {
  assertProblem(t, await exportOf(alice.token, '?minPosition=soon'), 400, 'validation_failed');
});

t.test('bounded: the newest statement lines and security events, each saying it was cut', async (t) => {
  const carol = await customer();
  const account = await openAccount(carol);
  const position = (await deposit(account.id, '1.00')).position as string;
  const lineMax = exportLimits.statementLinesPerAccountMax;
  // Older lines than any the projector wrote (positions below every real one): more than
  // the bound, straight into the read model.
  await sql`
    INSERT INTO ${sql.id(accountsProjection.schema, 'statement_lines')}
      (position, account_id, transaction_id, posted_at, direction, amount, balance_after, counterparty, reference, code)
    SELECT n, ${account.id}::uuid, gen_random_uuid(), now() - interval '1 day', 'credit', 1, 0,
           gen_random_uuid(), NULL, 'deposit'
    FROM generate_series(1, ${lineMax + 1}) AS n`.execute(f.database.db);
  const eventsMax = exportLimits.securityEventsMax;
  const base = Date.now();
  const loggedOut = (n: number) => ({
    type: 'LoggedOut',
    schemaVersion: identityEventSchemaVersion,
    data: { userId: carol.id, at: new Date(base + n).toISOString(), familyId: null },
  });
  const stream = userStreamId(carol.id);
  await f.store.append([
    {
      streamId: stream,
      expectedVersion: 'exists',
      events: Array.from({ length: eventsMax }, (_, n) => loggedOut(n)),
    },
  ]);
  await f.store.append([{ streamId: stream, expectedVersion: 'exists', events: [loggedOut(eventsMax)] }]);

  const response = await exportOf(carol.token, `?minPosition=${position}`);
  t.equal(response.statusCode, 200, response.body.slice(0, 300));
  const body = json(response);
  const [statement] = body.statements;
  t.equal(statement.lines.length, lineMax, `the newest ${lineMax} lines`);
  t.equal(statement.truncated, true, 'older ones left out, and said so');
  t.match(
    statement.lines[0],
    { amount: '1.00', balanceAfter: '1.00', code: 'deposit' },
    'the real deposit first',
  );
  // The real line and the newest 9 999 made ones (positions 10 001 down to 3): 2 and 1 left out.
  t.equal(statement.lines.at(-1).position, '3', 'down to the bound, no further');
  t.equal(
    new Set(statement.lines.map((l: { position: string }) => l.position)).size,
    lineMax,
    'no line twice',
  );

  t.equal(body.securityEvents.length, eventsMax, `the newest ${eventsMax} security events`);
  t.equal(body.securityEventsTruncated, true);
  t.same(body.securityEvents[0], { type: 'LoggedOut', at: loggedOut(eventsMax).data.at }, 'the newest first');
  t.same(body.securityEvents.at(-1), { type: 'LoggedOut', at: loggedOut(1).data.at }, 'the oldest kept');
  t.notOk(
    body.securityEvents.some((e: { type: string }) => e.type === 'LoginSucceeded'),
    'her login is older than the newest thousand',
  );
});

t.test('past the wait: 503 read_model_behind, never an export without the write', async (t) => {
  await Promise.all(h.runners.map((r) => r.stop()));
  const position = await sent(alice, checking.id, savings.id, '1.00');
  const response = await exportOf(alice.token, `?minPosition=${position}`);
  assertProblem(t, response, 503, 'read_model_behind');
  t.match(response.headers['retry-after'], /^[1-9][0-9]*$/);
});

t.test('the OpenAPI document describes it', async (t) => {
  const doc = json(await get('/openapi.json'));
  const operation = doc.paths['/api/auth/me/export']?.get;
  t.ok(operation, 'GET /api/auth/me/export is documented');
  t.ok(operation?.responses?.['200'], 'with its 200');
  t.ok(operation?.responses?.['401'], 'and its 401');
  t.ok(operation?.responses?.['503'], 'and the 503 of a read model behind');
  t.ok(
    (operation?.parameters ?? []).some(
      (p: { name: string; in: string }) => p.name === 'minPosition' && p.in === 'query',
    ),
    'minPosition in the query',
  );
  t.ok(doc.components?.schemas?.DataExport, 'the body as a named schema');
});
