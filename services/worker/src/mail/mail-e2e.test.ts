import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bankAccountId,
  createLedger,
  type Ledger,
  openCustomerAccount,
  type PersonalDataPorts,
  runTransferCommand,
  updateProfile,
} from '@ledger/application';
import { registerWithHash } from '@ledger/application/testing';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { spawnService, testRedisUrl, uniquePrefix, until } from '@ledger/testkit';
import { Vault } from '@ledger/vault';
import { simpleParser } from 'mailparser';
import t, { type Test } from 'tap';
import { startWorker } from '../index.js';
import { countDeadLetters } from './dead-letters.js';
import { headerNames, startSmtpPeer } from './smtp-peer.js';
import { freePort, startRedis, stopRedis } from './test-redis.js';

// The mail channel with everything real: users registered (address sealed in the vault),
// accounts and a transfer through the application, the worker as production starts it
// (its dispatch rules, the deciding side of packages/application, BullMQ on Redis or the
// in-process queue), nodemailer to an SMTP server started here, or the outbox.

const logger = createLogger({ level: 'silent', name: 'mail-e2e-test' });
const waitMs = 30_000;
const meta = { actorId: 'test' };
const from = 'Ledger Bank <no-reply@ledger.local>';
const nbsp = '\u00a0';
const dataKey = 'mail-e2e-test-data-key-0123456789abcdef';

// Two worker processes and a BullMQ lock that must lapse (JOB_LOCK_MS, 5 s here): a
// deadline for a busy CI machine, not a pause.
t.setTimeout(600_000);

async function world(t: Test) {
  const { db, store, url } = await openTestStore('mail_e2e_test', t);
  const vault = await Vault.open(db, dataKey);
  const ports: PersonalDataPorts = { store, vault };
  const ledger = createLedger(store);
  return { db, store, url, vault, ports, ledger };
}

async function customer(
  ports: PersonalDataPorts,
  ledger: Ledger,
  who: { name: string; email: string; locale: 'en' | 'fr'; deposit: bigint },
) {
  const userId = randomUUID();
  const registered = await registerWithHash(
    ports,
    {
      type: 'Register',
      now: new Date(),
      userId,
      username: `${who.name.toLowerCase()}-${userId.slice(0, 8)}`,
      email: who.email,
      role: 'customer',
      profile: { firstName: who.name, lastName: null, dateOfBirth: null, phone: null },
      via: 'self',
    },
    '$2a$04$abcdefghijklmnopqrstuuJkVYxYz1m1bXkzqgGXtK3wX0lZzGZGa',
    meta,
  );
  if (!registered.ok) throw new Error(registered.code);
  if (who.locale !== 'en') {
    const updated = await updateProfile(
      ports,
      { userId, metadata: meta },
      { locale: who.locale },
      new Date(),
    );
    if (!updated.ok) throw new Error('locale not set');
  }
  const opened = await openCustomerAccount(
    ledger,
    { ownerId: userId, accountType: 'checking', currency: 'EUR', kycVerified: true, now: new Date() },
    meta,
  );
  if (!opened.ok) throw new Error(opened.code);
  if (who.deposit > 0n) {
    const deposit = await runTransferCommand(
      ledger,
      {
        type: 'CreateTransfer',
        transferId: randomUUID(),
        debitAccountId: bankAccountId('EUR', 'cash'),
        creditAccountId: opened.account.id,
        amount: who.deposit,
        currency: 'EUR',
        code: 'deposit',
        mode: 'single-phase',
        now: new Date(),
      },
      meta,
    );
    if (deposit.status !== 'accepted') throw new Error(deposit.status);
  }
  return { userId, accountId: opened.account.id };
}

async function transfer(
  ledger: Ledger,
  fromAccount: string,
  toAccount: string,
  amount: bigint,
  reference: string,
) {
  const outcome = await runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: randomUUID(),
      debitAccountId: fromAccount,
      creditAccountId: toAccount,
      amount,
      currency: 'EUR',
      code: 'transfer',
      mode: 'single-phase',
      reference,
      limits: {},
      now: new Date(),
    },
    meta,
  );
  if (outcome.status !== 'accepted') throw new Error(outcome.status);
}

