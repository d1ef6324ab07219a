import { bearer, json, ledgerHarness, loginRequest, strongPassword } from '@ledger/api/testing';
import { findUserId } from '@ledger/application';
import { userStreamId } from '@ledger/contracts';
import { usersProjection } from '@ledger/projection-users';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';

// The first director's bootstrap, staff creation, role and lock changes, and the users list
// from its read model, through app.inject() against real PostgreSQL and Redis.

const h = await ledgerHarness(t, 'api_admin', {
  rateLimits: { login: '100/minute', register: '1000/hour' },
  projections: [usersProjection],
});
const { app, f, env: directorEnv, director, login, createStaff } = h;
/** A self-registered customer, KYC not verified. */
const customer = () => h.customer(false);

// Here without the content-type check of the harness's assertProblem.
function assertProblem(t: Test, response: LightMyRequestResponse, status: number, code: string) {
  t.equal(response.statusCode, status, `status ${status} (${response.body.slice(0, 200)})`);
  t.match(json(response), { status, code });
}

t.test('first director: created from BANK_DIRECTOR_*, once; none without them', async (t) => {
  const me = json(await app.inject({ url: '/api/auth/me', headers: bearer(director) }));
  t.match(me.user, { username: 'chief', email: 'chief@bank.example', role: 'director' });
  // A second start (another replica, a restart) changes nothing.
  await f.newApp({ env: directorEnv });
  const id = await findUserId(f, { username: 'chief' });
  const events = await f.store.readStream(userStreamId(id!));
  t.same(
    events.map((e) => e.type),
    ['UserRegistered', 'LoginSucceeded'],
    'registered once',
  );
  t.match(events[0]?.data, { role: 'director', via: 'bootstrap' });
  await t.rejects(
    f.newApp({ env: { ...directorEnv, BANK_DIRECTOR_USERNAME: 'chief2', BANK_DIRECTOR_PASSWORD: 'short' } }),
    /BANK_DIRECTOR_PASSWORD/,
    'a weak password stops start-up',
  );
  t.equal(await findUserId(f, { username: 'chief2' }), null);
});

t.test(
  'POST /api/admin/users: the director creates staff; others get 403; 409 on a taken name',
  async (t) => {
    for (const role of ['agent', 'manager', 'auditor', 'director']) {
      const { response, username } = await createStaff(role);
      t.equal(response.statusCode, 201, response.body);
      t.match(json(response).user, { username, role, locked: false });
      t.equal(
        (await app.inject({ url: '/api/auth/me', headers: bearer(await login(username, strongPassword)) }))
          .statusCode,
        200,
      );
    }
    const manager = await createStaff('manager');
    const managerToken = await login(manager.username, strongPassword);
    assertProblem(t, (await createStaff('agent', managerToken)).response, 403, 'forbidden');
    const again = await app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(director),
      payload: {
        username: manager.username.toUpperCase(),
        email: 'new@bank.example',
        password: strongPassword,
        role: 'agent',
      },
    });
    assertProblem(t, again, 409, 'username_taken');
    const customerRole = await app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(director),
      payload: {
        username: 'x_customer',
        email: 'x@bank.example',
        password: strongPassword,
        role: 'customer',
      },
    });
    assertProblem(t, customerRole, 400, 'validation_failed');
  },
);

