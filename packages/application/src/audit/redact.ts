import { type AuditEventView, redactedValue } from '@ledger/contracts';
import type { RecordedEvent } from '@ledger/eventstore';

/**
 * What an auditor sees of an event: everything but secrets. The log keeps a bcrypt hash of
 * every password (UserRegistered, and PasswordChanged once it exists) and the sealed TOTP
 * secret of every 2FA set-up (TwoFactorSetupStarted): neither may leave the store, not even
 * to staff, since a hash can be cracked offline and a sealed secret is one key away from a
 * second factor. Refresh tokens live in auth.refresh_tokens, not in events
 * (RefreshTokenReused and LoggedOut name only the token family).
 *
 * Three nets, because a new event type with a secret in it must not leak by default:
 * 1. the fields known to be secrets, per event type;
 * 2. any field, at any depth of data or metadata, whose name says it holds a secret
 *    (password…, secret…, …token…, otp, pin, ciphertext, private/api keys, credentials,
 *    authorization headers, cookies);
 * 3. any string that looks like a password hash (bcrypt `$2a$…`, argon2, scrypt).
 *
 * The event's `hash` is shown as stored: it covers the original values, and GET /verify
 * recomputes the chains from the store itself.
 */

/** Net 1: event type → fields of `data` that are secrets. */
export const secretFieldsByType: Readonly<Record<string, readonly string[]>> = {
  UserRegistered: ['passwordHash'],
  PasswordChanged: ['passwordHash'],
  TwoFactorSetupStarted: ['secret'],
};

/** Net 2, on the lower-cased name with `_` and `-` removed. */
const secretNamePattern =
  /password|passwd|passphrase|secret|token|ciphertext|privatekey|apikey|credential|authorization|cookie|^otp$|^pin$|^cvv$/;
/** `otpTimeStep` and friends name a counter, not a secret. */
const notSecretNames = new Set(['otptimestep', 'tokentype', 'familyid']);

/** Net 3: password-hash formats. */
const hashValuePattern = /^\$(2[abxy]?|argon2(id|i|d)|scrypt|pbkdf2[-a-z0-9]*|[156])\$/;

/** A bound on how deep we walk: event data is JSON from our own writers, never this deep. */
const depthMax = 32;

function isSecretName(key: string): boolean {
  const name = key.toLowerCase().replace(/[_-]/g, '');
  return !notSecretNames.has(name) && secretNamePattern.test(name);
}

function redactValue(value: unknown, path: string, redacted: string[], depth: number): unknown {
  if (typeof value === 'string') {
    if (hashValuePattern.test(value)) {
      redacted.push(path);
      return redactedValue;
    }
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth >= depthMax) {
    redacted.push(path);
    return redactedValue;
  }
  if (Array.isArray(value)) return value.map((v, i) => redactValue(v, `${path}[${i}]`, redacted, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const childPath = `${path}.${key}`;
    if (isSecretName(key) && v !== null) {
      redacted.push(childPath);
      out[key] = redactedValue;
    } else {
      out[key] = redactValue(v, childPath, redacted, depth + 1);
    }
  }
  return out;
}

/** The event as the Audit API shows it: JSON-safe (bigints as strings) and without secrets. */
export function auditView(event: RecordedEvent): AuditEventView {
  const redacted: string[] = [];
  let data: unknown = event.data;
  const known = secretFieldsByType[event.type];
  if (known && data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const copy: Record<string, unknown> = { ...data };
    for (const field of known) {
      if (field in copy && copy[field] !== null) {
        copy[field] = redactedValue;
        redacted.push(`data.${field}`);
      }
    }
    data = copy;
  }
  data = redactValue(data, 'data', redacted, 0);
  const metadata = redactValue(event.metadata, 'metadata', redacted, 0) as Record<string, unknown>;
  return {
    position: event.globalPosition.toString(),
    eventId: event.eventId,
    streamId: event.streamId,
    streamVersion: event.streamVersion.toString(),
    type: event.type,
    schemaVersion: event.schemaVersion,
    data,
    metadata,
    recordedAt: event.recordedAt,
    hash: event.hash,
    redacted: [...new Set(redacted)],
  };
}
