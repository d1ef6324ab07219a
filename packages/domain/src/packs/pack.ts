import type { FeeWaiver, PackEvent, PackStatus } from '@ledger/contracts';
import { type Currency, fromMinorUnits, isCurrency, toMinorUnits } from '../ledger/money.js';

/**
 * The pack catalog (`pack-<id>`): a pack is its whole definition, versioned (1 when created,
 * +1 per change). Benefits are read by the rest of the bank: the transfer use cases take
 * the limits of the debit account's pack; the fee schedule its fee and waivers.
 */

export interface PackBenefits {
  /** Per transfer, minor units of the pack's currency: replaces a lower settings' limit. */
  transferAmountMax?: bigint;
  /** Per UTC day, minor units: replaces a lower settings' limit. */
  dailyDebitMax?: bigint;
  /** External transfers a month without the external transfer fee (no such fee is charged yet). */
  freeExternalTransfers?: number;
  /** Recorded in the catalog; not applied by the ledger yet (see docs/design.md, Packs). */
  overdraftLimit?: bigint;
  feeWaivers?: FeeWaiver[];
}

export interface PackDefinition {
  name: string;
  description: string;
  /** Minor units; 0 is a free pack. */
  monthlyFee: bigint;
  currency: Currency;
  benefits: PackBenefits;
  status: PackStatus;
}

export interface Pack extends PackDefinition {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export type PackState = { status: 'none' } | { status: 'defined'; pack: Pack };

export const initialPackState = (): PackState => ({ status: 'none' });

type PackDefinitionData = Extract<PackEvent, { type: 'PackCreated' }>['data'];

const minorOrUndefined = (text: string | undefined) =>
  text === undefined ? undefined : fromMinorUnits(text);

/** An event's definition back into the domain's (a malformed one is a corrupt store). */
export function definitionOf(data: Omit<PackDefinitionData, 'packId' | 'by' | 'at'>): PackDefinition {
  if (!isCurrency(data.currency))
    throw new RangeError(`pack currency ${data.currency} is not one the bank holds`);
  const b = data.benefits;
  const benefits: PackBenefits = {};
  const transferAmountMax = minorOrUndefined(b.transferAmountMax);
  if (transferAmountMax !== undefined) benefits.transferAmountMax = transferAmountMax;
  const dailyDebitMax = minorOrUndefined(b.dailyDebitMax);
  if (dailyDebitMax !== undefined) benefits.dailyDebitMax = dailyDebitMax;
  if (b.freeExternalTransfers !== undefined) benefits.freeExternalTransfers = b.freeExternalTransfers;
  const overdraftLimit = minorOrUndefined(b.overdraftLimit);
  if (overdraftLimit !== undefined) benefits.overdraftLimit = overdraftLimit;
  if (b.feeWaivers !== undefined) benefits.feeWaivers = [...b.feeWaivers];
  return {
    name: data.name,
    description: data.description,
    monthlyFee: fromMinorUnits(data.monthlyFee),
    currency: data.currency,
    benefits,
    status: data.status,
  };
}

/** The domain's definition as an event stores it. */
export function definitionData(definition: PackDefinition): Omit<PackDefinitionData, 'packId' | 'by' | 'at'> {
  const b = definition.benefits;
  return {
    name: definition.name,
    description: definition.description,
    monthlyFee: toMinorUnits(definition.monthlyFee),
    currency: definition.currency,
    benefits: {
      ...(b.transferAmountMax === undefined ? {} : { transferAmountMax: toMinorUnits(b.transferAmountMax) }),
      ...(b.dailyDebitMax === undefined ? {} : { dailyDebitMax: toMinorUnits(b.dailyDebitMax) }),
      ...(b.freeExternalTransfers === undefined ? {} : { freeExternalTransfers: b.freeExternalTransfers }),
      ...(b.overdraftLimit === undefined ? {} : { overdraftLimit: toMinorUnits(b.overdraftLimit) }),
      ...(b.feeWaivers === undefined ? {} : { feeWaivers: [...b.feeWaivers] }),
    },
    status: definition.status,
  };
}

type CatalogEvent = Extract<PackEvent, { type: 'PackCreated' | 'PackChanged' }>;

export function evolvePack(state: PackState, event: CatalogEvent): PackState {
  const definition = definitionOf(event.data);
  if (event.type === 'PackCreated') {
    return {
      status: 'defined',
      pack: {
        id: event.data.packId,
        version: 1,
        ...definition,
        createdAt: event.data.at,
        updatedAt: event.data.at,
      },
    };
  }
  if (state.status === 'none') throw new Error(`PackChanged before PackCreated in pack ${event.data.packId}`);
  return {
    status: 'defined',
    pack: { ...state.pack, ...definition, version: state.pack.version + 1, updatedAt: event.data.at },
  };
}

export type PackRejection =
  | 'pack_exists'
  | 'pack_not_found'
  /** A retired pack stays retired: it takes no new subscription and is not reactivated. */
  | 'pack_retired'
  /** Once a pack has left draft its currency is fixed: its subscriptions are charged in it. */
  | 'pack_currency_fixed';

export type PackCommand =
  | { type: 'CreatePack'; packId: string; definition: PackDefinition; by: string | null; now: Date }
  | { type: 'ChangePack'; definition: PackDefinition; by: string | null; now: Date };

export interface PackDecision {
  events: CatalogEvent[];
  rejection?: PackRejection;
}

const sameDefinition = (a: PackDefinition, b: PackDefinition) =>
  JSON.stringify(definitionData(a)) === JSON.stringify(definitionData(b));

export function decidePack(command: PackCommand, state: PackState): PackDecision {
  const at = command.now.toISOString();
  if (command.type === 'CreatePack') {
    if (state.status !== 'none') {
      // The same definition again is a retry of the same creation: nothing to do.
      return sameDefinition(state.pack, command.definition)
        ? { events: [] }
        : { events: [], rejection: 'pack_exists' };
    }
    return {
      events: [
        {
          type: 'PackCreated',
          data: { packId: command.packId, ...definitionData(command.definition), by: command.by, at },
        },
      ],
    };
  }
  if (state.status === 'none') return { events: [], rejection: 'pack_not_found' };
  const { pack } = state;
  if (pack.status === 'retired' && command.definition.status !== 'retired') {
    return { events: [], rejection: 'pack_retired' };
  }
  if (pack.status !== 'draft' && command.definition.currency !== pack.currency) {
    return { events: [], rejection: 'pack_currency_fixed' };
  }
  if (sameDefinition(pack, command.definition)) return { events: [] };
  return {
    events: [
      {
        type: 'PackChanged',
        data: { packId: pack.id, ...definitionData(command.definition), by: command.by, at },
      },
    ],
  };
}

/** The fee a period of this pack costs: its monthly fee, or 0 when a waiver applies. */
export function periodFeeOf(pack: PackDefinition, period: number): { fee: bigint; waiver: FeeWaiver | null } {
  if (period === 0 && pack.benefits.feeWaivers?.includes('first_period'))
    return { fee: 0n, waiver: 'first_period' };
  return { fee: pack.monthlyFee, waiver: null };
}
