import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { headerSafe } from '@ledger/application/mail';
import nodemailer, { type SMTPTransportOptions, type Transporter } from 'nodemailer';

/**
 * The mail channel's transport (issue #18): nodemailer over SMTP when SMTP_URL is set, else
 * each mail written to DATA_DIR/outbox/<name>.eml (the embedded default). Only the worker
 * imports this module: the API process never needs nodemailer.
 *
 * A mail's Message-ID comes from its notification intent (messageIdFor), so a mail sent
 * again (a retried or redelivered job) is recognisable as the same one, and in the outbox it
 * overwrites the same file.
 */

export interface MailMessage {
  /** `<...@...>`, from messageIdFor. */
  messageId: string;
  /** One address. */
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  readonly mode: 'smtp' | 'outbox';
  /** Rejects with a MailDeliveryError (permanent or transient). */
  send(message: MailMessage): Promise<void>;
  close(): void;
}

export interface MailerConfig {
  /** smtp:// or smtps:// (SMTP_URL); unset: the outbox. */
  smtpUrl?: string | undefined;
  /** DATA_DIR: the outbox is DATA_DIR/outbox. */
  dataDir: string;
  /** MAIL_FROM, validated by the config. */
  from: string;
  /** Bounds of one SMTP exchange; defaults mailLimits. */
  timeouts?: Partial<SmtpTimeouts>;
}

export interface SmtpTimeouts {
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
}

export const mailerLimits = {
  connectionTimeoutMs: 10_000,
  greetingTimeoutMs: 10_000,
  socketTimeoutMs: 30_000,
  dnsTimeoutMs: 10_000,
  subjectLengthMax: 200,
  /** Text and HTML bodies each. */
  bodyBytesMax: 256 * 1024,
  addressLengthMax: 320,
  /** Of a server's reply kept in an error (addresses taken out). */
  responseLengthMax: 200,
} as const;

/** The domain of the Message-IDs. */
export const messageIdDomain = 'ledger.local';

/**
 * The Message-ID of the mail of one notification intent: `<{intentId}@ledger.local>`, the
 * id kept as is when it is made of safe characters, else its SHA-256 (the same intent
 * always gives the same Message-ID).
 */
export function messageIdFor(intentId: string): string {
  const safe = /^[A-Za-z0-9._-]{1,128}$/.test(intentId)
    ? intentId
    : createHash('sha256').update(intentId).digest('hex');
  return `<${safe}@${messageIdDomain}>`;
}

/** The outbox file of a Message-ID: its characters that are safe in a file name, else a hash. */
export function outboxFileName(messageId: string): string {
  const bare = messageId.replace(/^<|>$/g, '');
  if (/^[A-Za-z0-9._@-]{1,200}$/.test(bare) && !bare.startsWith('.')) return `${bare}.eml`;
  return `${createHash('sha256').update(messageId).digest('hex')}.eml`;
}

/**
 * A mail that was not delivered. `permanent`: the server refused it for good (a 5xx reply),
 * or the message itself is unfit (no valid address): sending again cannot help. Else
 * transient (a 4xx reply, a timeout, a lost connection, a full disk): retried with backoff.
 * The message carries the reply code and the reply with any address taken out (logs must
 * not hold personal data).
 */
export class MailDeliveryError extends Error {
  override readonly name = 'MailDeliveryError';
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly responseCode: number | undefined,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const redact = (text: string) =>
  headerSafe(text)
    .replace(/[^\s<>@"]+@[^\s<>@"]+/g, '<address>')
    .slice(0, mailerLimits.responseLengthMax);

/** Permanent when the server answered 5xx (responseCode >= 500), else transient. */
export function classifyMailError(error: unknown): MailDeliveryError {
  if (error instanceof MailDeliveryError) return error;
  const e = (error ?? {}) as {
    responseCode?: unknown;
    code?: unknown;
    response?: unknown;
    message?: unknown;
  };
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const permanent = responseCode !== undefined && responseCode >= 500 && responseCode < 600;
  const reply = typeof e.response === 'string' ? e.response : typeof e.message === 'string' ? e.message : '';
  const what = [responseCode === undefined ? undefined : `SMTP ${responseCode}`, code]
    .filter(Boolean)
    .join(' ');
  return new MailDeliveryError(
    `mail ${permanent ? 'refused' : 'not sent'} (${what || 'error'}): ${redact(reply)}`,
    permanent,
    responseCode,
    code,
  );
}

/**
 * The nodemailer options of an SMTP_URL: smtp://[user[:password]@]host[:port] (port 587,
 * STARTTLS when the server offers it; `?requireTLS=true` insists on it) or smtps:// (TLS
 * from the start, port 465). User and password are URL-decoded. Every wait is bounded.
 */
export function smtpOptionsOf(smtpUrl: string, timeouts: Partial<SmtpTimeouts> = {}): SMTPTransportOptions {
  const url = new URL(smtpUrl);
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw new RangeError(`SMTP_URL must start with smtp:// or smtps://`);
  }
  const secure = url.protocol === 'smtps:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === '') throw new RangeError('SMTP_URL has no host');
  const port = url.port === '' ? (secure ? 465 : 587) : Number(url.port);
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  return {
    host,
    port,
    secure,
    ...(url.searchParams.get('requireTLS') === 'true' ? { requireTLS: true } : {}),
    ...(user === '' ? {} : { auth: { user, pass } }),
    connectionTimeout: timeouts.connectionTimeoutMs ?? mailerLimits.connectionTimeoutMs,
    greetingTimeout: timeouts.greetingTimeoutMs ?? mailerLimits.greetingTimeoutMs,
    socketTimeout: timeouts.socketTimeoutMs ?? mailerLimits.socketTimeoutMs,
    dnsTimeout: mailerLimits.dnsTimeoutMs,
    // One message per connection: no pool to keep alive between jobs.
    pool: false,
  } as SMTPTransportOptions;
}

