import { randomBytes, randomUUID } from 'node:crypto';
import { type Database, openDatabase } from '@ledger/platform';
import { createTestDatabase } from '@ledger/testkit';
import { type Kysely, type KyselyPlugin, sql } from 'kysely';
import t, { type Test } from 'tap';
import { deriveMasterKeys, openField, sealField, unwrapSubjectKey } from './crypto.js';
import {
  DataKeyMismatch,
  dataKeyLengthMin,
  sealedFieldPattern,
  UnknownSubject,
  Vault,
  vaultMigrations,
  vaultSchema,
} from './index.js';

// Real PostgreSQL: every test gets its own fresh database; a "process" is its own pool on it.

const keyA = `vault-test-key-A-${randomBytes(24).toString('base64url')}`;
const keyB = `vault-test-key-B-${randomBytes(24).toString('base64url')}`;

interface Fixture {
  url: string;
  /** The first process's database. */
  db: Kysely<any>;
  /** Another process: its own pool on the same database. */
  open(): Promise<Kysely<any>>;
}

async function fixture(t: Test): Promise<Fixture> {
  const testDb = await createTestDatabase('vault_test');
  const opened: Database[] = [];
  const open = async () => {
    const database = await openDatabase({
      databaseUrl: testDb.url,
      dataDir: '/nonexistent',
      applicationName: 'vault-test',
    });
    opened.push(database);
    return database.db;
  };
  const db = await open();
  t.teardown(async () => {
    for (const database of opened) await database.close();
    await testDb.drop();
  });
  return { url: testDb.url, db, open };
}

/** Every row of every table of the vault schema (as PostgreSQL prints a row), and its sequences. */
async function dumpVault(db: Kysely<any>): Promise<Record<string, string[]>> {
  const { rows: tables } = await sql<{ name: string }>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = ${vaultSchema} ORDER BY table_name`.execute(db);
  const dump: Record<string, string[]> = {};
  for (const { name } of tables) {
    const { rows } = await sql<{ row: string }>`
      SELECT t::text AS row FROM ${sql.id(vaultSchema, name)} t ORDER BY 1`.execute(db);
    dump[name] = rows.map((r) => r.row);
  }
  const { rows: sequences } = await sql<{ name: string; last: string | null }>`
    SELECT sequencename AS name, last_value::text AS last FROM pg_sequences
    WHERE schemaname = ${vaultSchema} ORDER BY sequencename`.execute(db);
  for (const s of sequences) dump[`sequence ${s.name}`] = [String(s.last)];
  return dump;
}

async function migrationNames(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT name FROM vault.migrations ORDER BY name`.execute(db);
  return rows.map((r) => r.name);
}

async function schemaExists(db: Kysely<any>, schema: string): Promise<boolean> {
  const { rows } = await sql<{ exists: boolean }>`
    SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${schema}) AS exists`.execute(db);
  return rows[0]?.exists === true;
}

async function subjectRow(db: Kysely<any>, subjectId: string) {
  const { rows } = await sql<{ wrapped_key: string | null; erased_at: Date | null }>`
    SELECT wrapped_key, erased_at FROM vault.subject_keys WHERE subject_id = ${subjectId}`.execute(db);
  return rows;
}

