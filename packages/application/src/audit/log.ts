import assert from 'node:assert/strict';
import { type AuditEventView, auditLimits } from '@ledger/contracts';
import type { EventStore, VerifyResult } from '@ledger/eventstore';
import { auditView } from './redact.js';

/**
 * The auditor's reads of the event store itself (API.md, Audit): never stale, so no read
 * model and no `minPosition`, and every event redacted (./redact.ts) before it leaves.
 * Pages are bounded by auditLimits (the API validates the same bounds); cursors are the
 * caller's business, this answers where the next page starts.
 */

export interface AuditPage {
  items: AuditEventView[];
  /** Where the next page starts: its first position (or version); where this one started when empty. */
  next: bigint;
  /** Whether events past this page were seen. */
  more: boolean;
}

function assertLimit(limit: number): void {
  assert(
    Number.isInteger(limit) && limit >= auditLimits.limitMin && limit <= auditLimits.limitMax,
    `audit page limit ${limit} outside ${auditLimits.limitMin}..${auditLimits.limitMax}`,
  );
}

/** The global log from `fromPosition` (inclusive), in position order, at most `limit` events. */
export async function auditLogPage(
  store: Pick<EventStore, 'readAll'>,
  page: { fromPosition: bigint; limit: number },
): Promise<AuditPage> {
  const { fromPosition: from, limit } = page;
  assertLimit(limit);
  // readAll is exclusive of `after`; fromPosition is inclusive. Positions start above 0.
  // One more than the page tells whether another page follows.
  const events = await store.readAll({ after: from > 0n ? from - 1n : 0n, limit: limit + 1 });
  const shown = events.slice(0, limit);
  const last = shown[shown.length - 1];
  return {
    items: shown.map(auditView),
    next: last === undefined ? from : last.globalPosition + 1n,
    more: events.length > limit,
  };
}

/**
 * One stream from `fromVersion` (inclusive), in version order, at most `limit` events; null
 * when the stream has no events (it does not exist). Past the end of a stream is an empty page.
 */
export async function auditStreamPage(
  store: Pick<EventStore, 'readStream'>,
  streamId: string,
  page: { fromVersion: bigint; limit: number },
): Promise<AuditPage | null> {
  const { fromVersion: from, limit } = page;
  assertLimit(limit);
  const events = await store.readStream(streamId, { fromVersion: from, limit: limit + 1 });
  if (events.length === 0) {
    const exists = from > 0n && (await store.readStream(streamId, { limit: 1 })).length > 0;
    if (!exists) return null;
  }
  const shown = events.slice(0, limit);
  const last = shown[shown.length - 1];
  return {
    items: shown.map(auditView),
    next: last === undefined ? from : last.streamVersion + 1n,
    more: events.length > limit,
  };
}

/** What the verifier found: the event store's own answer. */
export type LogVerification = VerifyResult;

/**
 * The hash-chain verifier, one run at a time per verifier: callers while a run is in flight
 * share it. A run reads every event of the store (pages of 1000) and recomputes its sha256,
 * linear in the size of the log; a caller that gives up (the API's handler timeout) leaves
 * the run to finish for whoever asks next.
 */
export function sharedVerifier(store: Pick<EventStore, 'verify'>): () => Promise<LogVerification> {
  let running: Promise<LogVerification> | null = null;
  return () => {
    running ??= store.verify().finally(() => {
      running = null;
    });
    return running;
  };
}
