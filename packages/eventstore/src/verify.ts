import { chainHash, genesisHash } from './hash.js';
import type { BadEvent, RecordedEvent, VerifyResult } from './types.js';

interface StreamChain {
  streamId: string;
  /** The last event fed. */
  last: RecordedEvent;
  /** True while every event fed so far continues the chain. */
  intact: boolean;
  nextVersion: bigint;
  hash: Buffer;
}

/**
 * Recomputes hash chains from stored events, whatever stored them: the PostgreSQL and
 * KurrentDB adapters feed it, and so can a checker of an exported log. The events of a
 * stream are fed together, in version order; streams may come in any order. Each stream's
 * versions must run 0, 1, 2, … and each hash must be sha256(previous hash ‖ canonical JSON
 * of the event) (hash.ts). A stream's first bad event breaks it: the rest of it is counted,
 * not checked. Of all bad events, the one with the lowest global position is reported.
 */
export class ChainVerifier {
  #checkedEvents = 0;
  #firstBad: BadEvent | null = null;
  #stream: StreamChain | undefined;

  /** The stream being fed: its id, its last event, and whether its chain holds so far. */
  get stream(): Readonly<Pick<StreamChain, 'streamId' | 'last' | 'intact'>> | undefined {
    return this.#stream;
  }

  /**
   * Checks the next event; an event of another stream than the last one starts a new chain.
   * Returns whether its stream's chain still holds.
   */
  add(event: RecordedEvent): boolean {
    this.#checkedEvents++;
    let stream = this.#stream;
    if (stream === undefined || stream.streamId !== event.streamId) {
      stream = { streamId: event.streamId, last: event, intact: true, nextVersion: 0n, hash: genesisHash };
      this.#stream = stream;
    }
    stream.last = event;
    if (!stream.intact) return false;
    if (event.streamVersion !== stream.nextVersion) {
      this.noteBad(event, 'version_gap');
      stream.intact = false;
      return false;
    }
    const expected = chainHash(stream.hash, event);
    if (expected.toString('hex') !== event.hash) {
      this.noteBad(event, 'hash_mismatch');
      stream.intact = false;
      return false;
    }
    stream.hash = expected;
    stream.nextVersion++;
    return true;
  }

  /** Records a bad event found by the adapter (say, a stream head that disagrees with its chain). */
  noteBad(event: RecordedEvent, reason: BadEvent['reason']): void {
    if (this.#firstBad !== null && this.#firstBad.globalPosition <= event.globalPosition) return;
    this.#firstBad = {
      eventId: event.eventId,
      streamId: event.streamId,
      streamVersion: event.streamVersion,
      globalPosition: event.globalPosition,
      reason,
    };
  }

  result(): VerifyResult {
    return { ok: this.#firstBad === null, checkedEvents: this.#checkedEvents, firstBadEvent: this.#firstBad };
  }
}

/** Verifies a log given as one sequence of events, each stream's together in version order (an export). */
export async function verifyChains(
  events: Iterable<RecordedEvent> | AsyncIterable<RecordedEvent>,
): Promise<VerifyResult> {
  const verifier = new ChainVerifier();
  for await (const event of events) verifier.add(event);
  return verifier.result();
}
