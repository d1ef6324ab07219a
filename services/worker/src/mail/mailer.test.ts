import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import t, { type Test } from 'tap';
import {
  classifyMailError,
  createMailer,
  MailDeliveryError,
  type MailMessage,
  messageIdFor,
  outboxFileName,
  smtpOptionsOf,
} from './mailer.js';
import { headerNames, startSmtpPeer } from './smtp-peer.js';

// The transport against a real SMTP server (smtp-server, started here) and the outbox:
// what arrives, the Message-ID, headers that no text can add, and how failures classify.

const from = 'Ledger Bank <no-reply@ledger.local>';

const message = (over: Partial<MailMessage> = {}): MailMessage => ({
  messageId: messageIdFor('0b7e6a52-1111-5222-8333-444455556666'),
  to: 'alice@example.com',
  subject: 'You received a transfer',
  text: 'Hello Alice,\nA transfer arrived.\n',
  html: '<p>Hello Alice,</p><p>A transfer arrived.</p>',
  ...over,
});

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mailer-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('SMTP: the message arrives as sent', async (t) => {
  const peer = await startSmtpPeer();
  t.teardown(() => peer.close());
  const mailer = createMailer({ smtpUrl: peer.url, dataDir: '/nonexistent', from });
  t.teardown(() => mailer.close());
  t.equal(mailer.mode, 'smtp');
  await mailer.send(message());
  t.equal(peer.received.length, 1);
  const [mail] = peer.received;
  t.same(mail?.envelopeTo, ['alice@example.com']);
  t.equal(mail?.parsed.messageId, '<0b7e6a52-1111-5222-8333-444455556666@ledger.local>');
  t.equal(mail?.parsed.subject, 'You received a transfer');
  t.equal(mail?.parsed.from?.text, '"Ledger Bank" <no-reply@ledger.local>');
  t.match(mail?.parsed.text, 'A transfer arrived.');
  t.match(mail?.parsed.html, '<p>A transfer arrived.</p>');
});

t.test('SMTP: CR/LF in the address or subject adds no header', async (t) => {
  const peer = await startSmtpPeer();
  t.teardown(() => peer.close());
  const mailer = createMailer({ smtpUrl: peer.url, dataDir: '/nonexistent', from });
  t.teardown(() => mailer.close());
  await mailer.send(message({ subject: 'Hello\r\nBcc: victim@example.com\r\nX-Evil: 1' }));
  const [mail] = peer.received;
  const names = headerNames(mail?.raw ?? Buffer.alloc(0));
  t.notOk(names.includes('bcc'), 'no Bcc header');
  t.notOk(names.includes('x-evil'), 'no X-Evil header');
  t.same(mail?.envelopeTo, ['alice@example.com'], 'one recipient');
  t.equal(mail?.parsed.subject, 'Hello Bcc: victim@example.com X-Evil: 1');
  await t.rejects(mailer.send(message({ to: 'alice@example.com\r\nBcc: victim@example.com' })), {
    name: 'MailDeliveryError',
    permanent: true,
  });
  await t.rejects(mailer.send(message({ to: 'alice@example.com, bob@example.com' })), {
    name: 'MailDeliveryError',
    permanent: true,
  });
  t.equal(peer.received.length, 1, 'nothing more sent');
});

t.test('SMTP: 5xx is permanent, 4xx transient', async (t) => {
  const peer = await startSmtpPeer((n) => (n === 1 ? 550 : n === 2 ? 451 : undefined));
  t.teardown(() => peer.close());
  const mailer = createMailer({ smtpUrl: peer.url, dataDir: '/nonexistent', from });
  t.teardown(() => mailer.close());
  const first = await mailer.send(message()).catch((e: unknown) => e);
  t.type(first, MailDeliveryError);
  t.match(first, { permanent: true, responseCode: 550 });
  t.notMatch((first as Error).message, 'alice@example.com', 'no address in the error');
  const second = await mailer.send(message()).catch((e: unknown) => e);
  t.match(second, { permanent: false, responseCode: 451 });
  await mailer.send(message());
  t.equal(peer.attempts, 3);
  t.equal(peer.received.length, 1);
});

