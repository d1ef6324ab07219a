import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtSecretFileName, resolveJwtSecret, resolveTotpKey, totpKeyFileName } from '@ledger/platform';
import t from 'tap';
import { secretBox } from './auth/totp.js';

const root = await mkdtemp(join(tmpdir(), 'api-jwt-'));
t.teardown(() => rm(root, { recursive: true, force: true }));

let n = 0;
async function freshDir(): Promise<string> {
  const dir = join(root, `case-${++n}`);
  await mkdir(dir);
  return dir;
}

t.test('JWT_SECRET wins and nothing is written', async (t) => {
  const dir = await freshDir();
  const secret = 'a-configured-secret-of-at-least-32-chars';
  t.equal(await resolveJwtSecret({ jwtSecret: secret, dataDir: dir }), secret);
  t.same(await readdir(dir), []);
});

t.test('generated once: 48 random bytes in base64url, mode 0600, kept across calls', async (t) => {
  const dir = await freshDir();
  const first = await resolveJwtSecret({ jwtSecret: undefined, dataDir: dir });
  t.match(first, /^[A-Za-z0-9_-]{64}$/, '48 bytes are 64 base64url characters');
  const path = join(dir, jwtSecretFileName);
  t.equal((await readFile(path, 'utf8')).trim(), first);
  t.equal((await stat(path)).mode & 0o777, 0o600, 'readable by the owner only');
  t.equal(await resolveJwtSecret({ jwtSecret: undefined, dataDir: dir }), first, 'a restart reads it back');
  t.same(await readdir(dir), [jwtSecretFileName], 'no temporary file left');
  const other = await resolveJwtSecret({ jwtSecret: undefined, dataDir: await freshDir() });
  t.not(other, first, 'random per data directory');
});

t.test('an existing file is read, not replaced', async (t) => {
  const dir = await freshDir();
  const existing = 'x'.repeat(40);
  await writeFile(join(dir, jwtSecretFileName), `${existing}\n`, { mode: 0o600 });
  t.equal(await resolveJwtSecret({ jwtSecret: undefined, dataDir: dir }), existing);
});

t.test('concurrent first starts agree on one secret', async (t) => {
  const dir = await freshDir();
  const secrets = await Promise.all(
    Array.from({ length: 16 }, () => resolveJwtSecret({ jwtSecret: undefined, dataDir: dir })),
  );
  t.equal(new Set(secrets).size, 1, 'every caller got the same secret');
  t.equal((await readFile(join(dir, jwtSecretFileName), 'utf8')).trim(), secrets[0]);
  t.same(await readdir(dir), [jwtSecretFileName], 'temporary files cleaned up');
});

t.test('a missing DATA_DIR is created', async (t) => {
  const dir = join(await freshDir(), 'nested', 'deeper');
  const secret = await resolveJwtSecret({ jwtSecret: undefined, dataDir: dir });
  t.equal((await readFile(join(dir, jwtSecretFileName), 'utf8')).trim(), secret);
});

t.test('a truncated file is refused, never silently replaced', async (t) => {
  const dir = await freshDir();
  await writeFile(join(dir, jwtSecretFileName), 'short\n');
  await t.rejects(resolveJwtSecret({ jwtSecret: undefined, dataDir: dir }), /shorter than 32 characters/);
  t.equal(await readFile(join(dir, jwtSecretFileName), 'utf8'), 'short\n', 'left as it was');
});

t.test('the TOTP key is its own, kept beside the JWT secret; TOTP_KEY wins', async (t) => {
  const dir = await freshDir();
  const jwt = await resolveJwtSecret({ jwtSecret: undefined, dataDir: dir });
  const totp = await resolveTotpKey({ totpKey: undefined, dataDir: dir });
  t.not(totp, jwt, 'not the JWT secret');
  t.equal((await readFile(join(dir, totpKeyFileName), 'utf8')).trim(), totp);
  t.equal(await resolveTotpKey({ totpKey: undefined, dataDir: dir }), totp, 'a restart reads it back');
  const configured = 'a-configured-totp-key-of-32-characters';
  t.equal(await resolveTotpKey({ totpKey: configured, dataDir: dir }), configured);
  // A secret sealed under one key does not open under the JWT secret, nor under another key.
  const sealed = secretBox(totp).seal('JBSWY3DPEHPK3PXP');
  t.equal(secretBox(totp).open(sealed), 'JBSWY3DPEHPK3PXP');
  t.throws(() => secretBox(jwt).open(sealed));
  t.throws(() => secretBox(configured).open(sealed));
});
