import { renderMail } from '@ledger/application/mail';
import {
  categoryOf,
  defaultNotificationPreferences,
  type NotificationIntent,
  type NotificationPreferences,
  type NotificationType,
  notificationTypes,
} from '@ledger/domain/notifications';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import { BullMqJobQueue, type Job, runDispatcher } from '@ledger/jobs';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { testRedisUrl, uniquePrefix, until } from '@ledger/testkit';
import t, { type Test } from 'tap';
import { countDeadLetters, listDeadLetters } from './dead-letters.js';
import {
  emailJobId,
  mailDispatchRules,
  mailProcessor,
  type NotificationPorts,
  notificationsQueue,
  notifyEmailJob,
} from './mail-jobs.js';
import { createMailer, messageIdFor } from './mailer.js';
import { headerNames, type SmtpPeer, startSmtpPeer } from './smtp-peer.js';

// The mail channel end to end but for the deciding side: events in a real store (PostgreSQL),
// the real dispatcher, BullMQ on the real Redis, nodemailer to a real SMTP server started
// here. The decision is a pure function of the test event (what the deciding side answers is
// tested with it, packages/application/src/notifications): here, what the channel does with
// its answer.

const logger = createLogger({ level: 'silent', name: 'mail-jobs-test' });
const waitMs = 20_000;
const retry = { attempts: 3, backoffDelayMs: 20 };

/** The test event: it carries the notifications it causes. */
const testEventType = 'NotifyTest';

interface TestNotification {
  type: NotificationType;
  recipientUserId: string;
  facts: Record<string, string>;
}

const intentsOf = (event: RecordedEvent): NotificationIntent[] =>
  event.type !== testEventType
    ? []
    : ((event.data as unknown as { notifications: TestNotification[] }).notifications ?? []).map((n) => ({
        id: `${event.eventId}-${n.recipientUserId}-${n.type}`,
        type: n.type,
        category: categoryOf(n.type),
        recipientUserId: n.recipientUserId,
        eventId: event.eventId,
        globalPosition: event.globalPosition,
        at: event.recordedAt,
        facts: n.facts,
      }));

const recipients: Record<string, { email: string; locale: 'en' | 'fr'; firstName: string | null }> = {
  'user-en': { email: 'anna@example.com', locale: 'en', firstName: 'Anna' },
  'user-fr': { email: 'zoe@example.fr', locale: 'fr', firstName: 'Zoé' },
  'user-quiet': { email: 'quiet@example.com', locale: 'en', firstName: null },
  'user-evil': {
    email: 'mallory@example.com',
    locale: 'en',
    firstName: 'Mallory\r\nBcc: victim@example.com',
  },
};

const quietPreferences = (): NotificationPreferences => {
  const preferences = defaultNotificationPreferences();
  for (const category of Object.keys(preferences.email) as (keyof NotificationPreferences['email'])[]) {
    preferences.email[category] = false;
  }
  return preferences;
};

const ports: NotificationPorts = {
  notificationsOf: async (event) => intentsOf(event),
  preferencesOf: async (userId) =>
    userId === 'user-quiet' ? quietPreferences() : defaultNotificationPreferences(),
  recipientOf: async (userId) => recipients[userId] ?? null,
};

const factsOf: Record<NotificationType, Record<string, string>> = {
  transfer_received: {
    amount: '1234.56',
    currency: 'EUR',
    reference: 'Rent <May> & co',
    counterparty: 'FR76 1',
  },
  transfer_sent: { amount: '1234.56', currency: 'EUR', reference: 'Rent <May> & co', counterparty: 'FR76 2' },
  transfer_held: { amount: '1234.56', currency: 'EUR', reference: 'Rent <May> & co' },
  transfer_approved: { amount: '1234.56', currency: 'EUR', reference: 'Rent <May> & co' },
  transfer_rejected: { amount: '1234.56', currency: 'EUR', reference: 'Rent <May> & co', reason: 'Unusual' },
  transfer_returned: { amount: '1234.56', currency: 'EUR', reference: 'Rent <May> & co', reason: 'Closed' },
  kyc_verified: {},
  kyc_rejected: { reason: 'Expired document' },
  kyc_needs_review: {},
  login_new_device: { userAgent: 'Firefox', ip: '203.0.113.7' },
  password_changed: {},
  two_factor_changed: { change: 'disabled' },
  account_locked: { reason: 'Too many attempts' },
  account_frozen: { accountId: 'acc-1', reason: 'Court order' },
  pack_fee_charged: { amount: '9.90', currency: 'EUR', packName: 'Premium' },
  pack_fee_failed: { amount: '9.90', currency: 'EUR', packName: 'Premium' },
};

interface Harness {
  peer: SmtpPeer;
  store: EventStore;
  db: Parameters<typeof countDeadLetters>[0];
  jobs: BullMqJobQueue;
  handler: (job: Job) => Promise<void>;
  notify(notifications: TestNotification[]): Promise<RecordedEvent>;
}