const addressPattern = /^[^\s<>@"(),;:\\[\]]+@[^\s<>@"(),;:\\[\]]+$/;

/** Checks what goes into headers and bounds the sizes; an unfit message is a permanent error. */
function checkedMessage(message: MailMessage): MailMessage {
  const unfit = (why: string) => new MailDeliveryError(`mail not sent: ${why}`, true, undefined, 'EUNFIT');
  const to = headerSafe(message.to);
  if (to.length > mailerLimits.addressLengthMax || !addressPattern.test(to))
    throw unfit('not a valid address');
  const messageId = headerSafe(message.messageId);
  if (!/^<[^\s<>@]+@[^\s<>@]+>$/.test(messageId)) throw unfit('not a valid Message-ID');
  const subject = headerSafe(message.subject).slice(0, mailerLimits.subjectLengthMax);
  for (const [what, body] of [
    ['text', message.text],
    ['html', message.html],
  ] as const) {
    if (Buffer.byteLength(body) > mailerLimits.bodyBytesMax) throw unfit(`${what} body too large`);
  }
  return { messageId, to, subject, text: message.text, html: message.html };
}

const mailOptions = (from: string, message: MailMessage) => ({
  from: headerSafe(from),
  to: { name: '', address: message.to },
  subject: message.subject,
  text: message.text,
  html: message.html,
  messageId: message.messageId,
  // Nothing in a mail reads files or URLs.
  disableFileAccess: true,
  disableUrlAccess: true,
});

/** The mailer of the configuration: SMTP with smtpUrl, else the outbox in dataDir. */
export function createMailer(config: MailerConfig): Mailer {
  return config.smtpUrl === undefined ? outboxMailer(config) : smtpMailer(config, config.smtpUrl);
}

function smtpMailer(config: MailerConfig, smtpUrl: string): Mailer {
  const transport: Transporter = nodemailer.createTransport(smtpOptionsOf(smtpUrl, config.timeouts));
  return {
    mode: 'smtp',
    async send(message) {
      const checked = checkedMessage(message);
      try {
        await transport.sendMail(mailOptions(config.from, checked));
      } catch (error) {
        throw classifyMailError(error);
      }
    },
    close() {
      transport.close();
    },
  };
}

function outboxMailer(config: MailerConfig): Mailer {
  const dir = join(config.dataDir, 'outbox');
  const transport: Transporter = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'unix',
  });
  let made: Promise<unknown> | undefined;
  return {
    mode: 'outbox',
    async send(message) {
      const checked = checkedMessage(message);
      let raw: Buffer;
      try {
        const info = await transport.sendMail(mailOptions(config.from, checked));
        raw = info.message as Buffer;
      } catch (error) {
        throw classifyMailError(error);
      }
      const file = join(dir, outboxFileName(checked.messageId));
      const temp = join(dir, `.${outboxFileName(checked.messageId)}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        made ??= mkdir(dir, { recursive: true });
        await made.catch((error) => {
          made = undefined;
          throw error;
        });
        // Atomic: a reader sees the whole mail or none; the same Message-ID replaces the same file.
        const handle = await open(temp, 'w', 0o600);
        try {
          await handle.writeFile(raw);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, file);
      } catch (error) {
        await rm(temp, { force: true }).catch(() => {});
        throw classifyMailError(error);
      }
    },
    close() {
      transport.close();
    },
  };
}
