import { randomUUID } from 'node:crypto';
import type { AccountEvent, Currency, TransferEvent } from '@ledger/domain/ledger';
import type { EventStore, StreamWrite } from '@ledger/eventstore';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { type Projection, readCheckpoints, runProjection } from '@ledger/readmodel';
import t from 'tap';
import { accountsProjection, trialBalanceTotals } from './index.js';

// A transfer is one append over several streams (its legs on two accounts, its own events).
// The accounts model must never commit part of one: whatever its batch size, every batch it
// commits ends on an append, so at every checkpoint the model is balanced.

const logger = createLogger({ level: 'silent', name: 'accounts-checkpoints-test' });
const { store, database } = await openTestStore('accounts_checkpoints', t);

const at = () => new Date().toISOString();
const metadata = { actorId: 'test' };
const account = (id: string, events: AccountEvent[]): StreamWrite => ({
  streamId: `account-${id}`,
  expectedVersion: 'any',
  events: events.map((e) => ({ type: e.type, data: e.data, metadata })),
});
const transfer = (id: string, events: TransferEvent[]): StreamWrite => ({
  streamId: `transfer-${id}`,
  expectedVersion: 'any',
  events: events.map((e) => ({ type: e.type, data: e.data, metadata })),
});

/** Last positions of the appends made: the only places a batch may end. */
const appendEnds = new Set<bigint>();
const append = async (writes: StreamWrite[]) => {
  appendEnds.add((await store.append(writes)).position);
};

async function openBank(currency: Currency): Promise<string> {
  const accountId = randomUUID();
  await append([
    account(accountId, [
      {
        type: 'AccountOpened',
        data: {
          accountId,
          kind: 'bank',
          accountType: 'cash',
          ownerId: null,
          currency,
          debitsMustNotExceedCredits: false,
          overdraftLimit: null,
          openedAt: at(),
        },
      },
    ]),
  ]);
  return accountId;
}

type Leg = 'pending' | 'posted' | 'released';

/** Both legs of a transfer step and the transfer's own events, in one append, as the ledger writes them. */
async function step(
  debit: string,
  credit: string,
  leg: Leg,
  amount: bigint,
  transferEvents: (transferId: string) => TransferEvent[],
  transferId: string = randomUUID(),
  original?: { transferId: string; events: TransferEvent[] },
): Promise<string> {
  const data = (accountId: string, side: 'debit' | 'credit', counterpartyAccountId: string) => ({
    accountId,
    transferId,
    side,
    counterpartyAccountId,
    code: 'transfer' as const,
    reference: 'rent',
    at: at(),
    amount: amount.toString(),
  });
  const event = (accountId: string, side: 'debit' | 'credit', other: string): AccountEvent =>
    leg === 'pending'
      ? { type: 'AccountLegPending', data: data(accountId, side, other) }
      : leg === 'posted'
        ? { type: 'AccountLegPosted', data: { ...data(accountId, side, other), releasedPending: '0' } }
        : { type: 'AccountLegReleased', data: { ...data(accountId, side, other), reason: 'voided' } };
  await append([
    account(debit, [event(debit, 'debit', credit)]),
    account(credit, [event(credit, 'credit', debit)]),
    ...(original ? [transfer(original.transferId, original.events)] : []),
    transfer(transferId, transferEvents(transferId)),
  ]);
  return transferId;
}

const body = (transferId: string, debit: string, credit: string, amount: bigint, currency: Currency) => ({
  transferId,
  debitAccountId: debit,
  creditAccountId: credit,
  amount: amount.toString(),
  currency,
  code: 'transfer' as const,
  reference: 'rent',
  reversalOf: null,
});

