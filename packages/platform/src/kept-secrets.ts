import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from './config.js';

export const jwtSecretFileName = 'jwt-secret';
/** 48 random bytes: 384 bits, more than HS256 needs, 64 characters in base64url. */
export const jwtSecretBytes = 48;
/** Shortest secret accepted from the file, as loadConfig demands of JWT_SECRET. */
export const jwtSecretLengthMin = 32;

/**
 * The secret that signs access tokens: JWT_SECRET when set; otherwise the one kept in
 * `<DATA_DIR>/jwt-secret`, generated on first start, so tokens survive a restart.
 *
 * The file appears complete or not at all: the secret is written (mode 0600) and synced
 * under a temporary name, then hard-linked into place. Unlike rename, link fails when the
 * name exists, so when two processes start together the first one's secret wins and the
 * other reads it, rather than silently replacing it and invalidating tokens already issued.
 */
export function resolveJwtSecret(config: Pick<Config, 'jwtSecret' | 'dataDir'>): Promise<string> {
  return resolveKeptSecret(config.jwtSecret, config.dataDir, jwtSecretFileName);
}

export const totpKeyFileName = 'totp-key';

/**
 * The key that seals TOTP secrets: TOTP_KEY when set, otherwise `<DATA_DIR>/totp-key`, made
 * like the JWT secret. Its own key, not one derived from the JWT secret: rotating the signing
 * secret (say, after a leak) must not make every enrolled authenticator unreadable, and a
 * leaked signing secret must not open the second factors.
 */
export function resolveTotpKey(config: Pick<Config, 'totpKey' | 'dataDir'>): Promise<string> {
  return resolveKeptSecret(config.totpKey, config.dataDir, totpKeyFileName);
}

export const dataKeyFileName = 'data-key';

/**
 * The master key of personal data (the vault's DATA_KEY): DATA_KEY when set, otherwise
 * `<DATA_DIR>/data-key`, made like the JWT secret. Its own key: losing the signing secret or
 * the TOTP key must not open anyone's personal data.
 */
export function resolveDataKey(config: Pick<Config, 'dataKey' | 'dataDir'>): Promise<string> {
  return resolveKeptSecret(config.dataKey, config.dataDir, dataKeyFileName);
}

export const auditSigningKeyFileName = 'audit-signing-key';

/**
 * An Ed25519 private key as AUDIT_SIGNING_KEY gives it: PKCS#8 PEM, or the PKCS#8 DER in
 * base64 (what the kept file holds). Throws on anything else, another algorithm included.
 */
export function parseAuditSigningKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith('-----BEGIN')
    ? createPrivateKey(trimmed)
    : createPrivateKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new RangeError(`an Ed25519 key is needed, not ${key.asymmetricKeyType ?? 'a symmetric key'}`);
  }
  return key;
}

/**
 * The bank's key signing audit exports' manifests: AUDIT_SIGNING_KEY when set, otherwise
 * `<DATA_DIR>/audit-signing-key` (base64 PKCS#8 DER), made like the JWT secret. Its own key:
 * an auditor holds its public half, and nothing else may sign with it.
 */
export async function resolveAuditSigningKey(
  config: Pick<Config, 'auditSigningKey' | 'dataDir'>,
): Promise<KeyObject> {
  const text = await resolveKeptSecret(config.auditSigningKey, config.dataDir, auditSigningKeyFileName, () =>
    generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
  );
  return parseAuditSigningKey(text);
}

const randomSecret = () => randomBytes(jwtSecretBytes).toString('base64url');

/** A secret from configuration, or kept in a file of DATA_DIR, generated on first start. */
async function resolveKeptSecret(
  value: string | undefined,
  dataDir: string,
  fileName: string,
  generate: () => string = randomSecret,
): Promise<string> {
  if (value !== undefined) return value;

  const dir = resolve(dataDir);
  const path = join(dir, fileName);
  const existing = await readSecret(path);
  if (existing !== undefined) return existing;

  await mkdir(dir, { recursive: true });
  const secret = generate();
  const temp = join(dir, `.${fileName}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(temp, 'wx', 0o600);
  try {
    await file.writeFile(`${secret}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await link(temp, path);
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Another process got there first: its secret is the one.
    const winner = await readSecret(path);
    if (winner === undefined) throw new Error(`${path} vanished while it was being created`);
    return winner;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

async function readSecret(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const secret = text.trim();
  if (secret.length < jwtSecretLengthMin) {
    // Never replaced silently: a new secret would log everybody out; a human decides.
    throw new Error(
      `${path} holds a secret shorter than ${jwtSecretLengthMin} characters; delete it to generate a new one`,
    );
  }
  return secret;
}
