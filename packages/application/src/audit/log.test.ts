import type { EventStore, RecordedEvent, VerifyResult } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { auditLogPage, auditStreamPage, sharedVerifier } from './log.js';

// The auditor's reads of the event store, against real PostgreSQL: pages of the log and of
// one stream (inclusive starts, where the next page starts, secrets redacted), no stream as
// null, and one verification run shared by concurrent callers.

const { store } = await openTestStore('application_audit_log', t);

const streamId = 'user-audit-log-test';
await store.append([
  {
    streamId,
    expectedVersion: 'no_stream',
    events: [0, 1, 2, 3, 4].map((i) => ({
      type: i === 0 ? 'UserRegistered' : 'LoginSucceeded',
      data: i === 0 ? { username: 'ann', passwordHash: `$2b$12$${'x'.repeat(53)}` } : { at: i },
    })),
  },
]);
const stored: RecordedEvent[] = await store.readStream(streamId);

t.test('the log: pages from an inclusive position, the next start, redacted', async (t) => {
  const first = await auditLogPage(store, { fromPosition: 0n, limit: 2 });
  t.same(
    first.items.map((e) => e.eventId),
    stored.slice(0, 2).map((e) => e.eventId),
  );
  t.match(first.items[0], { data: { username: 'ann', passwordHash: '[redacted]' } });
  t.same(first.items[0]!.redacted, ['data.passwordHash']);
  t.equal(first.next, stored[1]!.globalPosition + 1n);
  t.equal(first.more, true);
  const rest = await auditLogPage(store, { fromPosition: first.next, limit: 200 });
  t.same(
    rest.items.map((e) => e.eventId),
    stored.slice(2).map((e) => e.eventId),
  );
  t.equal(rest.more, false);
  const third = await auditLogPage(store, { fromPosition: stored[2]!.globalPosition, limit: 1 });
  t.equal(third.items[0]!.eventId, stored[2]!.eventId, 'fromPosition is inclusive');
  const end = stored[4]!.globalPosition + 1n;
  t.same(await auditLogPage(store, { fromPosition: end, limit: 5 }), { items: [], next: end, more: false });
  await t.rejects(auditLogPage(store, { fromPosition: 0n, limit: 201 }), 'the page is bounded');
  await t.rejects(auditLogPage(store, { fromPosition: 0n, limit: 0 }));
});

t.test('one stream: pages by version; past its end empty; no stream null', async (t) => {
  const first = await auditStreamPage(store, streamId, { fromVersion: 0n, limit: 3 });
  t.same(
    first?.items.map((e) => e.streamVersion),
    ['0', '1', '2'],
  );
  t.match(first, { next: 3n, more: true });
  t.match(await auditStreamPage(store, streamId, { fromVersion: 3n, limit: 2 }), { next: 5n, more: false });
  t.same(await auditStreamPage(store, streamId, { fromVersion: 9n, limit: 2 }), {
    items: [],
    next: 9n,
    more: false,
  });
  t.equal(await auditStreamPage(store, 'user-nobody', { fromVersion: 0n, limit: 2 }), null);
  t.equal(await auditStreamPage(store, 'user-nobody', { fromVersion: 4n, limit: 2 }), null);
});

t.test('verification: the store’s answer; concurrent callers share one run', async (t) => {
  t.match(await sharedVerifier(store)(), { ok: true, firstBadEvent: null });
  let runs = 0;
  let finish: (result: VerifyResult) => void = () => {};
  const slow: Pick<EventStore, 'verify'> = {
    verify: () => {
      runs++;
      return new Promise((resolve) => {
        finish = resolve;
      });
    },
  };
  const verify = sharedVerifier(slow);
  const [a, b] = [verify(), verify()];
  t.equal(runs, 1, 'the second caller joins the run in flight');
  finish({ ok: true, checkedEvents: 5, firstBadEvent: null });
  t.same(await a, await b);
  const later = verify();
  t.equal(runs, 2, 'a caller after the run starts a new one');
  finish({ ok: true, checkedEvents: 6, firstBadEvent: null });
  t.match(await later, { checkedEvents: 6 });
});
