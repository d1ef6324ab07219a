import { z } from 'zod';

/**
 * The ledger's events as the event store holds them (DESIGN.md §4): one zod schema per
 * event type, for the data of account streams (`account-<id>`), transfer streams
 * (`transfer-<id>`) and the ledger's bookkeeping streams (account numbers, a customer's
 * accounts, post/void requests). Every reader of stored ledger events parses them here
 * (parseAccountEvent, parseTransferEvent, parseLedgerEvent) instead of trusting a cast: a
 * corrupt event fails loudly, naming its type and the path of what is wrong.
 *
 * The domain's AccountEvent and TransferEvent are checked against these at compile time
 * (packages/domain/src/ledger/stored-events.ts), so the two cannot drift apart.
 *
 * Amounts are minor units as decimal integer strings (MinorUnits: "125000" is 1250.00 EUR),
 * never JSON numbers. Parsing is on the hot path of every fold and projection batch: the
 * schemas are built once, at import, and compiled (z.compile).
 */

/** The ISO 4217 currencies the bank holds: the keys of the domain's currencyExponents. */
export const ledgerCurrencies = ['CHF', 'DZD', 'EUR', 'GBP', 'JPY', 'KWD', 'MAD', 'TND', 'USD'] as const;

/** Minor units as written into events: a plain decimal integer string (the domain's MinorUnits). */
export const minorUnitsSchema = z
  .string()
  .regex(/^-?(0|[1-9][0-9]*)$/, 'minor units: a decimal integer string');

/**
 * Ids (uuids as the ledger writes them) are checked as non-empty strings only: a uuid
 * pattern on the three ids of a leg makes parsing five times slower, and the read models'
 * uuid columns refuse a malformed one anyway.
 */
const id = z.string().min(1);
const isoTime = z.iso.datetime();
const currency = z.enum(ledgerCurrencies);
const transferCode = z.enum(['transfer', 'deposit', 'withdrawal', 'external', 'fee', 'reversal']);
const legSide = z.enum(['debit', 'credit']);

/** What every leg carries: its account, its transfer, and the transfer's reference. */
const leg = {
  accountId: id,
  transferId: id,
  side: legSide,
  /** The other account of the transfer: the statement line's counterparty. */
  counterpartyAccountId: id,
  code: transferCode,
  /** The transfer's reference, so a statement line is the leg alone. */
  reference: z.string().nullable(),
  at: isoTime,
  /**
   * Debit legs of customer-initiated codes (`transfer`, `external`) only: whom the transfer
   * pays, as the fraud rules key payees (`acct:<id>`, `iban:<IBAN>`), so an account's payee
   * history is a fold of its own stream. Absent on legs written before the rules existed.
   */
  payee: z.string().exactOptional(),
};

export const accountEventSchemas = {
  AccountOpened: z.discriminatedUnion('kind', [
    z.object({
      accountId: id,
      kind: z.literal('customer'),
      accountType: z.enum(['checking', 'savings']),
      ownerId: id,
      currency,
      debitsMustNotExceedCredits: z.literal(true),
      overdraftLimit: minorUnitsSchema,
      openedAt: isoTime,
      /** The number reserved with it, in the same append (customer accounts the application opens). */
      accountNumber: z.string().exactOptional(),
    }),
    z.object({
      accountId: id,
      kind: z.literal('bank'),
      accountType: z.enum(['cash', 'clearing', 'fee-income', 'suspense']),
      ownerId: z.null(),
      currency,
      debitsMustNotExceedCredits: z.literal(false),
      overdraftLimit: z.null(),
      openedAt: isoTime,
    }),
  ]),
  AccountFrozen: z.object({ accountId: id, reason: z.string(), at: isoTime }),
  AccountUnfrozen: z.object({ accountId: id, reason: z.string(), at: isoTime }),
  AccountClosed: z.object({ accountId: id, at: isoTime }),
  AccountLegPending: z.object({ ...leg, amount: minorUnitsSchema }),
  AccountLegPosted: z.object({ ...leg, amount: minorUnitsSchema, releasedPending: minorUnitsSchema }),
  AccountLegReleased: z.object({
    ...leg,
    amount: minorUnitsSchema,
    reason: z.enum(['voided', 'expired', 'returned']),
  }),
} as const;

/** A transfer's request as its first event records it. */
const transferBody = {
  transferId: id,
  debitAccountId: id,
  creditAccountId: id,
  amount: minorUnitsSchema,
  currency,
  code: transferCode,
  reference: z.string().nullable(),
  reversalOf: id.nullable(),
  /** Code `external` only. */
  beneficiary: z.object({ iban: z.string(), name: z.string() }).exactOptional(),
};

/** The fraud and AML rules' ids (the domain's ruleIds), as riskFlags name them. */
export const riskRuleIds = [
  'large_amount',
  'velocity',
  'structuring',
  'new_payee_large',
  'dormant_account',
  'amount_outlier',
  'sanctioned_payee',
] as const;
const ruleId = z.enum(riskRuleIds);

