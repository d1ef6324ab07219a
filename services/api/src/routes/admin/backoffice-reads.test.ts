import { json, ledgerHarness } from '@ledger/api/testing';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { sql } from 'kysely';
import t from 'tap';

// The read-only admin views the back-office page shows beside /stats (issue #20): the daily
// volume (for its chart), the undelivered notification mails, and the trial balance's status
// for managers. Staff and the auditor read them (the trial balance: managers, director and
// the auditor); a customer gets 403.

const h = await ledgerHarness(t, 'api_backoffice_reads', {
  projections: [accountsProjection, transactionsProjection],
  customerPrefix: 'reads',
  roles: ['agent', 'manager', 'auditor'],
});
const { f, customer, get, openAccount, deposit, transfer, assertProblem, rulesOff } = h;
const { agent, manager, auditor } = h.roles;
await rulesOff();

const paths = ['/api/admin/volume', '/api/admin/dead-letters', '/api/admin/trial-balance'];

t.test('a customer is refused; staff and the auditor read', async (t) => {
  const someone = await customer();
  for (const path of paths) {
    assertProblem(t, await get(path, someone.token), 403, 'forbidden');
    assertProblem(t, await get(path), 401, 'unauthorized');
    for (const reader of [agent, manager, auditor]) {
      if (path.endsWith('/trial-balance') && reader === agent) {
        assertProblem(t, await get(path, reader.token), 403, 'forbidden');
        continue;
      }
      t.equal((await get(path, reader.token)).statusCode, 200, `${path} as ${reader.username}`);
    }
  }
});

t.test('daily volume: today’s posted and pending transactions per currency', async (t) => {
  const before = json(await get('/api/admin/volume?days=1', manager.token));
  const today = new Date().toISOString().slice(0, 10);
  const eurBefore = before.items.find((i: { currency: string }) => i.currency === 'EUR');

  const payer = await customer();
  const from = await openAccount(payer);
  await deposit(from.id, '1000.00');
  const to = await openAccount(await customer());
  const paid = json(await transfer(payer, { fromAccountId: from.id, toAccountId: to.id, amount: '100.25' }));
  const position = paid.position as string;

  const answer = json(await get(`/api/admin/volume?days=14&minPosition=${position}`, manager.token));
  const tomorrow = new Date(`${today}T00:00:00.000Z`).getTime() + 86_400_000;
  t.equal(answer.to, new Date(tomorrow).toISOString(), 'up to the end of today (UTC)');
  t.equal(answer.from, new Date(tomorrow - 14 * 86_400_000).toISOString(), '14 days');
  const eur = answer.items.find(
    (i: { day: string; currency: string }) => i.currency === 'EUR' && i.day === today,
  );
  const base = eurBefore ? Number(eurBefore.volume) : 0;
  t.equal(Number(eur.volume).toFixed(2), (base + 1100.25).toFixed(2), 'the deposit and the transfer');
  t.equal(eur.transactions, (eurBefore?.transactions ?? 0) + 2);
  t.match(eur.volume, /^\d+\.\d{2}$/, 'a decimal string');

  for (const days of ['0', '91', 'x']) {
    assertProblem(t, await get(`/api/admin/volume?days=${days}`, manager.token), 400, 'validation_failed');
  }
});

t.test('trial balance for managers: balanced, per currency', async (t) => {
  const payer = await customer();
  const account = await openAccount(payer);
  const funded = await deposit(account.id, '250.00');
  const answer = json(await get(`/api/admin/trial-balance?minPosition=${funded.position}`, manager.token));
  t.match(answer, { source: 'read_model', balanced: true });
  const eur = answer.currencies.find((c: { currency: string }) => c.currency === 'EUR');
  t.match(eur, { balanced: true });
  t.equal(eur.debits, eur.credits);
});

t.test('dead letters: none before the worker made its table, then the rows newest first', async (t) => {
  t.same(json(await get('/api/admin/dead-letters', manager.token)), { items: [] });
  // The worker's table (services/worker/src/mail/dead-letters.ts), as it makes it.
  const db = f.database.db;
  await sql`CREATE SCHEMA IF NOT EXISTS mail`.execute(db);
  await sql`CREATE TABLE mail.dead_letters (
    intent_id text PRIMARY KEY, job_id text NOT NULL, type text NOT NULL,
    recipient_user_id text NOT NULL, event_id text NOT NULL, attempts integer NOT NULL,
    permanent boolean NOT NULL, response_code integer, reason text NOT NULL,
    failed_at timestamptz NOT NULL)`.execute(db);
  t.teardown(() => sql`DROP SCHEMA mail CASCADE`.execute(db));
  for (const [intent, at, permanent, code] of [
    ['i-old', '2026-01-01T10:00:00Z', false, null],
    ['i-new', '2026-01-02T10:00:00Z', true, 550],
  ] as const) {
    await sql`INSERT INTO mail.dead_letters VALUES (${intent}, 'job', 'transfer_received', 'u-1', 'e-1',
      ${permanent ? 1 : 5}, ${permanent}, ${code}, 'mailbox unavailable', ${at}::timestamptz)`.execute(db);
  }
  const answer = json(await get('/api/admin/dead-letters?limit=10', auditor.token));
  t.same(
    answer.items.map((d: { intentId: string }) => d.intentId),
    ['i-new', 'i-old'],
  );
  t.same(answer.items[0], {
    intentId: 'i-new',
    type: 'transfer_received',
    recipientUserId: 'u-1',
    attempts: 1,
    permanent: true,
    responseCode: 550,
    reason: 'mailbox unavailable',
    failedAt: '2026-01-02T10:00:00.000Z',
  });
  t.equal(json(await get('/api/admin/dead-letters?limit=1', manager.token)).items.length, 1);
  assertProblem(t, await get('/api/admin/dead-letters?limit=0', manager.token), 400, 'validation_failed');
});
