import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * Where identity documents are kept (issue #16): outside the database, content-addressed,
 * already sealed with their owner's key by the caller (so an erasure reaches them without
 * touching a file). The local-disk adapter keeps `<dir>/<userId>/<sha256>`; another adapter
 * (an object store) would keep the same names.
 */
export interface DocumentStorage {
  /** Stores `bytes` under (userId, name); storing the same name again replaces nothing that differs in meaning. */
  put(userId: string, name: string, bytes: Buffer): Promise<void>;
  /** The bytes, or null when there is no such file. */
  get(userId: string, name: string): Promise<Buffer | null>;
  /** Every file of a user (erasure). */
  removeUser(userId: string): Promise<void>;
}

const userIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const namePattern = /^[0-9a-f]{64}$/;

/** Names are checked, never trusted: no path of a caller's making reaches the file system. */
function checkNames(userId: string, name?: string): void {
  if (!userIdPattern.test(userId)) throw new RangeError('document owner must be a lower-case uuid');
  if (name !== undefined && !namePattern.test(name))
    throw new RangeError('document name must be a sha256 in hex');
}

export function localDocumentStorage(dir: string): DocumentStorage {
  const root = resolve(dir);
  return {
    async put(userId, name, bytes) {
      checkNames(userId, name);
      const folder = join(root, userId);
      await mkdir(folder, { recursive: true, mode: 0o700 });
      // Complete or absent: written and synced under a temporary name, then renamed.
      const temp = join(folder, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
      const file = await open(temp, 'wx', 0o600);
      try {
        await file.writeFile(bytes);
        await file.sync();
      } finally {
        await file.close();
      }
      try {
        await rename(temp, join(folder, name));
      } catch (error) {
        await unlink(temp).catch(() => {});
        throw error;
      }
    },
    async get(userId, name) {
      checkNames(userId, name);
      try {
        return await readFile(join(root, userId, name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async removeUser(userId) {
      checkNames(userId);
      await rm(join(root, userId), { recursive: true, force: true });
    },
  };
}