/**
 * What the fraud and AML rules decided about a customer's debit, recorded on the event that
 * created (or refused) it: the settings version they ran under (the API's settings
 * `version`), so the decision replays exactly, and what fired, active or in shadow.
 */
const riskSchema = z.object({
  settingsVersion: z.string(),
  outcome: z.enum(['allow', 'review', 'reject']),
  /** Active rules that fired: the transaction's riskFlags. */
  flags: z.array(ruleId),
  /** Rules in shadow mode that would have fired: recorded, changing nothing. */
  shadow: z.array(ruleId),
  findings: z.array(
    z.object({
      ruleId,
      mode: z.enum(['active', 'shadow']),
      outcome: z.enum(['review', 'reject']),
      figures: z.record(z.string(), z.string()),
    }),
  ),
});

/** Why a transfer is held for a manager: the rules that asked for review, or the cash desk's threshold. */
const reviewReason = z.enum([...riskRuleIds, 'cash_approval_min']);

const recordedRefusalSchema = z.discriminatedUnion('code', [
  z.object({ code: z.literal('same_account') }),
  z.object({ code: z.literal('currency_mismatch'), accountId: id, accountCurrency: currency }),
  z.object({ code: z.literal('account_frozen'), accountId: id }),
  z.object({ code: z.literal('account_closed'), accountId: id }),
  z.object({ code: z.literal('insufficient_funds'), accountId: id, available: minorUnitsSchema }),
  z.object({
    code: z.literal('limit_exceeded'),
    limit: z.enum(['transfer_amount_max', 'daily_debit_max']),
    max: minorUnitsSchema,
    currency,
  }),
  z.object({
    code: z.literal('kyc_required'),
    limit: z.literal('unverified_daily_debit_max'),
    max: minorUnitsSchema,
    currency,
  }),
  z.object({ code: z.literal('approval_required'), max: minorUnitsSchema, currency }),
  /** An active rule whose outcome is reject fired (a watch-list hit): the rules that did. */
  z.object({ code: z.literal('transfer_rejected'), rules: z.array(ruleId) }),
]);

const timeoutSeconds = z.number().int().min(0);

export const transferEventSchemas = {
  TransferPosted: z.object({ ...transferBody, risk: riskSchema.exactOptional(), at: isoTime }),
  TransferPending: z.object({
    ...transferBody,
    timeoutSeconds,
    expiresAt: isoTime.nullable(),
    risk: riskSchema.exactOptional(),
    /**
     * Present: held for review (API status `held_for_review`), funds reserved, until a
     * manager approves or rejects it or `expiresAt` (the review's deadline) passes.
     */
    review: z
      .object({
        reasons: z.array(reviewReason),
        /** Who asked for the money to move: never its reviewer. */
        requestedBy: id,
        /** What was asked: approving a single-phase request posts it. */
        requestedMode: z.enum(['single-phase', 'two-phase']),
      })
      .exactOptional(),
    at: isoTime,
  }),
  PendingTransferPosted: z.object({ transferId: id, amount: minorUnitsSchema, at: isoTime }),
  PendingTransferVoided: z.object({ transferId: id, reason: z.string().nullable(), at: isoTime }),
  PendingTransferExpired: z.object({ transferId: id, at: isoTime }),
  PendingTransferReturned: z.object({ transferId: id, reason: z.string(), at: isoTime }),
  TransferReversed: z.object({ transferId: id, reversalTransferId: id, at: isoTime }),
  TransferRefused: z.object({
    ...transferBody,
    mode: z.enum(['single-phase', 'two-phase']),
    timeoutSeconds,
    rejection: recordedRefusalSchema,
    risk: riskSchema.exactOptional(),
    at: isoTime,
  }),
  /**
   * A manager decided a held transfer. Approved: a PendingTransferPosted follows in the same
   * append, but for an external transfer, which goes on to the clearing rail; rejected: a
   * PendingTransferVoided follows.
   */
  TransferReviewed: z.object({
    transferId: id,
    /** The transfer's code, for whoever acts on an approval (the clearing rail takes `external`). */
    code: transferCode,
    decision: z.enum(['approved', 'rejected']),
    reviewerId: id,
    reason: z.string(),
    at: isoTime,
  }),
} as const;

/** Events of the ledger's own streams that are neither an account's nor a transfer's. */
export const ledgerBookkeepingEventSchemas = {
  /** `account-number-<number>`: the number is reserved for one account. */
  AccountNumberAssigned: z.object({ accountNumber: z.string(), accountId: id }),
  /** `customer-accounts-<userId>`: one per account a customer opens. */
  CustomerAccountAdded: z.object({ userId: id, accountId: id, accountNumber: z.string() }),
  /** `request-<id>`: a post or void request, under its (caller, Idempotency-Key) id. */
  TransferRequestRecorded: z.object({
    requestId: id,
    fingerprint: z.string(),
    transferId: id,
    /** The transfer's stream version the request wrote (a bigint, as decimal text). */
    transferVersion: z.string().regex(/^(0|[1-9][0-9]*)$/, 'a stream version'),
  }),
} as const;