/** The ways a secret could show in a text column. */
function encodings(value: Buffer | string): string[] {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const out = [bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')];
  if (typeof value === 'string') out.push(value);
  return out;
}

t.test('seal and open round trip, across sealers, instances and processes', async (t) => {
  const { db, open } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const subjectId = randomUUID();
  const sealer = await vault.createSubject(subjectId);
  t.equal(sealer.subjectId, subjectId);
  t.equal(sealer.readable, true);

  for (const value of ['Amina', '', 'Zoë Ångström 🙂', 'x'.repeat(5000)]) {
    const sealed = sealer.seal('firstName', value);
    t.match(sealed, sealedFieldPattern, 'looks like a sealed field');
    t.equal(sealer.open('firstName', sealed), value, `round trip of ${JSON.stringify(value.slice(0, 20))}`);
  }
  const once = sealer.seal('firstName', 'Amina');
  const twice = sealer.seal('firstName', 'Amina');
  t.not(once, twice, 'a fresh IV each time: equal values do not give equal ciphertexts');

  const again = await vault.sealer(subjectId);
  t.equal(again.open('firstName', once), 'Amina', 'the sealer looked up later opens it');

  const other = await Vault.open(await open(), keyA, { keyCacheTtlMs: 0 });
  const otherSealer = await other.sealer(subjectId);
  t.equal(otherSealer.open('firstName', once), 'Amina', 'another process with the same DATA_KEY opens it');
  t.equal(sealer.open('phone', otherSealer.seal('phone', '+213 555')), '+213 555', 'and the other way round');

  const many = await vault.sealers([subjectId, subjectId, randomUUID()]);
  t.same([...many.keys()], [subjectId], 'sealers: a subject without a key is left out, duplicates once');
  await t.rejects(vault.sealer(randomUUID()), UnknownSubject, 'sealer of an unknown subject');
  t.equal(
    (await vault.createSubject(subjectId)).open('firstName', once),
    'Amina',
    'createSubject is idempotent',
  );
});

t.test('a sealed value is bound to its subject and field (GCM additional data)', async (t) => {
  const { db } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const alice = randomUUID();
  const bob = randomUUID();
  const aliceSealer = await vault.createSubject(alice);
  const bobSealer = await vault.createSubject(bob);
  const sealed = aliceSealer.seal('firstName', 'Alice');

  t.throws(() => bobSealer.open('firstName', sealed), 'another subject cannot open it');
  t.throws(() => aliceSealer.open('lastName', sealed), 'nor can it pass for another field');
  t.throws(() => aliceSealer.open('phone', sealed), 'nor for a phone');

  // The same subject key under another subject's name: the AAD alone must refuse it.
  const [aliceRow] = await subjectRow(db, alice);
  await sql`UPDATE vault.subject_keys SET wrapped_key = ${aliceRow!.wrapped_key} WHERE subject_id = ${bob}`.execute(
    db,
  );
  const swapped = await Vault.open(db, keyA, { keyCacheTtlMs: 0 });
  await t.rejects(swapped.sealer(bob), 'a wrapped key copied to another subject does not unwrap');

  const [iv, body, tag] = sealed.slice('pii1.'.length).split('.') as [string, string, string];
  const flip = (s: string) => (s[0] === 'A' ? `B${s.slice(1)}` : `A${s.slice(1)}`);
  t.throws(() => aliceSealer.open('firstName', `pii1.${iv}.${flip(body)}.${tag}`), 'a changed ciphertext');
  t.throws(() => aliceSealer.open('firstName', `pii1.${iv}.${body}.${flip(tag)}`), 'a changed tag');
  t.throws(() => aliceSealer.open('firstName', `pii1.${flip(iv)}.${body}.${tag}`), 'a changed IV');
  t.throws(() => aliceSealer.open('firstName', 'Alice'), /not a sealed field/, 'a clear value');
  t.equal(aliceSealer.open('firstName', sealed), 'Alice', 'the original still opens');
});

t.test('the database holds neither the clear subject keys, DATA_KEY, nor the clear fields', async (t) => {
  const { db } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const subjectId = randomUUID();
  const sealer = await vault.createSubject(subjectId);
  const clear = 'Very-Distinctive-Surname';
  const sealed = sealer.seal('lastName', clear);
  for (const encoded of encodings(clear)) t.notOk(sealed.includes(encoded), `sealed value lacks ${encoded}`);

  const [row] = await subjectRow(db, subjectId);
  const wrapped = row!.wrapped_key!;
  const masterKeys = deriveMasterKeys(keyA);
  const subjectKey = unwrapSubjectKey(masterKeys, subjectId, wrapped);
  t.equal(subjectKey.length, 32, 'the stored value unwraps (with DATA_KEY) to a 256-bit key');
  t.equal(openField(subjectKey, subjectId, 'lastName', sealed), clear, 'the unwrapped key opens the field');
  t.equal(sealer.open('lastName', sealField(subjectKey, subjectId, 'lastName', 'x')), 'x');

  const everything = JSON.stringify(await dumpVault(db));
  const secrets: [string, Buffer | string][] = [
    ['the subject key', subjectKey],
    ['DATA_KEY', keyA],
    ['the wrapping key', masterKeys.wrap],
    ['the index key', masterKeys.index],
    ['the check key', masterKeys.check],
  ];
  for (const [what, secret] of secrets) {
    t.notOk(
      encodings(secret).some((encoded) => everything.includes(encoded)),
      `no row of the vault holds ${what} in the clear`,
    );
  }
});

t.test('erase: the key is destroyed, its fields unreadable, its credentials gone; idempotent', async (t) => {
  const { db, open } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const subjectId = randomUUID();
  const bystander = randomUUID();
  const sealer = await vault.createSubject(subjectId);
  const bystanderSealer = await vault.createSubject(bystander);
  const sealed = sealer.seal('firstName', 'Erased');
  const bystanderSealed = bystanderSealer.seal('firstName', 'Kept');
  const passwordId = await vault.credentials.put(subjectId, 'password', '$2b$hash-of-subject');
  const totpId = await vault.credentials.put(subjectId, 'totp', 'sealed-totp-of-subject');
  const bystanderPassword = await vault.credentials.put(bystander, 'password', '$2b$hash-of-bystander');

  const erasedAt = new Date('2026-01-02T03:04:05.000Z');
  await vault.erase(subjectId, erasedAt);

  const after = await vault.sealer(subjectId);
  t.equal(after.readable, false, 'not readable');
  t.equal(after.open('firstName', sealed), null, 'open gives null');
  t.throws(() => after.seal('firstName', 'new'), UnknownSubject, 'seal throws');
  await t.rejects(vault.createSubject(subjectId), UnknownSubject, 'no new key for an erased subject');
  const [row] = await subjectRow(db, subjectId);
  t.equal(row!.wrapped_key, null, 'the wrapped key is gone from the database');
  t.equal(row!.erased_at?.toISOString(), erasedAt.toISOString(), 'the row stays, marked erased');

  t.equal(await vault.credentials.get(subjectId, passwordId), null, 'password hash gone');
  t.equal(await vault.credentials.get(subjectId, totpId), null, 'TOTP secret gone');
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM vault.credentials WHERE user_id = ${subjectId}`.execute(db);
  t.equal(rows[0]!.n, 0, 'no credential row of the user is left');

  await vault.erase(subjectId, new Date('2027-01-01T00:00:00.000Z'));
  const [rowAgain] = await subjectRow(db, subjectId);
  t.equal(rowAgain!.erased_at?.toISOString(), erasedAt.toISOString(), 'erasing again keeps the first time');
  t.equal((await vault.sealer(subjectId)).readable, false, 'still erased');

  const fresh = await Vault.open(await open(), keyA);
  const seenFresh = await fresh.sealer(subjectId);
  t.equal(seenFresh.open('firstName', sealed), null, 'a process started afterwards cannot read it either');
  await t.rejects(fresh.createSubject(subjectId), UnknownSubject);

  t.equal((await vault.sealer(bystander)).open('firstName', bystanderSealed), 'Kept', 'others are untouched');
  t.equal(await vault.credentials.get(bystander, bystanderPassword), '$2b$hash-of-bystander');

  // Erasing a subject the vault never saw leaves a tombstone: it can never get a key.
  const never = randomUUID();
  await vault.erase(never, erasedAt);
  await t.rejects(vault.createSubject(never), UnknownSubject, 'erased before it was ever created');
  t.equal((await vault.sealer(never)).readable, false);
});

t.test('another process sees an erasure at once with keyCacheTtlMs 0, else after its TTL', async (t) => {
  const { db, open } = await fixture(t);
  const eraser = await Vault.open(db, keyA);
  const uncached = await Vault.open(await open(), keyA, { keyCacheTtlMs: 0 });
  const cached = await Vault.open(await open(), keyA, { keyCacheTtlMs: 60_000 });
  const subjectId = randomUUID();
  const sealed = (await eraser.createSubject(subjectId)).seal('email', 'someone@example.com');
  t.equal((await uncached.sealer(subjectId)).open('email', sealed), 'someone@example.com');
  t.equal((await cached.sealer(subjectId)).open('email', sealed), 'someone@example.com');

  await eraser.erase(subjectId, new Date());
  const seen = await uncached.sealer(subjectId);
  t.equal(seen.readable, false, 'the TTL-0 process sees the erasure at once');
  t.equal(seen.open('email', sealed), null);
  await t.rejects(uncached.createSubject(subjectId), UnknownSubject);
  // The documented window (vaultDefaults.keyCacheTtlMs): a process that cached the key keeps it
  // until its TTL; this asserts the cache is what it says, not that it is desirable.
  t.equal(
    (await cached.sealer(subjectId)).readable,
    true,
    'a process with a 60 s TTL still holds its cached key (documented window)',
  );
});

t.test('credentials: put/get, retire keeps newer rows, removeAll by user and kind', async (t) => {
  const { db } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const { credentials } = vault;
  const user = randomUUID();
  const other = randomUUID();

  const p1 = await credentials.put(user, 'password', 'hash-1');
  const p2 = await credentials.put(user, 'password', 'hash-2');
  const p3 = await credentials.put(user, 'password', 'hash-3');
  const t1 = await credentials.put(user, 'totp', 'totp-1');
  const t2 = await credentials.put(user, 'totp', 'totp-2');
  const o1 = await credentials.put(other, 'password', 'other-hash-1');
  t.match(p1, /^[0-9a-f-]{36}$/, 'put returns an id');
  t.equal(new Set([p1, p2, p3, t1, t2, o1]).size, 6, 'a new id each time');

  t.equal(await credentials.get(user, p2), 'hash-2');
  t.equal(await credentials.get(user, t1), 'totp-1');
  t.equal(await credentials.get(other, p2), null, "another user's id gives null");
  t.equal(await credentials.get(user, o1), null, 'and the other way round');
  t.equal(await credentials.get(user, randomUUID()), null, 'an unknown id gives null');

  await credentials.retire(user, 'password', randomUUID());
  t.equal(await credentials.get(user, p1), 'hash-1', 'retire naming an unknown id removes nothing');
  await credentials.retire(other, 'password', p2);
  t.equal(await credentials.get(user, p1), 'hash-1', "retire with another user's id removes nothing");
  t.equal(await credentials.get(other, o1), 'other-hash-1');

  await credentials.retire(user, 'password', p2);
  t.equal(await credentials.get(user, p1), null, 'the older password is removed');
  t.equal(await credentials.get(user, p2), 'hash-2', 'the current one is kept');
  t.equal(await credentials.get(user, p3), 'hash-3', 'a newer one (a concurrent change) is kept');
  t.equal(await credentials.get(user, t1), 'totp-1', 'other kinds are kept');
  t.equal(await credentials.get(other, o1), 'other-hash-1', "other users' rows are kept");

  await credentials.retire(user, 'totp', t2);
  t.equal(await credentials.get(user, t1), null, 'older TOTP secret removed');
  t.equal(await credentials.get(user, t2), 'totp-2');
  t.equal(await credentials.get(user, p2), 'hash-2', 'passwords untouched by a TOTP retire');

  await credentials.removeAll(user, 'totp');
  t.equal(await credentials.get(user, t2), null, 'removeAll(user, totp) removes the TOTP secrets');
  t.equal(await credentials.get(user, p2), 'hash-2', 'but not the passwords');
  t.equal(await credentials.get(user, p3), 'hash-3');

  await credentials.removeAll(user);
  t.equal(await credentials.get(user, p2), null, 'removeAll(user) removes every credential');
  t.equal(await credentials.get(user, p3), null);
  t.equal(await credentials.get(other, o1), 'other-hash-1', 'of that user only');
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM vault.credentials WHERE user_id = ${user}`.execute(db);
  t.equal(rows[0]!.n, 0);
});

t.test('concurrent createSubject of one subject, from two processes, makes one key', async (t) => {
  const { db, open } = await fixture(t);
  const first = await Vault.open(db, keyA);
  const second = await Vault.open(await open(), keyA);
  const subjectId = randomUUID();
  const sealers = await Promise.all(
    Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? first : second).createSubject(subjectId)),
  );
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM vault.subject_keys WHERE subject_id = ${subjectId}`.execute(db);
  t.equal(rows[0]!.n, 1, 'one row');
  let interoperate = true;
  for (const [i, sealer] of sealers.entries()) {
    const sealed = sealer.seal('firstName', `from ${i}`);
    for (const other of sealers) if (other.open('firstName', sealed) !== `from ${i}`) interoperate = false;
  }
  t.ok(interoperate, 'every sealer opens what every other sealed: one key');
});

t.test('keyedHash: case-insensitive, per kind, per DATA_KEY, stable', async (t) => {
  const { db, open } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const sameKey = Vault.deferred(await open(), keyA);
  const otherKey = Vault.deferred(db, keyB);

  const h = vault.keyedHash('username', 'Alice');
  t.match(h, /^[A-Za-z0-9_-]{43}$/, 'a base64url HMAC-SHA256');
  t.equal(vault.keyedHash('username', 'alice'), h, 'case-insensitive');
  t.equal(vault.keyedHash('username', 'ALICE'), h);
  t.equal(sameKey.keyedHash('username', 'aLiCe'), h, 'stable across instances with the same DATA_KEY');
  t.not(vault.keyedHash('username', 'alice2'), h, 'another value differs');
  t.not(vault.keyedHash('email', 'Alice'), h, 'another kind differs');
  t.not(otherKey.keyedHash('username', 'Alice'), h, 'another DATA_KEY differs');
  t.notOk(h.toLowerCase().includes('alice'), 'the hash does not carry the name');
  // Kind and value are separated: ("ab", "c") is not ("a", "bc").
  t.not(vault.keyedHash('ab', 'c'), vault.keyedHash('a', 'bc'));
  t.notOk(await schemaExists(db, 'nothing'), 'keyedHash needs no database');
});

t.test('the key cache is bounded (keyCacheSizeMax) and least recently used goes first', async (t) => {
  const { db, open } = await fixture(t);
  const writer = await Vault.open(db, keyA);
  const reader = await Vault.open(await open(), keyA, { keyCacheSizeMax: 2, keyCacheTtlMs: 60_000 });
  const cacheSize = () => (reader as unknown as { cache: Map<string, unknown> }).cache.size;
  const [s1, s2, s3, s4] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  for (const s of [s1, s2, s3, s4]) await writer.createSubject(s);

  for (const s of [s1, s2, s3]) await reader.sealer(s);
  t.equal(cacheSize(), 2, 'three keys read, two kept');
  await reader.sealer(s2); // a hit: s2 is now the most recently used, s3 the least
  await reader.sealer(s4); // evicts s3
  // Erase all four behind the reader's back: only keys it no longer caches show the erasure.
  for (const s of [s1, s2, s3, s4]) await writer.erase(s, new Date());
  t.equal((await reader.sealer(s1)).readable, false, 's1 was evicted: read again, erased');
  t.equal((await reader.sealer(s3)).readable, false, 's3 (least recently used) was evicted');
  t.equal(cacheSize(), 2);

  // Many subjects at once (more than one batch of keys): every one answered, the cache stays bounded.
  const many = Array.from({ length: 1200 }, () => randomUUID());
  for (let i = 0; i < many.length; i += 100) {
    await Promise.all(many.slice(i, i + 100).map((s) => writer.createSubject(s)));
  }
  const sealers = await reader.sealers(many);
  t.equal(sealers.size, many.length, 'sealers() answers for every subject, past one batch');
  t.ok(
    many.every((s) => sealers.get(s)?.readable === true),
    'all readable',
  );
  t.ok(cacheSize() <= 2, `the cache holds at most keyCacheSizeMax (${cacheSize()})`);

  const unbounded = await Vault.open(db, keyA);
  await unbounded.sealers(many);
  t.equal(
    (unbounded as unknown as { cache: Map<string, unknown> }).cache.size,
    many.length,
    'the default bound (10 000) keeps them all',
  );
});

t.test('a wrong DATA_KEY throws DataKeyMismatch and writes nothing', async (t) => {
  const { db, open } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const subjectId = randomUUID();
  const sealed = (await vault.createSubject(subjectId)).seal('firstName', 'Before');
  await vault.credentials.put(subjectId, 'password', 'hash');
  await vault.erase(randomUUID(), new Date());
  const before = await dumpVault(db);
  const migrationsBefore = await migrationNames(db);
  t.same(migrationsBefore, Object.keys(vaultMigrations).sort());
  t.equal(before.master?.length, 1, 'one check value recorded');

  // A later version with a pending migration: the wrong key must stop before it runs too.
  const probe = '9999_probe_must_not_run';
  vaultMigrations[probe] = {
    async up(db: Kysely<any>) {
      await db.schema.createTable('probe').addColumn('id', 'integer').execute();
    },
  };
  t.teardown(() => {
    delete vaultMigrations[probe];
  });

  const otherDb = await open();
  const error = await Vault.open(otherDb, keyB).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(error, DataKeyMismatch, 'Vault.open with another key throws DataKeyMismatch');
  t.match((error as Error).message, /DATA_KEY/, 'the message names DATA_KEY');

  // A deferred vault with the wrong key refuses every write, and keeps refusing.
  const deferred = Vault.deferred(otherDb, keyB);
  await t.rejects(deferred.createSubject(randomUUID()), DataKeyMismatch, 'createSubject refused');
  await t.rejects(deferred.credentials.put(subjectId, 'password', 'x'), DataKeyMismatch, 'put refused');
  await t.rejects(deferred.credentials.removeAll(subjectId), DataKeyMismatch, 'removeAll refused');
  await t.rejects(deferred.credentials.retire(subjectId, 'password', randomUUID()), DataKeyMismatch);
  await t.rejects(deferred.erase(subjectId, new Date()), DataKeyMismatch, 'erase refused');
  await t.rejects(deferred.sealer(subjectId), DataKeyMismatch, 'even reading a key is refused');
  await t.rejects(deferred.ready(), DataKeyMismatch, 'and again on retry');

  t.same(await dumpVault(db), before, 'every row of every vault table, and its sequences, unchanged');
  t.same(await migrationNames(db), migrationsBefore, 'no migration row appeared');
  const { rows } = await sql<{ exists: boolean }>`
    SELECT to_regclass('vault.probe') IS NOT NULL AS exists`.execute(db);
  t.equal(rows[0]!.exists, false, 'the pending migration did not run');

  // The right key still works, and runs the pending migration.
  const reopened = await Vault.open(otherDb, keyA);
  t.equal((await reopened.sealer(subjectId)).open('firstName', sealed), 'Before');
  t.ok((await migrationNames(db)).includes(probe), 'with the right key the pending migration runs');
});

t.test('a DATA_KEY shorter than 32 characters is refused before the database is touched', async (t) => {
  const { db } = await fixture(t);
  t.equal(dataKeyLengthMin, 32);
  const short = 'k'.repeat(dataKeyLengthMin - 1);
  t.throws(() => Vault.deferred(db, short), RangeError, 'deferred throws at once');
  await t.rejects(Vault.open(db, short), /at least 32 characters/, 'open rejects');
  await t.rejects(Vault.open(db, ''), RangeError, 'an empty key too');
  t.notOk(await schemaExists(db, vaultSchema), 'nothing was created');
  const exact = await Vault.open(db, 'k'.repeat(dataKeyLengthMin));
  t.ok(await schemaExists(db, vaultSchema), 'exactly 32 characters is accepted');
  t.equal((await exact.createSubject(randomUUID())).readable, true);
});

t.test('two first starts with different keys at once: one wins, the other stops', async (t) => {
  for (let round = 0; round < 3; round++) {
    const { db, open } = await fixture(t);
    const other = await open();
    const results = await Promise.allSettled([Vault.open(db, keyA), Vault.open(other, keyB)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.equal(won.length, 1, `round ${round}: exactly one opens`);
    t.equal(lost.length, 1);
    t.type(lost[0]?.reason, DataKeyMismatch, 'the other gets DataKeyMismatch');
    const winnerKey = results[0]!.status === 'fulfilled' ? keyA : keyB;
    const loserKey = winnerKey === keyA ? keyB : keyA;
    await t.resolves(Vault.open(db, winnerKey), 'the winner key opens it afterwards');
    await t.rejects(Vault.open(db, loserKey), DataKeyMismatch, 'the loser key never does');
  }
});

t.test('an erasure is not undone by a key lookup of the same process that was in flight', async (t) => {
  const { db } = await fixture(t);
  const writer = await Vault.open(db, keyA);
  const subjectId = randomUUID();
  const sealed = (await writer.createSubject(subjectId)).seal('firstName', 'Stale');

  // Holds the result of a key lookup (a row with wrapped_key) until released: the lookup has
  // read the key, the erasure then runs to the end, and only then does the lookup go on.
  let gate: { arrived: () => void; held: Promise<void> } | undefined;
  const holdKeyLookups: KyselyPlugin = {
    transformQuery: (args) => args.node,
    async transformResult(args) {
      const current = gate;
      if (current && args.result.rows.some((row) => 'wrapped_key' in (row as object))) {
        current.arrived();
        await current.held;
      }
      return args.result;
    },
  };
  const vault = await Vault.open(db.withPlugin(holdKeyLookups), keyA);

  let release!: () => void;
  let arrived!: () => void;
  const lookupArrived = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  gate = {
    arrived,
    held: new Promise<void>((resolve) => {
      release = resolve;
    }),
  };
  const inFlight = vault.sealer(subjectId);
  await lookupArrived;
  await vault.erase(subjectId, new Date());
  release();
  await inFlight; // it began before the erasure: whatever it answers is of before
  gate = undefined;

  const after = await vault.sealer(subjectId);
  t.equal(after.readable, false, 'this process, which erased the subject, no longer reads it');
  t.equal(after.open('firstName', sealed), null);
});

t.test('subject ids in upper case are the same subjects; retire keeps to its kind', async (t) => {
  const { db } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const id = randomUUID();
  const upper = id.toUpperCase();
  const sealed = (await vault.createSubject(upper)).seal('email', 'ann@example.com');
  t.equal((await vault.sealer(id)).open('email', sealed), 'ann@example.com', 'made upper, read lower');
  const found = await vault.sealers([upper, id]);
  t.same([...found.keys()], [upper, id], 'keyed by the ids as given');
  t.equal(found.get(upper)?.open('email', sealed), 'ann@example.com');
  await vault.erase(upper, new Date());
  t.equal((await vault.sealer(id)).readable, false, 'erased under either spelling');

  const user = randomUUID();
  const password = await vault.credentials.put(user, 'password', 'hash-1');
  const totp = await vault.credentials.put(user, 'totp', 'secret-1');
  await vault.credentials.retire(user, 'password', totp);
  t.equal(await vault.credentials.get(user, password), 'hash-1', 'an id of another kind retires nothing');
  await vault.credentials.retire(user, 'totp', totp);
  t.equal(await vault.credentials.get(user, totp), 'secret-1', 'the current one stays');
});

t.test('files sealed for a subject: bound to it and their name, unreadable once erased', async (t) => {
  const { db } = await fixture(t);
  const vault = await Vault.open(db, keyA);
  const [a, b] = [randomUUID(), randomUUID()];
  const sealerA = await vault.createSubject(a);
  await vault.createSubject(b);
  const bytes = randomBytes(5000);
  const sealed = sealerA.sealBytes('doc', bytes);
  t.notOk(sealed.includes(bytes.subarray(0, 32)), 'not in clear');
  t.ok(sealerA.openBytes('doc', sealed)?.equals(bytes), 'round trip');
  t.throws(() => sealerA.openBytes('other', sealed), 'bound to its name');
  t.throws(() => {
    const flipped = Buffer.from(sealed);
    flipped[30] = (flipped[30] ?? 0) ^ 1;
    sealerA.openBytes('doc', flipped);
  }, 'tampering is caught');
  const sealerB = await vault.sealer(b);
  t.throws(() => sealerB.openBytes('doc', sealed), 'bound to its subject');
  await vault.erase(a, new Date());
  const erased = await vault.sealer(a);
  t.equal(erased.openBytes('doc', sealed), null);
  t.throws(() => erased.sealBytes('doc', bytes));
});