t.test('a transfer mails payer and payee, each in their language (BullMQ, SMTP)', async (t) => {
  const w = await world(t);
  const peer = await startSmtpPeer();
  t.teardown(() => peer.close());
  const worker = await startWorker({
    db: w.db,
    store: w.store,
    ledger: w.ledger,
    logger,
    redisUrl: testRedisUrl,
    redisPrefix: uniquePrefix('mail-e2e'),
    retry: { attempts: 3, backoffDelayMs: 50 },
    smtpUrl: peer.url,
    mail: { vault: w.vault, dataDir: '/nonexistent', from },
  });
  t.teardown(() => worker.stop());
  const alice = await customer(w.ports, w.ledger, {
    name: 'Alice',
    email: 'alice@example.com',
    locale: 'en',
    deposit: 500_000_00n,
  });
  const zoe = await customer(w.ports, w.ledger, {
    name: 'Zoé',
    email: 'zoe@example.fr',
    locale: 'fr',
    deposit: 0n,
  });
  await transfer(
    w.ledger,
    alice.accountId,
    zoe.accountId,
    1234_56n,
    'Loyer <mars>\r\nBcc: victim@example.com',
  );

  await until('two mails', () => peer.received.length >= 2, waitMs);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(peer.received.length, 2, 'one mail each, nothing for the deposit');
  const toAlice = peer.received.find((m) => m.envelopeTo[0] === 'alice@example.com');
  const toZoe = peer.received.find((m) => m.envelopeTo[0] === 'zoe@example.fr');
  t.equal(toAlice?.parsed.subject, `Your transfer was sent: EUR${nbsp}1,234.56`);
  t.match(toAlice?.parsed.text, 'Hello Alice,');
  t.match(toAlice?.parsed.text, 'Loyer <mars>  Bcc: victim@example.com');
  t.match(toAlice?.parsed.html, 'Loyer &lt;mars&gt;');
  t.equal(toZoe?.parsed.subject, `Vous avez reçu un virement : 1${nbsp}234,56${nbsp}EUR`);
  t.match(toZoe?.parsed.text, 'Bonjour Zoé,');
  for (const mail of peer.received) {
    t.notOk(headerNames(mail.raw).includes('bcc'), 'no Bcc header');
    t.same(mail.envelopeTo.length, 1, 'one recipient');
    t.match(mail.parsed.messageId, /^<[0-9a-f-]{36}@ledger\.local>$/, 'Message-ID from the notification id');
  }
  t.equal(await countDeadLetters(w.db), 0);
});

t.test('the embedded default: no Redis, no SMTP_URL: DATA_DIR/outbox/*.eml', async (t) => {
  const w = await world(t);
  const dataDir = await mkdtemp(join(tmpdir(), 'mail-e2e-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const worker = await startWorker({
    db: w.db,
    store: w.store,
    ledger: w.ledger,
    logger,
    mail: { vault: w.vault, dataDir, from },
  });
  t.teardown(() => worker.stop());
  const alice = await customer(w.ports, w.ledger, {
    name: 'Alice',
    email: 'alice@example.com',
    locale: 'en',
    deposit: 100_00n,
  });
  const bob = await customer(w.ports, w.ledger, {
    name: 'Bob',
    email: 'bob@example.com',
    locale: 'en',
    deposit: 0n,
  });
  await transfer(w.ledger, alice.accountId, bob.accountId, 12_50n, 'Lunch');
  const outbox = join(dataDir, 'outbox');
  const emls = async () => (await readdir(outbox).catch(() => [])).filter((f) => f.endsWith('.eml'));
  await until('two .eml files', async () => (await emls()).length >= 2, waitMs);
  const parsed = await Promise.all(
    (await emls()).map(async (f) => ({ f, mail: await simpleParser(await readFile(join(outbox, f))) })),
  );
  t.same(parsed.map((p) => p.mail.subject).sort(), [
    `You received a transfer: EUR${nbsp}12.50`,
    `Your transfer was sent: EUR${nbsp}12.50`,
  ]);
  for (const { f, mail } of parsed) {
    t.equal(f, `${mail.messageId?.replace(/^<|>$/g, '')}.eml`, 'named by its Message-ID');
  }
});

