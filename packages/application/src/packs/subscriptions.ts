import assert from 'node:assert/strict';
import {
  accountPackStreamId,
  type PackEvent,
  packEventSchemaVersion,
  parsePackEvent,
  type Role,
  subscriptionStreamId,
} from '@ledger/contracts';
import type { Currency } from '@ledger/domain/ledger';
import {
  type Charge,
  decideCancel,
  decideChange,
  decideCollection,
  decideStart,
  decideStartPeriod,
  evolveSubscription,
  initialSubscriptionState,
  nextWork,
  type PackBenefits,
  type Subscription,
  type SubscriptionRejection,
  type SubscriptionState,
} from '@ledger/domain/packs';
import { type EventMetadata, type EventStore, type NewEvent, WrongExpectedVersion } from '@ledger/eventstore';
import { type Aggregate, foldStream, loadStream, runCommand } from '../command-handler.js';
import { ensureBankAccounts } from '../ledger/accounts.js';
import type { Ledger } from '../ledger/context.js';
import { bankAccountId, transferIdFor, uuidv5 } from '../ledger/ids.js';
import { accountOnce } from '../ledger/load.js';
import { runTransferCommand } from '../ledger/transfers.js';
import { loadPack } from './catalog.js';

/**
 * Subscriptions over the store (API.md, Packs): start, change of pack, cancellation, and
 * the settling of what a subscription owes (its periods' fees, pro-rata charges and
 * refunds, the dunning of failed ones). Money moves by fee transfers whose ids derive from
 * (subscription, charge, attempt), so whatever runs `settleSubscription` (the request that
 * subscribed, the scheduler, two schedulers at once, a re-run after a crash) a charge's
 * attempt moves money once: the store answers the same transfer to every repeat.
 */

type SubscriptionEvent = Parameters<typeof evolveSubscription>[1];
type SlotEvent = Extract<PackEvent, { type: 'AccountPackTaken' | 'AccountPackReleased' }>;

export const subscriptionAggregate: Aggregate<SubscriptionState, SubscriptionEvent> = {
  initialState: initialSubscriptionState,
  evolve: evolveSubscription,
  parse: (type, data) => {
    const event = parsePackEvent(type, data);
    assert(event.type.startsWith('Subscription'), `${type} is not a subscription event`);
    return event as SubscriptionEvent;
  },
  schemaVersion: packEventSchemaVersion,
};

const toNew =
  (metadata: EventMetadata) =>
  (event: { type: string; data: unknown }): NewEvent => ({
    type: event.type,
    schemaVersion: packEventSchemaVersion,
    data: event.data,
    metadata,
  });

export async function loadSubscription(store: EventStore, subscriptionId: string) {
  return loadStream(store, subscriptionStreamId(subscriptionId), subscriptionAggregate);
}

/** Which subscription holds an account's pack slot (null: none). */
async function loadSlot(store: EventStore, accountId: string) {
  return foldStream<string | null>(
    store,
    accountPackStreamId(accountId),
    { state: null, version: 'no_stream' },
    (holder, recorded) => {
      const event = parsePackEvent(recorded.type, recorded.data) as SlotEvent;
      if (event.type === 'AccountPackTaken') return event.data.subscriptionId;
      return holder === event.data.subscriptionId ? null : holder;
    },
  );
}

/** Fixed namespace of fee transfers' ids. */
const feeTransferNamespace = 'a4c2e8f1-6b3d-5a7e-8c9f-0d1e2f3a4b5c';

/** The transfer of one attempt of one charge: the same every time it is asked. */
export const feeTransferId = (subscriptionId: string, key: string, attempt: number) =>
  uuidv5(feeTransferNamespace, `${subscriptionId}:${key}:${attempt}`);

/** Who asks: as for the ledger's use cases. */
export interface PackCaller {
  userId: string;
  role: Role;
  metadata: EventMetadata;
  now: Date;
}

export type SubscriptionOutcome =
  | { ok: true; subscription: Subscription; position: bigint | null }
  | {
      ok: false;
      rejection:
        | SubscriptionRejection
        | 'account_not_found'
        | 'account_closed'
        | 'forbidden'
        /** The Idempotency-Key started a subscription of another pack or account. */
        | 'idempotency_conflict';
    };

