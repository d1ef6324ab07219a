import { loadUser } from '@ledger/application';
import type { UserState } from '@ledger/domain';
import type { EventStore } from '@ledger/eventstore';

/**
 * The users authenticate() folds on every request (for their status, lock and role), kept
 * between requests instead of re-reading the user's stream each time.
 *
 * A cached user is dropped:
 *   - at once when this process appends to the user's stream (a role change, a lock, a failed
 *     login): watchUserWrites observes every append through the store object;
 *   - on the next request anywhere when another process did, where the revocation list is
 *     shared (Redis): the writer sets a new change mark for the user, read in the same round
 *     trip as the revocation check, and a copy cached under another mark is not used;
 *   - after a short time otherwise (no Redis: one process, or replicas that see each other's
 *     role and lock changes within userCacheTtlMs.unshared).
 * Logouts never depended on it: they revoke the token and its family in the revocation list.
 */

export const userCacheSizeMax = 10_000;
export const userCacheTtlMs = {
  /** Marks tell of every change: the age limit is only a backstop. */
  shared: 60_000,
  /** Nothing tells of another process's changes: how late this process may see them. */
  unshared: 1_000,
} as const;

const userStreamPrefix = 'user-';

interface Entry {
  state: UserState;
  mark: string | null | undefined;
  loadedAt: number;
}

export class UserCache {
  readonly #entries = new Map<string, Entry>();
  /** Moves whenever a write to any user stream starts or ends. */
  #generation = 0;

  constructor(
    private readonly store: EventStore,
    private readonly ttlMs: number,
    private readonly sizeMax = userCacheSizeMax,
  ) {}

  /** The user as of now: the cached copy if it was loaded under this mark and is young enough. */
  async get(userId: string, mark: string | null | undefined): Promise<UserState> {
    const now = performance.now();
    const entry = this.#entries.get(userId);
    if (entry !== undefined && entry.mark === mark && now - entry.loadedAt < this.ttlMs) return entry.state;
    const generation = this.#generation;
    const state = await loadUser(this.store, userId);
    // A user write started or ended while reading: the state may predate it. It serves
    // this request (as an uncached read would), but is not kept.
    if (generation === this.#generation) {
      this.#entries.delete(userId);
      this.#entries.set(userId, { state, mark, loadedAt: now });
      if (this.#entries.size > this.sizeMax) {
        const oldest = this.#entries.keys().next();
        if (!oldest.done) this.#entries.delete(oldest.value);
      }
    }
    return state;
  }

  forget(userIds: readonly string[]): void {
    this.#generation++;
    for (const id of userIds) this.#entries.delete(id);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * Calls `onWrite(userIds, 'before')` when an append through this store object that touches
 * user streams starts, and `onWrite(userIds, 'after')` once it has ended (its promise settles
 * after that call's). Returns the function that stops watching.
 */
export function watchUserWrites(
  store: EventStore,
  onWrite: (userIds: string[], phase: 'before' | 'after') => void | Promise<void>,
): () => void {
  return store.observeAppends({
    beforeAppend(streamIds) {
      const userIds = userIdsOf(streamIds);
      if (userIds.length > 0) void onWrite(userIds, 'before');
    },
    async afterAppend(streamIds) {
      const userIds = userIdsOf(streamIds);
      if (userIds.length > 0) await onWrite(userIds, 'after');
    },
  });
}

function userIdsOf(streamIds: readonly string[]): string[] {
  const userIds: string[] = [];
  for (const streamId of streamIds) {
    if (streamId.startsWith(userStreamPrefix)) userIds.push(streamId.slice(userStreamPrefix.length));
  }
  return userIds;
}
