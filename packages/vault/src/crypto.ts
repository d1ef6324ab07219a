import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/**
 * The vault's cryptography, pure (no I/O). One master key (DATA_KEY) is stretched with
 * HKDF-SHA256 into three keys of distinct purposes: one wraps the subjects' keys, one makes
 * the keyed hashes that stand in for names in stream ids, one proves at start-up that the
 * configured master key is the one the data was sealed under. A subject's own key (a user's)
 * seals each personal field with AES-256-GCM; destroying it erases every field it sealed.
 */

/** Shortest master key accepted (characters), as for JWT_SECRET and TOTP_KEY. */
export const dataKeyLengthMin = 32;

const keyBytes = 32;
const ivBytes = 12;

export interface MasterKeys {
  wrap: Buffer;
  index: Buffer;
  check: Buffer;
}

export function deriveMasterKeys(dataKey: string): MasterKeys {
  if (dataKey.length < dataKeyLengthMin) {
    throw new RangeError(`DATA_KEY must be at least ${dataKeyLengthMin} characters`);
  }
  const ikm = Buffer.from(dataKey, 'utf8');
  const derive = (purpose: string) =>
    Buffer.from(hkdfSync('sha256', ikm, Buffer.from('ledger vault'), Buffer.from(purpose), keyBytes));
  return { wrap: derive('wrap v1'), index: derive('index v1'), check: derive('check v1') };
}

/** The value kept in vault.master: a MAC of a constant, so it says nothing of the key. */
export function checkValue(keys: MasterKeys): string {
  return createHmac('sha256', keys.check).update('ledger data key check v1').digest('base64url');
}

export function checkMatches(keys: MasterKeys, stored: string): boolean {
  const expected = Buffer.from(checkValue(keys));
  const actual = Buffer.from(stored);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * A keyed hash (HMAC-SHA256) of a name, case-insensitive: what a reservation stream is named
 * by (`username-<hash>`), so the log keeps names unique without holding them. Without
 * DATA_KEY nobody can test a guess against it.
 */
export function keyedHash(keys: MasterKeys, kind: string, value: string): string {
  return createHmac('sha256', keys.index).update(`${kind}\0${value.toLowerCase()}`).digest('base64url');
}

export function newSubjectKey(): Buffer {
  return randomBytes(keyBytes);
}

function seal(key: Buffer, plain: Buffer, aad: string): string {
  const iv = randomBytes(ivBytes);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return `${iv.toString('base64url')}.${body.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

const sealedPartsPattern = /^([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{22})$/;

/** Throws on anything that was not sealed by `key` for `aad` (GCM authenticates both). */
function unseal(key: Buffer, sealed: string, aad: string): Buffer {
  const match = sealedPartsPattern.exec(sealed);
  if (!match) throw new RangeError('not a sealed value');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(match[1]!, 'base64url'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(match[3]!, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(match[2]!, 'base64url')), decipher.final()]);
}

const wrapAad = (subjectId: string) => `ledger subject key v1|${subjectId}`;

export function wrapSubjectKey(keys: MasterKeys, subjectId: string, key: Buffer): string {
  return seal(keys.wrap, key, wrapAad(subjectId));
}

export function unwrapSubjectKey(keys: MasterKeys, subjectId: string, wrapped: string): Buffer {
  return unseal(keys.wrap, wrapped, wrapAad(subjectId));
}

/** The prefix of a sealed personal field as it appears in events and read models. */
export const sealedFieldPrefix = 'pii1.';
/** What a sealed personal field looks like (see sealField): a test walks every event schema with it. */
export const sealedFieldPattern = /^pii1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}$/;

/**
 * Seals one personal field of a subject: bound (GCM additional data) to the subject and the
 * field's name, so a sealed first name cannot be passed off as another user's, or as a phone.
 */
export function sealField(key: Buffer, subjectId: string, field: string, value: string): string {
  return sealedFieldPrefix + seal(key, Buffer.from(value, 'utf8'), `ledger pii v1|${subjectId}|${field}`);
}

export function openField(key: Buffer, subjectId: string, field: string, sealed: string): string {
  if (!sealed.startsWith(sealedFieldPrefix)) throw new RangeError(`${field} is not a sealed field`);
  return unseal(key, sealed.slice(sealedFieldPrefix.length), `ledger pii v1|${subjectId}|${field}`).toString(
    'utf8',
  );
}

const bytesMagic = Buffer.from('ldgb1');
const ivBytesLength = 12;
const tagBytesLength = 16;

/**
 * Seals a file of a subject (a document scan): `ldgb1 ‖ iv ‖ ciphertext ‖ tag`, bound to
 * the subject and to `name` (its content hash, say) as GCM additional data.
 */
export function sealBytes(key: Buffer, subjectId: string, name: string, plain: Buffer): Buffer {
  const iv = randomBytes(ivBytesLength);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`ledger file v1|${subjectId}|${name}`, 'utf8'));
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([bytesMagic, iv, body, cipher.getAuthTag()]);
}

export function openBytes(key: Buffer, subjectId: string, name: string, sealed: Buffer): Buffer {
  const head = bytesMagic.length + ivBytesLength;
  if (sealed.length < head + tagBytesLength || !sealed.subarray(0, bytesMagic.length).equals(bytesMagic)) {
    throw new RangeError('not a sealed file');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(bytesMagic.length, head));
  decipher.setAAD(Buffer.from(`ledger file v1|${subjectId}|${name}`, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - tagBytesLength));
  return Buffer.concat([
    decipher.update(sealed.subarray(head, sealed.length - tagBytesLength)),
    decipher.final(),
  ]);
}
