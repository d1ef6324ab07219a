import { randomUUID } from 'node:crypto';
import { accountStreamId } from '@ledger/application';
import t from 'tap';
import { type Customer, checkLedger, postTransfer, seedCustomers, startStack, waitFor } from './kit.js';

/**
 * Issue #14, item 2: cold start. 16 accounts with long streams (2,500 events each), the API
 * run once so that it folds them and writes their snapshots, then killed (-9) and started
 * again with nothing cached; 360 transfers are fired at it at once. Every one must be
 * answered 201 (or a business 422), none 5xx, and the restarted API must have read, per
 * account, one snapshot and the events after it, never a whole stream (its /metrics).
 */

/** Events seeded on each account, beside the few the application writes. */
const eventsPerAccount = 2_500;
const accounts = 16;
const transfers = 360;

/** A request's answer for the burst: bounded, so a stalled API fails the test. */
const burstWaitMs = 45_000;

/**
 * Balanced legs straight into the log: pairs of accounts pay each other 0.01 EUR back and
 * forth (a debit and a credit leg on each side per transfer), 1,000 events an append.
 */
async function seedLongStreams(stack: Awaited<ReturnType<typeof startStack>>, customers: Customer[]) {
  const at = new Date().toISOString();
  const leg = (accountId: string, side: 'debit' | 'credit', other: string, transferId: string) => ({
    type: 'AccountLegPosted',
    data: {
      accountId,
      transferId,
      side,
      counterpartyAccountId: other,
      code: 'transfer',
      reference: null,
      at,
      amount: '1',
      releasedPending: '0',
    },
    metadata: { actorId: 'system:fault-test' },
  });
  const appends: Promise<unknown>[] = [];
  for (let p = 0; p < accounts; p += 2) {
    const a = customers[p]!.accounts[0]!;
    const b = customers[p + 1]!.accounts[0]!;
    for (let done = 0; done < eventsPerAccount; done += 1_000) {
      const onA: ReturnType<typeof leg>[] = [];
      const onB: ReturnType<typeof leg>[] = [];
      for (let k = 0; k < 500; k++) {
        const [from, to, fromLegs, toLegs] = k % 2 === 0 ? [a, b, onA, onB] : [b, a, onB, onA];
        const transferId = randomUUID();
        fromLegs.push(leg(from, 'debit', to, transferId));
        toLegs.push(leg(to, 'credit', from, transferId));
      }
      appends.push(
        stack.store.append([
          { streamId: accountStreamId(a), expectedVersion: 'any', events: onA },
          { streamId: accountStreamId(b), expectedVersion: 'any', events: onB },
        ]),
      );
      // One append per pair at a time keeps each stream's order as written.
      await appends.at(-1);
    }
  }
  await Promise.all(appends);
}

const metric = (text: string, name: string): number | undefined => {
  const found = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return found ? Number(found[1]) : undefined;
};

t.test(
  'cold start: 360 transfers on 16 long streams right after a kill -9',
  { timeout: 240_000 },
  async (t) => {
    const stack = await startStack(t, { without: ['worker'] });
    const customers = await seedCustomers(stack, { customers: accounts, depositEach: 1_000_000_00n });
    await seedLongStreams(stack, customers);
    const acknowledged: string[] = [];
    const bodyOf = (i: number) => {
      const from = customers[i % accounts]!;
      const to = customers[(i + 1) % accounts]!;
      return {
        from,
        body: {
          type: 'transfer',
          fromAccountId: from.accounts[0],
          toAccountId: to.accounts[0],
          amount: '0.01',
          currency: 'EUR',
        },
      };
    };

    // The API folds every account once (here: whole streams) and snapshots them.
    for (let i = 0; i < accounts; i++) {
      const { from, body } = bodyOf(i);
      const warm = await postTransfer(stack, from, body);
      t.equal(warm.status, 201, `warm-up transfer ${i}`);
      if (warm.status === 201) acknowledged.push(warm.body.transaction.id);
    }
    const snapshotted = async () =>
      Number(
        (
          await stack.pool.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM es.snapshots WHERE stream_id = ANY($1)`,
            [customers.map((c) => accountStreamId(c.accounts[0]!))],
          )
        ).rows[0]!.n,
      );
    await waitFor('a snapshot of every account', async () => (await snapshotted()) === accounts, 20_000, 200);

    await stack.api.kill('SIGKILL');
    await stack.api.start();

    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: transfers }, (_, i) => {
        const { from, body } = bodyOf(i);
        return postTransfer(stack, from, body, randomUUID(), { signal: AbortSignal.timeout(burstWaitMs) });
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    t.comment(`burst answered in ${seconds.toFixed(1)} s: ${JSON.stringify([...byStatus])}`);
    t.equal(answers.filter((a) => a.status >= 500).length, 0, `no 5xx (${JSON.stringify([...byStatus])})`);
    t.equal(
      answers.filter((a) => a.status !== 201 && a.status !== 422).length,
      0,
      'every one is 201 or a business 422',
    );
    for (const a of answers) if (a.status === 201) acknowledged.push(a.body.transaction.id);

    // The restarted API read one snapshot and its tail per account, never a whole stream.
    const text = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    const events = metric(text, 'ledger_account_load_events_total');
    const used = metric(text, 'ledger_account_snapshots_used_total');
    const cold = metric(text, 'ledger_account_cold_loads_total');
    t.comment(`after the restart: ${cold} cold loads, ${used} from snapshots, ${events} events read`);
    // The store's own counter (older than the ledger's): whole streams read page by page per
    // request would be several reads each; shared snapshot loads are far fewer than one each.
    const streamReads = metric(text, 'ledger_eventstore_stream_reads_total');
    t.comment(
      `batches ${metric(text, 'ledger_transfer_batches_total')}, batched ${metric(text, 'ledger_transfer_batched_total')}, conflicts ${metric(text, 'ledger_transfer_batch_conflicts_total')}, alone ${metric(text, 'ledger_transfer_alone_total')}, tail loads ${metric(text, 'ledger_account_tail_loads_total')}`,
    );
    t.ok(
      streamReads !== undefined && streamReads < transfers,
      `stream reads: ${streamReads}, fewer than one per transfer (${transfers})`,
    );
    t.ok(used !== undefined && used >= accounts, `every account loaded from its snapshot (${used})`);
    // Each of the 16: its snapshot's own event and the legs since (16 warm-up transfers, at
    // most 500 before the next snapshot); the bank accounts: their short streams.
    t.ok(
      events !== undefined && events < accounts * 600,
      `events read by loads: ${events} (whole streams: ${accounts * eventsPerAccount}+)`,
    );
    t.ok(cold !== undefined && cold <= accounts + 8, `one cold load per account (${cold})`);

    await checkLedger(t, stack, acknowledged);
  },
);