t.test('every batch the accounts model commits ends on an append: never half a transfer', async (t) => {
  const [a, b, c] = [await openBank('EUR'), await openBank('EUR'), await openBank('EUR')];
  const [x, y] = [await openBank('JPY'), await openBank('JPY')];
  for (let i = 0; i < 6; i++) {
    // Posted at once; a hold on other accounts; something else in between (a user's two events).
    const posted = await step(a, b, 'posted', 1000n + BigInt(i), (id) => [
      { type: 'TransferPosted', data: { ...body(id, a, b, 1000n + BigInt(i), 'EUR'), at: at() } },
    ]);
    const hold = await step(x, y, 'pending', 70n, (id) => [
      {
        type: 'TransferPending',
        data: { ...body(id, x, y, 70n, 'JPY'), timeoutSeconds: 0, expiresAt: null, at: at() },
      },
    ]);
    await append([
      {
        streamId: `user-${i}`,
        expectedVersion: 'any',
        events: [
          { type: 'ProfileUpdated', data: { i } },
          { type: 'LoginSucceeded', data: { i } },
        ],
      },
    ]);
    if (i % 2 === 0) {
      await step(
        x,
        y,
        'released',
        70n,
        (id) => [{ type: 'PendingTransferVoided', data: { transferId: id, reason: null, at: at() } }],
        hold,
      );
    } else {
      await step(
        x,
        y,
        'posted',
        70n,
        (id) => [{ type: 'PendingTransferPosted', data: { transferId: id, amount: '70', at: at() } }],
        hold,
      );
    }
    // A reversal: its legs, its TransferPosted and TransferReversed on the original (4 streams).
    const reversal = randomUUID();
    await step(
      b,
      a,
      'posted',
      1000n + BigInt(i),
      (id) => [
        {
          type: 'TransferPosted',
          data: {
            ...body(id, b, a, 1000n + BigInt(i), 'EUR'),
            code: 'reversal',
            reversalOf: posted,
            at: at(),
          },
        },
      ],
      reversal,
      {
        transferId: posted,
        events: [
          { type: 'TransferReversed', data: { transferId: posted, reversalTransferId: reversal, at: at() } },
        ],
      },
    );
    await step(c, a, 'posted', 5n, (id) => [
      { type: 'TransferPosted', data: { ...body(id, c, a, 5n, 'EUR'), at: at() } },
    ]);
  }
  const head = await store.lastWrittenPosition();

  for (const batchSize of [1, 2, 3, 5]) {
    const name = `accounts_batches_${batchSize}`;
    const batchEnds: bigint[] = [];
    /** Batches after which the model (as that batch commits it) is unbalanced. */
    const unbalanced: string[] = [];
    const projection: Projection = {
      ...accountsProjection,
      name,
      schema: name,
      applyBatch: async (tx, events) => {
        await accountsProjection.applyBatch!(tx, events);
        for (const totals of await trialBalanceTotals(tx, name)) {
          if (totals.debitsPosted !== totals.creditsPosted || totals.debitsPending !== totals.creditsPending)
            unbalanced.push(`${totals.currency} after ${events.at(-1)!.globalPosition}`);
        }
      },
    };
    // The store as the runtime sees it, telling where each batch it hands over ends.
    const watched: EventStore = {
      append: (writes) => store.append(writes),
      observeAppends: (observer) => store.observeAppends(observer),
      readStream: (streamId, options) => store.readStream(streamId, options),
      readAll: (options) => store.readAll(options),
      headPosition: () => store.headPosition(),
      verify: () => store.verify(),
      close: async () => {},
      subscribe: (options) =>
        store.subscribe({
          ...options,
          onEvents: async (events) => {
            batchEnds.push(events.at(-1)!.globalPosition);
            await options.onEvents(events);
          },
        }),
    };
    const runner = runProjection({ db: database.db, store: watched, projection, logger, batchSize });
    t.ok(await runner.waitFor(head, 20_000), `batches of ${batchSize}: caught up`);
    await runner.stop();
    t.same(unbalanced, [], `batches of ${batchSize}: balanced at every commit`);
    const outside = batchEnds.filter((position) => !appendEnds.has(position));
    t.same(outside, [], `batches of ${batchSize}: ${batchEnds.length} batches, each ending an append`);
    const checkpoint = (await readCheckpoints(database.db)).find((c) => c.name === name)?.position;
    t.equal(checkpoint, head, 'the checkpoint stands at the head');
  }
});
