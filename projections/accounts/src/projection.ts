import {
  accountEventTypes,
  CorruptLedgerEvent,
  fromMinorUnits,
  type LegSide,
  parseAccountEvent,
  parseTransferEvent,
  transferEventTypes,
} from '@ledger/domain/ledger';
import type { RecordedEvent } from '@ledger/eventstore';
import { insertRows, migrateSchema, type Projection } from '@ledger/readmodel';
import { type Insertable, type Kysely, sql } from 'kysely';
import { accountsMigrations, transactionsMigrations } from './migrations.js';
import type {
  AccountsDatabase,
  AccountsTable,
  StatementLinesTable,
  TransactionsDatabase,
  TransactionsTable,
} from './schema.js';

/** Every account event: a leg carries all its statement line needs (its transfer's reference too). */
export const accountsProjectionHandles = accountEventTypes;

/**
 * Every transfer event but TransferRefused. A refused create is recorded only so that its
 * Idempotency-Key answers the same 422 again: it moved nothing (no leg, so the accounts
 * model never sees it either), and listing it would show the payee a payment they were
 * never sent (and, by when it came, something of the payer's balance), since a list is by
 * either party's account. The audit log keeps every refusal.
 */
/**
 * A manager's decision on a transfer held for review (issue #17). Named here as a string, and
 * read here (reviewedOf), so the model takes it whether or not the domain's list of transfer
 * events names it yet.
 */
const transferReviewed = 'TransferReviewed';

export const transactionsProjectionHandles: readonly string[] = [
  ...new Set<string>([...transferEventTypes.filter((type) => type !== 'TransferRefused'), transferReviewed]),
];

/** SQL types of each table's columns, for insertRows (every row gives every column). */
const accountColumns = {
  id: 'uuid',
  seq: 'bigint',
  account_number: 'text',
  user_id: 'uuid',
  kind: 'text',
  type: 'text',
  currency: 'text',
  created_at: 'timestamptz',
  status: 'text',
  debits_posted: 'numeric',
  credits_posted: 'numeric',
  debits_pending: 'numeric',
  credits_pending: 'numeric',
  position: 'bigint',
} as const;
const statementLineColumns = {
  position: 'bigint',
  account_id: 'uuid',
  transaction_id: 'uuid',
  posted_at: 'timestamptz',
  direction: 'text',
  amount: 'numeric',
  balance_after: 'numeric',
  counterparty: 'uuid',
  reference: 'text',
  code: 'text',
} as const;
const transactionColumns = {
  id: 'uuid',
  type: 'text',
  from_account_id: 'uuid',
  to_account_id: 'uuid',
  amount: 'numeric',
  currency: 'text',
  reference: 'text',
  reversal_of: 'uuid',
  beneficiary_iban: 'text',
  beneficiary_name: 'text',
  created_at: 'timestamptz',
  position: 'bigint',
  status: 'text',
  posted_amount: 'numeric',
  reversed_by: 'uuid',
  reviewed_by: 'text',
  review_decision: 'text',
  review_reason: 'text',
  reviewed_at: 'timestamptz',
  updated_position: 'bigint',
} as const;

/** Map key of a uuid: PostgreSQL reads uuids in any case, so the batch's maps must too. */
const uuidKey = (id: string) => id.toLowerCase();

/** An account as a batch folds into it: totals in bigint, never through a JS number. */
interface AccountDraft {
  /** The columns an AccountOpened of this batch sets once: the row is inserted, not updated. */
  opened: Omit<
    Insertable<AccountsTable>,
    'status' | `${'debits' | 'credits'}_${'posted' | 'pending'}` | 'position'
  > | null;
  status: string;
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  /** Position of the last event that changed the row; '' while unchanged (not written). */
  position: string;
}

function addPending(account: AccountDraft, side: LegSide, amount: bigint): void {
  if (side === 'debit') account.debitsPending += amount;
  else account.creditsPending += amount;
}

