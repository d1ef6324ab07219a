import t, { type Test } from 'tap';
import {
  apiRequest,
  type Customer,
  checkLedger,
  postTransfer,
  type Stack,
  seedCustomers,
  startStack,
  waitFor,
} from './kit.js';

/**
 * Issue #14, items 3 and 6: an outage answers 503 `unavailable` with Retry-After, quickly.
 * The API's database is cut (the relay drops and refuses every connection): a signed-in read
 * and a transfer answer 503, not 500. The test's Redis is killed: every signed-in request
 * answers 503 at once (its token's revocation cannot be checked, so it never passes), none
 * hangs; with Redis back, requests work again. Then the ledger checks.
 */

/** Bound on one answer while PostgreSQL is cut. */
const databaseOutageAnswerMaxMs = 3_000;
/** Bound on one answer while Redis is down (its commands fail at once or within 500 ms). */
const redisOutageAnswerMaxMs = 1_500;
/** Signed-in requests sent at once while Redis is down. */
const redisBurst = 12;
/** How long the API may take to work again once a dependency is back. */
const recoveryWaitMs = 15_000;

/** A request that must answer within `boundMs`: a hang fails the test instead of stalling it. */
async function within<T>(boundMs: number, request: (signal: AbortSignal) => Promise<T>): Promise<T | 'hung'> {
  try {
    return await request(AbortSignal.timeout(boundMs));
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return 'hung';
    throw error;
  }
}

const accountsOf = (stack: Stack, customer: Customer, signal?: AbortSignal) =>
  apiRequest(stack, customer, 'GET', '/api/accounts', signal ? { signal } : {});

t.test(
  'a database cut and a Redis loss answer 503 unavailable with Retry-After, quickly',
  { timeout: 120_000 },
  async (t) => {
    const stack = await startStack(t, { throughProxy: ['api'], without: ['worker'] });
    const [alice, bob] = await seedCustomers(stack, { customers: 2, depositEach: 100_00n });
    const acknowledged: string[] = [];
    const transfer = (signal?: AbortSignal) =>
      postTransfer(
        stack,
        alice!,
        {
          type: 'transfer',
          fromAccountId: alice!.accounts[0],
          toAccountId: bob!.accounts[0],
          amount: '1.00',
          currency: 'EUR',
        },
        undefined,
        signal ? { signal } : {},
      );
    const warm = await transfer();
    t.equal(warm.status, 201, 'a transfer before the faults');
    acknowledged.push(warm.body.transaction.id);
    const before = await accountsOf(stack, alice!);
    t.equal(before.status, 200, 'a signed-in read before the faults');
    if (before.status !== 200)
      t.comment(
        `answered ${JSON.stringify(before.body)}; the API said:\n${stack.api.output().slice(-4_000)}`,
      );

    const isUnavailable = (
      t: Test,
      what: string,
      answer: { status: number; body: any; headers: Headers } | 'hung',
    ) => {
      if (answer === 'hung') {
        t.fail(`${what}: no answer within its bound`);
        return;
      }
      t.equal(answer.status, 503, `${what}: 503 (${JSON.stringify(answer.body)})`);
      t.equal(answer.body?.code, 'unavailable', `${what}: code unavailable`);
      t.match(answer.headers.get('retry-after'), /^[1-9][0-9]*$/, `${what}: Retry-After in seconds`);
    };

    await t.test('PostgreSQL cut', async (t) => {
      stack.proxy.cut();
      isUnavailable(
        t,
        'a signed-in read',
        await within(databaseOutageAnswerMaxMs, (s) => accountsOf(stack, alice!, s)),
      );
      const answer = await within(databaseOutageAnswerMaxMs, (s) => transfer(s));
      isUnavailable(t, 'a transfer', answer);
      stack.proxy.resume();
      // A command answered 5xx may have been applied (API.md): its retry with the same key says.
      if (answer !== 'hung') {
        const { key } = answer;
        {
          const retried = await postTransfer(
            stack,
            alice!,
            {
              type: 'transfer',
              fromAccountId: alice!.accounts[0],
              toAccountId: bob!.accounts[0],
              amount: '1.00',
              currency: 'EUR',
            },
            key,
          );
          t.equal(retried.status, 201, 'its retry with the same key is applied once');
          if (retried.status === 201) acknowledged.push(retried.body.transaction.id);
        }
      }
      await waitFor(
        'reads work again',
        async () => (await accountsOf(stack, alice!)).status === 200,
        recoveryWaitMs,
      );
    });

    await t.test('Redis killed', async (t) => {
      await stack.redis.kill();
      const answers = await Promise.all(
        Array.from({ length: redisBurst }, (_, i) =>
          within(redisOutageAnswerMaxMs, (s) => (i % 2 === 0 ? accountsOf(stack, bob!, s) : transfer(s))),
        ),
      );
      const passed = answers.filter((a) => a !== 'hung' && a.status < 300);
      t.equal(passed.length, 0, 'no request whose token cannot be checked passes');
      for (const [i, answer] of answers.entries()) {
        isUnavailable(t, i % 2 === 0 ? `read ${i}` : `transfer ${i}`, answer);
      }
      await stack.redis.start();
      await waitFor(
        'reads work again',
        async () => (await accountsOf(stack, bob!)).status === 200,
        recoveryWaitMs,
      );
      const after = await transfer();
      t.equal(after.status, 201, 'a transfer after Redis is back');
      if (after.status === 201) acknowledged.push(after.body.transaction.id);
    });

    await checkLedger(t, stack, acknowledged);
  },
);
