import { randomBytes } from 'node:crypto';
import { bearer, json, ledgerHarness, loginRequest, strongPassword } from '@ledger/api/testing';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { auditProjection } from '@ledger/projection-audit';
import { kycProjection } from '@ledger/projection-kyc';
import { usersProjection } from '@ledger/projection-users';
import { rebuildProjection } from '@ledger/readmodel';
import { sql } from 'kysely';
import t from 'tap';

// Issue #15, erasure (API.md Admin, POST /users/:id/erase): crypto-shredding through the
// API against real PostgreSQL and Redis. After it no clear personal field of the customer
// is anywhere (every table of every schema, the log lines), every chain still verifies, the
// trial balance is what it was, and every projection rebuilt from 0 equals the live one.

const projections = [
  auditProjection,
  usersProjection,
  accountsProjection,
  transactionsProjection,
  kycProjection,
];
const h = await ledgerHarness(t, 'api_erasure', {
  projections,
  waitForProjections: true,
  roles: ['agent', 'manager', 'auditor'],
  noStackTrace: true,
});
const { app, f, runners, assertProblem, customer, post, get, openAccount, deposit, transfer, login } = h;
const { agent, manager, auditor } = h.roles;
const dayMs = 24 * 3600 * 1000;

const tag = randomBytes(4).toString('hex');
const person = {
  username: `zquill_${tag}`,
  email: `zephyrine.${tag}@erase.example`,
  firstName: 'Zephyrine',
  lastName: `Quillfeather${tag}`,
  dateOfBirth: '1979-03-14',
  phone: '+33 6 12 34 56 78',
};
const newPhone = '+33 7 98 76 54 32';
/** Every clear value of the customer that ever reached the bank. */
const originals = [...Object.values(person), newPhone];

async function caughtUp() {
  const head = await f.store.lastWrittenPosition();
  for (const runner of runners) t.ok(await runner.waitFor(head, 10_000), 'read models caught up');
  return head;
}

/** Every row of every table of every schema of the database, as text. */
async function everyRow(): Promise<string> {
  const tables = await sql<{ schema: string; name: string }>`
    SELECT n.nspname AS schema, c.relname AS name FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'`.execute(f.database.db);
  const parts: string[] = [];
  for (const { schema, name } of tables.rows) {
    const { rows } = await sql<{
      row: string;
    }>`SELECT t::text AS row FROM ${sql.table(`${schema}.${name}`)} t`.execute(f.database.db);
    parts.push(...rows.map((r) => `${schema}.${name} ${r.row}`));
  }
  t.ok(
    tables.rows.some((r) => r.schema === 'es') && tables.rows.some((r) => r.schema === 'vault'),
    'the search covers the log and the vault',
  );
  return parts.join('\n');
}

const found = (haystack: string) =>
  originals.filter((value) => haystack.toLowerCase().includes(value.toLowerCase()));

/** The trial balance without the position it was read at (the erasure's event moves that). */
async function trialBalance() {
  const { position: _position, ...balances } = json(await get('/api/audit/trial-balance', auditor.token));
  return balances;
}