function addPosted(account: AccountDraft, side: LegSide, amount: bigint): void {
  if (side === 'debit') account.debitsPosted += amount;
  else account.creditsPosted += amount;
}

/**
 * Applies a batch of accounts events with a fixed number of statements: it reads the accounts
 * the batch builds on once, folds the events in position order in memory (running balances
 * need that order), then writes each table with multi-row statements. The result is that of
 * applying the events one by one (see the comments on each case); the rebuild-and-compare
 * tests hold it to that. A statement line is its leg alone: the leg repeats its transfer's
 * reference, so no line waits for (or is patched by) a transfer event.
 */
async function applyAccounts(tx: Kysely<any>, batch: readonly RecordedEvent[]): Promise<void> {
  const db = tx as Kysely<AccountsDatabase>;
  const events = batch.map((recorded) => ({
    position: recorded.globalPosition.toString(),
    event: parseAccountEvent(recorded),
  }));

  // What the batch builds on: accounts opened before it.
  const accountIds = new Set<string>();
  for (const { event } of events) {
    if (event.type !== 'AccountOpened') accountIds.add(event.data.accountId);
  }
  const accounts = new Map<string, AccountDraft>();
  if (accountIds.size > 0) {
    const rows = await db
      .selectFrom('accounts')
      .select([
        sql<string>`id::text`.as('id'),
        'status',
        sql<string>`debits_posted::text`.as('debits_posted'),
        sql<string>`credits_posted::text`.as('credits_posted'),
        sql<string>`debits_pending::text`.as('debits_pending'),
        sql<string>`credits_pending::text`.as('credits_pending'),
      ])
      .where('id', '=', sql<string>`any(${[...accountIds]}::uuid[])`)
      .execute();
    for (const row of rows) {
      accounts.set(uuidKey(row.id), {
        opened: null,
        status: row.status,
        debitsPosted: BigInt(row.debits_posted),
        creditsPosted: BigInt(row.credits_posted),
        debitsPending: BigInt(row.debits_pending),
        creditsPending: BigInt(row.credits_pending),
        position: '',
      });
    }
  }
  const lines: Insertable<StatementLinesTable>[] = [];
  const accountOf = (type: string, accountId: string, position: string): AccountDraft => {
    const account = accounts.get(uuidKey(accountId));
    if (account === undefined) throw new Error(`${type} for unknown account ${accountId}`);
    account.position = position;
    return account;
  };

  for (const { event, position } of events) {
    switch (event.type) {
      case 'AccountOpened': {
        const d = event.data;
        const key = uuidKey(d.accountId);
        // As the plain INSERT of one event would: opening an account twice is a broken store.
        if (accounts.has(key)) throw new Error(`AccountOpened for an account that exists: ${d.accountId}`);
        accounts.set(key, {
          opened: {
            id: d.accountId,
            seq: position,
            account_number: d.kind === 'customer' ? (d.accountNumber ?? null) : null,
            user_id: d.ownerId,
            kind: d.kind,
            type: d.accountType,
            currency: d.currency,
            created_at: d.openedAt,
          },
          status: 'active',
          debitsPosted: 0n,
          creditsPosted: 0n,
          debitsPending: 0n,
          creditsPending: 0n,
          position,
        });
        break;
      }
      case 'AccountFrozen':
        accountOf(event.type, event.data.accountId, position).status = 'frozen';
        break;
      case 'AccountUnfrozen':
        accountOf(event.type, event.data.accountId, position).status = 'active';
        break;
      case 'AccountClosed':
        accountOf(event.type, event.data.accountId, position).status = 'closed';
        break;
      case 'AccountLegPending':
        addPending(
          accountOf(event.type, event.data.accountId, position),
          event.data.side,
          fromMinorUnits(event.data.amount),
        );
        break;
      case 'AccountLegReleased':
        addPending(
          accountOf(event.type, event.data.accountId, position),
          event.data.side,
          -fromMinorUnits(event.data.amount),
        );
        break;
      case 'AccountLegPosted': {
        const d = event.data;
        const account = accountOf(event.type, d.accountId, position);
        addPosted(account, d.side, fromMinorUnits(d.amount));
        addPending(account, d.side, -fromMinorUnits(d.releasedPending));
        lines.push({
          position,
          account_id: d.accountId,
          transaction_id: d.transferId,
          posted_at: d.at,
          direction: d.side,
          amount: d.amount,
          // The balance right after this leg: the order of the batch's legs matters here.
          balance_after: (account.creditsPosted - account.debitsPosted).toString(),
          counterparty: d.counterpartyAccountId,
          reference: d.reference,
          code: d.code,
        });
        break;
      }
      default: {
        const unexpected: never = event;
        throw new Error(`accounts projection does not handle ${(unexpected as { type: string }).type}`);
      }
    }
  }

  const changed = [...accounts].filter(([, account]) => account.position !== '');
  const totals = (account: AccountDraft) => ({
    status: account.status,
    debits_posted: account.debitsPosted.toString(),
    credits_posted: account.creditsPosted.toString(),
    debits_pending: account.debitsPending.toString(),
    credits_pending: account.creditsPending.toString(),
    position: account.position,
  });
  await insertRows(
    db,
    'accounts',
    accountColumns,
    changed.flatMap(([, account]) => (account.opened ? [{ ...account.opened, ...totals(account) }] : [])),
  );
  const updated = changed.filter(([, account]) => account.opened === null);
  if (updated.length > 0) {
    // One UPDATE for every account the batch changed: arrays unnested into rows, so the
    // statement has 7 parameters whatever the batch size.
    const ids = updated.map(([id]) => id);
    const rows = updated.map(([, account]) => totals(account));
    const column = <K extends keyof ReturnType<typeof totals>>(name: K) => rows.map((row) => row[name]);
    const v = sql<{
      id: string;
      status: string;
      debits_posted: string;
      credits_posted: string;
      debits_pending: string;
      credits_pending: string;
      position: string;
    }>`unnest(${ids}::uuid[], ${column('status')}::text[], ${column('debits_posted')}::numeric[],
      ${column('credits_posted')}::numeric[], ${column('debits_pending')}::numeric[],
      ${column('credits_pending')}::numeric[], ${column('position')}::bigint[])`.as<'v'>(
      sql`v(id, status, debits_posted, credits_posted, debits_pending, credits_pending, position)`,
    );
    await db
      .updateTable('accounts')
      .from(v)
      .set((eb) => ({
        status: eb.ref('v.status'),
        debits_posted: eb.ref('v.debits_posted'),
        credits_posted: eb.ref('v.credits_posted'),
        debits_pending: eb.ref('v.debits_pending'),
        credits_pending: eb.ref('v.credits_pending'),
        position: eb.ref('v.position'),
      }))
      .whereRef('accounts.id', '=', 'v.id')
      .execute();
  }
  await insertRows(db, 'statement_lines', statementLineColumns, lines);
}

