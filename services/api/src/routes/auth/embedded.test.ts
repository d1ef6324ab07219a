import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bearer, captureLog, json, strongPassword } from '@ledger/api/testing';
import { PostgresEventStore } from '@ledger/eventstore';
import { createLogger, loadConfig, openDatabase } from '@ledger/platform';
import t from 'tap';
import { buildApp } from '../../app.js';
import { bcryptHasher } from '../../auth/passwords.js';

// The embedded default (PGlite, no Redis, JWT secret generated into DATA_DIR): the whole
// token life cycle, with revocations and refresh tokens in the database.

const dataDir = await mkdtemp(join(tmpdir(), 'api-auth-embedded-'));
const config = loadConfig({ DATA_DIR: dataDir });
const logger = createLogger({ level: 'info', name: 'auth-embedded-test' }, captureLog());
const database = await openDatabase({ databaseUrl: undefined, dataDir, applicationName: 'test' });
const store = await PostgresEventStore.open(database.sql);
const app = await buildApp({ config, database, store, logger, auth: { hasher: bcryptHasher(4) } });
await app.ready();
t.teardown(async () => {
  await app.close();
  await store.close();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
});

t.test('register, login, refresh (reuse kills the family), logout on PGlite without Redis', async (t) => {
  t.equal(database.kind, 'pglite');
  const registered = await app.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: { username: 'embedded', email: 'embedded@example.com', password: strongPassword },
  });
  t.equal(registered.statusCode, 201, registered.body);
  const login = async () =>
    json(
      await app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: 'embedded', password: strongPassword },
      }),
    );
  const first = await login();
  t.match(first, { accessToken: String, refreshToken: String });
  const refresh = (refreshToken: string) =>
    app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } });
  const rotated = await refresh(first.refreshToken);
  t.equal(rotated.statusCode, 200);
  t.equal((await refresh(first.refreshToken)).statusCode, 401, 'reuse refused');
  t.equal((await refresh(json(rotated).refreshToken)).statusCode, 401, 'family revoked');
  t.equal(
    (await app.inject({ url: '/api/auth/me', headers: bearer(json(rotated).accessToken) })).statusCode,
    401,
  );

  const second = await login();
  t.equal((await app.inject({ url: '/api/auth/me', headers: bearer(second.accessToken) })).statusCode, 200);
  const out = await app.inject({
    method: 'POST',
    url: '/api/auth/logout',
    headers: bearer(second.accessToken),
  });
  t.equal(out.statusCode, 204);
  t.equal((await app.inject({ url: '/api/auth/me', headers: bearer(second.accessToken) })).statusCode, 401);
  t.equal((await refresh(second.refreshToken)).statusCode, 401);
});