t.test('erasure: refused before the retention period, for staff and by non-directors', async (t) => {
  const registered = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { ...person, password: strongPassword },
  });
  t.equal(registered.statusCode, 201, registered.body);
  const id = json(registered).user.id as string;
  const token = await login(person.username);
  const patched = await app.inject({
    method: 'PATCH',
    url: '/api/auth/me',
    headers: bearer(token),
    payload: { phone: newPhone },
  });
  t.equal(patched.statusCode, 200, patched.body);
  t.equal(json(patched).user.phone, newPhone, 'the customer sees their fields in clear');
  t.equal((await loginRequest(app, person.username, 'a wrong password!!')).statusCode, 401);

  // Money through an account, then the account emptied and closed.
  const zq = { id, username: person.username, token };
  const friend = await customer();
  const friendAccount = await openAccount(friend);
  const account = await openAccount(zq);
  await deposit(account.id, '250.00');
  t.equal(
    (await transfer(zq, { fromAccountId: account.id, toAccountId: friendAccount.id, amount: '250.00' }))
      .statusCode,
    201,
  );
  const closed = await post(`/api/accounts/${account.id}/close`, token, undefined, null);
  t.equal(closed.statusCode, 200, closed.body);

  const erase = (who: string, userId = id) => post(`/api/admin/users/${userId}/erase`, who, undefined, null);
  const head = await f.store.lastWrittenPosition();
  assertProblem(t, await erase(h.director), 422, 'retention_period');
  f.clock.offsetMs = 1826 * dayMs;
  assertProblem(t, await erase(h.director), 422, 'retention_period');
  // A customer with an open account: the relationship goes on, however long ago it began.
  assertProblem(t, await erase(h.director, friend.id), 422, 'retention_period');
  f.clock.offsetMs = 1828 * dayMs;
  assertProblem(t, await erase(h.director, agent.id), 403, 'forbidden');
  assertProblem(t, await erase(h.director, auditor.id), 403, 'forbidden');
  assertProblem(t, await erase(manager.token), 403, 'forbidden');
  assertProblem(t, await erase(auditor.token), 403, 'forbidden');
  assertProblem(t, await erase(token), 403, 'forbidden');
  assertProblem(t, await post(`/api/admin/users/${id}/erase`, 'nope', undefined, null), 401, 'unauthorized');
  assertProblem(t, await erase(h.director, '00000000-0000-4000-8000-000000000000'), 404, 'not_found');
  assertProblem(t, await erase(h.director, 'not-a-uuid'), 400, 'validation_failed');
  t.same(
    (await f.store.readAll({ after: head, limit: 100 })).map((e) => e.type),
    [],
    'nothing written by any refusal',
  );
  f.clock.offsetMs = 0;
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(token) });
  t.equal(json(me).user.lastName, person.lastName, 'the refusals changed nothing');
});