/**
 * Accounts and their statement lines (GET /api/accounts…). Totals are numeric minor units,
 * folded in bigint (never a JS number). A statement line is one posted leg, with the balance
 * right after it. Commands never read this model.
 */
export const accountsProjection: Projection = {
  name: 'accounts',
  version: 1,
  schema: 'accounts',
  handles: accountsProjectionHandles,
  migrate: (db, schema) => migrateSchema(db, schema, accountsMigrations),
  apply: (tx, event) => applyAccounts(tx, [event]),
  applyBatch: applyAccounts,
};

type TransferStatusColumns =
  | 'status'
  | 'posted_amount'
  | 'reversed_by'
  | 'reviewed_by'
  | 'review_decision'
  | 'review_reason'
  | 'reviewed_at'
  | 'updated_position';

/** A manager's decision on a held transfer, as its row records it. */
interface ReviewColumns {
  reviewedBy: string;
  decision: string;
  reason: string;
  at: string;
}

/** A transfer as a batch folds into it. */
interface TransferDraft {
  /** The columns its TransferPosted/TransferPending of this batch set: inserted, not updated. */
  created: Omit<Insertable<TransactionsTable>, TransferStatusColumns> | null;
  /** The rules that fired, for a transfer created in this batch (risk_flags; [] for none). */
  riskFlags: string[];
  status: string;
  postedAmount: string | null;
  reversedBy: string | null;
  review: ReviewColumns | null;
  /** '' while unchanged (not written). */
  updatedPosition: string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The active rules that fired (`risk.flags`) of a TransferPosted or TransferPending, read off
 * the stored data itself: events written before the rules existed have no `risk`, and a
 * parser that does not know the field yet would drop it. Anything but a list of rule ids is
 * no flag.
 */
function riskFlagsOf(data: unknown): string[] {
  const risk = isObject(data) ? data.risk : undefined;
  const flags = isObject(risk) ? risk.flags : undefined;
  if (!Array.isArray(flags)) return [];
  return [...new Set(flags.filter((flag): flag is string => typeof flag === 'string' && flag !== ''))];
}

/** A TransferPending with `review` is held for review (read off the stored data, as riskFlagsOf). */
const isHeldForReview = (data: unknown): boolean => isObject(data) && isObject(data.review);

/** A TransferReviewed's data, checked field by field; a malformed one is a corrupt store. */
function reviewedOf(recorded: RecordedEvent): { transferId: string } & ReviewColumns {
  const corrupt = (path: string, problem: string) =>
    new CorruptLedgerEvent(recorded.type, path, problem, recorded.streamId, recorded.globalPosition);
  const data = recorded.data;
  if (!isObject(data)) throw corrupt('data', 'not an object');
  const text = (key: string): string => {
    const value = data[key];
    if (typeof value !== 'string' || value === '') throw corrupt(`data.${key}`, 'a non-empty string');
    return value;
  };
  const transferId = text('transferId');
  const decision = text('decision');
  if (decision !== 'approved' && decision !== 'rejected') {
    throw corrupt('data.decision', 'approved or rejected');
  }
  const reviewerId = text('reviewerId');
  const reason = data.reason;
  if (typeof reason !== 'string') throw corrupt('data.reason', 'a string');
  const at = text('at');
  if (Number.isNaN(Date.parse(at))) throw corrupt('data.at', 'an ISO 8601 time');
  return { transferId, reviewedBy: reviewerId, decision, reason, at };
}

type TransactionsEvent =
  | { position: string; recorded: RecordedEvent; event: ReturnType<typeof parseTransferEvent> }
  | { position: string; recorded: RecordedEvent; reviewed: { transferId: string } & ReviewColumns };

/**
 * Applies a batch of transfer events: new transfers in one INSERT (and their risk flags in
 * one UPDATE, when some have any), status changes in one UPDATE.
 */
async function applyTransactions(tx: Kysely<any>, batch: readonly RecordedEvent[]): Promise<void> {
  const db = tx as Kysely<TransactionsDatabase>;
  const events = batch.map((recorded): TransactionsEvent => {
    const position = recorded.globalPosition.toString();
    // By name, before the parser: whether or not it knows the type yet.
    if (recorded.type === transferReviewed) return { position, recorded, reviewed: reviewedOf(recorded) };
    return { position, recorded, event: parseTransferEvent(recorded) };
  });
  const changedIds = new Set<string>();
  for (const item of events) {
    if ('reviewed' in item) changedIds.add(item.reviewed.transferId);
    else if (item.event.type !== 'TransferPosted' && item.event.type !== 'TransferPending')
      changedIds.add(item.event.data.transferId);
  }
  const transfers = new Map<string, TransferDraft>();
  if (changedIds.size > 0) {
    const rows = await db
      .selectFrom('transactions')
      .select([
        sql<string>`id::text`.as('id'),
        'status',
        sql<string | null>`posted_amount::text`.as('posted_amount'),
        sql<string | null>`reversed_by::text`.as('reversed_by'),
        'reviewed_by',
        'review_decision',
        'review_reason',
        'reviewed_at',
      ])
      .where('id', '=', sql<string>`any(${[...changedIds]}::uuid[])`)
      .execute();
    for (const row of rows) {
      transfers.set(uuidKey(row.id), {
        created: null,
        riskFlags: [],
        status: row.status,
        postedAmount: row.posted_amount,
        reversedBy: row.reversed_by,
        review:
          row.reviewed_by === null ||
          row.review_decision === null ||
          row.review_reason === null ||
          row.reviewed_at === null
            ? null
            : {
                reviewedBy: row.reviewed_by,
                decision: row.review_decision,
                reason: row.review_reason,
                at: (row.reviewed_at instanceof Date
                  ? row.reviewed_at
                  : new Date(row.reviewed_at)
                ).toISOString(),
              },
        updatedPosition: '',
      });
    }
  }
  const transferOf = (type: string, transferId: string, position: string): TransferDraft => {
    const transfer = transfers.get(uuidKey(transferId));
    if (transfer === undefined) throw new Error(`${type} for unknown transfer ${transferId}`);
    transfer.updatedPosition = position;
    return transfer;
  };

  for (const item of events) {
    const { position } = item;
    if ('reviewed' in item) {
      // A manager decided a held transfer. Approved: a PendingTransferPosted follows in the same
      // append (posted), except for an external transfer, which goes back to waiting for the
      // clearing rail (pending). Rejected: a PendingTransferVoided follows (voided).
      const { transferId, ...review } = item.reviewed;
      const transfer = transferOf(transferReviewed, transferId, position);
      transfer.review = review;
      if (review.decision === 'approved' && transfer.status === 'held_for_review')
        transfer.status = 'pending';
      continue;
    }
    const { event } = item;
    switch (event.type) {
      case 'TransferPosted':
      case 'TransferPending': {
        const d = event.data;
        const key = uuidKey(d.transferId);
        // As the plain INSERT of one event would: a transfer is created once.
        if (transfers.has(key)) throw new Error(`${event.type} for a transfer that exists: ${d.transferId}`);
        transfers.set(key, {
          created: {
            id: d.transferId,
            type: d.code,
            from_account_id: d.debitAccountId,
            to_account_id: d.creditAccountId,
            amount: d.amount,
            currency: d.currency,
            reference: d.reference,
            reversal_of: d.reversalOf,
            beneficiary_iban: d.beneficiary?.iban ?? null,
            beneficiary_name: d.beneficiary?.name ?? null,
            created_at: d.at,
            position,
          },
          riskFlags: riskFlagsOf(item.recorded.data),
          // Held for review: its funds are reserved as a pending hold's, until a manager decides.
          status:
            event.type === 'TransferPosted'
              ? 'posted'
              : isHeldForReview(item.recorded.data)
                ? 'held_for_review'
                : 'pending',
          postedAmount: event.type === 'TransferPosted' ? d.amount : null,
          reversedBy: null,
          review: null,
          updatedPosition: position,
        });
        break;
      }
      case 'PendingTransferPosted': {
        const transfer = transferOf(event.type, event.data.transferId, position);
        transfer.status = 'posted';
        transfer.postedAmount = event.data.amount;
        break;
      }
      case 'PendingTransferVoided':
        transferOf(event.type, event.data.transferId, position).status = 'voided';
        break;
      // API.md has no "expired": an expired hold (or a review nobody decided) is a voided one, by the clock.
      case 'PendingTransferExpired':
        transferOf(event.type, event.data.transferId, position).status = 'voided';
        break;
      // The clearing rail sent an external transfer back: API.md's "returned".
      case 'PendingTransferReturned':
        transferOf(event.type, event.data.transferId, position).status = 'returned';
        break;
      case 'TransferReversed':
        transferOf(event.type, event.data.transferId, position).reversedBy = event.data.reversalTransferId;
        break;
      default: {
        // TransferRefused is not handled (see transactionsProjectionHandles): never applied here.
        throw new Error(`transactions projection does not handle ${event.type}`);
      }
    }
  }

  const changed = [...transfers].filter(([, t]) => t.updatedPosition !== '');
  const reviewColumns = (t: TransferDraft) => ({
    reviewed_by: t.review?.reviewedBy ?? null,
    review_decision: t.review?.decision ?? null,
    review_reason: t.review?.reason ?? null,
    reviewed_at: t.review?.at ?? null,
  });
  await insertRows(
    db,
    'transactions',
    transactionColumns,
    changed.flatMap(([, t]) =>
      t.created
        ? [
            {
              ...t.created,
              status: t.status,
              posted_amount: t.postedAmount,
              reversed_by: t.reversedBy,
              ...reviewColumns(t),
              updated_position: t.updatedPosition,
            },
          ]
        : [],
    ),
  );
  // insertRows takes scalar columns only (unnest flattens arrays of arrays): the flags of the
  // batch's new transfers that have any, in one UPDATE, each list as JSON text.
  const flagged = changed.filter(([, t]) => t.created !== null && t.riskFlags.length > 0);
  if (flagged.length > 0) {
    const v = sql<{ id: string; flags: string }>`unnest(${flagged.map(([id]) => id)}::uuid[],
      ${flagged.map(([, t]) => JSON.stringify(t.riskFlags))}::text[])`.as<'v'>(sql`v(id, flags)`);
    await db
      .updateTable('transactions')
      .from(v)
      .set({ risk_flags: sql<string[]>`array(SELECT jsonb_array_elements_text(v.flags::jsonb))` })
      .whereRef('transactions.id', '=', 'v.id')
      .execute();
  }
  const updated = changed.filter(([, t]) => t.created === null);
  if (updated.length > 0) {
    // One UPDATE for every transfer whose status the batch changed (9 parameters in all).
    const rows = updated.map(([, t]) => reviewColumns(t));
    const v = sql<{
      id: string;
      status: string;
      posted_amount: string | null;
      reversed_by: string | null;
      reviewed_by: string | null;
      review_decision: string | null;
      review_reason: string | null;
      reviewed_at: string | null;
      updated_position: string;
    }>`unnest(${updated.map(([id]) => id)}::uuid[], ${updated.map(([, t]) => t.status)}::text[],
      ${updated.map(([, t]) => t.postedAmount)}::numeric[], ${updated.map(([, t]) => t.reversedBy)}::uuid[],
      ${rows.map((r) => r.reviewed_by)}::text[], ${rows.map((r) => r.review_decision)}::text[],
      ${rows.map((r) => r.review_reason)}::text[], ${rows.map((r) => r.reviewed_at)}::timestamptz[],
      ${updated.map(([, t]) => t.updatedPosition)}::bigint[])`.as<'v'>(
      sql`v(id, status, posted_amount, reversed_by, reviewed_by, review_decision, review_reason, reviewed_at,
        updated_position)`,
    );
    await db
      .updateTable('transactions')
      .from(v)
      .set((eb) => ({
        status: eb.ref('v.status'),
        posted_amount: eb.ref('v.posted_amount'),
        reversed_by: eb.ref('v.reversed_by'),
        reviewed_by: eb.ref('v.reviewed_by'),
        review_decision: eb.ref('v.review_decision'),
        review_reason: eb.ref('v.review_reason'),
        reviewed_at: eb.ref('v.reviewed_at'),
        updated_position: eb.ref('v.updated_position'),
      }))
      .whereRef('transactions.id', '=', 'v.id')
      .execute();
  }
}

/** Transfers and their current status (GET /api/transactions). */
export const transactionsProjection: Projection = {
  name: 'transactions',
  version: 1,
  schema: 'transactions',
  handles: transactionsProjectionHandles,
  migrate: (db, schema) => migrateSchema(db, schema, transactionsMigrations),
  apply: (tx, event) => applyTransactions(tx, [event]),
  applyBatch: applyTransactions,
};