t.test('Redis stopped while transfers happen: once back, each mail arrives exactly once', async (t) => {
  const w = await world(t);
  const peer = await startSmtpPeer();
  t.teardown(() => peer.close());
  const port = await freePort();
  let redis = await startRedis(port);
  t.teardown(() => stopRedis(redis));
  const worker = await startWorker({
    db: w.db,
    store: w.store,
    ledger: w.ledger,
    logger,
    redisUrl: `redis://127.0.0.1:${port}`,
    redisPrefix: uniquePrefix('mail-outage'),
    retry: { attempts: 3, backoffDelayMs: 50 },
    smtpUrl: peer.url,
    mail: { vault: w.vault, dataDir: '/nonexistent', from },
  });
  t.teardown(() => worker.stop());
  const alice = await customer(w.ports, w.ledger, {
    name: 'Alice',
    email: 'alice@example.com',
    locale: 'en',
    deposit: 1000_00n,
  });
  const bob = await customer(w.ports, w.ledger, {
    name: 'Bob',
    email: 'bob@example.com',
    locale: 'fr',
    deposit: 0n,
  });

  await stopRedis(redis);
  const transfers = 3;
  for (let i = 1; i <= transfers; i++)
    await transfer(w.ledger, alice.accountId, bob.accountId, BigInt(i) * 100n, `T${i}`);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  t.equal(peer.received.length, 0, 'nothing sent while Redis is away');

  redis = await startRedis(port);
  await until('every mail', () => peer.received.length >= 2 * transfers, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.equal(peer.received.length, 2 * transfers, 'each once');
  const ids = new Set(peer.received.map((m) => m.parsed.messageId));
  t.equal(ids.size, 2 * transfers, 'no Message-ID twice');
  t.same(peer.received.map((m) => m.envelopeTo[0]).sort(), [
    ...Array(transfers).fill('alice@example.com'),
    ...Array(transfers).fill('bob@example.com'),
  ]);
  for (let i = 1; i <= transfers; i++) {
    t.equal(
      peer.received.filter((m) => m.parsed.text?.includes(`T${i}`)).length,
      2,
      `transfer ${i}: payer and payee`,
    );
  }
});

t.test(
  'the worker killed mid-send: the mail is delivered, the redelivery has the same Message-ID',
  { timeout: 150_000 },
  async (t) => {
    // At least once: the first worker hands the mail over and dies before the server's answer
    // (the server kept it: the sender cannot know). BullMQ gives the job, its lock lapsed, to
    // the second worker, which sends the same mail again: the same Message-ID, so the
    // recipient's mail system (or the recipient) sees one mail twice, never two mails.
    const w = await world(t);
    const peer = await startSmtpPeer((n) => (n === 1 ? 'hang' : undefined));
    t.teardown(() => peer.close());
    const port = await freePort();
    const redis = await startRedis(port);
    t.teardown(() => stopRedis(redis));
    const dataDir = await mkdtemp(join(tmpdir(), 'mail-kill-'));
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const env = {
      DATABASE_URL: w.url,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      SMTP_URL: peer.url,
      DATA_KEY: dataKey,
      DATA_DIR: dataDir,
      // The killed worker's job is taken back once its lock lapses: 5 s, not the default 30 s.
      JOB_LOCK_MS: '5000',
    };
    const spawnWorker = () =>
      spawnService({
        entry: 'services/worker/src/main.ts',
        env,
        startedMessage: 'worker started',
        teardown: (fn) => t.teardown(fn),
      });
    const alice = await customer(w.ports, w.ledger, {
      name: 'Alice',
      email: 'alice@example.com',
      locale: 'en',
      deposit: 100_00n,
    });
    const bob = await customer(w.ports, w.ledger, {
      name: 'Bob',
      email: 'bob@example.com',
      locale: 'en',
      deposit: 0n,
    });
    const first = await spawnWorker();
    await transfer(w.ledger, alice.accountId, bob.accountId, 10_00n, 'Killed');
    await until('the first mail is handed over', () => peer.received.some((m) => !m.acknowledged), waitMs);
    first.child.kill('SIGKILL');
    await first.exit;
    const hung = peer.received.find((m) => !m.acknowledged)!;

    await spawnWorker();
    await until(
      'the mail is delivered again',
      () => peer.received.some((m) => m.acknowledged && m.parsed.messageId === hung.parsed.messageId),
      120_000,
      100,
    );
    await until(
      'both mails are delivered',
      () => peer.received.filter((m) => m.acknowledged).length >= 2,
      waitMs,
    );
    const again = peer.received.filter((m) => m.parsed.messageId === hung.parsed.messageId);
    t.equal(again.length, 2, 'the mail was sent twice (at least once)');
    t.same(again[1]?.envelopeTo, hung.envelopeTo, 'to the same recipient');
    t.equal(again[1]?.parsed.subject, hung.parsed.subject, 'the same mail');
    // The other mail may be in flight too when the kill lands: acknowledged by the server
    // but not yet marked done, it is sent again, as the same mail. At least once, never two
    // different mails for one event: one Message-ID per recipient.
    const delivered = peer.received.filter((m) => m.acknowledged);
    t.same(
      [...new Set(delivered.map((m) => m.envelopeTo[0]))].sort(),
      ['alice@example.com', 'bob@example.com'],
      'each delivered',
    );
    for (const to of ['alice@example.com', 'bob@example.com']) {
      const ids = new Set(peer.received.filter((m) => m.envelopeTo[0] === to).map((m) => m.parsed.messageId));
      t.equal(ids.size, 1, `${to}: one mail, however many times it was sent`);
    }
  },
);
