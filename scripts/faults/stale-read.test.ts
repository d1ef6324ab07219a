import t, { type Test } from 'tap';
import {
  apiRequest,
  type Customer,
  checkLedger,
  postTransfer,
  type Stack,
  seedCustomers,
  sleep,
  startStack,
} from './kit.js';

// Issue #14, item 5: with the projector killed (-9), a client reading its own new transfer
// with ?minPosition= gets 503 read_model_behind with a Retry-After within about the 2 s
// wait, never a 404 for the transfer nor its balance from before it; once the projector is
// back, the same GETs answer 200 with the transfer in them. The API and projector are real
// processes on a fresh PostgreSQL database and a Redis of the test's own.

/** Longest any one GET here may take: the API's 2 s wait and then some, on a busy machine. */
const answerWithinMs = 15_000;

/** GET `path` as `customer`, with how long it took. */
async function timedGet(stack: Stack, customer: Customer, path: string) {
  const started = Date.now();
  const answer = await apiRequest(stack, customer, 'GET', path);
  return { ...answer, ms: Date.now() - started };
}

/** How long a read may stay behind once the projector runs: its catch-up, on a busy machine. */
const catchUpWithinMs = 30_000;

/**
 * GET `path` as a client honouring Retry-After would: again while it answers 503
 * read_model_behind (each such answer asserted to be one), at most catchUpWithinMs.
 */
async function getOnceCaughtUp(t: Test, stack: Stack, customer: Customer, path: string) {
  const deadline = Date.now() + catchUpWithinMs;
  for (;;) {
    const answer = await timedGet(stack, customer, path);
    if (answer.status !== 503 || Date.now() > deadline) return answer;
    t.match(answer.body, { code: 'read_model_behind' }, `${path}: behind for now, read_model_behind`);
    await sleep(Number(answer.headers.get('retry-after') ?? '1') * 1_000);
  }
}

function assertBehind(t: Test, answer: Awaited<ReturnType<typeof timedGet>>, what: string) {
  t.equal(answer.status, 503, `${what}: 503, not a 404 or a stale 200 (${JSON.stringify(answer.body)})`);
  t.match(answer.headers.get('content-type'), /^application\/problem\+json/, `${what}: problem+json`);
  t.match(answer.body, { status: 503, code: 'read_model_behind' }, `${what}: read_model_behind`);
  t.match(answer.headers.get('retry-after'), /^[1-9][0-9]*$/, `${what}: Retry-After in whole seconds`);
  t.ok(answer.ms < answerWithinMs, `${what}: answered within ${answerWithinMs} ms (${answer.ms} ms)`);
}

t.test(
  'projector killed: a read past minPosition is 503 read_model_behind, then 200',
  { timeout: 120_000 },
  async (t) => {
    // The worker plays no part in immediate transfers and their reads.
    const stack = await startStack(t, { without: ['worker'] });
    const [alice] = await seedCustomers(stack, {
      customers: 1,
      accountsPerCustomer: 2,
      depositEach: 100_00n,
    });
    const [from, to] = alice!.accounts as [string, string];
    const acknowledged: string[] = [];
    const transfer = async (amount: string) => {
      const sent = await postTransfer(stack, alice!, {
        type: 'transfer',
        fromAccountId: from,
        toAccountId: to,
        amount,
        currency: 'EUR',
      });
      t.equal(sent.status, 201, `transfer of ${amount}: 201 (${JSON.stringify(sent.body)})`);
      acknowledged.push(sent.body.transaction.id);
      return { id: sent.body.transaction.id as string, position: sent.body.position as string };
    };

    // With the projector up, a read given minPosition has the transfer.
    const first = await transfer('10.00');
    const seen = await getOnceCaughtUp(
      t,
      stack,
      alice!,
      `/api/transactions/${first.id}?minPosition=${first.position}`,
    );
    t.equal(seen.status, 200, `projector up: 200 (${JSON.stringify(seen.body)})`);

    await stack.projector.kill('SIGKILL');
    const second = await transfer('25.00');
    const [one, account, statement, balance] = await Promise.all([
      timedGet(stack, alice!, `/api/transactions/${second.id}?minPosition=${second.position}`),
      timedGet(stack, alice!, `/api/accounts/${from}?minPosition=${second.position}`),
      timedGet(stack, alice!, `/api/accounts/${from}/transactions?minPosition=${second.position}`),
      timedGet(stack, alice!, `/api/accounts/${from}/balance?minPosition=${second.position}`),
    ]);
    assertBehind(t, one, 'GET /api/transactions/:id (the client’s own new transfer)');
    assertBehind(t, account, 'GET /api/accounts/:id (its balance)');
    assertBehind(t, statement, 'GET /api/accounts/:id/transactions');
    // Folded from the log, the balance is never behind a write: 200 with the transfer in it.
    t.equal(balance.status, 200, `GET /api/accounts/:id/balance: 200 (${JSON.stringify(balance.body)})`);
    t.equal(balance.body.balance, '65.00', 'the balance from the log has the transfer: not stale');

    await stack.projector.start();
    const [oneAgain, accountAgain] = await Promise.all([
      getOnceCaughtUp(t, stack, alice!, `/api/transactions/${second.id}?minPosition=${second.position}`),
      getOnceCaughtUp(t, stack, alice!, `/api/accounts/${from}?minPosition=${second.position}`),
    ]);
    t.equal(oneAgain.status, 200, `projector back: the transfer 200 (${JSON.stringify(oneAgain.body)})`);
    t.match(oneAgain.body.transaction, { id: second.id, status: 'posted', amount: '25.00', currency: 'EUR' });
    t.equal(
      accountAgain.status,
      200,
      `projector back: the account 200 (${JSON.stringify(accountAgain.body)})`,
    );
    t.match(accountAgain.body.account, { id: from, balance: '65.00', availableBalance: '65.00' });

    await checkLedger(t, stack, acknowledged);
  },
);
