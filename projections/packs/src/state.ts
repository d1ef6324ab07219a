import { type Currency, isCurrency } from '@ledger/domain/ledger';
import { definitionData, definitionOf, type Pack, type Subscription } from '@ledger/domain/packs';

/**
 * A pack's and a subscription's folded state as the read model keeps it (JSON: amounts as
 * minor-unit strings, times as ISO strings), and back: the projection folds with the
 * domain's own evolve, so the read model's next fee time is the one the scheduler acts on.
 */

export type PackRow = ReturnType<typeof definitionData> & {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
};

export function packToJson(pack: Pack): PackRow {
  return {
    id: pack.id,
    version: pack.version,
    createdAt: pack.createdAt,
    updatedAt: pack.updatedAt,
    ...definitionData(pack),
  };
}

export function packFromJson(row: PackRow): Pack {
  return {
    id: row.id,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    ...definitionOf(row),
  };
}

export interface SubscriptionRow {
  id: string;
  packId: string;
  packVersion: number;
  accountId: string;
  ownerId: string;
  currency: string;
  status: Subscription['status'];
  startedAt: string;
  period: number;
  periodStart: string;
  periodEnd: string;
  feeBasis: string;
  changes: number;
  outstanding: {
    key: string;
    amount: string;
    dueAt: string;
    failures: number;
    firstFailedAt: string | null;
  }[];
  cancelledAt: string | null;
  endsAt: string | null;
}

const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d === null ? null : d.toISOString());
const dateOrNull = (s: string | null) => (s === null ? null : new Date(s));

export function subscriptionToJson(s: Subscription): SubscriptionRow {
  return {
    id: s.id,
    packId: s.packId,
    packVersion: s.packVersion,
    accountId: s.accountId,
    ownerId: s.ownerId,
    currency: s.currency,
    status: s.status,
    startedAt: iso(s.startedAt),
    period: s.period,
    periodStart: iso(s.periodStart),
    periodEnd: iso(s.periodEnd),
    feeBasis: s.feeBasis.toString(),
    changes: s.changes,
    outstanding: s.outstanding.map((c) => ({
      key: c.key,
      amount: c.amount.toString(),
      dueAt: iso(c.dueAt),
      failures: c.failures,
      firstFailedAt: isoOrNull(c.firstFailedAt),
    })),
    cancelledAt: isoOrNull(s.cancelledAt),
    endsAt: isoOrNull(s.endsAt),
  };
}

export function subscriptionFromJson(row: SubscriptionRow): Subscription {
  if (!isCurrency(row.currency)) throw new RangeError(`subscription ${row.id}: currency ${row.currency}`);
  return {
    id: row.id,
    packId: row.packId,
    packVersion: row.packVersion,
    accountId: row.accountId,
    ownerId: row.ownerId,
    currency: row.currency as Currency,
    status: row.status,
    startedAt: new Date(row.startedAt),
    period: row.period,
    periodStart: new Date(row.periodStart),
    periodEnd: new Date(row.periodEnd),
    feeBasis: BigInt(row.feeBasis),
    changes: row.changes,
    outstanding: row.outstanding.map((c) => ({
      key: c.key,
      amount: BigInt(c.amount),
      dueAt: new Date(c.dueAt),
      failures: c.failures,
      firstFailedAt: dateOrNull(c.firstFailedAt),
    })),
    cancelledAt: dateOrNull(row.cancelledAt),
    endsAt: dateOrNull(row.endsAt),
  };
}
