import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { EncryptedSecret } from '@ledger/contracts';
import { generateSecret, generateURI, verify } from 'otplib';

/**
 * TOTP (RFC 6238) with otplib, and the secret's protection at rest: the event log holds it
 * only sealed with AES-256-GCM under a key derived (HKDF-SHA256) from TOTP_KEY (its own key,
 * see resolveTotpKey), so a copy of the event store alone does not give anyone a second factor.
 */

export const totpIssuer = 'Ledger Bank';
/** One period either side: a phone clock 30 s off still works. */
export const totpToleranceSeconds = 30;
const keyId = 'hkdf-totp-v1';

export interface SecretBox {
  seal(plain: string): EncryptedSecret;
  open(sealed: EncryptedSecret): string;
}

export function secretBox(totpKey: string): SecretBox {
  const key = Buffer.from(
    hkdfSync('sha256', Buffer.from(totpKey, 'utf8'), Buffer.from('ledger totp'), Buffer.from(keyId), 32),
  );
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(keyId));
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return {
        alg: 'A256GCM',
        keyId,
        iv: iv.toString('base64url'),
        tag: cipher.getAuthTag().toString('base64url'),
        ciphertext: ciphertext.toString('base64url'),
      };
    },
    open(sealed) {
      if (sealed.keyId !== keyId) throw new Error(`unknown TOTP key id ${sealed.keyId}`);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'));
      decipher.setAAD(Buffer.from(keyId));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(sealed.ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    },
  };
}

export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function otpauthUrl(secret: string, label: string): string {
  return generateURI({ issuer: totpIssuer, label, secret });
}

/**
 * The RFC 6238 time step a code matches at `now` (± one period), or null. Replay is the
 * decider's business (it knows the last step used); this only checks the code.
 */
export async function otpTimeStep(secret: string, code: string, now: Date): Promise<number | null> {
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(now.getTime() / 1000),
    epochTolerance: totpToleranceSeconds,
  });
  return result.valid && 'timeStep' in result ? result.timeStep : null;
}