export const ledgerEventSchemas = {
  ...accountEventSchemas,
  ...transferEventSchemas,
  ...ledgerBookkeepingEventSchemas,
} as const;

type Schemas = Record<string, z.ZodType>;
/** One event per variant of its data, so `{ type, data }` narrows as the domain's unions do. */
type EventOf<K, D> = D extends unknown ? { type: K; data: D } : never;
type EventsOf<S extends Schemas> = { [K in keyof S & string]: EventOf<K, z.output<S[K]>> }[keyof S & string];

export type StoredAccountEvent = EventsOf<typeof accountEventSchemas>;
export type StoredTransferEvent = EventsOf<typeof transferEventSchemas>;
export type LedgerBookkeepingEvent = EventsOf<typeof ledgerBookkeepingEventSchemas>;
export type StoredLedgerEvent = EventsOf<typeof ledgerEventSchemas>;
export type StoredLedgerCurrency = (typeof ledgerCurrencies)[number];

/** What the parsers read: a recorded event (stream and position, when given, go into the error). */
export interface StoredEventInput {
  type: string;
  data: unknown;
  streamId?: string;
  globalPosition?: bigint;
}

/**
 * A stored event that is not what the ledger writes: an unknown type where a ledger event
 * belongs, or data of the wrong shape. Events come from the ledger's own writers, so this is
 * a corrupt store (or a writer out of step with this reader), never a user error.
 */
export class CorruptLedgerEvent extends Error {
  override readonly name = 'CorruptLedgerEvent';
  constructor(
    readonly eventType: string,
    /** Where in the event: `type`, or `data.<path>` of the first problem. */
    readonly path: string,
    readonly problem: string,
    readonly streamId: string | undefined,
    readonly globalPosition: bigint | undefined,
  ) {
    const where =
      streamId === undefined
        ? ''
        : ` (stream ${streamId}${globalPosition === undefined ? '' : ` at position ${globalPosition}`})`;
    super(`corrupt ${eventType} event${where}: ${path}: ${problem}`);
  }
}

function pathText(path: readonly PropertyKey[]): string {
  let text = 'data';
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  return text;
}

/** The parser of one family: compiled schemas by type, looked up in a Map (never the prototype). */
function parserOf<S extends Schemas>(family: string, schemas: S) {
  const compiled = new Map<string, z.ZodType>(
    Object.entries(schemas).map(([type, schema]) => [type, z.compile(schema)]),
  );
  return (event: StoredEventInput): EventsOf<S> => {
    const schema = compiled.get(event.type);
    if (schema === undefined) {
      throw new CorruptLedgerEvent(event.type, 'type', `not ${family}`, event.streamId, event.globalPosition);
    }
    const parsed = schema.safeParse(event.data);
    if (!parsed.success) {
      const [issue] = parsed.error.issues;
      throw new CorruptLedgerEvent(
        event.type,
        pathText(issue?.path ?? []),
        issue?.message ?? 'invalid',
        event.streamId,
        event.globalPosition,
      );
    }
    return { type: event.type, data: parsed.data } as EventsOf<S>;
  };
}

/** An account stream's event, checked against its type's schema; throws CorruptLedgerEvent. */
export const parseAccountEvent: (event: StoredEventInput) => StoredAccountEvent = parserOf(
  'an account event',
  accountEventSchemas,
);

/** A transfer stream's event, checked against its type's schema; throws CorruptLedgerEvent. */
export const parseTransferEvent: (event: StoredEventInput) => StoredTransferEvent = parserOf(
  'a transfer event',
  transferEventSchemas,
);

/** Any event of the ledger's streams (accounts, transfers, bookkeeping); throws CorruptLedgerEvent. */
export const parseLedgerEvent: (event: StoredEventInput) => StoredLedgerEvent = parserOf(
  'a ledger event',
  ledgerEventSchemas,
);

const accountTypes: ReadonlySet<string> = new Set(Object.keys(accountEventSchemas));
const transferTypes: ReadonlySet<string> = new Set(Object.keys(transferEventSchemas));
const ledgerTypes: ReadonlySet<string> = new Set(Object.keys(ledgerEventSchemas));

/** True for the type names parseAccountEvent takes (to pick events out of $all before parsing). */
export const isAccountEventType = (type: string): type is StoredAccountEvent['type'] =>
  accountTypes.has(type);
export const isTransferEventType = (type: string): type is StoredTransferEvent['type'] =>
  transferTypes.has(type);
export const isLedgerEventType = (type: string): type is StoredLedgerEvent['type'] => ledgerTypes.has(type);