const staff: readonly Role[] = ['agent', 'manager', 'director'];

/**
 * POST /api/packs/:id/subscribe: the owner of the account subscribes it. Period 0 begins at
 * once and its fee is charged before the answer (a fee that cannot be paid leaves the
 * subscription past_due, retried on the dunning schedule). `subscriptionId` derives from
 * the caller's Idempotency-Key when there is one: the same request again answers the
 * subscription it started, the key with another body idempotency_conflict. Without a key the
 * account's one pack slot makes a repeat an already_subscribed, never a second subscription.
 */
export async function subscribeToPack(
  ledger: Ledger,
  caller: PackCaller,
  request: { packId: string; accountId: string; idempotencyKey?: string },
): Promise<SubscriptionOutcome> {
  const account = await accountOnce(ledger, request.accountId);
  if (account.status === 'none' || account.kind !== 'customer' || account.ownerId !== caller.userId) {
    return { ok: false, rejection: 'account_not_found' };
  }
  if (account.status === 'closed') return { ok: false, rejection: 'account_closed' };
  const subscriptionId =
    request.idempotencyKey === undefined
      ? crypto.randomUUID()
      : transferIdFor(caller.userId, `subscribe:${request.idempotencyKey}`);
  const started = await runCommand<SubscriptionOutcome>(ledger.store, async () => {
    const [pack, slot, earlier] = await Promise.all([
      loadPack(ledger.store, request.packId),
      loadSlot(ledger.store, request.accountId),
      request.idempotencyKey === undefined ? null : startOf(ledger.store, subscriptionId),
    ]);
    // The key was used before (API.md, Conventions): the same request again is answered the
    // subscription it started (as it is now, even cancelled since); another body is a conflict.
    if (earlier !== null) {
      if (earlier.packId !== request.packId || earlier.accountId !== request.accountId) {
        return { answer: { ok: false, rejection: 'idempotency_conflict' } };
      }
      return { answer: { ok: true, subscription: earlier.subscription, position: null } };
    }
    const holder = slot.state === null ? null : await loadSubscription(ledger.store, slot.state);
    const decision = decideStart({
      subscriptionId,
      pack,
      account: { id: account.id, ownerId: caller.userId, currency: account.currency },
      holder: holder?.state.status === 'exists' ? holder.state.subscription : null,
      now: caller.now,
    });
    if (decision.rejection !== undefined) return { answer: { ok: false, rejection: decision.rejection } };
    const state = decision.events.reduce(evolveSubscription, initialSubscriptionState());
    assert(state.status === 'exists');
    const taken: SlotEvent = {
      type: 'AccountPackTaken',
      data: { accountId: account.id, subscriptionId, packId: request.packId, at: caller.now.toISOString() },
    };
    return {
      writes: [
        {
          streamId: accountPackStreamId(account.id),
          expectedVersion: slot.version,
          events: [toNew(caller.metadata)(taken)],
        },
        {
          streamId: subscriptionStreamId(subscriptionId),
          expectedVersion: 'no_stream',
          events: decision.events.map(toNew(caller.metadata)),
        },
      ],
      done: (result) => ({ ok: true, subscription: state.subscription, position: result.position }),
    };
  });
  if (!started.ok) return started;
  ledger.packs.forget(request.accountId);
  return settleAndAnswer(ledger, subscriptionId, caller, started.position);
}

/**
 * The pack and account a subscription started with (a pack change since does not alter what
 * its Idempotency-Key asked for), and the subscription now; null: no such subscription.
 */
async function startOf(store: EventStore, subscriptionId: string) {
  const [first] = await store.readStream(subscriptionStreamId(subscriptionId), { limit: 1 });
  if (first === undefined) return null;
  const event = parsePackEvent(first.type, first.data);
  assert(event.type === 'SubscriptionStarted', `subscription ${subscriptionId} begins with its start`);
  const { state } = await loadSubscription(store, subscriptionId);
  assert(state.status === 'exists');
  return { packId: event.data.packId, accountId: event.data.accountId, subscription: state.subscription };
}

