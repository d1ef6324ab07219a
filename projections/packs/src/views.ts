import type { PackView, SubscriptionView } from '@ledger/contracts';
import { formatAmount } from '@ledger/domain/ledger';
import { nextFeeAt, type Pack, type Subscription } from '@ledger/domain/packs';

/** The HTTP view of a pack (API.md, Packs): amounts as decimal strings of its currency. */
export function packView(pack: Pack): PackView {
  const money = (minor: bigint) => formatAmount(minor, pack.currency);
  const b = pack.benefits;
  return {
    id: pack.id,
    name: pack.name,
    description: pack.description,
    monthlyFee: money(pack.monthlyFee),
    currency: pack.currency,
    benefits: {
      ...(b.transferAmountMax === undefined ? {} : { transferAmountMax: money(b.transferAmountMax) }),
      ...(b.dailyDebitMax === undefined ? {} : { dailyDebitMax: money(b.dailyDebitMax) }),
      ...(b.freeExternalTransfers === undefined ? {} : { freeExternalTransfers: b.freeExternalTransfers }),
      ...(b.overdraftLimit === undefined ? {} : { overdraftLimit: money(b.overdraftLimit) }),
      ...(b.feeWaivers === undefined ? {} : { feeWaivers: [...b.feeWaivers] }),
    },
    status: pack.status,
    version: pack.version,
    createdAt: pack.createdAt,
    updatedAt: pack.updatedAt,
  };
}

/** The HTTP view of a subscription (API.md, Packs). */
export function subscriptionView(subscription: Subscription): SubscriptionView {
  const next = nextFeeAt(subscription);
  return {
    id: subscription.id,
    packId: subscription.packId,
    accountId: subscription.accountId,
    status: subscription.status,
    startedAt: subscription.startedAt.toISOString(),
    currentPeriodEnd: subscription.periodEnd.toISOString(),
    nextFeeAt: next === null ? null : next.toISOString(),
    userId: subscription.ownerId,
    endsAt: subscription.endsAt === null ? null : subscription.endsAt.toISOString(),
  };
}
