import { randomUUID } from 'node:crypto';
import { bearer, json, ledgerHarness, type User } from '@ledger/api/testing';
import { recipientOf } from '@ledger/application';
import { notificationsProjection } from '@ledger/projection-notifications';
import { runProjection } from '@ledger/readmodel';
import { until } from '@ledger/testkit';
import t from 'tap';

// Issue #18 through HTTP, against real PostgreSQL: in-app notifications from the
// `notifications` read model (projected here), marking read (404 for another user's),
// preferences (security email locked), login_new_device, paging and the unread count.

const h = await ledgerHarness(t, 'api_notifications', {
  customerPrefix: 'note',
  roles: ['agent'],
});
const { app, f, assertProblem, customer, get, post, openAccount, deposit, transfer, login } = h;
const projection = notificationsProjection({ store: f.store });
const runner = runProjection({ db: f.database.db, store: f.store, projection, logger: f.logger });
t.teardown(() => runner.stop());
await h.rulesOff();

interface Item {
  id: string;
  type: string;
  title: string;
  body: string;
  createdAt: string;
  readAt: string | null;
}
interface Page {
  items: Item[];
  nextCursor: string | null;
  unreadCount: number;
}

/** Waits until the read model has applied everything written so far. */
async function caughtUp() {
  const last = await f.store.lastWrittenPosition();
  if (!(await runner.waitFor(last, 20_000))) throw new Error('notifications read model behind');
}

async function page(user: User, query = ''): Promise<Page> {
  await caughtUp();
  const response = await get(`/api/notifications${query}`, user.token);
  if (response.statusCode !== 200) throw new Error(`list: ${response.body}`);
  return json(response) as Page;
}

