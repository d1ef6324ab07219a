import {
  type PackBody,
  type PackEvent,
  packEventSchemaVersion,
  packStreamId,
  parsePackEvent,
  type Role,
} from '@ledger/contracts';
import { type AmountError, isCurrency, parseAmount } from '@ledger/domain/ledger';
import {
  decidePack,
  evolvePack,
  initialPackState,
  type Pack,
  type PackBenefits,
  type PackDefinition,
  type PackRejection,
  type PackState,
} from '@ledger/domain/packs';
import type { EventMetadata, EventStore } from '@ledger/eventstore';
import { type Aggregate, handleCommand, loadStream } from '../command-handler.js';
import { uuidv5 } from '../ledger/ids.js';

/**
 * The pack catalog over the store: `pack-<id>` streams of PackCreated/PackChanged, each
 * holding the whole definition. Managers and directors define packs; anyone reads them
 * (the packs read model lists them).
 */

type CatalogEvent = Extract<PackEvent, { type: 'PackCreated' | 'PackChanged' }>;

export const packAggregate: Aggregate<PackState, CatalogEvent> = {
  initialState: initialPackState,
  evolve: evolvePack,
  parse: (type, data) => {
    const event = parsePackEvent(type, data);
    if (event.type !== 'PackCreated' && event.type !== 'PackChanged') {
      throw new RangeError(`${type} is not a catalog event`);
    }
    return event;
  },
  schemaVersion: packEventSchemaVersion,
};

/** The pack as its stream holds it now (null: no such pack). */
export async function loadPack(store: EventStore, packId: string): Promise<Pack | null> {
  const { state } = await loadStream(store, packStreamId(packId), packAggregate);
  return state.status === 'defined' ? state.pack : null;
}

/** A field of a pack body that is not what it must be: a 400 naming it. */
export interface PackFieldError {
  path: string;
  message: string;
}

const amountMessages: Record<AmountError, string> = {
  not_a_string: 'must be a decimal string, e.g. "12.50"',
  unsupported_currency: 'the currency is not one the bank holds',
  malformed: 'must be a plain decimal string, e.g. "12.50"',
  negative: 'must not be negative',
  zero: 'must be greater than zero',
  too_many_decimals: "has more decimals than the currency's exponent",
  too_large: 'is too large',
};

/**
 * The HTTP body (already through its zod schema) as a domain definition: each amount
 * parsed in the pack's currency. A monthly fee may be "0" (a free pack); limits are > 0.
 */
export function packDefinitionFrom(
  body: PackBody,
): { ok: true; definition: PackDefinition } | { ok: false; errors: PackFieldError[] } {
  const errors: PackFieldError[] = [];
  if (!isCurrency(body.currency)) {
    return { ok: false, errors: [{ path: 'currency', message: 'is not a currency the bank holds' }] };
  }
  const currency = body.currency;
  const amount = (text: string, path: string, zeroAllowed: boolean): bigint | undefined => {
    const parsed = parseAmount(text, currency);
    if (parsed.ok) return parsed.amount;
    // "0" and "0.00" are well-formed: refused only where an amount must be > 0.
    if (zeroAllowed && parsed.reason === 'zero') return 0n;
    errors.push({ path, message: amountMessages[parsed.reason] });
    return undefined;
  };
  const monthlyFee = amount(body.monthlyFee, 'monthlyFee', true);
  const benefits: PackBenefits = {};
  const b = body.benefits;
  if (b.transferAmountMax !== undefined) {
    const value = amount(b.transferAmountMax, 'benefits.transferAmountMax', false);
    if (value !== undefined) benefits.transferAmountMax = value;
  }
  if (b.dailyDebitMax !== undefined) {
    const value = amount(b.dailyDebitMax, 'benefits.dailyDebitMax', false);
    if (value !== undefined) benefits.dailyDebitMax = value;
  }
  if (b.overdraftLimit !== undefined) {
    const value = amount(b.overdraftLimit, 'benefits.overdraftLimit', true);
    if (value !== undefined) benefits.overdraftLimit = value;
  }
  if (b.freeExternalTransfers !== undefined) benefits.freeExternalTransfers = b.freeExternalTransfers;
  if (b.feeWaivers !== undefined) benefits.feeWaivers = [...new Set(b.feeWaivers)].sort();
  if (errors.length > 0 || monthlyFee === undefined) return { ok: false, errors };
  return {
    ok: true,
    definition: {
      name: body.name,
      description: body.description,
      monthlyFee,
      currency,
      benefits,
      status: body.status,
    },
  };
}

/** Who defines packs (API.md, Packs: manager+). */
const catalogRoles: readonly Role[] = ['manager', 'director'];

