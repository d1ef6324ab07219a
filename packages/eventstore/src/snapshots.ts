import type { EventStore, JsonValue } from './types.js';

/**
 * A fold of one stream kept beside the log, so that a cold load reads it and the events
 * after it instead of the whole stream. A cache, never evidence: it is outside the hash
 * chains (an auditor never needs it), and a reader checks it against them (the event at
 * `streamVersion` must still have `hash`) and ignores it when it does not match.
 */
export interface StreamSnapshot {
  streamId: string;
  /** Version of the last event folded into `state`. */
  streamVersion: bigint;
  /** Chain hash (hex) of that event, as stored when the snapshot was written. */
  hash: string;
  /** What `state` is and how it is encoded (say `account/1`): a reader ignores any other. */
  schema: string;
  state: JsonValue;
}

/**
 * Snapshots of streams: one per stream, the latest written. PostgreSQL and PGlite keep them
 * (`es.snapshots`); the KurrentDB adapter has none (its loads fold whole streams).
 */
export interface SnapshotStore {
  /** The stream's snapshot, or null. */
  readSnapshot(streamId: string): Promise<StreamSnapshot | null>;
  /**
   * Keeps `state` as the stream's snapshot, with the chain hash of the stored event at
   * `streamVersion`. Returns false when nothing was written: there is no such event, or the
   * stored snapshot is of a later version in the same schema (snapshots only move forward).
   */
  writeSnapshot(snapshot: Omit<StreamSnapshot, 'hash'>): Promise<boolean>;
}

/** Largest snapshot state, as JSON text: a fold is small (an account's is well under 1 KiB). */
export const snapshotStateBytesMax = 256 * 1024;

/** An event store that keeps snapshots. */
export type WithSnapshots = EventStore & { readonly snapshots: SnapshotStore };

/** The store's snapshots, when its adapter keeps them; undefined otherwise (KurrentDB). */
export function snapshotsOf(store: EventStore): SnapshotStore | undefined {
  const snapshots = (store as Partial<WithSnapshots>).snapshots;
  return snapshots !== undefined &&
    typeof snapshots.readSnapshot === 'function' &&
    typeof snapshots.writeSnapshot === 'function'
    ? snapshots
    : undefined;
}
