import { type PackEvent, parsePackEvent } from '@ledger/contracts';
import {
  evolvePack,
  evolveSubscription,
  initialPackState,
  initialSubscriptionState,
  nextFeeAt,
  type PackState,
  type SubscriptionState,
} from '@ledger/domain/packs';
import { migrateSchema, type Projection } from '@ledger/readmodel';
import type { Kysely } from 'kysely';
import { packsMigrations } from './migrations.js';
import type { PacksDatabase } from './schema.js';
import { packFromJson, packToJson, subscriptionFromJson, subscriptionToJson } from './state.js';

export const packsProjectionHandles = [
  'PackCreated',
  'PackChanged',
  'SubscriptionStarted',
  'SubscriptionPeriodStarted',
  'SubscriptionPackChanged',
  'SubscriptionChargePaid',
  'SubscriptionChargeFailed',
  'SubscriptionSuspended',
  'SubscriptionCancelled',
] as const;

type CatalogEvent = Extract<PackEvent, { type: 'PackCreated' | 'PackChanged' }>;
type SubscriptionEvent = Parameters<typeof evolveSubscription>[1];

/**
 * The catalog (GET /api/packs), subscriptions (GET /api/subscriptions) and the fee
 * scheduler's queue (dueSubscriptionIds): each row folded with the domain's evolve, its
 * next fee time the domain's nextFeeAt. Commands never read it: they fold the streams.
 */
export const packsProjection: Projection = {
  name: 'packs',
  version: 1,
  schema: 'packs',
  handles: packsProjectionHandles,
  migrate: (db, schema) => migrateSchema(db, schema, packsMigrations),
  async apply(tx, recorded) {
    const db = tx as Kysely<PacksDatabase>;
    const position = recorded.globalPosition.toString();
    const event = parsePackEvent(recorded.type, recorded.data);
    if (event.type === 'PackCreated' || event.type === 'PackChanged') {
      const row = await db
        .selectFrom('packs')
        .select('state')
        .where('id', '=', event.data.packId)
        .executeTakeFirst();
      const before: PackState =
        row === undefined ? initialPackState() : { status: 'defined', pack: packFromJson(row.state) };
      const after = evolvePack(before, event as CatalogEvent);
      if (after.status !== 'defined')
        throw new Error(`pack ${event.data.packId} not defined after ${event.type}`);
      const { pack } = after;
      const state = JSON.stringify(packToJson(pack));
      if (row === undefined) {
        await db
          .insertInto('packs')
          .values({
            id: pack.id,
            seq: position,
            status: pack.status,
            currency: pack.currency,
            version: pack.version,
            state,
            position,
          })
          .execute();
      } else {
        await db
          .updateTable('packs')
          .set({ status: pack.status, currency: pack.currency, version: pack.version, state, position })
          .where('id', '=', pack.id)
          .execute();
      }
      return;
    }
    if (event.type === 'AccountPackTaken' || event.type === 'AccountPackReleased') return;
    const subscriptionId = event.data.subscriptionId;
    const row = await db
      .selectFrom('subscriptions')
      .select('state')
      .where('id', '=', subscriptionId)
      .executeTakeFirst();
    const before: SubscriptionState =
      row === undefined
        ? initialSubscriptionState()
        : { status: 'exists', subscription: subscriptionFromJson(row.state) };
    const after = evolveSubscription(before, event as SubscriptionEvent);
    if (after.status !== 'exists')
      throw new Error(`subscription ${subscriptionId} missing after ${event.type}`);
    const s = after.subscription;
    const next = nextFeeAt(s);
    const columns = {
      pack_id: s.packId,
      status: s.status,
      next_fee_at: next === null ? null : next.toISOString(),
      state: JSON.stringify(subscriptionToJson(s)),
      position,
    };
    if (row === undefined) {
      await db
        .insertInto('subscriptions')
        .values({ id: s.id, seq: position, user_id: s.ownerId, account_id: s.accountId, ...columns })
        .execute();
    } else {
      await db.updateTable('subscriptions').set(columns).where('id', '=', s.id).execute();
    }
  },
};
