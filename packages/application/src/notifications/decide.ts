import { createHash } from 'node:crypto';
import {
  type PackEvent,
  packStreamId,
  parseIdentityEvent,
  parseKycEvent,
  parsePackEvent,
  subscriptionStreamId,
  userStreamId,
} from '@ledger/contracts';
import { type Currency, formatAmount, fromMinorUnits, isCurrency } from '@ledger/domain/ledger';
import { categoryOf, type NotificationIntent, type NotificationType } from '@ledger/domain/notifications';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import type { Ledger } from '../ledger/context.js';
import { parseAccountEvent, parseTransferEvent } from '../ledger/events.js';
import { uuidv5 } from '../ledger/ids.js';
import { accountNumberOf, accountOnce, loadTransfer } from '../ledger/load.js';

/**
 * Which events notify whom (API.md, Notifications). Pure but for bounded, cached reads of
 * the log (an account's owner and currency, a transfer's debit account, the user's own
 * recent logins): deciding one event twice, in the in-app read model, a rebuild of it or
 * the mail dispatcher, gives the same intents with the same ids.
 */

export interface NotificationContext {
  /** The ledger's store, caches and locks: account owners and currencies come from its loaders. */
  readonly ledger: Ledger;
}

/** Fixed namespace of notification ids. */
const notificationIdNamespace = '3d5a8f1e-7c2b-5d4e-9f6a-0b1c2d3e4f5a';

/** The id of the notification of `type` to `recipientUserId` caused by event `eventId`. */
export function notificationId(eventId: string, recipientUserId: string, type: NotificationType): string {
  return uuidv5(notificationIdNamespace, `${eventId.toLowerCase()}:${recipientUserId.toLowerCase()}:${type}`);
}

/**
 * login_new_device: how many of the user's events before a login are read to find the
 * devices (user agent + address) seen before. Bounded: a device last seen further back
 * counts as new again (one notification too many, never one missed for a new device).
 */
export const knownDeviceEventsMax = 500;

/** The key of a device as login_new_device compares them: sha256 of (user agent, address). */
export function deviceKey(userAgent: string | null, ip: string | null): string {
  return createHash('sha256')
    .update(JSON.stringify([userAgent ?? '', ip ?? '']))
    .digest('hex');
}

/** Event types notificationsOf may answer something for: any other answers []. */
export const notifyingEventTypes = [
  'AccountLegPosted',
  'AccountFrozen',
  'TransferPending',
  'TransferReviewed',
  'PendingTransferReturned',
  'KycChecked',
  'KycReviewed',
  'LoginSucceeded',
  'PasswordChanged',
  'TwoFactorEnabled',
  'TwoFactorDisabled',
  'UserLocked',
  'SubscriptionChargePaid',
  'SubscriptionChargeFailed',
] as const;

const notifying: ReadonlySet<string> = new Set(notifyingEventTypes);

function intent(
  event: RecordedEvent,
  type: NotificationType,
  recipientUserId: string,
  facts: Record<string, string | null | undefined>,
): NotificationIntent {
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(facts)) if (typeof value === 'string') kept[key] = value;
  return {
    id: notificationId(event.eventId, recipientUserId, type),
    type,
    category: categoryOf(type),
    recipientUserId,
    eventId: event.eventId,
    globalPosition: event.globalPosition,
    at: event.recordedAt,
    facts: kept,
  };
}

const money = (minor: string, currency: Currency) => ({
  amount: formatAmount(fromMinorUnits(minor), currency),
  currency,
});

/** Facts of an account kept per ledger (they never change): most events name accounts seen before. */
export const accountNumbersCachedMax = 10_000;

/**
 * A per-ledger memo of what never changes about an account, at most accountNumbersCachedMax
 * (the oldest goes first). `read` answering undefined keeps nothing (ask again next time).
 */
function accountFacts<V>(read: (ledger: Ledger, accountId: string) => Promise<V | undefined>) {
  const caches = new WeakMap<Ledger, Map<string, V>>();
  return async (ledger: Ledger, accountId: string): Promise<V | undefined> => {
    let cache = caches.get(ledger);
    if (cache === undefined) {
      cache = new Map();
      caches.set(ledger, cache);
    }
    if (cache.has(accountId)) return cache.get(accountId);
    const value = await read(ledger, accountId);
    if (value === undefined) return undefined;
    if (cache.size >= accountNumbersCachedMax) cache.delete(cache.keys().next().value!);
    cache.set(accountId, value);
    return value;
  };
}

const accountNumbers = accountFacts(accountNumberOf);
const accountNumber = async (ledger: Ledger, accountId: string): Promise<string | null> =>
  (await accountNumbers(ledger, accountId)) ?? null;

type CustomerAccount = { ownerId: string; currency: Currency } | null;

/**
 * Owner and currency of each account seen, apart from the ledger's cache of whole account
 * states: a projector keeps these few bytes for every account of a busy hour, and only a few
 * folded states (see notificationsProjection).
 */
