import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server for tests (smtp-server on 127.0.0.1, a free port): it keeps what it
 * accepts, parsed by mailparser, and answers each DATA as `answer` says (accept, or refuse
 * with a reply code), counting the attempts.
 */

export interface ReceivedMail {
  /** RCPT TO addresses of the envelope. */
  envelopeTo: string[];
  /** False when the peer kept it but never answered (`'hang'`): the sender cannot know it arrived. */
  acknowledged: boolean;
  /** The user the client authenticated as, if it did (and the password it gave). */
  auth: { user: string; password: string } | undefined;
  raw: Buffer;
  parsed: ParsedMail;
}

export interface SmtpPeer {
  url: string;
  port: number;
  received: ReceivedMail[];
  /** DATA commands seen, refused ones included. */
  attempts: number;
  /**
   * Called at each DATA with its 1-based number: a reply code refuses it, undefined accepts,
   * 'hang' keeps the message and never answers (a sender killed or timed out mid-send).
   */
  answer: (attempt: number) => number | 'hang' | undefined;
  close(): Promise<void>;
}

const messageBytesMax = 1024 * 1024;

export async function startSmtpPeer(answer: SmtpPeer['answer'] = () => undefined): Promise<SmtpPeer> {
  const peer: SmtpPeer = {
    url: '',
    port: 0,
    received: [],
    attempts: 0,
    answer,
    close: async () => {},
  };
  const server = new SMTPServer({
    authOptional: true,
    // Tests only: plain TCP, so credentials may be checked without TLS.
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    size: messageBytesMax,
    logger: false,
    onAuth(auth, _session, callback) {
      callback(null, { user: { user: auth.username ?? '', password: auth.password ?? '' } });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        peer.attempts++;
        const code = peer.answer(peer.attempts);
        if (typeof code === 'number') {
          callback(Object.assign(new Error(`refused by the test peer with ${code}`), { responseCode: code }));
          return;
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            peer.received.push({
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              acknowledged: code !== 'hang',
              auth: session.user as { user: string; password: string } | undefined,
              raw,
              parsed,
            });
            if (code !== 'hang') callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  peer.port = port;
  peer.url = `smtp://127.0.0.1:${port}`;
  peer.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return peer;
}

/** The raw header block of a message (up to the first empty line), lines unfolded. */
export function headerNames(raw: Buffer): string[] {
  const text = raw.toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  return (end < 0 ? text : text.slice(0, end))
    .replace(/\r?\n[ \t]+/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
}