t.test('erasure: every field unreadable everywhere; ledger, chains and rebuilds intact', async (t) => {
  const users = json(await get('/api/admin/users?limit=200', h.director)).items as Record<string, any>[];
  const id = users.find((u) => u.lastName === person.lastName)!.id as string;
  const oldToken = await login(person.username);
  await caughtUp();
  const before = await everyRow();
  t.same(found(before), [], 'no clear personal field in any table, even before (all sealed)');
  // ...but they are there, sealed: the registration's last name opens with the user's key.
  const [registeredEvent] = await f.store.readStream(`user-${id}`, { limit: 1 });
  const sealedLastName = (registeredEvent!.data as { lastName: string }).lastName;
  t.match(sealedLastName, /^pii1\./);
  t.equal((await f.vault.sealer(id)).open('lastName', sealedLastName), person.lastName);
  t.same(found(`${before}\n${person.lastName}`), [person.lastName], 'the search finds what is there');
  const balanceBefore = await trialBalance();
  t.match(JSON.stringify(balanceBefore), /"EUR"/, 'money moved in EUR');

  f.clock.offsetMs = 1828 * dayMs;
  const director = await login('chief', 'director password 2026');
  const erased = await post(`/api/admin/users/${id}/erase`, director, undefined, null);
  t.equal(erased.statusCode, 200, erased.body);
  t.match(json(erased).user, {
    id,
    username: '[erased]',
    email: '[erased]',
    firstName: null,
    lastName: null,
    dateOfBirth: null,
    phone: null,
    role: 'customer',
  });
  t.ok(json(erased).user.erasedAt, 'erasedAt set');
  t.equal(erased.headers['cache-control'], 'no-store');
  const again = await post(`/api/admin/users/${id}/erase`, director, undefined, null);
  t.equal(again.statusCode, 200, 'again: the same answer');
  t.equal(json(again).position, null, 'and nothing new written');

  // The user is gone for every purpose but the ledger's.
  t.equal(
    (await app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(oldToken) })).statusCode,
    401,
  );
  assertProblem(t, await loginRequest(app, person.username, strongPassword), 401, 'invalid_credentials');
  const key = await sql<{ wrapped_key: string | null; erased_at: Date | null }>`
    SELECT wrapped_key, erased_at FROM vault.subject_keys WHERE subject_id = ${id}`.execute(f.database.db);
  t.equal(key.rows[0]?.wrapped_key, null, 'the key is destroyed');
  t.ok(key.rows[0]?.erased_at);
  const credentials = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM vault.credentials WHERE user_id = ${id}`.execute(f.database.db);
  t.equal(credentials.rows[0]?.n, 0, 'no credential kept');

  await caughtUp();
  const listed = (
    json(await get('/api/admin/users?limit=200', director)).items as Record<string, any>[]
  ).find((u) => u.id === id);
  t.match(listed, { username: '[erased]', email: '[erased]', firstName: null, lastName: null, phone: null });
  const after = await everyRow();
  t.same(found(after), [], 'no clear personal field in any table');
  t.same(found(f.log.text()), [], 'nor in any log line');
  // The log still holds the sealed fields the chains cover: only the key is gone.
  const sealed = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM es.events WHERE stream_id = ${`user-${id}`} AND data::text LIKE '%pii1.%'`.execute(
    f.database.db,
  );
  t.ok((sealed.rows[0]?.n ?? 0) >= 2, 'the sealed events are still in the log, unchanged');
  t.equal((await f.vault.sealer(id)).open('lastName', sealedLastName), null, 'and nothing opens them');

  const verified = json(await get('/api/audit/verify', auditor.token));
  t.match(verified, { ok: true, firstBadEvent: null }, 'every chain verifies');
  t.same(await trialBalance(), balanceBefore, 'the trial balance is unchanged');
  const statement = await get(`/api/transactions?limit=200`, auditor.token);
  t.equal(statement.statusCode, 200);

  const head = await caughtUp();
  for (const projection of projections) {
    const schema = `${projection.schema}_erasure_rebuild`;
    await rebuildProjection({ db: f.database.db, store: f.store, projection, schema, to: head });
    const tables = await sql<{ name: string }>`
      SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = ${projection.schema} AND table_type = 'BASE TABLE'
        AND table_name NOT IN ('migrations', 'migrations_lock')`.execute(f.database.db);
    t.ok(tables.rows.length > 0, `${projection.name} has tables`);
    for (const { name } of tables.rows) {
      const live = sql.table(`${projection.schema}.${name}`);
      const rebuilt = sql.table(`${schema}.${name}`);
      const diff = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM (
          (TABLE ${live} EXCEPT ALL TABLE ${rebuilt}) UNION ALL (TABLE ${rebuilt} EXCEPT ALL TABLE ${live})
        ) d`.execute(f.database.db);
      t.equal(diff.rows[0]?.n, 0, `${projection.name}.${name}: the rebuild equals the live table`);
    }
  }
  f.clock.offsetMs = 0;
});

t.test('a crash after the key was destroyed, before the event: erasing again completes it', async (t) => {
  const gone = await customer();
  f.clock.offsetMs = 1828 * dayMs;
  t.teardown(() => {
    f.clock.offsetMs = 0;
  });
  // What the use case does first, alone: as if the process died right after it.
  await f.vault.erase(gone.id, new Date());
  const before = await f.store.readStream(`user-${gone.id}`);
  t.notOk(
    before.some((e) => e.type === 'PersonalDataErased'),
    'not marked erased yet: the director sees it so',
  );
  const director = await login('chief', 'director password 2026');
  const erased = await post(`/api/admin/users/${gone.id}/erase`, director, undefined, null);
  t.equal(erased.statusCode, 200, erased.body);
  t.not(json(erased).position, null, 'the event is appended now');
  t.match(json(erased).user, { username: '[erased]', erasedAt: String });
  const after = await f.store.readStream(`user-${gone.id}`);
  t.equal(after.filter((e) => e.type === 'PersonalDataErased').length, 1, 'once');
  assertProblem(t, await loginRequest(app, gone.username, strongPassword), 401, 'invalid_credentials');
});
