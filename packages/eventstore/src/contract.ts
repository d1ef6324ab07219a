import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import {
  type AppendResult,
  type EventStore,
  InvalidAppend,
  type RecordedEvent,
  WrongExpectedVersion,
} from './types.js';

/**
 * The contract every adapter keeps. Each adapter's test file calls this with a factory
 * for a fresh, empty store; `openAnother` gives a second handle on the same store (its
 * own connections), so concurrency goes through the database, not through one client.
 */
export interface ContractFixture {
  store: EventStore;
  openAnother?: () => Promise<EventStore>;
  /** Changes the stored data of one event behind the store's back (an attacker with SQL). */
  tamper?: (streamId: string, version: bigint) => Promise<void>;
  cleanup: () => Promise<void>;
  /** Last committed position, visible to readers or not yet (see PostgresEventStore.lastWrittenPosition). */
  lastWrittenPosition?: () => Promise<bigint>;
  /** False where the store keeps event ids unique only per stream (KurrentDB). */
  eventIdsUniqueAcrossStreams?: boolean;
}

/** An append's streams without their positions (which a store may or may not give). */
const versionsOf = (result: AppendResult) =>
  result.streams.map(({ streamId, version }) => ({ streamId, version }));

const concurrentAppends = 64;
const readerWriters = 8;
/** Events the $all reader test writes (an adapter may ask for fewer: an in-process PGlite). */
const readerEventsDefault = 10_000;

async function collectAll(store: EventStore, after = 0n): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let position = after;
  for (;;) {
    const page = await store.readAll({ after: position, limit: 1000 });
    if (page.length === 0) return events;
    events.push(...page);
    position = page[page.length - 1]!.globalPosition;
  }
}

/**
 * Until `position` is visible to readers (at most 10 s). A reader sees a committed event only
 * once every older transaction on the server has ended, and tests of other databases on the
 * same server may hold one open for a moment.
 */
async function visible(store: EventStore, position: bigint): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await store.headPosition()) < position && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return undefined;
}

