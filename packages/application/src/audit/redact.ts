import { type AuditEventView, redactedValue } from '@ledger/contracts';
import type { RecordedEvent } from '@ledger/eventstore';

/**
 * What an auditor sees of an event: all of it. Since issue #15 no event holds a secret:
 * password hashes and TOTP secrets are in the vault's credentials, and events name them by
 * id (UserRegistered and PasswordChanged `passwordId`, TwoFactorSetupStarted `factorId`);
 * personal fields are sealed (`pii1.…`). Refresh tokens live in auth.refresh_tokens
 * (RefreshTokenReused and LoggedOut name only the token family). So an auditor, or anyone
 * they hand the log to, can recompute every hash chain from what this API shows.
 * packages/contracts/src/no-secrets.test.ts walks every event schema to keep it so.
 *
 * Still three nets, because a new event type with a secret in it must not leak by default:
 * 1. the fields known to be secrets, per event type (none today);
 * 2. any field, at any depth of data or metadata, whose name says it holds a secret
 *    (password…, secret…, …token…, otp, pin, ciphertext, private/api keys, credentials,
 *    authorization headers, cookies), unless it is a reference: a name ending in `Id`
 *    whose value is a uuid (`passwordId`, `factorId` name a vault row, they hold nothing);
 * 3. any string that looks like a password hash (bcrypt `$2a$…`, argon2, scrypt).
 * An event a net fires on lists the path in `redacted`, and its chain can then be checked
 * only by GET /verify, which recomputes the chains from the store itself.
 */

/** Net 1: event type → fields of `data` that are secrets. Empty: no event holds one. */
export const secretFieldsByType: Readonly<Record<string, readonly string[]>> = {};

/** Net 2, on the lower-cased name with `_` and `-` removed. */
const secretNamePattern =
  /password|passwd|passphrase|secret|token|ciphertext|privatekey|apikey|credential|authorization|cookie|^otp$|^pin$|^cvv$/;
/** `otpTimeStep` and friends name a counter, not a secret. */
const notSecretNames = new Set(['otptimestep', 'tokentype']);
/** A reference to a row elsewhere (`passwordId`, `factorId`): a name ending in `Id`, a uuid value. */
const referenceNamePattern = /Id$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Net 3: password-hash formats. */
const hashValuePattern = /^\$(2[abxy]?|argon2(id|i|d)|scrypt|pbkdf2[-a-z0-9]*|[156])\$/;

/** A bound on how deep we walk: event data is JSON from our own writers, never this deep. */
const depthMax = 32;

function isSecretName(key: string): boolean {
  const name = key.toLowerCase().replace(/[_-]/g, '');
  return !notSecretNames.has(name) && secretNamePattern.test(name);
}

function isReference(key: string, value: unknown): boolean {
  return referenceNamePattern.test(key) && typeof value === 'string' && uuidPattern.test(value);
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
    if (isSecretName(key) && v !== null && !isReference(key, v)) {
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
