import {
  accountEventTypes,
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
export const transactionsProjectionHandles = transferEventTypes.filter(
  (type): type is Exclude<(typeof transferEventTypes)[number], 'TransferRefused'> =>
    type !== 'TransferRefused',
);

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

type TransferStatusColumns = 'status' | 'posted_amount' | 'reversed_by' | 'updated_position';

/** A transfer as a batch folds into it. */
interface TransferDraft {
  /** The columns its TransferPosted/TransferPending of this batch set: inserted, not updated. */
  created: Omit<Insertable<TransactionsTable>, TransferStatusColumns> | null;
  status: string;
  postedAmount: string | null;
  reversedBy: string | null;
  /** '' while unchanged (not written). */
  updatedPosition: string;
}

/** Applies a batch of transfer events: new transfers in one INSERT, status changes in one UPDATE. */
async function applyTransactions(tx: Kysely<any>, batch: readonly RecordedEvent[]): Promise<void> {
  const db = tx as Kysely<TransactionsDatabase>;
  const events = batch.map((recorded) => ({
    position: recorded.globalPosition.toString(),
    event: parseTransferEvent(recorded),
  }));
  const changedIds = new Set<string>();
  for (const { event } of events) {
    if (event.type !== 'TransferPosted' && event.type !== 'TransferPending')
      changedIds.add(event.data.transferId);
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
      ])
      .where('id', '=', sql<string>`any(${[...changedIds]}::uuid[])`)
      .execute();
    for (const row of rows) {
      transfers.set(uuidKey(row.id), {
        created: null,
        status: row.status,
        postedAmount: row.posted_amount,
        reversedBy: row.reversed_by,
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

  for (const { event, position } of events) {
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
          status: event.type === 'TransferPosted' ? 'posted' : 'pending',
          postedAmount: event.type === 'TransferPosted' ? d.amount : null,
          reversedBy: null,
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
      // API.md has no "expired": an expired hold is a voided one, by the clock.
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
              updated_position: t.updatedPosition,
            },
          ]
        : [],
    ),
  );
  const updated = changed.filter(([, t]) => t.created === null);
  if (updated.length > 0) {
    // One UPDATE for every transfer whose status the batch changed (5 parameters in all).
    const v = sql<{
      id: string;
      status: string;
      posted_amount: string | null;
      reversed_by: string | null;
      updated_position: string;
    }>`unnest(${updated.map(([id]) => id)}::uuid[], ${updated.map(([, t]) => t.status)}::text[],
      ${updated.map(([, t]) => t.postedAmount)}::numeric[], ${updated.map(([, t]) => t.reversedBy)}::uuid[],
      ${updated.map(([, t]) => t.updatedPosition)}::bigint[])`.as<'v'>(
      sql`v(id, status, posted_amount, reversed_by, updated_position)`,
    );
    await db
      .updateTable('transactions')
      .from(v)
      .set((eb) => ({
        status: eb.ref('v.status'),
        posted_amount: eb.ref('v.posted_amount'),
        reversed_by: eb.ref('v.reversed_by'),
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