/** The subscription the caller may act on: the owner's own, or any for staff (null: 404). */
async function ownSubscription(ledger: Ledger, caller: PackCaller, subscriptionId: string) {
  const loaded = await loadSubscription(ledger.store, subscriptionId);
  if (loaded.state.status !== 'exists') return null;
  const { subscription } = loaded.state;
  if (subscription.ownerId !== caller.userId && !staff.includes(caller.role)) return null;
  return { subscription, version: loaded.version };
}

async function settleAndAnswer(
  ledger: Ledger,
  subscriptionId: string,
  caller: PackCaller,
  position: bigint | null,
): Promise<SubscriptionOutcome> {
  const settled = await settleSubscription(ledger, subscriptionId, caller.now, caller.metadata);
  assert(settled !== null, 'the subscription exists');
  return {
    ok: true,
    subscription: settled.subscription,
    position: settled.position ?? position,
  };
}

/**
 * POST /api/subscriptions/:id/change `{packId}`: another pack from now on, by its owner. The
 * pro-rata difference of the fees for the days left is charged (or refunded) at once.
 */
export async function changeSubscriptionPack(
  ledger: Ledger,
  caller: PackCaller,
  request: { subscriptionId: string; packId: string },
): Promise<SubscriptionOutcome> {
  const outcome = await runCommand<SubscriptionOutcome>(ledger.store, async () => {
    const own = await ownSubscription(ledger, caller, request.subscriptionId);
    if (own === null || own.subscription.ownerId !== caller.userId) {
      return { answer: { ok: false, rejection: 'subscription_not_found' } };
    }
    const pack = await loadPack(ledger.store, request.packId);
    const decision = decideChange(own.subscription, pack, caller.now);
    if (decision.rejection !== undefined) return { answer: { ok: false, rejection: decision.rejection } };
    const state = decision.events.reduce(evolveSubscription, {
      status: 'exists',
      subscription: own.subscription,
    });
    assert(state.status === 'exists');
    return {
      writes: [
        {
          streamId: subscriptionStreamId(request.subscriptionId),
          expectedVersion: own.version,
          events: decision.events.map(toNew(caller.metadata)),
        },
      ],
      done: (result) => ({ ok: true, subscription: state.subscription, position: result.position }),
    };
  });
  if (!outcome.ok) return outcome;
  ledger.packs.forget(outcome.subscription.accountId);
  return settleAndAnswer(ledger, request.subscriptionId, caller, outcome.position);
}

/**
 * DELETE /api/subscriptions/:id: cancelled by its owner (or staff), effective at the end of
 * the period: no fee from now on, the benefits last until then, and the account's pack slot
 * is free at once. Cancelling a cancelled subscription answers it as it is.
 */
export async function cancelSubscription(
  ledger: Ledger,
  caller: PackCaller,
  request: { subscriptionId: string },
): Promise<SubscriptionOutcome> {
  const outcome = await runCommand<SubscriptionOutcome>(ledger.store, async () => {
    const own = await ownSubscription(ledger, caller, request.subscriptionId);
    if (own === null) return { answer: { ok: false, rejection: 'subscription_not_found' } };
    const { subscription } = own;
    const decision = decideCancel(subscription, caller.userId, caller.now);
    if (decision.events.length === 0) return { answer: { ok: true, subscription, position: null } };
    const state = decision.events.reduce(evolveSubscription, { status: 'exists', subscription });
    assert(state.status === 'exists');
    const slot = await loadSlot(ledger.store, subscription.accountId);
    const released: SlotEvent[] =
      slot.state === subscription.id
        ? [
            {
              type: 'AccountPackReleased',
              data: {
                accountId: subscription.accountId,
                subscriptionId: subscription.id,
                at: caller.now.toISOString(),
              },
            },
          ]
        : [];
    return {
      writes: [
        {
          streamId: subscriptionStreamId(subscription.id),
          expectedVersion: own.version,
          events: decision.events.map(toNew(caller.metadata)),
        },
        ...(released.length === 0
          ? []
          : [
              {
                streamId: accountPackStreamId(subscription.accountId),
                expectedVersion: slot.version,
                events: released.map(toNew(caller.metadata)),
              },
            ]),
      ],
      done: (result) => ({ ok: true, subscription: state.subscription, position: result.position }),
    };
  });
  if (outcome.ok) ledger.packs.forget(outcome.subscription.accountId);
  return outcome;
}