t.test('PATCH /api/admin/users/:id: role by the director only, lock by manager+', async (t) => {
  const target = await customer();
  const manager = await createStaff('manager');
  const managerToken = await login(manager.username, strongPassword);
  const patch = (token: string, payload: Record<string, unknown>, id = target.id) =>
    app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(token), payload });

  assertProblem(t, await patch(managerToken, { role: 'agent' }), 403, 'forbidden');
  const agent = await createStaff('agent');
  assertProblem(
    t,
    await patch(await login(agent.username, strongPassword), { locked: true }),
    403,
    'forbidden',
  );

  const locked = await patch(managerToken, { locked: true });
  t.equal(locked.statusCode, 200, locked.body);
  t.match(json(locked).user, { id: target.id, locked: true, lockedUntil: null });
  assertProblem(
    t,
    await app.inject({ url: '/api/auth/me', headers: bearer(target.token) }),
    401,
    'unauthorized',
  );
  assertProblem(t, await loginRequest(app, target.username, strongPassword), 423, 'account_locked');
  t.equal((await patch(managerToken, { locked: false })).statusCode, 200);
  // Issue #12: a lock by staff ends every session for good; the unlock does not revive them.
  assertProblem(
    t,
    await app.inject({ url: '/api/auth/me', headers: bearer(target.token) }),
    401,
    'unauthorized',
  );
  target.token = await login(target.username, strongPassword);
  t.equal(
    (await app.inject({ url: '/api/auth/me', headers: bearer(target.token) })).statusCode,
    200,
    'unlocked: a new login works',
  );

  const promoted = await patch(director, { role: 'agent' });
  t.equal(promoted.statusCode, 200);
  t.equal(json(promoted).user.role, 'agent');
  const me = json(await app.inject({ url: '/api/auth/me', headers: bearer(target.token) }));
  t.equal(me.user.role, 'agent', 'the new role applies to the tokens already issued');
  const events = await f.store.readStream(userStreamId(target.id));
  const changed = events.find((e) => e.type === 'RoleChanged');
  t.match(changed?.data, { from: 'customer', to: 'agent' });
  t.ok(
    typeof changed?.metadata.actorId === 'string' && changed.metadata.actorId !== target.id,
    'actor is the director',
  );

  assertProblem(
    t,
    await patch(director, { role: 'manager' }, '00000000-0000-4000-8000-000000000000'),
    404,
    'not_found',
  );
  assertProblem(t, await patch(director, { role: 'manager' }, 'not-a-uuid'), 400, 'validation_failed');
  assertProblem(t, await patch(director, {}), 400, 'validation_failed');
  const directorId = await findUserId(f, { username: 'chief' });
  assertProblem(t, await patch(director, { role: 'customer' }, directorId!), 422, 'self_modification');
});

t.test('GET /api/admin/users: staff and auditor, paginated from the read model', async (t) => {
  for (let i = 0; i < 3; i++) await customer();
  const auditor = await createStaff('auditor');
  const auditorToken = await login(auditor.username, strongPassword);
  const created = json(auditor.response);
  t.match(created.position, /^[0-9]+$/, 'the command answers its position');
  // Read-your-writes: the list waits for the projection to reach the creation.
  const fresh = json(
    await app.inject({
      url: `/api/admin/users?limit=200&minPosition=${created.position}`,
      headers: bearer(auditorToken),
    }),
  );
  t.ok(
    fresh.items.some((u: { username: string }) => u.username === auditor.username),
    'the new user is listed at once',
  );
  assertProblem(
    t,
    await app.inject({ url: '/api/admin/users?minPosition=-1', headers: bearer(auditorToken) }),
    400,
    'validation_failed',
  );

  const all: Record<string, any>[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const response: LightMyRequestResponse = await app.inject({
      url: `/api/admin/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      headers: bearer(auditorToken),
    });
    t.equal(response.statusCode, 200);
    const body = json(response);
    t.ok(body.items.length <= 2);
    all.push(...body.items);
    cursor = body.nextCursor;
    if (cursor === null) break;
  }
  t.equal(new Set(all.map((u) => u.id)).size, all.length, 'no user twice');
  t.ok(all.length >= 8, `${all.length} users listed`);
  t.match(all[0], {
    username: 'chief',
    role: 'director',
    twoFactorEnabled: false,
    kycStatus: 'none',
    locked: false,
  });
  t.notOk(JSON.stringify(all).includes('$2'), 'no password hash in the list');

  const directors = json(
    await app.inject({ url: '/api/admin/users?role=director', headers: bearer(auditorToken) }),
  );
  t.ok(directors.items.every((u: { role: string }) => u.role === 'director'));

  for (const bad of ['limit=0', 'limit=201', 'limit=abc', 'cursor=bogus']) {
    assertProblem(
      t,
      await app.inject({ url: `/api/admin/users?${bad}`, headers: bearer(auditorToken) }),
      400,
      'validation_failed',
    );
  }
  const c = await customer();
  assertProblem(t, await app.inject({ url: '/api/admin/users', headers: bearer(c.token) }), 403, 'forbidden');
  assertProblem(t, await app.inject({ url: '/api/admin/users' }), 401, 'unauthorized');
  assertProblem(
    t,
    await app.inject({
      method: 'PATCH',
      url: `/api/admin/users/${c.id}`,
      headers: bearer(auditorToken),
      payload: { locked: true },
    }),
    403,
    'forbidden',
  );
});