export function eventStoreContract(
  t: Test,
  name: string,
  open: () => Promise<ContractFixture>,
  options: { readerEvents?: number } = {},
): void {
  const readerEventsTotal = options.readerEvents ?? readerEventsDefault;
  const withStore = (title: string, body: (t: Test, fixture: ContractFixture) => Promise<void>) =>
    t.test(`${name}: ${title}`, async (t) => {
      const fixture = await open();
      t.teardown(() => fixture.cleanup());
      await body(t, fixture);
    });

  withStore(
    'readStream calls made together each get their own page, as a lone read would',
    async (t, { store }) => {
      for (let i = 0; i < 6; i++) {
        await store.append([
          {
            streamId: `together-${i}`,
            expectedVersion: 'no_stream',
            events: Array.from({ length: 3 + i }, (_, n) => ({ type: 'E', data: { i, n } })),
          },
        ]);
      }
      const asks: { streamId: string; fromVersion?: bigint; limit?: number }[] = [
        ...Array.from({ length: 6 }, (_, i) => ({ streamId: `together-${i}` })),
        { streamId: 'together-5', fromVersion: 2n },
        { streamId: 'together-5', fromVersion: 1n, limit: 2 },
        { streamId: 'together-4', limit: 1 },
        { streamId: 'together-3', fromVersion: 99n },
        { streamId: 'nobody-together' },
        { streamId: 'together-0' },
      ];
      const alone: RecordedEvent[][] = [];
      for (const ask of asks) alone.push(await store.readStream(ask.streamId, ask));
      t.same(
        alone.map((page) => page.length),
        [3, 4, 5, 6, 7, 8, 6, 2, 1, 0, 0, 3],
        'the lone reads, one at a time',
      );
      t.same(
        alone[7]!.map((e) => e.streamVersion),
        [1n, 2n],
      );
      // All in one turn of the event loop, twice over.
      const together = await Promise.all(
        [...asks, ...asks].map((ask) => store.readStream(ask.streamId, ask)),
      );
      t.same(together, [...alone, ...alone]);
      await t.rejects(store.readStream('together-0', { limit: 0 }), RangeError, 'a bad limit fails alone');
    },
  );

  withStore(
    "each write's position, where given, is its last event's: several writes in one append",
    async (t, { store }) => {
      const result = await store.append([
        {
          streamId: 'pos-a',
          expectedVersion: 'no_stream',
          events: [
            { type: 'A1', data: {} },
            { type: 'A2', data: {} },
          ],
        },
        { streamId: 'pos-check', expectedVersion: 'no_stream', events: [] },
        { streamId: 'pos-b', expectedVersion: 'no_stream', events: [{ type: 'B1', data: {} }] },
        {
          streamId: 'pos-c',
          expectedVersion: 'no_stream',
          events: [
            { type: 'C1', data: {} },
            { type: 'C2', data: {} },
            { type: 'C3', data: {} },
          ],
        },
      ]);
      t.equal(result.streams[1]!.position, undefined, 'a write of no events has none');
      for (const [i, id] of [
        [0, 'pos-a'],
        [2, 'pos-b'],
        [3, 'pos-c'],
      ] as const) {
        const last = (await store.readStream(id)).at(-1)!;
        const given = result.streams[i]!.position;
        if (given !== undefined) t.equal(given, last.globalPosition, `${id}: its last event's position`);
        else t.ok(last.globalPosition <= result.position, `${id}: not after the append's position`);
      }
      t.equal(
        result.streams[3]!.position ?? result.position,
        result.position,
        "the last write's is the append's",
      );
    },
  );

  withStore('appends and reads a stream back with versions, positions and metadata', async (t, { store }) => {
    const metadata = { correlationId: randomUUID(), actorId: 'user-1', requestId: 'req-1' };
    const first = await store.append([
      {
        streamId: 'account-1',
        expectedVersion: 'no_stream',
        events: [{ type: 'Opened', data: { a: 1 }, metadata }],
      },
    ]);
    t.same(versionsOf(first), [{ streamId: 'account-1', version: 0n }]);
    const second = await store.append([
      {
        streamId: 'account-1',
        expectedVersion: 0n,
        events: [
          { type: 'Credited', data: { amount: '10.00' } },
          { type: 'Debited', schemaVersion: 2, data: { amount: '2.50' } },
        ],
      },
    ]);
    t.same(versionsOf(second), [{ streamId: 'account-1', version: 2n }]);
    t.ok(second.position > first.position, 'positions grow');

    const events = await store.readStream('account-1');
    t.same(
      events.map((e) => [e.type, e.streamVersion, e.schemaVersion]),
      [
        ['Opened', 0n, 1],
        ['Credited', 1n, 1],
        ['Debited', 2n, 2],
      ],
    );
    t.same(events[0]!.data, { a: 1 });
    t.same(events[0]!.metadata, metadata);
    t.match(events[0]!.recordedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    t.match(events[0]!.hash, /^[0-9a-f]{64}$/);
    t.equal(events[2]!.globalPosition, second.position, 'append answers the position of its last event');
    t.same(await store.readStream('account-1', { fromVersion: 2n }), [events[2]]);
    for (const [result, event] of [
      [first, events[0]!],
      [second, events[2]!],
    ] as const) {
      const given = result.streams[0]!.position;
      if (given !== undefined) t.equal(given, event.globalPosition, "a write's position is its last event's");
    }
    t.same(await store.readStream('nobody'), []);
    // Visible to readers once every older transaction on the server has ended.
    const deadline = Date.now() + 10_000;
    while ((await store.headPosition()) < second.position && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    t.equal(await store.headPosition(), second.position);
  });

  withStore('expected versions: no_stream, exists, any, exact', async (t, { store }) => {
    const wrong = async (promise: Promise<unknown>, actual: bigint | 'no_stream') => {
      const error = await rejectionOf(promise);
      t.type(error, WrongExpectedVersion);
      t.equal((error as WrongExpectedVersion).actual, actual);
    };
    const one = [{ type: 'E', data: {} }];
    await wrong(store.append([{ streamId: 's', expectedVersion: 'exists', events: one }]), 'no_stream');
    await wrong(store.append([{ streamId: 's', expectedVersion: 0n, events: one }]), 'no_stream');
    await store.append([{ streamId: 's', expectedVersion: 'no_stream', events: one }]);
    await wrong(store.append([{ streamId: 's', expectedVersion: 'no_stream', events: one }]), 0n);
    await store.append([{ streamId: 's', expectedVersion: 'exists', events: one }]);
    await store.append([{ streamId: 's', expectedVersion: 'any', events: one }]);
    await wrong(store.append([{ streamId: 's', expectedVersion: 1n, events: one }]), 2n);
    await store.append([{ streamId: 's', expectedVersion: 2n, events: one }]);
    await store.append([{ streamId: 'fresh', expectedVersion: 'any', events: one }]);
    t.equal((await store.readStream('s')).length, 4);
    t.equal((await store.readStream('fresh')).length, 1);
    const error = (await rejectionOf(
      store.append([{ streamId: 's', expectedVersion: 7n, events: one }]),
    )) as WrongExpectedVersion;
    t.equal(error.streamId, 's');
    t.equal(error.expected, 7n);
    t.match(error.message, /stream "s".*expected 7.*actual 3/);
  });

  withStore(
    `${concurrentAppends} concurrent appends at one expected version: exactly one wins`,
    async (t, fixture) => {
      const { store } = fixture;
      await store.append([
        { streamId: 'hot', expectedVersion: 'no_stream', events: [{ type: 'Opened', data: {} }] },
      ]);
      const handles = [store];
      if (fixture.openAnother) for (let i = 0; i < 7; i++) handles.push(await fixture.openAnother());
      const results = await Promise.allSettled(
        Array.from({ length: concurrentAppends }, (_, i) =>
          handles[i % handles.length]!.append([
            { streamId: 'hot', expectedVersion: 0n, events: [{ type: 'Won', data: { by: i } }] },
          ]),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      t.equal(won.length, 1, 'one append wins');
      t.equal(lost.length, concurrentAppends - 1);
      t.ok(
        lost.every((r) => r.reason instanceof WrongExpectedVersion && r.reason.actual === 1n),
        'every other append gets WrongExpectedVersion(actual 1)',
      );
      t.equal((await store.readStream('hot')).length, 2, 'the stream holds the opening and one winner');
      for (const handle of handles.slice(1)) await handle.close();
    },
  );

  withStore(
    `${concurrentAppends} concurrent creations of one new stream: exactly one wins, the rest see it`,
    async (t, fixture) => {
      const { store } = fixture;
      const handles = [store];
      if (fixture.openAnother) for (let i = 0; i < 7; i++) handles.push(await fixture.openAnother());
      const results = await Promise.allSettled(
        Array.from({ length: concurrentAppends }, (_, i) =>
          handles[i % handles.length]!.append([
            {
              streamId: 'fresh',
              expectedVersion: 'no_stream',
              events: [{ type: 'Opened', data: { by: i } }],
            },
          ]),
        ),
      );
      t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one creation wins');
      t.ok(
        results.every(
          (r) =>
            r.status === 'fulfilled' || (r.reason instanceof WrongExpectedVersion && r.reason.actual === 0n),
        ),
        'every other one gets WrongExpectedVersion(actual 0)',
      );
      t.equal((await store.readStream('fresh')).length, 1, 'the stream holds the winner only');
      const next = await store.append([
        { streamId: 'fresh', expectedVersion: 0n, events: [{ type: 'Again', data: {} }] },
      ]);
      t.same(versionsOf(next), [{ streamId: 'fresh', version: 1n }], 'and goes on from it');
      t.ok((await store.verify()).ok);
      for (const handle of handles.slice(1)) await handle.close();
    },
  );

  withStore("'any' appends to one hot stream serialise instead of failing", async (t, fixture) => {
    const { store } = fixture;
    const handles = [store];
    if (fixture.openAnother) for (let i = 0; i < 3; i++) handles.push(await fixture.openAnother());
    const count = 100;
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        handles[i % handles.length]!.append([
          { streamId: 'busy', expectedVersion: 'any', events: [{ type: 'E', data: { i } }] },
        ]),
      ),
    );
    const events = await store.readStream('busy');
    t.same(
      events.map((e) => e.streamVersion),
      Array.from({ length: count }, (_, i) => BigInt(i)),
      'versions 0..n-1, no gaps, no duplicates',
    );
    t.ok((await store.verify()).ok, 'the chain is intact');
    for (const handle of handles.slice(1)) await handle.close();
  });

  withStore(
    'a multi-stream append is atomic: a conflict on the second stream writes nothing',
    async (t, fixture) => {
      const { store } = fixture;
      const lastWritten = fixture.lastWrittenPosition ?? (() => store.headPosition());
      await store.append([
        { streamId: 'b', expectedVersion: 'no_stream', events: [{ type: 'Opened', data: {} }] },
      ]);
      const headBefore = await lastWritten();
      const error = await rejectionOf(
        store.append([
          { streamId: 'a', expectedVersion: 'no_stream', events: [{ type: 'Debited', data: {} }] },
          { streamId: 'b', expectedVersion: 'no_stream', events: [{ type: 'Credited', data: {} }] },
        ]),
      );
      t.type(error, WrongExpectedVersion);
      t.equal((error as WrongExpectedVersion).streamId, 'b');
      t.same(await store.readStream('a'), [], 'nothing written to the first stream');
      t.equal((await store.readStream('b')).length, 1);
      t.equal(await lastWritten(), headBefore, 'the log did not move');
      // And the stream is still new: no_stream succeeds on it afterwards.
      await store.append([
        { streamId: 'a', expectedVersion: 'no_stream', events: [{ type: 'Opened', data: {} }] },
      ]);
      t.equal((await store.readStream('a')).length, 1);

      const ok = await store.append([
        { streamId: 'a', expectedVersion: 0n, events: [{ type: 'Debited', data: {} }] },
        { streamId: 'b', expectedVersion: 0n, events: [{ type: 'Credited', data: {} }] },
        {
          streamId: 'c',
          expectedVersion: 'no_stream',
          events: [
            { type: 'T', data: {} },
            { type: 'U', data: {} },
          ],
        },
      ]);
      t.same(
        ok.streams.map((s) => [s.streamId, s.version]),
        [
          ['a', 1n],
          ['b', 1n],
          ['c', 1n],
        ],
      );
    },
  );

  withStore('appends in flight together succeed or fail each on its own', async (t, { store }) => {
    await store.append([
      { streamId: 'old', expectedVersion: 'no_stream', events: [{ type: 'E', data: {} }] },
    ]);
    // Issued together, so a batching adapter puts them in one transaction.
    const results = await Promise.allSettled([
      store.append([
        { streamId: 'x', expectedVersion: 'no_stream', events: [{ type: 'E', data: { n: 1 } }] },
      ]),
      store.append([
        { streamId: 'y', expectedVersion: 5n, events: [{ type: 'E', data: {} }] },
        { streamId: 'old', expectedVersion: 0n, events: [{ type: 'E', data: {} }] },
      ]),
      store.append([
        {
          streamId: 'z',
          expectedVersion: 'no_stream',
          events: [
            { type: 'E', data: {} },
            { type: 'F', data: {} },
          ],
        },
      ]),
      store.append([{ streamId: 'old', expectedVersion: 7n, events: [{ type: 'E', data: {} }] }]),
    ]);
    t.same(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'rejected'],
    );
    t.same(
      await Promise.all(['x', 'y', 'z', 'old'].map(async (s) => (await store.readStream(s)).length)),
      [1, 0, 2, 1],
    );
    // The failed append left no trace on the new stream it named.
    await store.append([{ streamId: 'y', expectedVersion: 'no_stream', events: [{ type: 'E', data: {} }] }]);
    t.ok((await store.verify()).ok);
  });

  withStore(
    'an observer is told of each append through this store object, as it starts and once it ended',
    async (t, fixture) => {
      const { store } = fixture;
      const one = [{ type: 'E', data: {} }];
      const told: [string, readonly string[], AppendResult | undefined][] = [];
      let hold: Promise<void> | undefined;
      const stop = store.observeAppends({
        beforeAppend: (streamIds) => {
          told.push(['before', streamIds, undefined]);
        },
        afterAppend: async (streamIds, result) => {
          told.push(['after', streamIds, result]);
          await hold;
        },
      });

      const appending = store.append([
        { streamId: 'watched-b', expectedVersion: 'no_stream', events: one },
        { streamId: 'watched-a', expectedVersion: 'no_stream', events: one },
      ]);
      t.same(told, [['before', ['watched-b', 'watched-a'], undefined]], 'told before append() returns');
      const result = await appending;
      t.equal(told.length, 2);
      t.same(told[1]!.slice(0, 2), ['after', ['watched-b', 'watched-a']]);
      t.equal(told[1]![2], result, 'after it ended, with its result');

      // The append's promise waits for the observer.
      let release!: () => void;
      hold = new Promise<void>((resolve) => {
        release = resolve;
      });
      let settled = false;
      const held = store.append([{ streamId: 'watched-a', expectedVersion: 0n, events: one }]).finally(() => {
        settled = true;
      });
      const deadline = Date.now() + 10_000;
      while (told.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20));
      t.equal(told.length, 4, 'the observer was told it ended');
      t.notOk(settled, 'the append has not settled while the observer works');
      release();
      await held;
      hold = undefined;

      // A failed append is told as ended without a result; one refused before it starts is not told.
      told.length = 0;
      const failed = await rejectionOf(
        store.append([{ streamId: 'watched-a', expectedVersion: 0n, events: one }]),
      );
      t.type(failed, WrongExpectedVersion, 'the append fails as it would unobserved');
      t.same(told, [
        ['before', ['watched-a'], undefined],
        ['after', ['watched-a'], undefined],
      ]);
      told.length = 0;
      t.type(
        await rejectionOf(store.append([{ streamId: '', expectedVersion: 'any', events: one }])),
        InvalidAppend,
      );
      t.same(told, [], 'an invalid append is not told');

      // An observer's errors go to its onError, never to the append.
      const errors: unknown[] = [];
      const stopFaulty = store.observeAppends({
        beforeAppend: () => {
          throw new Error('before');
        },
        afterAppend: async () => {
          throw new Error('after');
        },
        onError: (error) => errors.push(error),
      });
      const despite = await store.append([
        { streamId: 'watched-c', expectedVersion: 'no_stream', events: one },
      ]);
      t.same(versionsOf(despite), [{ streamId: 'watched-c', version: 0n }], 'the append succeeds');
      await new Promise((r) => setTimeout(r, 0));
      t.same(
        errors.map((e) => (e as Error).message),
        ['before', 'after'],
      );
      t.equal(told.length, 2, 'and the other observer is still told');
      stopFaulty();

      // Told of its start, told of its end: even when it stops watching in between.
      told.length = 0;
      const last = store.append([{ streamId: 'watched-c', expectedVersion: 0n, events: one }]);
      stop();
      stop();
      await last;
      t.same(
        told.map(([phase]) => phase),
        ['before', 'after'],
      );
      await store.append([{ streamId: 'watched-c', expectedVersion: 1n, events: one }]);
      t.equal(told.length, 2, 'not told after it stopped');

      if (fixture.openAnother) {
        const other = await fixture.openAnother();
        let toldOfOther = 0;
        const stopOther = store.observeAppends({
          beforeAppend: () => {
            toldOfOther++;
          },
        });
        await other.append([{ streamId: 'watched-c', expectedVersion: 2n, events: one }]);
        t.equal(toldOfOther, 0, "another store object's appends are not told");
        stopOther();
        await other.close();
      }
    },
  );

  withStore(
    'appends issued together each name their own failing stream and keep their own text',
    async (t, { store }) => {
      // Beyond ASCII, in ids, types and data; U+E000 and U+1F600 sort differently in UTF-16
      // and in UTF-8, the order PostgreSQL locks in.
      const ids = ['acct-é', 'acct-\u{1F600}', 'acct-\uE000', 'acct-"q\\'] as const;
      const data = { note: 'ü "quoted" \\ back\\slash \u{1F600}', n: '1.00' };
      await store.append([{ streamId: ids[3], expectedVersion: 'no_stream', events: [{ type: 'E', data }] }]);
      const results = await Promise.allSettled([
        store.append([
          { streamId: ids[0], expectedVersion: 'no_stream', events: [{ type: 'Typé', data }] },
          { streamId: ids[1], expectedVersion: 'no_stream', events: [{ type: 'E', data }] },
        ]),
        store.append([
          { streamId: ids[2], expectedVersion: 'no_stream', events: [{ type: 'E', data }] },
          { streamId: ids[3], expectedVersion: 4n, events: [{ type: 'E', data }] },
        ]),
        store.append([{ streamId: 'acct-plain', expectedVersion: 'any', events: [{ type: 'E', data }] }]),
      ]);
      t.same(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      const failure = (results[1] as PromiseRejectedResult).reason;
      t.ok(failure instanceof WrongExpectedVersion, 'the second append failed its check');
      t.match(failure, { streamId: ids[3], expected: 4n, actual: 0n }, 'named by the write that failed');
      const ok = (results[0] as PromiseFulfilledResult<AppendResult>).value;
      t.same(versionsOf(ok), [
        { streamId: ids[0], version: 0n },
        { streamId: ids[1], version: 0n },
      ]);
      const [stored] = await store.readStream(ids[0]);
      t.same([stored?.streamId, stored?.type, stored?.data], [ids[0], 'Typé', data], 'text kept as given');
      t.same((await store.readStream(ids[2])).length, 0, 'nothing of the failed append');
      t.same((await store.readStream(ids[3])).length, 1);
      t.ok((await store.verify()).ok, 'the chains hash the same text the verifier does');
    },
  );

  withStore('bad input fails with a clear error and writes nothing', async (t, fixture) => {
    const { store } = fixture;
    const cases: [string, unknown, RegExp][] = [
      [
        'empty stream id',
        [{ streamId: '', expectedVersion: 'any', events: [{ type: 'E', data: {} }] }],
        /streamId/,
      ],
      [
        'a function in data',
        [{ streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: { f: () => 1 } }] }],
        /data\.f.*function/,
      ],
      [
        'NaN in data',
        [{ streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: { x: Number.NaN } }] }],
        /finite/,
      ],
      [
        'a bigint amount without the serializer',
        [{ streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: { amount: 1250n } }] }],
        /data\.amount.*bigint/,
      ],
      [
        'a Date in data',
        [{ streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: { at: new Date() } }] }],
        /Date/,
      ],
      [
        'U+0000 in a string',
        [{ streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: { s: 'a\u0000b' } }] }],
        /U\+0000/,
      ],
      [
        'an empty event type',
        [{ streamId: 's', expectedVersion: 'any', events: [{ type: '', data: {} }] }],
        /type/,
      ],
      [
        'a number as expected version',
        [{ streamId: 's', expectedVersion: 1, events: [{ type: 'E', data: {} }] }],
        /bigint/,
      ],
      [
        'one stream twice',
        [
          { streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: {} }] },
          { streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: {} }] },
        ],
        /twice/,
      ],
      [
        'a non-UUID event id',
        [{ streamId: 's', expectedVersion: 'any', events: [{ eventId: 'x', type: 'E', data: {} }] }],
        /UUID/,
      ],
    ];
    // A good write beside a bad one: the whole append must fail, the good part included.
    const good = { streamId: 'good', expectedVersion: 'any', events: [{ type: 'E', data: {} }] };
    for (const [what, writes, message] of cases) {
      const error = await rejectionOf(store.append([good, ...(writes as never[])] as never));
      t.type(error, InvalidAppend, what);
      t.match((error as Error).message, message, `${what}: ${(error as Error).message}`);
    }
    t.match(
      await rejectionOf(store.append([{ streamId: 's', expectedVersion: 'any', events: [] }])),
      { name: 'InvalidAppend', message: /at least one event/ },
      'no events at all',
    );
    t.match(
      await rejectionOf(store.append([])),
      { name: 'InvalidAppend', message: /at least one write/ },
      'no writes',
    );
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    t.type(
      await rejectionOf(
        store.append([{ streamId: 's', expectedVersion: 'any', events: [{ type: 'E', data: circular }] }]),
      ),
      InvalidAppend,
      'a circular structure',
    );
    t.equal(await store.headPosition(), 0n, 'nothing was written');
    t.same(await store.readStream('good'), []);
    t.same(await store.readStream('s'), []);

    if (fixture.eventIdsUniqueAcrossStreams === false) return;
    const eventId = randomUUID();
    await store.append([
      { streamId: 'x', expectedVersion: 'any', events: [{ eventId, type: 'E', data: {} }] },
    ]);
    const duplicate = await rejectionOf(
      store.append([{ streamId: 'y', expectedVersion: 'any', events: [{ eventId, type: 'E', data: {} }] }]),
    );
    t.type(duplicate, InvalidAppend, 'a duplicate event id');
    t.same(await store.readStream('y'), [], 'the duplicate wrote nothing');
  });

  withStore(
    `a $all reader during ${readerWriters} writers sees ${readerEventsTotal} events once each, in order`,
    async (t, fixture) => {
      const { store } = fixture;
      const writers: EventStore[] = [];
      for (let i = 0; i < readerWriters; i++)
        writers.push(fixture.openAnother ? await fixture.openAnother() : store);
      const perWriter = readerEventsTotal / readerWriters;
      const written = new Set<string>();
      let writing = true;
      const writing$ = Promise.all(
        writers.map(async (writer, w) => {
          // Mix single appends, small batches and multi-stream appends so transactions of
          // different sizes commit out of order.
          let i = 0;
          while (i < perWriter) {
            const size = Math.min(1 + (i % 3), perWriter - i);
            const events = Array.from({ length: size }, (_, k) => ({
              eventId: randomUUID(),
              type: 'Written',
              data: { w, i: i + k },
            }));
            for (const e of events) written.add(e.eventId);
            if (size === 3) {
              await writer.append([
                { streamId: `w${w}-a`, expectedVersion: 'any', events: events.slice(0, 2) },
                { streamId: `w${w}-b-${i % 7}`, expectedVersion: 'any', events: events.slice(2) },
              ]);
            } else {
              await writer.append([{ streamId: `w${w}-${i % 5}`, expectedVersion: 'any', events }]);
            }
            i += size;
          }
        }),
      ).finally(() => {
        writing = false;
      });

      const seen: RecordedEvent[] = [];
      let position = 0n;
      let emptyReadsAfterWriting = 0;
      while (writing || emptyReadsAfterWriting < 2) {
        const page = await store.readAll({ after: position, limit: 500 });
        if (page.length === 0) {
          if (!writing) emptyReadsAfterWriting++;
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        seen.push(...page);
        position = page[page.length - 1]!.globalPosition;
      }
      await writing$;
      await visible(store, await (fixture.lastWrittenPosition ?? (() => store.headPosition()))());
      seen.push(...(await collectAll(store, position)));

      const ids = seen.map((e) => e.eventId);
      t.equal(seen.length, readerEventsTotal, 'every event seen');
      t.equal(new Set(ids).size, readerEventsTotal, 'none seen twice');
      t.ok(
        ids.every((id) => written.has(id)),
        'only events that were written',
      );
      let ordered = true;
      for (let i = 1; i < seen.length; i++)
        if (seen[i]!.globalPosition <= seen[i - 1]!.globalPosition) ordered = false;
      t.ok(ordered, 'in strictly increasing position order');
      for (const writer of writers) if (writer !== store) await writer.close();
    },
  );

  withStore('a subscription catches up, goes live, and resumes from its checkpoint', async (t, { store }) => {
    for (let i = 0; i < 30; i++) {
      await store.append([
        { streamId: `s-${i % 4}`, expectedVersion: 'any', events: [{ type: 'E', data: { i } }] },
      ]);
    }
    const handled: bigint[] = [];
    let checkpoint = 0n;
    let failAfter = 45;
    const run = () =>
      store.subscribe({
        after: checkpoint,
        batchSize: 7,
        onEvents: async (events) => {
          // A crash mid-batch: the batch is not handled and the checkpoint does not move.
          if (handled.length + events.length > failAfter) throw new Error('crash');
          handled.push(...events.map((e) => e.globalPosition));
          checkpoint = events[events.length - 1]!.globalPosition;
        },
      });
    let subscription = run();
    await subscription.caughtUp;
    t.equal(handled.length, 30, 'caught up');
    for (let i = 30; i < 60; i++) {
      await store.append([
        { streamId: `s-${i % 4}`, expectedVersion: 'any', events: [{ type: 'E', data: { i } }] },
      ]);
    }
    const crashed = await rejectionOf(subscription.done);
    t.match((crashed as Error)?.message, /crash/, 'the handler error ends the subscription');
    t.ok(handled.length <= 45, 'stopped at the crash');
    failAfter = Number.POSITIVE_INFINITY;
    subscription = run();
    const deadline = Date.now() + 10_000;
    while (handled.length < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await subscription.stop();
    const all = (await collectAll(store)).map((e) => e.globalPosition);
    t.same(handled, all, 'every event handled once, in order, across the crash');
    t.equal(subscription.position, all[all.length - 1]);
  });

  withStore(
    'pages of $all and subscription batches end on an append, never inside one',
    async (t, { store }) => {
      // Appends of 1 to 5 events over up to 3 streams, as a transfer writes its legs on two
      // accounts and its own event in one append; their last positions are the boundaries.
      const sizes = [3, 1, 5, 2, 4, 3, 1, 3, 2, 5];
      const ends = new Set<bigint>();
      let lastEnd = 0n;
      let total = 0;
      for (const [i, size] of sizes.entries()) {
        const streams = Math.min(size, 3);
        const result = await store.append(
          Array.from({ length: streams }, (_, s) => ({
            streamId: `append-${i}-${s}`,
            expectedVersion: 'no_stream' as const,
            events: Array.from({ length: Math.ceil((size - s) / streams) }, (_, k) => ({
              type: 'E',
              data: { i, s, k },
            })),
          })),
        );
        ends.add(result.position);
        lastEnd = result.position;
        total += size;
      }
      await visible(store, lastEnd);
      const all = (await collectAll(store)).map((e) => e.globalPosition);
      t.equal(all.length, total);
      const largest = Math.max(...sizes);
      for (const limit of [1, 2, 3, 4, 7]) {
        const seen: bigint[] = [];
        let position = 0n;
        for (;;) {
          const page = await store.readAll({ after: position, limit });
          if (page.length === 0) break;
          const last = page[page.length - 1]!.globalPosition;
          t.ok(ends.has(last), `limit ${limit}: a page ends on an append's last event (${last})`);
          t.ok(page.length >= Math.min(limit, total - seen.length), `limit ${limit}: not shorter than asked`);
          t.ok(page.length <= limit + largest - 1, `limit ${limit}: at most the rest of one append more`);
          seen.push(...page.map((e) => e.globalPosition));
          position = last;
        }
        t.same(seen, all, `limit ${limit}: every event once, in order`);
      }
      for (const batchSize of [1, 2, 4]) {
        const batches: bigint[][] = [];
        const subscription = store.subscribe({
          after: 0n,
          batchSize,
          onEvents: async (events) => {
            batches.push(events.map((e) => e.globalPosition));
          },
        });
        await subscription.caughtUp;
        await subscription.stop();
        t.ok(
          batches.every((batch) => ends.has(batch[batch.length - 1]!)),
          `batches of ${batchSize} end on appends: ${JSON.stringify(batches.map((b) => b.length))}`,
        );
        t.same(batches.flat(), all, `batches of ${batchSize}: every event once, in order`);
      }
    },
  );

  withStore('a write with no events checks its expected version and stores nothing', async (t, fixture) => {
    const { store } = fixture;
    const lastWritten = fixture.lastWrittenPosition ?? (() => store.headPosition());
    const event = { type: 'E', data: { x: 1 } };
    await store.append([
      { streamId: 'guard-absent', expectedVersion: 'no_stream', events: [] },
      { streamId: 'guarded-1', expectedVersion: 'no_stream', events: [event] },
    ]);
    t.same(await store.readStream('guard-absent'), [], 'the checked stream is not created');
    t.equal((await store.readStream('guarded-1')).length, 1);
    await store.append([{ streamId: 'guard-present', expectedVersion: 'no_stream', events: [event] }]);
    const head = await lastWritten();
    const refused = await rejectionOf(
      store.append([
        { streamId: 'guard-present', expectedVersion: 'no_stream', events: [] },
        { streamId: 'guarded-2', expectedVersion: 'no_stream', events: [event] },
      ]),
    );
    t.ok(refused instanceof WrongExpectedVersion, 'a stream that exists fails the check');
    t.equal((refused as WrongExpectedVersion).streamId, 'guard-present');
    t.same(await store.readStream('guarded-2'), [], 'and nothing of the append is written');
    t.equal(await lastWritten(), head);
    // The absent stream is still free to be created.
    await store.append([{ streamId: 'guard-absent', expectedVersion: 'no_stream', events: [event] }]);
    t.equal((await store.readStream('guard-absent')).length, 1);
  });

  withStore('a lingering subscription takes what arrives meanwhile as one batch', async (t, { store }) => {
    const none = async () => {};
    t.throws(() => store.subscribe({ after: 0n, lingerMs: -1, onEvents: none }), RangeError);
    t.throws(() => store.subscribe({ after: 0n, lingerMs: 1001, onEvents: none }), RangeError);
    const appendOne = (i: number) =>
      store.append([{ streamId: 'linger', expectedVersion: 'any', events: [{ type: 'E', data: { i } }] }]);
    const batches: number[] = [];
    let firstHandled!: () => void;
    const first = new Promise<void>((resolve) => {
      firstHandled = resolve;
    });
    const subscription = store.subscribe({
      after: 0n,
      batchSize: 100,
      lingerMs: 1000,
      onEvents: async (events) => {
        batches.push(events.length);
        firstHandled();
      },
    });
    await appendOne(0);
    await first;
    // While it lingers: five appends, one after the other (without lingering, each would
    // be read as soon as it is signalled).
    for (let i = 1; i <= 5; i++) await appendOne(i);
    const deadline = Date.now() + 10_000;
    while (batches.reduce((n, b) => n + b, 0) < 6 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await subscription.stop();
    t.same(batches, [1, 5], 'the first event at once, the five appended meanwhile as one batch');
  });

  withStore('the verifier passes an intact log and names a tampered event', async (t, { store, tamper }) => {
    for (let i = 0; i < 5; i++) {
      await store.append([
        {
          streamId: 'acc-1',
          expectedVersion: 'any',
          events: [{ type: 'Credited', data: { amount: `${i}.00`, é: 'ü\n"' } }],
        },
        {
          streamId: 'acc-2',
          expectedVersion: 'any',
          events: [{ type: 'Debited', data: { amount: `${i}.00` } }],
        },
      ]);
    }
    const clean = await store.verify();
    t.same(clean, { ok: true, checkedEvents: 10, firstBadEvent: null });
    if (!tamper) {
      t.comment('no tamper hook for this adapter');
      return;
    }
    await tamper('acc-2', 2n);
    const [target] = await store.readStream('acc-2', { fromVersion: 2n, limit: 1 });
    const result = await store.verify();
    t.equal(result.ok, false);
    t.equal(result.checkedEvents, 10);
    t.match(result.firstBadEvent, {
      streamId: 'acc-2',
      streamVersion: 2n,
      eventId: target!.eventId,
      globalPosition: target!.globalPosition,
      reason: 'hash_mismatch',
    });
  });
}
