import { randomUUID } from 'node:crypto';
import type { AppendDeadline, EventStore } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { runCommand } from './command-handler.js';

// runCommand with a caller's deadline, on a real PostgreSQL store: past the deadline a
// command appends nothing, wherever it was (deciding, or queued in the append batcher).

const write = (streamId: string) => ({
  streamId,
  expectedVersion: 'no_stream' as const,
  events: [{ type: 'Noted', data: { at: streamId } }],
});

function deadline(): { controller: AbortController; deadline: AppendDeadline; sent: () => number } {
  const controller = new AbortController();
  let sent = 0;
  return {
    controller,
    deadline: {
      signal: controller.signal,
      sent: () => {
        sent++;
      },
    },
    sent: () => sent,
  };
}

const exists = async (store: EventStore, streamId: string) => (await store.readStream(streamId)).length > 0;

t.test('a deadline that passes while the command decides: nothing is appended', async (t) => {
  const { store } = await openTestStore('command_deadline', t);
  const streamId = `deadline-${randomUUID()}`;
  const d = deadline();
  const reason = new Error('past the deadline');
  const run = runCommand(
    store,
    async () => {
      d.controller.abort(reason);
      return { writes: [write(streamId)], done: () => 'appended' };
    },
    { deadline: d.deadline },
  );
  await t.rejects(run, reason, 'rejects with the deadline reason');
  t.equal(d.sent(), 0, 'nothing was sent');
  t.notOk(await exists(store, streamId), 'the stream was not written');
});

t.test('an append queued when its deadline passes is dropped; one already sent commits', async (t) => {
  const { store } = await openTestStore('command_deadline', t);
  const ahead = `deadline-${randomUUID()}`;
  const dropped = `deadline-${randomUUID()}`;
  const late = `deadline-${randomUUID()}`;
  const first = store.append([write(ahead)]);
  const d = deadline();
  const queued = store.append([write(dropped)], { deadline: d.deadline });
  // Aborted before the batcher's pump has run: the append never leaves the queue.
  d.controller.abort(new Error('gone'));
  const refused = t.rejects(queued, { message: 'gone' }, 'rejects with the deadline reason');
  await first;
  await refused;
  t.equal(d.sent(), 0, 'not sent');
  t.notOk(await exists(store, dropped), 'the dropped append wrote nothing');

  const e = deadline();
  const sending = store.append([write(late)], { deadline: e.deadline });
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(e.sent(), 1, 'told once as it was sent');
  e.controller.abort(new Error('too late'));
  await t.resolves(sending, 'its outcome is the database answer');
  t.ok(await exists(store, late), 'committed');
});
