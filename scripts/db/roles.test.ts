/**
 * infra/postgres on a database of its own: roles.sql, every migration as the owner,
 * grants.sql (scripts/db/roles.ts); then what each service role can and cannot do. Roles are
 * server-wide, so this file's roles carry a prefix of their own and are dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { chainCheckpointEventType, PostgresEventStore } from '@ledger/eventstore';
import { createLogger, type Database, openDatabase } from '@ledger/platform';
import { startProjector } from '@ledger/projector';
import { createTestDatabase, testServerUrl } from '@ledger/testkit';
import pg from 'pg';
import t from 'tap';
import { applyRoles, prefixedRoles, type Roles, readInfraSql } from './roles.js';

const testTimeoutMs = 90_000;
const logger = createLogger({ level: 'silent', name: 'roles-test' });

async function dropRoles(roles: Roles): Promise<void> {
  const admin = new pg.Client({ connectionString: testServerUrl });
  await admin.connect();
  try {
    for (const role of Object.values(roles))
      await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  } finally {
    await admin.end();
  }
}

/** Runs `sql` as `role`; resolves with the error PostgreSQL answered, or null. */
async function refusal(url: string, sql: string): Promise<{ code: string; message: string } | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
    return null;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    return { code: e.code ?? '', message: e.message ?? '' };
  } finally {
    await client.end();
  }
}

function loginUrl(databaseUrl: string, role: string): string {
  const u = new URL(databaseUrl);
  u.username = role;
  u.password = '';
  return u.toString();
}