async function harness(t: Test, answer?: SmtpPeer['answer']): Promise<Harness> {
  const { db, store } = await openTestStore('mail_jobs_test', t);
  const peer = await startSmtpPeer(answer);
  const mailer = createMailer({
    smtpUrl: peer.url,
    dataDir: '/nonexistent',
    from: 'Ledger Bank <no-reply@ledger.local>',
  });
  const jobs = new BullMqJobQueue({
    redisUrl: testRedisUrl,
    prefix: uniquePrefix('mail-jobs'),
    logger,
    retry,
  });
  const processor = mailProcessor({ store, db, jobs, mailer, ports, logger, attempts: retry.attempts });
  await jobs.process(processor.queue, processor.handler, { concurrency: processor.concurrency });
  const dispatcher = runDispatcher({ db, store, jobs, rules: mailDispatchRules([testEventType]), logger });
  t.teardown(async () => {
    await dispatcher.stop();
    await jobs.close();
    mailer.close();
    await peer.close();
  });
  return {
    peer,
    store,
    db,
    jobs,
    handler: processor.handler,
    async notify(notifications) {
      const { position } = await store.append([
        {
          streamId: 'notify-test',
          expectedVersion: 'any',
          events: [{ type: testEventType, data: { notifications } }],
        },
      ]);
      // Readable once no earlier append is still in flight (the store's horizon): wait for it.
      let event: RecordedEvent | undefined;
      await until(
        'the event is readable',
        async () => {
          [event] = await store.readAll({ after: position - 1n, limit: 1 });
          return event !== undefined;
        },
        waitMs,
      );
      if (!event) throw new Error('the event is not there');
      return event;
    },
  };
}

const toOf = (mail: SmtpPeer['received'][number]) => {
  const to = mail.parsed.to;
  return (Array.isArray(to) ? to.flatMap((a) => a.value) : (to?.value ?? [])).map((a) => a.address);
};

t.test('every type in both languages arrives: recipient, subject, body', async (t) => {
  const h = await harness(t);
  const notifications: TestNotification[] = notificationTypes.flatMap((type) =>
    ['user-en', 'user-fr'].map((recipientUserId) => ({ type, recipientUserId, facts: factsOf[type] })),
  );
  const event = await h.notify(notifications);
  await until('every mail arrives', () => h.peer.received.length >= notifications.length, waitMs);
  t.equal(h.peer.received.length, notificationTypes.length * 2);
  for (const intent of intentsOf(event)) {
    const recipient = recipients[intent.recipientUserId]!;
    const mail = h.peer.received.find((m) => m.parsed.messageId === messageIdFor(intent.id));
    const at = `${intent.type} ${recipient.locale}`;
    if (!mail) {
      t.fail(`${at}: arrived`);
      continue;
    }
    const expected = renderMail(intent, recipient);
    t.same(mail.envelopeTo, [recipient.email], `${at}: envelope recipient`);
    t.same(toOf(mail), [recipient.email], `${at}: To`);
    t.equal(mail.parsed.subject, expected.subject, `${at}: subject`);
    t.match(mail.parsed.text, recipient.locale === 'fr' ? 'Bonjour Zoé,' : 'Hello Anna,', `${at}: greeting`);
    t.equal(mail.parsed.text?.trim(), expected.text.trim(), `${at}: text body`);
    if (intent.facts.reference) {
      t.match(mail.parsed.text, 'Rent <May> & co', `${at}: reference as typed in the text`);
      t.match(mail.parsed.html, 'Rent &lt;May&gt; &amp; co', `${at}: reference escaped in the HTML`);
      t.notMatch(mail.parsed.html, '<May>', `${at}: no raw HTML from the reference`);
    }
    if (intent.facts.amount === '1234.56') {
      t.match(
        mail.parsed.subject,
        recipient.locale === 'fr' ? '1\u00a0234,56\u00a0EUR' : 'EUR\u00a01,234.56',
      );
    }
  }
});

t.test('CR/LF in a name or a reference never adds a header', async (t) => {
  const h = await harness(t);
  await h.notify([
    {
      type: 'transfer_received',
      recipientUserId: 'user-evil',
      facts: {
        amount: '1.00',
        currency: 'EUR\r\nBcc: victim@example.com',
        reference: 'x\r\nBcc: victim@example.com\r\n\r\n<script>alert(1)</script>',
        counterparty: 'Eve\nX-Evil: 1',
      },
    },
  ]);
  await until('the mail arrives', () => h.peer.received.length === 1, waitMs);
  const [mail] = h.peer.received;
  const names = headerNames(mail!.raw);
  t.notOk(names.includes('bcc'), 'no Bcc header');
  t.notOk(names.includes('x-evil'), 'no X-Evil header');
  t.same(mail!.envelopeTo, ['mallory@example.com'], 'one recipient');
  t.equal(mail!.parsed.subject, 'You received a transfer', 'no amount from a currency that is none');
  t.match(mail!.parsed.html, '&lt;script&gt;alert(1)&lt;/script&gt;');
  t.notMatch(mail!.parsed.html, '<script>');
  t.match(mail!.parsed.text, 'Hello Mallory  Bcc: victim@example.com,');
});