export type PackOutcome =
  | { ok: true; pack: Pack; position: bigint | null }
  | { ok: false; rejection: PackRejection | 'forbidden' }
  | { ok: false; rejection: 'invalid_pack'; errors: PackFieldError[] };

export interface CatalogCaller {
  userId: string;
  role: Role;
  metadata: EventMetadata;
  now: Date;
}

async function runPackCommand(
  store: EventStore,
  packId: string,
  decide: (state: PackState) => ReturnType<typeof decidePack>,
  metadata: EventMetadata,
): Promise<PackOutcome> {
  const result = await handleCommand({
    store,
    streamId: packStreamId(packId),
    aggregate: packAggregate,
    decide,
    metadata,
  });
  if (result.rejection !== undefined) return { ok: false, rejection: result.rejection };
  if (result.state.status !== 'defined') return { ok: false, rejection: 'pack_not_found' };
  return { ok: true, pack: result.state.pack, position: result.position };
}

/** POST /api/packs: a new pack (draft unless the body says otherwise), manager+. */
export function createPack(
  store: EventStore,
  caller: CatalogCaller,
  request: { packId: string; body: PackBody },
): Promise<PackOutcome> {
  return definePack(store, caller, request, 'CreatePack');
}

/** PUT /api/packs/:id: the whole definition replaced, manager+. */
export function changePack(
  store: EventStore,
  caller: CatalogCaller,
  request: { packId: string; body: PackBody },
): Promise<PackOutcome> {
  return definePack(store, caller, request, 'ChangePack');
}

/** A pack's whole definition, checked once for both: the role, the amounts, then the decider. */
async function definePack(
  store: EventStore,
  caller: CatalogCaller,
  request: { packId: string; body: PackBody },
  type: 'CreatePack' | 'ChangePack',
): Promise<PackOutcome> {
  if (!catalogRoles.includes(caller.role)) return { ok: false, rejection: 'forbidden' };
  const parsed = packDefinitionFrom(request.body);
  if (!parsed.ok) return { ok: false, rejection: 'invalid_pack', errors: parsed.errors };
  const common = { definition: parsed.definition, by: caller.userId, now: caller.now };
  return runPackCommand(
    store,
    request.packId,
    (state) =>
      decidePack(
        type === 'CreatePack' ? { type, packId: request.packId, ...common } : { type, ...common },
        state,
      ),
    caller.metadata,
  );
}

/** Fixed namespace of the seeded packs' ids (one id per seeded name). */
const seededPackNamespace = '3d5c1f0a-8b2e-5c4d-9e6f-7a8b9c0d1e2f';

/** The seeded pack of a name: its fixed id. */
export const seededPackId = (name: string) => uuidv5(seededPackNamespace, name);

/**
 * The catalog the embedded default starts with: a realistic retail range in EUR. Seeding is
 * idempotent (fixed ids, created only where the stream does not exist), so every start may
 * call it; a pack a manager has since changed is left as it is.
 */
export const seedCatalog: readonly PackBody[] = [
  {
    name: 'Essential',
    description: 'A current account with a debit card and the standard limits.',
    monthlyFee: '2.00',
    currency: 'EUR',
    benefits: {},
    status: 'active',
  },
  {
    name: 'Premium',
    description: 'Higher transfer limits, free external transfers and a premium card.',
    monthlyFee: '12.90',
    currency: 'EUR',
    benefits: { transferAmountMax: '25000.00', dailyDebitMax: '50000.00', freeExternalTransfers: 20 },
    status: 'active',
  },
  {
    name: 'Youth',
    description: 'For customers under 26: the first month free, then a small fee.',
    monthlyFee: '1.00',
    currency: 'EUR',
    benefits: { feeWaivers: ['first_period'] },
    status: 'active',
  },
  {
    name: 'Business',
    description: 'For sole traders: the highest limits and many free external transfers.',
    monthlyFee: '25.00',
    currency: 'EUR',
    benefits: { transferAmountMax: '100000.00', dailyDebitMax: '250000.00', freeExternalTransfers: 200 },
    status: 'active',
  },
];

export async function seedPackCatalog(store: EventStore, now: Date): Promise<void> {
  for (const body of seedCatalog) {
    const parsed = packDefinitionFrom(body);
    if (!parsed.ok) throw new Error(`seeded pack ${body.name}: ${JSON.stringify(parsed.errors)}`);
    const packId = seededPackId(body.name);
    await handleCommand({
      store,
      streamId: packStreamId(packId),
      aggregate: packAggregate,
      // Seeded once: a pack that exists (perhaps changed since) is left alone.
      decide: (state) =>
        state.status === 'none'
          ? decidePack({ type: 'CreatePack', packId, definition: parsed.definition, by: null, now }, state)
          : { events: [] },
      metadata: { actorId: 'seed' },
    });
  }
}
