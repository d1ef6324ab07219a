import t from 'tap';
import { chainHash, genesisHash } from './hash.js';
import type { RecordedEvent } from './types.js';
import { verifyChains } from './verify.js';

/** A well-chained stream: one event at each of the given global positions. */
function stream(streamId: string, positions: bigint[]): RecordedEvent[] {
  let hash = genesisHash;
  return positions.map((globalPosition, i) => {
    const event = {
      eventId: `00000000-0000-7000-8000-${String(globalPosition).padStart(12, '0')}`,
      streamId,
      streamVersion: BigInt(i),
      globalPosition,
      type: 'E',
      schemaVersion: 1,
      data: { i },
      metadata: {},
      recordedAt: '2026-01-01T00:00:00.000Z',
    };
    hash = chainHash(hash, event);
    return { ...event, hash: hash.toString('hex') };
  });
}

t.test('verifyChains: an exported log, each stream together, checked without the store', async (t) => {
  const a = stream('a', [1n, 4n, 6n]);
  const b = stream('b', [2n, 3n, 5n]);
  t.same(await verifyChains([...a, ...b]), { ok: true, checkedEvents: 6, firstBadEvent: null });
  t.same(await verifyChains([]), { ok: true, checkedEvents: 0, firstBadEvent: null });

  // Two breaks: the one with the lower global position is named, whichever stream came first.
  const changed = [...a.slice(0, 2), { ...a[2]!, data: { i: 99 } }];
  const gap = [b[0]!, b[2]!];
  const result = await verifyChains([...changed, ...gap]);
  t.match(result, {
    ok: false,
    checkedEvents: 5,
    firstBadEvent: { streamId: 'b', streamVersion: 2n, globalPosition: 5n, reason: 'version_gap' },
  });
  t.match(await verifyChains([...changed, ...b]), {
    firstBadEvent: { streamId: 'a', streamVersion: 2n, globalPosition: 6n, reason: 'hash_mismatch' },
  });
  // After its first bad event a stream's chain is broken: the rest is counted, not blamed.
  const broken = [{ ...a[0]!, hash: '00' }, ...a.slice(1)];
  t.match(await verifyChains(broken), {
    checkedEvents: 3,
    firstBadEvent: { streamVersion: 0n, reason: 'hash_mismatch' },
  });
});