t.test(
  'roles, migrations as the owner, grants: each role can do its part and no more',
  {
    timeout: testTimeoutMs,
  },
  async (t) => {
    const db = await createTestDatabase('ledger_roles');
    const roles = prefixedRoles(`lr${randomBytes(3).toString('hex')}`);
    t.teardown(async () => {
      await db.drop();
      await dropRoles(roles);
    });

    await applyRoles({
      adminUrl: db.url,
      roles,
      passwords: { ledger_app: 'app', ledger_projector: 'projector' },
    });
    // Again: it runs before every deployment.
    await applyRoles({ adminUrl: db.url, roles });

    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    t.teardown(() => admin.end());

    const { rows: schemas } = await admin.query<{ name: string; owner: string }>(
      `SELECT nspname AS name, pg_get_userbyid(nspowner) AS owner FROM pg_namespace
      WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
    );
    const present = schemas.map((s) => s.name);
    for (const expected of [
      'es',
      'readmodel',
      'vault',
      'auth',
      'mail',
      'accounts',
      'transactions',
      'users',
    ]) {
      t.ok(present.includes(expected), `schema ${expected} made by the migrations`);
    }
    t.same(
      schemas.filter((s) => s.owner !== roles.ledger_owner),
      [],
      'the owner owns every schema',
    );
    const { rows: notOwned } = await admin.query(
      `SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f')
        AND pg_get_userbyid(c.relowner) <> $2`,
      [present, roles.ledger_owner],
    );
    t.same(notOwned, [], 'and every table and sequence in them');

    t.test('every schema present is granted, table by table: none can slip through', async (t) => {
      const { rows } = await admin.query<{ schema: string; table: string; readers: string[] }>(
        `SELECT n.nspname AS schema, c.relname AS table,
              array_remove(ARRAY[
                CASE WHEN has_table_privilege($2, c.oid, 'SELECT') THEN 'app' END,
                CASE WHEN has_table_privilege($3, c.oid, 'SELECT') THEN 'projector' END], NULL) AS readers
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') ORDER BY 1, 2`,
        [present, roles.ledger_app, roles.ledger_projector],
      );
      for (const schema of present) {
        const { rows: usage } = await admin.query(
          `SELECT has_schema_privilege($1, $3, 'USAGE') OR has_schema_privilege($2, $3, 'USAGE') AS ok`,
          [roles.ledger_app, roles.ledger_projector, schema],
        );
        t.ok(usage[0].ok, `a service role may use schema ${schema}`);
        t.ok(
          rows.some((r) => r.schema === schema),
          `schema ${schema} has tables`,
        );
      }
      t.same(
        rows.filter((r) => r.readers.length === 0).map((r) => `${r.schema}.${r.table}`),
        [],
        'every table is readable by the service role that uses it',
      );

      // A schema the code would add tomorrow: grants.sql refuses to finish, naming it.
      await admin.query(`SET ROLE ${pg.escapeIdentifier(roles.ledger_owner)}`);
      await admin.query('CREATE SCHEMA tomorrow; CREATE TABLE tomorrow.things (id int)');
      const refused = await admin.query(await readInfraSql('grants.sql', roles)).then(
        () => null,
        (error: Error) => error.message,
      );
      t.match(refused, /does not cover schema\(s\): tomorrow/, 'grants.sql names the uncovered schema');
      await admin.query('DROP SCHEMA tomorrow CASCADE; RESET ROLE');
    });

    const appUrl = loginUrl(db.url, roles.ledger_app);
    const projectorUrl = loginUrl(db.url, roles.ledger_projector);

    t.test('the app role appends and reads events, and cannot change, delete or drop them', async (t) => {
      const app = await openDatabase({
        databaseUrl: appUrl,
        dataDir: '.',
        applicationName: 'roles-test-app',
      });
      // As a service starts: its migrations run, finding nothing left to do.
      const store = await PostgresEventStore.open(app.sql);
      t.teardown(async () => {
        await store.close();
        await app.close();
      });
      const who = new pg.Client({ connectionString: appUrl });
      await who.connect();
      t.equal((await who.query('SELECT current_user AS u')).rows[0].u, roles.ledger_app);
      await who.end();

      await store.append([
        {
          streamId: 'user-1',
          expectedVersion: 'no_stream',
          events: [{ type: 'LoggedIn', data: {}, metadata: { actorId: 'u1' } }],
        },
      ]);
      await store.append([
        {
          streamId: 'user-1',
          expectedVersion: 0n,
          events: [{ type: 'LoggedIn', data: {}, metadata: { actorId: 'u1' } }],
        },
      ]);
      const events = await store.readStream('user-1');
      t.same(
        events.map((e) => [e.type, e.streamVersion]),
        [
          ['LoggedIn', 0n],
          ['LoggedIn', 1n],
        ],
      );
      t.ok((await store.verify()).ok, 'the chain verifies');

      for (const statement of [
        `UPDATE es.events SET type = 'X'`,
        'DELETE FROM es.events',
        'TRUNCATE es.events',
      ]) {
        const error = await refusal(appUrl, statement);
        t.match(
          error,
          { code: '42501', message: /permission denied for table events/ },
          `refused: ${statement}`,
        );
      }
      for (const statement of [
        'DROP TABLE es.events',
        'DROP TABLE accounts.accounts',
        'ALTER TABLE es.events DISABLE TRIGGER events_append_only',
        'DROP SCHEMA es CASCADE',
        'CREATE SCHEMA mine',
        'CREATE TABLE es.mine (id int)',
        'CREATE TABLE public.mine (id int)',
        'INSERT INTO accounts.accounts DEFAULT VALUES',
        'UPDATE es.migrations SET name = name',
      ]) {
        const error = await refusal(appUrl, statement);
        t.ok(error && ['42501', '42P01'].includes(error.code), `refused: ${statement} (${error?.message})`);
      }
    });

    t.test('the projector role writes the read models, and cannot change an event', async (t) => {
      // Ten more events as the app: the chain checkpoint recorder (CHECKPOINT_EVERY 10)
      // appends as the projector.
      const app = await openDatabase({
        databaseUrl: appUrl,
        dataDir: '.',
        applicationName: 'roles-test-app2',
      });
      const appStore = await PostgresEventStore.open(app.sql);
      for (let i = 0; i < 10; i++) {
        await appStore.append([
          {
            streamId: 'user-2',
            expectedVersion: 'any',
            events: [{ type: 'LoggedIn', data: {}, metadata: { actorId: 'u2' } }],
          },
        ]);
      }
      await appStore.close();
      await app.close();

      const projectorDb: Database = await openDatabase({
        databaseUrl: projectorUrl,
        dataDir: '.',
        applicationName: 'roles-test-projector',
      });
      const store = await PostgresEventStore.open(projectorDb.sql);
      const projector = startProjector({
        db: projectorDb.db,
        store,
        logger,
        lockRetryMs: 50,
        chainCheckpointEvery: 10,
      });
      t.teardown(async () => {
        await projector.stop();
        await store.close();
        await projectorDb.close();
      });
      const head = await store.headPosition();
      t.ok(await projector.waitFor(head, 20_000), 'every projection caught up as the projector role');
      const { rows } = await admin.query(
        'SELECT count(*)::int AS n FROM readmodel.checkpoints WHERE position > 0',
      );
      t.ok(rows[0].n > 0, 'checkpoints written');
      const audit = await admin.query('SELECT count(*)::int AS n FROM audit.events');
      t.ok(audit.rows[0].n >= 12, 'the audit read model holds the events');
      let recorded = 0;
      for (let i = 0; i < 100 && recorded === 0; i++) {
        const r = await admin.query('SELECT count(*)::int AS n FROM es.events WHERE type = $1', [
          chainCheckpointEventType,
        ]);
        recorded = r.rows[0].n;
        if (recorded === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      t.equal(recorded, 1, 'the projector appended a chain checkpoint');

      for (const statement of [
        `UPDATE es.events SET type = 'X'`,
        'DELETE FROM es.snapshots',
        'DELETE FROM es.events',
        'DROP TABLE audit.events',
        'DELETE FROM vault.credentials',
      ]) {
        const error = await refusal(projectorUrl, statement);
        t.ok(error && error.code === '42501', `refused: ${statement} (${error?.message})`);
      }
    });
  },
);
