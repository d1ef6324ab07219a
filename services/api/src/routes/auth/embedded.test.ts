import { bearer, embeddedApp, json, strongPassword } from '@ledger/api/testing';
import t from 'tap';
import { bcryptHasher } from '../../auth/passwords.js';

// The embedded default (PGlite, no Redis, JWT secret generated into DATA_DIR): the whole
// token life cycle, with revocations and refresh tokens in the database.

const { database, app, close } = await embeddedApp('api-auth-embedded', { hasher: bcryptHasher(4) });
t.teardown(close);

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