/** Steps one settle takes at most (a subscription years behind catches up over several runs). */
export const settleStepsMax = 64;

/** The fee transfer of one attempt of a charge: to fee income, or from it for a refund. */
async function collect(
  ledger: Ledger,
  subscription: Subscription,
  charge: Charge,
  attempt: number,
  now: Date,
  metadata: EventMetadata,
) {
  const transferId = feeTransferId(subscription.id, charge.key, attempt);
  await ensureBankAccounts(ledger, subscription.currency, now, metadata);
  const feeIncome = bankAccountId(subscription.currency, 'fee-income');
  const refund = charge.amount < 0n;
  const outcome = await runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId,
      debitAccountId: refund ? feeIncome : subscription.accountId,
      creditAccountId: refund ? subscription.accountId : feeIncome,
      amount: refund ? -charge.amount : charge.amount,
      currency: subscription.currency,
      code: 'fee',
      mode: 'single-phase',
      reference: `Pack fee ${charge.key}, subscription ${subscription.id}`,
      now,
    },
    metadata,
  );
  return {
    transferId,
    outcome:
      outcome.status === 'rejected'
        ? { paid: false as const, reason: outcome.rejection.code }
        : { paid: true as const },
  };
}

/**
 * Does what a subscription owes at `now`, in time order, one step per append: begins the
 * periods that have started (each fee from the pack as it is then), collects the charges
 * due, records failures on the dunning schedule and suspends after the last. Idempotent:
 * what is done is recorded, and a repeat finds it so. Null: no such subscription.
 */
export async function settleSubscription(
  ledger: Ledger,
  subscriptionId: string,
  now: Date,
  metadata: EventMetadata,
): Promise<{ subscription: Subscription; position: bigint | null; steps: number } | null> {
  let position: bigint | null = null;
  for (let steps = 0; ; steps++) {
    const loaded = await loadSubscription(ledger.store, subscriptionId);
    if (loaded.state.status !== 'exists') return null;
    const { subscription } = loaded.state;
    const work = steps < settleStepsMax ? nextWork(subscription, now) : null;
    if (work === null) return { subscription, position, steps };
    let events: SubscriptionEvent[];
    if (work.type === 'start_period') {
      const pack = await loadPack(ledger.store, subscription.packId);
      assert(pack !== null, `pack ${subscription.packId} of subscription ${subscriptionId} exists`);
      events = decideStartPeriod(subscription, pack).events;
    } else {
      const { transferId, outcome } = await collect(
        ledger,
        subscription,
        work.charge,
        work.attempt,
        now,
        metadata,
      );
      events = decideCollection(subscription, work.charge, work.attempt, transferId, outcome, now).events;
    }
    try {
      const result = await ledger.store.append([
        {
          streamId: subscriptionStreamId(subscriptionId),
          expectedVersion: loaded.version,
          events: events.map(toNew(metadata)),
        },
      ]);
      position = result.position;
      if (events.some((e) => e.type === 'SubscriptionSuspended')) ledger.packs.forget(subscription.accountId);
    } catch (error) {
      // Another settler recorded this step first: the next load finds it done.
      if (!(error instanceof WrongExpectedVersion)) throw error;
    }
  }
}

/**
 * The pack benefits that apply to an account's transfers at `now` (null: none), for the
 * transfer use cases' limits. Read through the Ledger's PackBenefitsCache: another
 * process's change applies here within benefitsMaxAgeMs, this process's at once.
 */
export async function packBenefitsFor(
  ledger: Ledger,
  accountId: string,
  now: Date,
): Promise<{ benefits: PackBenefits; currency: Currency } | null> {
  return ledger.packs.get(accountId, now, async () => {
    const slot = await loadSlot(ledger.store, accountId);
    if (slot.state === null) return null;
    const { state } = await loadSubscription(ledger.store, slot.state);
    if (state.status !== 'exists') return null;
    const pack = await loadPack(ledger.store, state.subscription.packId);
    if (pack === null) return null;
    return { subscription: state.subscription, benefits: pack.benefits, currency: pack.currency };
  });
}