t.test('preferences: email off, no mail; security mail always', async (t) => {
  const h = await harness(t);
  await h.notify([
    { type: 'transfer_received', recipientUserId: 'user-quiet', facts: factsOf.transfer_received },
    { type: 'kyc_verified', recipientUserId: 'user-quiet', facts: {} },
    { type: 'password_changed', recipientUserId: 'user-quiet', facts: {} },
  ]);
  await until('the security mail arrives', () => h.peer.received.length === 1, waitMs);
  // Then a marker for the same user: whatever was to arrive before it has arrived.
  await h.notify([{ type: 'account_locked', recipientUserId: 'user-quiet', facts: {} }]);
  await until('the marker arrives', () => h.peer.received.length === 2, waitMs);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(
    h.peer.received.map((m) => m.parsed.subject),
    ['Your password was changed', 'Your account is locked'],
  );
});

t.test('550: permanent, a dead letter, not retried', async (t) => {
  const h = await harness(t, () => 550);
  const before = await countDeadLetters(h.db);
  t.equal(before, 0, 'no table yet: 0');
  const event = await h.notify([{ type: 'password_changed', recipientUserId: 'user-en', facts: {} }]);
  await until('the dead letter', async () => (await countDeadLetters(h.db)) === 1, waitMs);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(h.peer.attempts, 1, 'one attempt: not retried');
  t.equal(h.peer.received.length, 0);
  const [letter] = await listDeadLetters(h.db);
  const [intent] = intentsOf(event);
  t.match(letter, {
    intentId: intent!.id,
    jobId: emailJobId(intent!.id),
    type: 'password_changed',
    recipientUserId: 'user-en',
    eventId: event.eventId,
    attempts: 1,
    permanent: true,
    responseCode: 550,
  });
  t.notMatch(letter!.reason, 'anna@example.com', 'no address in the dead letter');
  t.equal(await countDeadLetters(h.db), 1);
});

t.test('451 then accepted: delivered once, after a retry', async (t) => {
  const h = await harness(t, (n) => (n === 1 ? 451 : undefined));
  await h.notify([{ type: 'password_changed', recipientUserId: 'user-fr', facts: {} }]);
  await until('the mail arrives', () => h.peer.received.length === 1, waitMs);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(h.peer.attempts, 2);
  t.equal(h.peer.received.length, 1);
  t.equal(h.peer.received[0]?.parsed.subject, 'Votre mot de passe a été modifié');
  t.equal(await countDeadLetters(h.db), 0);
});

t.test('451 every time: retried with backoff, then a dead letter', async (t) => {
  const h = await harness(t, () => 451);
  await h.notify([{ type: 'kyc_verified', recipientUserId: 'user-en', facts: {} }]);
  await until('the dead letter', async () => (await countDeadLetters(h.db)) === 1, waitMs);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(h.peer.attempts, retry.attempts, 'every attempt, no more');
  const [letter] = await listDeadLetters(h.db);
  t.match(letter, { attempts: retry.attempts, permanent: false, responseCode: 451 });
});

t.test('the same notification sent twice: the same Message-ID', async (t) => {
  const h = await harness(t);
  const event = await h.notify([
    { type: 'kyc_rejected', recipientUserId: 'user-en', facts: { reason: 'Blurry' } },
  ]);
  await until('the mail arrives', () => h.peer.received.length === 1, waitMs);
  const [intent] = intentsOf(event);
  // A redelivery: the worker ran the job, sent, and died before the queue heard of it.
  await h.handler({
    id: emailJobId(intent!.id),
    queue: notificationsQueue,
    name: notifyEmailJob,
    data: {
      eventId: event.eventId,
      globalPosition: event.globalPosition.toString(),
      intentId: intent!.id,
      recipientUserId: 'user-en',
      type: 'kyc_rejected',
    },
    attempt: 1,
  });
  t.equal(h.peer.received.length, 2);
  const ids = h.peer.received.map((m) => m.parsed.messageId);
  t.equal(ids[0], messageIdFor(intent!.id));
  t.equal(ids[1], ids[0], 'a redelivery is recognisable as the same mail');
  // And a dispatcher redoing the event enqueues nothing new (job ids from the event and the notification).
  await h.jobs.enqueue(
    notificationsQueue,
    'notify.event',
    { eventId: event.eventId, globalPosition: event.globalPosition.toString() },
    { jobId: `notify.event-${event.eventId}` },
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(h.peer.received.length, 2, 'no third mail');
});