async function all(user: User, query = '', limit = 200): Promise<Page & { pages: number }> {
  const items: Item[] = [];
  let cursor: string | null = null;
  let pages = 0;
  let unreadCount = 0;
  do {
    const sep = query === '' ? '?' : `${query}&`;
    const p: Page = await page(
      user,
      `${sep}limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    items.push(...p.items);
    cursor = p.nextCursor;
    unreadCount = p.unreadCount;
    pages++;
  } while (cursor !== null);
  return { items, nextCursor: null, unreadCount, pages };
}

const putPreferences = (user: User, payload: unknown) =>
  app.inject({
    method: 'PUT',
    url: '/api/notifications/preferences',
    headers: bearer(user.token),
    payload: payload as object,
  });

const everything = (on: boolean) => ({ transfers: on, security: on, kyc: on, packs: on, marketing: on });

async function funded(amount = '10000.00') {
  const user = await customer();
  const account = await openAccount(user);
  await deposit(account.id, amount);
  return { user, account };
}

t.test('a transfer notifies the payer (sent) and the payee (received), nobody else', async (t) => {
  const { user: ann, account: from } = await funded();
  const bob = await customer();
  const to = await openAccount(bob);
  const response = await transfer(ann, {
    fromAccountId: from.id,
    toAccountId: to.id,
    amount: '12.50',
    reference: 'rent <b>',
  });
  t.equal(response.statusCode, 201, response.body);
  const annPage = await page(ann);
  const sent = annPage.items.filter((i) => i.type === 'transfer_sent');
  t.equal(sent.length, 1, 'one transfer_sent for the payer');
  t.match(sent[0]!.body, /12\.50 EUR/);
  t.match(sent[0]!.body, new RegExp(to.accountNumber));
  t.match(sent[0]!.body, /rent <b>/, 'reference as typed (the client escapes)');
  t.notOk(
    annPage.items.some((i) => i.type === 'transfer_received'),
    'the payer receives nothing',
  );
  const bobPage = await page(bob);
  t.same(
    bobPage.items.map((i) => i.type),
    ['transfer_received'],
    'the payee: received only',
  );
  t.equal(bobPage.unreadCount, 1);
  t.equal(bobPage.items[0]!.readAt, null);
  t.equal(bobPage.items[0]!.title, 'Money received');
  t.match(response.headers['cache-control'] ?? '', /no-store/);
});

t.test('mark read: 204, twice fine; another user’s → 404; unread filter and count follow', async (t) => {
  const { user: ann, account: from } = await funded();
  const bob = await customer();
  const to = await openAccount(bob);
  for (const amount of ['1.00', '2.00']) {
    t.equal((await transfer(ann, { fromAccountId: from.id, toAccountId: to.id, amount })).statusCode, 201);
  }
  const before = await page(bob);
  t.equal(before.unreadCount, 2);
  const [first] = before.items;
  const read = await post(`/api/notifications/${first!.id}/read`, bob.token, undefined, null);
  t.equal(read.statusCode, 204, read.body);
  const again = await post(`/api/notifications/${first!.id}/read`, bob.token, undefined, null);
  t.equal(again.statusCode, 204, 'reading twice is fine');
  assertProblem(
    t,
    await post(`/api/notifications/${first!.id}/read`, ann.token, undefined, null),
    404,
    'not_found',
  );
  assertProblem(
    t,
    await post('/api/notifications/00000000-0000-4000-8000-000000000000/read', bob.token, undefined, null),
    404,
    'not_found',
  );
  const after = await page(bob);
  t.equal(after.unreadCount, 1, 'one unread left');
  t.ok(after.items.find((i) => i.id === first!.id)?.readAt, 'readAt set');
  const unread = await page(bob, '?unread=true');
  t.same(
    unread.items.map((i) => i.id),
    [before.items[1]!.id],
    'only the unread one',
  );
  // Ann cannot see Bob's notification in her list either.
  t.notOk((await page(ann)).items.some((i) => i.id === first!.id));
});

t.test('preferences: defaults, replace, security email locked (422), in-app respected', async (t) => {
  const { user: ann, account: from } = await funded();
  const bob = await customer();
  const to = await openAccount(bob);
  const defaults = json(await get('/api/notifications/preferences', bob.token));
  t.same(defaults, {
    email: { transfers: true, security: true, kyc: true, packs: true, marketing: false },
    inApp: { transfers: true, security: true, kyc: true, packs: true, marketing: false },
  });
  assertProblem(
    t,
    await putPreferences(bob, { email: { ...everything(true), security: false }, inApp: everything(true) }),
    422,
    'preference_locked',
  );
  assertProblem(t, await putPreferences(bob, { email: everything(true) }), 400, 'validation_failed');
  const off = await putPreferences(bob, {
    email: everything(true),
    inApp: { ...everything(true), transfers: false },
  });
  t.equal(off.statusCode, 200, off.body);
  t.same(json(await get('/api/notifications/preferences', bob.token)).inApp.transfers, false);
  t.equal(
    (await transfer(ann, { fromAccountId: from.id, toAccountId: to.id, amount: '3.00' })).statusCode,
    201,
  );
  t.same((await page(bob)).items, [], 'transfers off in-app: nothing stored');
  t.equal((await page(bob)).unreadCount, 0);
  // Turned on again: from then on.
  t.equal((await putPreferences(bob, { email: everything(true), inApp: everything(true) })).statusCode, 200);
  t.equal(
    (await transfer(ann, { fromAccountId: from.id, toAccountId: to.id, amount: '4.00' })).statusCode,
    201,
  );
  const p = await page(bob);
  t.equal(p.items.length, 1, 'only the transfer after the change');
  t.match(p.items[0]!.body, /4\.00 EUR/);
});

t.test('locale: PATCH /me sets it; the recipient and the in-app text follow', async (t) => {
  const { user: ann, account: from } = await funded();
  // Not KYC verified: the name may still change.
  const bob = await customer(false);
  const to = await openAccount(bob);
  const me = () => get('/api/auth/me', bob.token);
  t.equal(json(await me()).user.locale, 'en', 'the default');
  const ports = { store: f.store, vault: app.vault };
  t.same(await recipientOf(ports, bob.id), {
    email: `${bob.username}@example.com`,
    locale: 'en',
    firstName: null,
  });
  const patch = (payload: object) =>
    app.inject({ method: 'PATCH', url: '/api/auth/me', headers: bearer(bob.token), payload });
  assertProblem(t, await patch({ locale: 'de' }), 400, 'validation_failed');
  const changed = await patch({ locale: 'fr', firstName: 'Bob' });
  t.equal(changed.statusCode, 200, changed.body);
  t.equal(json(changed).user.locale, 'fr');
  t.equal(json(await me()).user.locale, 'fr', 'GET /me shows it');
  t.same(await recipientOf(ports, bob.id), {
    email: `${bob.username}@example.com`,
    locale: 'fr',
    firstName: 'Bob',
  });
  t.equal(await recipientOf(ports, randomUUID()), null, 'an unknown user: null');
  t.equal(
    (await transfer(ann, { fromAccountId: from.id, toAccountId: to.id, amount: '5.00' })).statusCode,
    201,
  );
  const [item] = (await page(bob)).items;
  t.equal(item?.title, 'Argent reçu', 'in French');
  t.match(item?.body, /Vous avez reçu 5\.00 EUR/);
});

t.test('login_new_device: a new user agent + address pair, not a known one', async (t) => {
  const ann = await customer();
  // customer() logged in once (light-my-request's agent, 127.0.0.1): the first login is no "new device".
  await login(ann.username);
  t.same(
    (await page(ann)).items.filter((i) => i.type === 'login_new_device'),
    [],
    'the first device, and the same again: nothing',
  );
  const phone = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    headers: { 'user-agent': 'PhoneBank/2.0 (Android 15)' },
    payload: { username: ann.username, password: 'correct horse battery staple' },
  });
  t.equal(phone.statusCode, 200, 'a login from a phone');
  const again = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    headers: { 'user-agent': 'PhoneBank/2.0 (Android 15)' },
    payload: { username: ann.username, password: 'correct horse battery staple' },
  });
  t.equal(again.statusCode, 200);
  const devices = (await page(ann)).items.filter((i) => i.type === 'login_new_device');
  t.equal(devices.length, 1, 'one notification for the new device, none for its second login');
  t.match(devices[0]!.body, /PhoneBank/);
});

t.test(
  'paging yields each item once, newest first; the unread count is exact after 1,000 events',
  async (t) => {
    const { user: ann, account: from } = await funded('100000.00');
    const bob = await customer();
    const to = await openAccount(bob);
    const transfers = 1000;
    const batch = 25;
    for (let i = 0; i < transfers; i += batch) {
      const answers = await Promise.all(
        Array.from({ length: batch }, (_, j) =>
          transfer(ann, {
            fromAccountId: from.id,
            toAccountId: to.id,
            amount: `0.${String(((i + j) % 99) + 1).padStart(2, '0')}`,
          }),
        ),
      );
      for (const a of answers) if (a.statusCode !== 201) throw new Error(`transfer: ${a.body}`);
    }
    await until(
      'read model caught up',
      async () => (await page(bob, '?limit=1')).unreadCount === transfers,
      60_000,
    );
    const listed = await all(bob, '', 7);
    t.equal(listed.items.length, transfers, 'every notification');
    t.equal(new Set(listed.items.map((i) => i.id)).size, transfers, 'each once');
    t.ok(
      listed.items.every((item, k) => k === 0 || listed.items[k - 1]!.createdAt >= item.createdAt),
      'newest first',
    );
    t.equal(listed.unreadCount, transfers, 'unread count exact');
    // Read a few: the counter follows exactly.
    for (const item of listed.items.slice(0, 10)) {
      t.equal((await post(`/api/notifications/${item.id}/read`, bob.token, undefined, null)).statusCode, 204);
    }
    const unread = await all(bob, '?unread=true', 200);
    t.equal(unread.items.length, transfers - 10);
    t.equal(unread.unreadCount, transfers - 10);
    assertProblem(t, await get('/api/notifications?cursor=nonsense', bob.token), 400, 'validation_failed');
    assertProblem(t, await get('/api/notifications?limit=201', bob.token), 400, 'validation_failed');
  },
);
