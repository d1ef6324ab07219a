import { randomUUID } from 'node:crypto';
import { transferIdFor } from '@ledger/application';
import t from 'tap';
import { type Customer, checkLedger, postTransfer, seedCustomers, sleep, startStack } from './kit.js';

/**
 * Issue #14, item 3: a 503 says what happened. With a short handler deadline and the API's
 * database stalled (the relay holds every byte), transfers past the deadline are answered
 * 503 with Retry-After, and such a command is NOT committed once the stall ends: it stopped
 * before its append (an append already sent is waited for and answered with its outcome,
 * late). Retrying each 503 with the same key and body then gives one outcome.
 */

/** The API's handler deadline here (HANDLER_TIMEOUT_MS). */
const handlerTimeoutMs = 1_000;
/** How long the database stays stalled: well past the deadline, below the pool's connection time-out. */
const stallMs = 3_000;
/** Transfers sent while the database is stalled. */
const burst = 24;
/** After the last answer: time enough for a command that went on regardless to commit. */
const settleMs = 1_500;

t.test(
  'past the deadline a command answers 503 with Retry-After and appends nothing; a retry gives one outcome',
  { timeout: 120_000 },
  async (t) => {
    const stack = await startStack(t, {
      apiEnv: { HANDLER_TIMEOUT_MS: String(handlerTimeoutMs) },
      throughProxy: ['api'],
      without: ['worker'],
    });
    const customers = await seedCustomers(stack, { customers: 4, depositEach: 1_000_00n });
    const acknowledged: string[] = [];
    const bodyOf = (i: number) => {
      const from = customers[i % customers.length]!;
      const to = customers[(i + 1) % customers.length]!;
      return {
        from,
        body: {
          type: 'transfer',
          fromAccountId: from.accounts[0],
          toAccountId: to.accounts[0],
          amount: '1.00',
          currency: 'EUR',
        },
      };
    };

    // Warm: every account folded and every user cached, so a stalled command goes straight
    // to its append (where the deadline matters most) as often as to a read.
    for (let i = 0; i < customers.length; i++) {
      const { from, body } = bodyOf(i);
      const warm = await postTransfer(stack, from, body);
      t.equal(warm.status, 201, `warm-up transfer ${i}`);
      acknowledged.push(warm.body.transaction.id);
    }

    stack.proxy.stall();
    const sent = Array.from({ length: burst }, (_, i) => {
      const { from, body } = bodyOf(i);
      const key = randomUUID();
      return { from, body, key, answer: postTransfer(stack, from, body, key) };
    });
    await sleep(stallMs);
    stack.proxy.resume();
    const answers = await Promise.all(sent.map(async (s) => ({ ...s, answer: await s.answer })));
    await sleep(settleMs);

    const timedOut = answers.filter((a) => a.answer.status === 503);
    const others = answers.filter((a) => a.answer.status !== 503 && a.answer.status !== 201);
    t.same(
      others.map((a) => [a.answer.status, a.answer.body]),
      [],
      'every answer is a 201 or a 503',
    );
    t.ok(timedOut.length > 0, `some transfers passed the deadline (${timedOut.length} of ${burst})`);
    for (const a of answers.filter((a) => a.answer.status === 201))
      acknowledged.push(a.answer.body.transaction.id);

    for (const a of timedOut) {
      t.match(a.answer.headers.get('retry-after'), /^[1-9][0-9]*$/, '503 carries Retry-After in seconds');
      t.ok(['timeout', 'unavailable'].includes(a.answer.body?.code), `503 code ${a.answer.body?.code}`);
    }

    // Not committed: no 503'd transfer has a stream, now that the database answers again.
    const idOf = (a: { from: Customer; key: string }) => transferIdFor(a.from.id, a.key);
    const { rows: committed } = await stack.pool.query<{ stream_id: string }>(
      'SELECT DISTINCT stream_id FROM es.events WHERE stream_id = ANY($1::text[])',
      [timedOut.map((a) => `transfer-${idOf(a)}`)],
    );
    t.same(committed, [], 'no transfer answered 503 was committed after its answer');

    // The retry with the same key and body gives one outcome, and says so again.
    for (const a of timedOut) {
      const first = await postTransfer(stack, a.from, a.body, a.key);
      t.equal(first.status, 201, 'the retry is applied');
      const again = await postTransfer(stack, a.from, a.body, a.key);
      t.equal(again.status, 201, 'a second retry answers the same');
      t.equal(again.body?.transaction?.id, first.body?.transaction?.id, 'with the same transfer');
      t.equal(first.body?.transaction?.id, idOf(a), 'the transfer of the key');
      acknowledged.push(first.body.transaction.id);
    }

    await checkLedger(t, stack, acknowledged);
  },
);