t.test('SMTP: a server that never answers is a transient failure within the timeout', async (t) => {
  const sockets = new Set<import('node:net').Socket>();
  const silent: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  const { port } = silent.address() as import('node:net').AddressInfo;
  const mailer = createMailer({
    smtpUrl: `smtp://127.0.0.1:${port}`,
    dataDir: '/nonexistent',
    from,
    timeouts: { greetingTimeoutMs: 300, connectionTimeoutMs: 300, socketTimeoutMs: 300 },
  });
  t.teardown(() => mailer.close());
  const started = Date.now();
  const error = await mailer.send(message()).catch((e: unknown) => e);
  t.match(error, { name: 'MailDeliveryError', permanent: false });
  t.ok(Date.now() - started < 5_000, 'bounded');
});

t.test('SMTP_URL: host, port, TLS, decoded credentials, bounded waits', async (t) => {
  t.match(smtpOptionsOf('smtp://mail.example.com'), {
    host: 'mail.example.com',
    port: 587,
    secure: false,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  t.notOk('auth' in smtpOptionsOf('smtp://mail.example.com'));
  t.match(smtpOptionsOf('smtps://us%40er:p%3Ass%2Fw@mail.example.com:2465'), {
    host: 'mail.example.com',
    port: 2465,
    secure: true,
    auth: { user: 'us@er', pass: 'p:ss/w' },
  });
  t.match(smtpOptionsOf('smtps://mail.example.com'), { port: 465, secure: true });
  t.match(smtpOptionsOf('smtp://[::1]:25?requireTLS=true'), { host: '::1', port: 25, requireTLS: true });
  t.throws(() => smtpOptionsOf('http://mail.example.com'), RangeError);
});

t.test('SMTP: credentials from the URL are used', async (t) => {
  const peer = await startSmtpPeer();
  t.teardown(() => peer.close());
  const mailer = createMailer({
    smtpUrl: `smtp://bank%40x:s3cr%3At@127.0.0.1:${peer.port}`,
    dataDir: '/x',
    from,
  });
  t.teardown(() => mailer.close());
  await mailer.send(message());
  t.equal(peer.received.length, 1);
  t.same(
    peer.received[0]?.auth,
    { user: 'bank@x', password: 's3cr:t' },
    'authenticated, credentials decoded',
  );
});

t.test('the outbox: a parseable .eml per Message-ID, written atomically', async (t) => {
  const dataDir = await tempDir(t);
  const mailer = createMailer({ dataDir, from });
  t.equal(mailer.mode, 'outbox');
  await mailer.send(message());
  await mailer.send(message({ text: 'Hello again\n' }));
  await mailer.send(message({ messageId: messageIdFor('another-intent') }));
  const files = (await readdir(join(dataDir, 'outbox'))).sort();
  t.same(files, ['0b7e6a52-1111-5222-8333-444455556666@ledger.local.eml', 'another-intent@ledger.local.eml']);
  const parsed = await simpleParser(
    await readFile(join(dataDir, 'outbox', '0b7e6a52-1111-5222-8333-444455556666@ledger.local.eml')),
  );
  t.equal(parsed.messageId, '<0b7e6a52-1111-5222-8333-444455556666@ledger.local>');
  t.equal(parsed.subject, 'You received a transfer');
  t.match(parsed.text, 'Hello again', 'the same Message-ID replaced the same file');
  t.match(parsed.html, '<p>A transfer arrived.</p>');
  const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
  t.equal(to?.value[0]?.address, 'alice@example.com');
});

t.test('Message-IDs and file names', async (t) => {
  t.equal(messageIdFor('abc-1'), '<abc-1@ledger.local>');
  t.equal(messageIdFor('abc-1'), messageIdFor('abc-1'), 'the same intent, the same Message-ID');
  t.match(messageIdFor('a b\r\n<c>'), /^<[0-9a-f]{64}@ledger\.local>$/);
  t.match(outboxFileName('<../../etc/passwd@x>'), /^[0-9a-f]{64}\.eml$/);
  t.equal(outboxFileName('<a@b>'), 'a@b.eml');
});

t.test('classification', async (t) => {
  t.match(classifyMailError(Object.assign(new Error('x'), { responseCode: 554, code: 'EENVELOPE' })), {
    permanent: true,
    responseCode: 554,
    code: 'EENVELOPE',
  });
  t.match(classifyMailError(Object.assign(new Error('x'), { responseCode: 421 })), { permanent: false });
  t.match(classifyMailError(Object.assign(new Error('x'), { code: 'ECONNECTION' })), { permanent: false });
  t.match(classifyMailError(undefined), { permanent: false });
  t.notMatch(
    classifyMailError(Object.assign(new Error('550 <bob@example.com> unknown'), { responseCode: 550 }))
      .message,
    'bob@example.com',
  );
});