const customerAccountFacts = accountFacts(async (ledger, accountId): Promise<CustomerAccount | undefined> => {
  const account = await accountOnce(ledger, accountId);
  // A missing account is not kept: it may be opened (its events may be behind this one's).
  if (account.status === 'none') return undefined;
  return account.kind !== 'customer' || account.ownerId === null
    ? null
    : { ownerId: account.ownerId, currency: account.currency };
});

async function customerAccount(ledger: Ledger, accountId: string): Promise<CustomerAccount> {
  return (await customerAccountFacts(ledger, accountId)) ?? null;
}

/** The intents of one event: none for most. */
export async function notificationsOf(
  context: NotificationContext,
  event: RecordedEvent,
): Promise<NotificationIntent[]> {
  if (!notifying.has(event.type)) return [];
  const { ledger } = context;
  switch (event.type) {
    case 'AccountLegPosted':
    case 'AccountFrozen': {
      const e = parseAccountEvent(event);
      if (e.type === 'AccountFrozen') {
        const account = await customerAccount(ledger, e.data.accountId);
        if (account === null) return [];
        return [
          intent(event, 'account_frozen', account.ownerId, {
            accountId: e.data.accountId,
            accountNumber: await accountNumber(ledger, e.data.accountId),
            reason: e.data.reason,
          }),
        ];
      }
      if (e.type !== 'AccountLegPosted') return [];
      const d = e.data;
      const received = d.side === 'credit' && d.code === 'transfer';
      const sent = d.side === 'debit' && (d.code === 'transfer' || d.code === 'external');
      if (!received && !sent) return [];
      const account = await customerAccount(ledger, d.accountId);
      if (account === null) return [];
      return [
        intent(event, received ? 'transfer_received' : 'transfer_sent', account.ownerId, {
          ...money(d.amount, account.currency),
          transferId: d.transferId,
          reference: d.reference,
          accountId: d.accountId,
          // The counterparty's account number (an external payee's is the clearing account's: none).
          counterparty: await accountNumber(ledger, d.counterpartyAccountId),
        }),
      ];
    }
    case 'TransferPending':
    case 'TransferReviewed':
    case 'PendingTransferReturned': {
      const e = parseTransferEvent(event);
      if (e.type === 'TransferPending') {
        if (e.data.review === undefined) return [];
        const account = await customerAccount(ledger, e.data.debitAccountId);
        if (account === null) return [];
        return [
          intent(event, 'transfer_held', account.ownerId, {
            ...money(e.data.amount, e.data.currency),
            transferId: e.data.transferId,
            reference: e.data.reference,
            accountId: e.data.debitAccountId,
          }),
        ];
      }
      if (e.type !== 'TransferReviewed' && e.type !== 'PendingTransferReturned') return [];
      // The transfer's stream up to this event: its body (debit account, amount) never changes.
      const { state } = await loadTransfer(ledger, e.data.transferId);
      if (state.status === 'none') return [];
      const account = await customerAccount(ledger, state.debitAccountId);
      if (account === null) return [];
      const type =
        e.type === 'PendingTransferReturned'
          ? 'transfer_returned'
          : e.data.decision === 'approved'
            ? 'transfer_approved'
            : 'transfer_rejected';
      return [
        intent(event, type, account.ownerId, {
          amount: formatAmount(state.amount, state.currency),
          currency: state.currency,
          transferId: state.id,
          reference: state.reference,
          accountId: state.debitAccountId,
          reason: e.data.reason,
        }),
      ];
    }
    case 'KycChecked':
    case 'KycReviewed': {
      const e = parseKycEvent(event.type, event.data);
      if (e.type === 'KycChecked') {
        const type = `kyc_${e.data.outcome}` as const;
        return [intent(event, type, e.data.userId, { reason: e.data.reasons.join(', ') || null })];
      }
      if (e.type !== 'KycReviewed') return [];
      const type = e.data.decision === 'verified' ? 'kyc_verified' : 'kyc_rejected';
      return [intent(event, type, e.data.userId, { reason: e.data.reason })];
    }
    case 'SubscriptionChargePaid':
    case 'SubscriptionChargeFailed':
      return packFeeNotifications(ledger.store, event);
    default:
      return identityNotifications(ledger.store, event);
  }
}

/** Events of a subscription's stream read at once by packFeeNotifications. */
const subscriptionPageSize = 500;

/**
 * pack_fee_charged (a fee paid: amount > 0; a refund is no fee) and pack_fee_failed (an
 * attempt at a fee refused), to the subscription's owner. The owner, currency and the pack
 * the charge is for (the one in force when it was charged: its name at that version) come
 * from the subscription's stream up to this event and the pack's stream up to that version,
 * so deciding again, later, gives the same facts.
 */
