import { randomUUID } from 'node:crypto';
import { createLedger, runTransferCommand, transferIdFor } from '@ledger/application';
import type { TransferCommand } from '@ledger/domain/ledger';
import t from 'tap';
import { type Customer, checkLedger, postTransfer, seedCustomers, sleep, startStack } from './kit.js';

/**
 * Issue #22, fault suite: a poisoned command in a batch. Four hot accounts take transfers
 * over HTTP from eight clients (the API process batches them per account) while a second
 * writer, this test process on the same database, sends its own batches on the same accounts
 * with two poisoned commands in each: one whose deciding throws (an external transfer with
 * no beneficiary, an invariant the domain asserts), one whose append the store refuses
 * (metadata it cannot serialise). Each poisoned command fails alone; every other command of
 * its batch is appended; the API's clients all get a definite answer (or a retryable 503,
 * retried with the same key); and then the ledger checks: nothing acknowledged lost or
 * doubled, balanced, chains verified, the read models equal to the fold.
 */

const loadMs = 4_000;
const clients = 8;
/** Attempts of one request that answers 503 or loses its connection. */
const attemptsMax = 10;

t.test('poisoned commands fail alone inside batches on hot accounts', { timeout: 150_000 }, async (t) => {
  const stack = await startStack(t, { without: ['worker'] });
  const customers = await seedCustomers(stack, { customers: 4, depositEach: 1_000_000_00n });
  const accounts = customers.map((c) => c.accounts[0]!);
  const acknowledged: string[] = [];
  const answers = new Map<number, number>();
  const stopAt = Date.now() + loadMs;

  /** One transfer over HTTP, retried with the same key on a 503 or a lost connection. */
  const send = async (from: Customer, to: string) => {
    const key = randomUUID();
    const body = {
      type: 'transfer',
      fromAccountId: from.accounts[0],
      toAccountId: to,
      amount: '1.25',
      currency: 'EUR',
    };
    for (let attempt = 1; attempt <= attemptsMax; attempt++) {
      let status: number;
      try {
        const sent = await postTransfer(stack, from, body, key);
        status = sent.status;
        if (status === 201) acknowledged.push(sent.body.transaction.id);
      } catch {
        status = 0;
      }
      if (status !== 503 && status !== 0) {
        answers.set(status, (answers.get(status) ?? 0) + 1);
        return;
      }
      await sleep(100);
    }
    answers.set(-1, (answers.get(-1) ?? 0) + 1);
  };
  const http = Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; Date.now() < stopAt; i++) {
        const from = customers[(c + i) % 4]!;
        await send(from, accounts[(c + i + 1 + (i % 3)) % 4]!);
      }
    }),
  );

  // The second writer's batches: good creates with two poisoned ones among them.
  const ledger = createLedger(stack.store);
  const meta = { actorId: 'system:fault-test', correlationId: randomUUID() };
  const poisonedMeta = { ...meta, poison: 1n } as unknown as typeof meta;
  const create = (i: number, extra: Partial<TransferCommand> = {}): TransferCommand =>
    ({
      type: 'CreateTransfer',
      transferId: transferIdFor('fault-test', randomUUID()),
      debitAccountId: accounts[i % 4]!,
      creditAccountId: accounts[(i + 1) % 4]!,
      amount: 2_00n,
      currency: 'EUR',
      code: 'transfer',
      mode: 'single-phase',
      limits: {},
      now: new Date(),
      ...extra,
    }) as TransferCommand;
  let rounds = 0;
  let goodAccepted = 0;
  let poisonedFailed = 0;
  const poisonedIds: string[] = [];
  const wrongly: string[] = [];
  while (Date.now() < stopAt) {
    rounds++;
    const good = Array.from({ length: 6 }, (_, i) => create(i + rounds));
    const badDecide = create(rounds, { code: 'external', mode: 'two-phase' } as Partial<TransferCommand>);
    const badAppend = create(rounds + 2);
    poisonedIds.push(badDecide.transferId, badAppend.transferId);
    const settled = await Promise.allSettled([
      ...good.slice(0, 3).map((c) => runTransferCommand(ledger, c, meta)),
      runTransferCommand(ledger, badDecide, meta),
      runTransferCommand(ledger, badAppend, poisonedMeta),
      ...good.slice(3).map((c) => runTransferCommand(ledger, c, meta)),
    ]);
    for (const [i, s] of settled.entries()) {
      const poisoned = i === 3 || i === 4;
      if (poisoned) {
        if (s.status === 'rejected') poisonedFailed++;
        else wrongly.push(`poisoned ${i}: ${s.value.status}`);
      } else if (s.status === 'fulfilled' && s.value.status === 'accepted') {
        goodAccepted++;
        acknowledged.push(s.value.transfer.id);
      } else {
        wrongly.push(`good ${i}: ${s.status === 'fulfilled' ? s.value.status : String(s.reason)}`);
      }
    }
    await sleep(20);
  }
  await http;
  t.same(wrongly, [], 'each poisoned command failed, and every good one of its batch was accepted');
  t.equal(poisonedFailed, rounds * 2, `${rounds} rounds: every poisoned command failed`);
  t.equal(goodAccepted, rounds * 6);
  t.notOk(answers.has(-1), 'every HTTP client got a definite answer');
  t.same([...answers.keys()], [201], `HTTP answers: ${JSON.stringify([...answers])}`);
  const { rows } = await stack.pool.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM es.events WHERE stream_id = ANY($1::text[])`,
    [poisonedIds.map((id) => `transfer-${id}`)],
  );
  t.equal(rows[0]?.n, '0', 'no poisoned command wrote anything');
  await checkLedger(t, stack, acknowledged);
});
