import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { readCheckpoints, rebuildProjection, runProjection } from '@ledger/readmodel';
import type { Kysely } from 'kysely';
import t, { type Test } from 'tap';
import { type AuditEvent, auditProjection, InvalidAuditCursor, listAuditEvents } from './index.js';

const testTimeoutMs = 60_000;
const waitMs = 10_000;
const logger = createLogger({ level: 'silent', name: 'audit-test' });

async function fixture(t: Test) {
  const { db, store } = await openTestStore('audit_test', t);
  return { db, store };
}

const actors = ['alice', 'bob', 'carol'] as const;

/** Events of several types and streams; actor i % 3, and every fourth event without metadata. */
async function appendAudited(store: EventStore, count: number, offset = 0): Promise<bigint> {
  let last = 0n;
  for (let i = offset; i < offset + count; i++) {
    const metadata =
      i % 4 === 3
        ? {}
        : { actorId: actors[i % 3]!, correlationId: `corr-${i}`, requestId: `req-${i}`, causationId: 'x' };
    const result = await store.append([
      {
        streamId: `account-${i % 2}`,
        expectedVersion: 'any',
        events: [{ type: i % 2 === 0 ? 'Deposited' : 'Withdrawn', data: { i }, metadata }],
      },
    ]);
    last = result.position;
  }
  // The position of the last append, not store.headPosition(): the head is held back while
  // any transaction on the server (another test's, say) is open, and would end a wait early.
  return last;
}

async function allEvents(store: EventStore): Promise<RecordedEvent[]> {
  return store.readAll({ after: 0n, limit: 10_000 });
}

function expected(event: RecordedEvent): AuditEvent {
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    position: event.globalPosition,
    eventId: event.eventId,
    streamId: event.streamId,
    type: event.type,
    actorId: text(event.metadata.actorId),
    correlationId: text(event.metadata.correlationId),
    requestId: text(event.metadata.requestId),
    recordedAt: event.recordedAt,
  };
}

/** Every page, following nextCursor; fails on a page that does not shrink the rest. */
async function listAll(db: Kysely<any>, query: Parameters<typeof listAuditEvents>[1]): Promise<AuditEvent[]> {
  const items: AuditEvent[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await listAuditEvents(db, cursor === undefined ? query : { ...query, cursor });
    items.push(...result.items);
    if (result.nextCursor === null) return items;
    cursor = result.nextCursor;
  }
  throw new Error('pagination did not end');
}

t.test(
  'the audit projection writes one row per event, checkpoint at the last position, restart repeats nothing',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const head = await appendAudited(f.store, 9);
    const runner = runProjection({
      db: f.db,
      store: f.store,
      projection: auditProjection,
      logger,
      batchSize: 4,
    });
    t.ok(await runner.waitFor(head, waitMs));
    t.same(
      await listAll(f.db, { limit: 200 }),
      (await allEvents(f.store)).map(expected),
      'every event, once, mapped',
    );
    t.equal((await readCheckpoints(f.db)).find((c) => c.name === 'audit')?.position, head);
    await runner.stop();

    const newHead = await appendAudited(f.store, 4, 9);
    const again = runProjection({ db: f.db, store: f.store, projection: auditProjection, logger });
    t.teardown(() => again.stop());
    t.ok(await again.waitFor(newHead, waitMs));
    // A repeated event would have hit the primary key and stopped the projection.
    t.equal(again.status(), 'active');
    const rows = await listAll(f.db, { limit: 200 });
    t.equal(rows.length, 13);
    t.same(rows, (await allEvents(f.store)).map(expected));
    t.equal((await readCheckpoints(f.db)).find((c) => c.name === 'audit')?.position, newHead);
  },
);

t.test(
  'listAuditEvents filters by actor and time, pages by keyset in both orders',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const head = await appendAudited(f.store, 12);
    const runner = runProjection({ db: f.db, store: f.store, projection: auditProjection, logger });
    t.teardown(() => runner.stop());
    t.ok(await runner.waitFor(head, waitMs));
    const events = (await allEvents(f.store)).map(expected);

    const alice = await listAll(f.db, { actorId: 'alice', limit: 2 });
    t.same(
      alice,
      events.filter((e) => e.actorId === 'alice'),
      'actor filter, over pages of 2',
    );
    t.ok(alice.length >= 3);

    const from = new Date(events[3]!.recordedAt);
    const to = new Date(events[8]!.recordedAt);
    const inWindow = (e: AuditEvent) => new Date(e.recordedAt) >= from && new Date(e.recordedAt) < to;
    t.same(
      await listAll(f.db, { from, to, limit: 3 }),
      events.filter(inWindow),
      'from inclusive, to exclusive',
    );
    t.same(
      await listAll(f.db, { actorId: 'bob', from, limit: 1 }),
      events.filter((e) => e.actorId === 'bob' && new Date(e.recordedAt) >= from),
    );

    const desc = await listAll(f.db, { limit: 5, order: 'desc' });
    t.same(desc, [...events].reverse(), 'newest first');

    const first = await listAuditEvents(f.db, { limit: 5 });
    t.equal(first.items.length, 5);
    t.type(first.nextCursor, 'string');
    const last = await listAuditEvents(f.db, { limit: 200 });
    t.equal(last.nextCursor, null, 'no cursor after the last page');

    await t.rejects(listAuditEvents(f.db, { limit: 5, cursor: 'not-a-cursor' }), InvalidAuditCursor);
    await t.rejects(
      listAuditEvents(f.db, { limit: 5, order: 'desc', cursor: first.nextCursor! }),
      InvalidAuditCursor,
    );
    await t.rejects(listAuditEvents(f.db, { limit: 0 }), RangeError);
    await t.rejects(listAuditEvents(f.db, { limit: 201 }), RangeError);
    await t.rejects(listAuditEvents(f.db, { limit: 5, from: new Date('nope') }), RangeError);
  },
);

t.test(
  'a rebuild of the audit model into a fresh schema equals the live one',
  { timeout: testTimeoutMs },
  async (t) => {
    const f = await fixture(t);
    const head = await appendAudited(f.store, 7);
    const runner = runProjection({ db: f.db, store: f.store, projection: auditProjection, logger });
    t.teardown(() => runner.stop());
    t.ok(await runner.waitFor(head, waitMs));
    const rebuilt = await rebuildProjection({
      db: f.db,
      store: f.store,
      projection: auditProjection,
      schema: 'audit_rebuild',
      to: head,
    });
    t.equal(rebuilt.position, head);
    t.same(await listAll(f.db, { limit: 200, schema: 'audit_rebuild' }), await listAll(f.db, { limit: 200 }));
  },
);