async function packFeeNotifications(store: EventStore, event: RecordedEvent): Promise<NotificationIntent[]> {
  const e = parsePackEvent(event.type, event.data);
  if (e.type !== 'SubscriptionChargePaid' && e.type !== 'SubscriptionChargeFailed') return [];
  const d = e.data;
  if (d.amount === '0' || d.amount.startsWith('-')) return [];
  if (event.streamId !== subscriptionStreamId(d.subscriptionId)) return [];
  let started: Extract<PackEvent, { type: 'SubscriptionStarted' }>['data'] | null = null;
  let pack: { id: string; version: number } | null = null;
  // The stream before this event (versions 0 … streamVersion − 1), page by page.
  for (let from = 0n; from < event.streamVersion; ) {
    const left = event.streamVersion - from;
    const limit = left < BigInt(subscriptionPageSize) ? Number(left) : subscriptionPageSize;
    const page = await store.readStream(event.streamId, { fromVersion: from, limit });
    for (const recorded of page) {
      const earlier = parsePackEvent(recorded.type, recorded.data);
      if (earlier.type === 'SubscriptionStarted') {
        started = earlier.data;
        if (d.key === 'p0') pack = { id: earlier.data.packId, version: earlier.data.packVersion };
      } else if (earlier.type === 'SubscriptionPeriodStarted' && d.key === `p${earlier.data.period}`) {
        pack = { id: earlier.data.packId, version: earlier.data.packVersion };
      } else if (earlier.type === 'SubscriptionPackChanged' && d.key === `c${earlier.data.change}`) {
        pack = { id: earlier.data.toPackId, version: earlier.data.toPackVersion };
      }
    }
    if (page.length < limit) break;
    from += BigInt(page.length);
  }
  if (started === null || !isCurrency(started.currency)) return [];
  const packName = pack === null ? null : await packNameAt(store, pack.id, pack.version);
  const type = e.type === 'SubscriptionChargePaid' ? 'pack_fee_charged' : 'pack_fee_failed';
  return [
    intent(event, type, started.ownerId, {
      ...money(d.amount, started.currency),
      packName,
      packId: pack?.id,
      subscriptionId: d.subscriptionId,
      accountId: started.accountId,
      transferId: d.transferId,
      charge: d.key,
      ...(e.type === 'SubscriptionChargeFailed'
        ? { reason: e.data.reason, nextAttemptAt: e.data.nextAttemptAt }
        : {}),
    }),
  ];
}

/** A pack's name as its definition at `version` had it (each catalog event holds the whole definition). */
async function packNameAt(store: EventStore, packId: string, version: number): Promise<string | null> {
  const [recorded] = await store.readStream(packStreamId(packId), {
    fromVersion: BigInt(version - 1),
    limit: 1,
  });
  if (recorded === undefined) return null;
  const e = parsePackEvent(recorded.type, recorded.data);
  return e.type === 'PackCreated' || e.type === 'PackChanged' ? e.data.name : null;
}

async function identityNotifications(store: EventStore, event: RecordedEvent): Promise<NotificationIntent[]> {
  const e = parseIdentityEvent(event.type, event.data);
  switch (e.type) {
    case 'LoginSucceeded': {
      const { userAgent, ip } = deviceOf(event);
      if (!(await isNewDevice(store, event, e.data.userId, deviceKey(userAgent, ip)))) return [];
      return [intent(event, 'login_new_device', e.data.userId, { userAgent, ip, at: e.data.at })];
    }
    case 'PasswordChanged':
      return [intent(event, 'password_changed', e.data.userId, { at: e.data.at })];
    case 'TwoFactorEnabled':
    case 'TwoFactorDisabled':
      return [
        intent(event, 'two_factor_changed', e.data.userId, {
          change: e.type === 'TwoFactorEnabled' ? 'enabled' : 'disabled',
          at: e.data.at,
        }),
      ];
    case 'UserLocked':
      return [
        intent(event, 'account_locked', e.data.userId, {
          reason: e.data.reason,
          until: e.data.until,
          at: e.data.at,
        }),
      ];
    default:
      return [];
  }
}

function deviceOf(event: Pick<RecordedEvent, 'metadata'>): { userAgent: string | null; ip: string | null } {
  const { userAgent, ip } = event.metadata;
  return {
    userAgent: typeof userAgent === 'string' ? userAgent : null,
    ip: typeof ip === 'string' ? ip : null,
  };
}

/**
 * Whether a login came from a device (user agent + address) not seen in the user's earlier
 * logins, read from the user's own stream: the knownDeviceEventsMax events before this one.
 * Decided from the log alone, so the answer never changes (a replay, a rebuild, the mail
 * dispatcher all agree) and needs no table of its own. The user's first login ever (no
 * login before it, the whole stream read) is no "new" device: it is the one they signed up on.
 */
async function isNewDevice(
  store: EventStore,
  event: RecordedEvent,
  userId: string,
  key: string,
): Promise<boolean> {
  if (event.streamId !== userStreamId(userId)) return false;
  const from =
    event.streamVersion > BigInt(knownDeviceEventsMax)
      ? event.streamVersion - BigInt(knownDeviceEventsMax)
      : 0n;
  const count = Number(event.streamVersion - from);
  if (count === 0) return false;
  const earlier = await store.readStream(event.streamId, { fromVersion: from, limit: count });
  let loginsBefore = false;
  for (const previous of earlier) {
    if (previous.streamVersion >= event.streamVersion || previous.type !== 'LoginSucceeded') continue;
    loginsBefore = true;
    const device = deviceOf(previous);
    if (deviceKey(device.userAgent, device.ip) === key) return false;
  }
  return loginsBefore || from > 0n;
}
