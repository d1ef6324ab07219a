import {
  type Currency,
  currencies,
  currencyExponents,
  formatAmount,
  isCurrency,
} from '@ledger/domain/ledger';
import { assertProjectionSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import { accountsProjection, transactionsProjection } from './projection.js';
import type { AccountsDatabase, TransactionsDatabase } from './schema.js';

/** API.md lists: limit 1–200, default 50. */
export const listLimits = { limitMin: 1, limitMax: 200, limitDefault: 50 } as const;

/** A cursor these queries did not make: a client error (400). */
export class InvalidCursor extends RangeError {
  override readonly name = 'InvalidCursor';
}

function encodeCursor(tag: string, position: string): string {
  return Buffer.from(`${tag}:${position}`).toString('base64url');
}

function decodeCursor(tag: string, cursor: string): string {
  const match =
    cursor.length <= 64
      ? new RegExp(`^${tag}:([1-9][0-9]{0,18})$`).exec(Buffer.from(cursor, 'base64url').toString())
      : null;
  if (!match) throw new InvalidCursor('invalid cursor');
  return match[1]!;
}

function checkLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < listLimits.limitMin || limit > listLimits.limitMax) {
    throw new RangeError(`limit must be an integer from ${listLimits.limitMin} to ${listLimits.limitMax}`);
  }
}

const iso = (d: Date | string) => (d instanceof Date ? d : new Date(d)).toISOString();

function currencyOf(text: string): Currency {
  if (!isCurrency(text)) throw new Error(`read model holds unknown currency ${text}`);
  return text;
}

/** numeric text → bigint, never through Number. */
const big = (text: string) => BigInt(text);

export interface AccountView {
  id: string;
  accountNumber: string | null;
  userId: string | null;
  kind: 'customer' | 'bank';
  type: string;
  currency: Currency;
  status: 'active' | 'frozen' | 'closed';
  balance: string;
  availableBalance: string;
  pendingDebits: string;
  pendingCredits: string;
  debitsPosted: string;
  creditsPosted: string;
  createdAt: string;
}

export interface AccountPage {
  items: AccountView[];
  nextCursor: string | null;
}

function accountsDb(db: Kysely<any>, schema = accountsProjection.schema): Kysely<AccountsDatabase> {
  assertProjectionSchema(schema);
  return db.withSchema(schema) as Kysely<AccountsDatabase>;
}

const accountColumns = [
  sql<string>`id::text`.as('id'),
  sql<string>`seq::text`.as('seq'),
  'account_number',
  sql<string | null>`user_id::text`.as('user_id'),
  'kind',
  'type',
  'currency',
  'status',
  sql<string>`debits_posted::text`.as('debits_posted'),
  sql<string>`credits_posted::text`.as('credits_posted'),
  sql<string>`debits_pending::text`.as('debits_pending'),
  sql<string>`credits_pending::text`.as('credits_pending'),
  'created_at',
] as const;

type AccountRow = {
  id: string;
  seq: string;
  account_number: string | null;
  user_id: string | null;
  kind: string;
  type: string;
  currency: string;
  status: string;
  debits_posted: string;
  credits_posted: string;
  debits_pending: string;
  credits_pending: string;
  created_at: Date;
};

function accountView(row: AccountRow): AccountView {
  const currency = currencyOf(row.currency);
  const balance = big(row.credits_posted) - big(row.debits_posted);
  const pendingDebits = big(row.debits_pending);
  return {
    id: row.id,
    accountNumber: row.account_number,
    userId: row.user_id,
    kind: row.kind as AccountView['kind'],
    type: row.type,
    currency,
    status: row.status as AccountView['status'],
    balance: formatAmount(balance, currency),
    availableBalance: formatAmount(balance - pendingDebits, currency),
    pendingDebits: formatAmount(pendingDebits, currency),
    pendingCredits: formatAmount(big(row.credits_pending), currency),
    debitsPosted: formatAmount(big(row.debits_posted), currency),
    creditsPosted: formatAmount(big(row.credits_posted), currency),
    createdAt: iso(row.created_at),
  };
}

export async function getAccount(db: Kysely<any>, id: string, schema?: string): Promise<AccountView | null> {
  const row = await accountsDb(db, schema)
    .selectFrom('accounts')
    .select(accountColumns)
    .where('id', '=', id)
    .executeTakeFirst();
  return row === undefined ? null : accountView(row as AccountRow);
}

/** Accounts in opening order; `userId` narrows to one customer's. */
export async function listAccounts(
  db: Kysely<any>,
  query: { limit: number; cursor?: string; userId?: string; schema?: string },
): Promise<AccountPage> {
  checkLimit(query.limit);
  let select = accountsDb(db, query.schema).selectFrom('accounts').select(accountColumns);
  if (query.userId !== undefined) select = select.where('user_id', '=', query.userId);
  if (query.cursor !== undefined)
    select = select.where(sql<boolean>`seq > ${decodeCursor('a1', query.cursor)}::bigint`);
  const rows = (await select
    // The table's bigint column, not the text alias of the same name (ORDER BY prefers an
    // output column): as text, 100000000 sorts before 99999999 and the keyset drops rows.
    .orderBy('accounts.seq', 'asc')
    .limit(query.limit + 1)
    .execute()) as AccountRow[];
  const last = rows[query.limit - 1];
  return {
    items: rows.slice(0, query.limit).map(accountView),
    nextCursor: rows.length > query.limit && last ? encodeCursor('a1', last.seq) : null,
  };
}

export interface StatementLine {
  transactionId: string;
  postedAt: string;
  direction: 'debit' | 'credit';
  amount: string;
  balanceAfter: string;
  counterparty: string;
  reference: string | null;
  code: string;
  position: string;
}

/** An account's statement, newest first, optionally within [from, to] (posting time). */
export async function listStatement(
  db: Kysely<any>,
  query: {
    accountId: string;
    currency: Currency;
    limit: number;
    cursor?: string;
    from?: string;
    to?: string;
    schema?: string;
  },
): Promise<{ items: StatementLine[]; nextCursor: string | null }> {
  checkLimit(query.limit);
  let select = accountsDb(db, query.schema)
    .selectFrom('statement_lines')
    .select([
      sql<string>`position::text`.as('position'),
      sql<string>`transaction_id::text`.as('transaction_id'),
      'posted_at',
      'direction',
      sql<string>`amount::text`.as('amount'),
      sql<string>`balance_after::text`.as('balance_after'),
      sql<string>`counterparty::text`.as('counterparty'),
      'reference',
      'code',
    ])
    .where('account_id', '=', query.accountId);
  if (query.from !== undefined) select = select.where(sql<boolean>`posted_at >= ${query.from}::timestamptz`);
  if (query.to !== undefined) select = select.where(sql<boolean>`posted_at <= ${query.to}::timestamptz`);
  if (query.cursor !== undefined)
    select = select.where(sql<boolean>`position < ${decodeCursor('s1', query.cursor)}::bigint`);
  const rows = await select
    // The table's bigint column, not the text alias of the same name (ORDER BY prefers an
    // output column): as text, 100000000 sorts before 99999999 and the keyset drops rows.
    .orderBy('statement_lines.position', 'desc')
    .limit(query.limit + 1)
    .execute();
  const last = rows[query.limit - 1];
  return {
    items: rows.slice(0, query.limit).map((row) => ({
      transactionId: row.transaction_id,
      postedAt: iso(row.posted_at),
      direction: row.direction as StatementLine['direction'],
      amount: formatAmount(big(row.amount), query.currency),
      balanceAfter: formatAmount(big(row.balance_after), query.currency),
      counterparty: row.counterparty,
      reference: row.reference,
      code: row.code,
      position: row.position,
    })),
    nextCursor: rows.length > query.limit && last ? encodeCursor('s1', last.position) : null,
  };
}

export type TransactionStatus = 'posted' | 'pending' | 'voided' | 'rejected' | 'held_for_review' | 'returned';

export interface TransactionView {
  id: string;
  type: string;
  status: TransactionStatus;
  fromAccountId: string;
  toAccountId: string;
  amount: string;
  postedAmount: string | null;
  currency: Currency;
  reference: string | null;
  reversalOf: string | null;
  reversedBy: string | null;
  /** External transfers: whom they pay. */
  beneficiary: { iban: string; name: string } | null;
  /** Active fraud/AML rules that fired when it was created (rule ids). */
  riskFlags: string[];
  /** Held for review and decided since: by whom, how, why and when; null otherwise. */
  review: TransactionReview | null;
  createdAt: string;
  position: string;
}

export interface TransactionReview {
  decision: 'approved' | 'rejected';
  reviewerId: string;
  reason: string;
  at: string;
}

function transactionsDb(
  db: Kysely<any>,
  schema = transactionsProjection.schema,
): Kysely<TransactionsDatabase> {
  assertProjectionSchema(schema);
  return db.withSchema(schema) as Kysely<TransactionsDatabase>;
}

const transactionColumns = [
  sql<string>`id::text`.as('id'),
  'type',
  'status',
  sql<string>`from_account_id::text`.as('from_account_id'),
  sql<string>`to_account_id::text`.as('to_account_id'),
  sql<string>`amount::text`.as('amount'),
  sql<string | null>`posted_amount::text`.as('posted_amount'),
  'currency',
  'reference',
  sql<string | null>`reversal_of::text`.as('reversal_of'),
  sql<string | null>`reversed_by::text`.as('reversed_by'),
  'beneficiary_iban',
  'beneficiary_name',
  'risk_flags',
  'reviewed_by',
  'review_decision',
  'review_reason',
  'reviewed_at',
  'created_at',
  sql<string>`position::text`.as('position'),
] as const;

type TransactionRow = {
  id: string;
  type: string;
  status: string;
  from_account_id: string;
  to_account_id: string;
  amount: string;
  posted_amount: string | null;
  currency: string;
  reference: string | null;
  reversal_of: string | null;
  reversed_by: string | null;
  beneficiary_iban: string | null;
  beneficiary_name: string | null;
  risk_flags: string[];
  reviewed_by: string | null;
  review_decision: string | null;
  review_reason: string | null;
  reviewed_at: Date | null;
  created_at: Date;
  position: string;
};

/** The projection writes both columns or neither. */
function beneficiaryOf(row: TransactionRow): TransactionView['beneficiary'] {
  if (row.beneficiary_iban === null && row.beneficiary_name === null) return null;
  if (row.beneficiary_iban === null || row.beneficiary_name === null) {
    throw new Error(`transaction ${row.id} has half a beneficiary`);
  }
  return { iban: row.beneficiary_iban, name: row.beneficiary_name };
}

/** The projection writes the four review columns together, once a manager decided. */
function reviewOf(row: TransactionRow): TransactionReview | null {
  if (row.review_decision === null) return null;
  if (row.reviewed_by === null || row.review_reason === null || row.reviewed_at === null) {
    throw new Error(`transaction ${row.id} has half a review`);
  }
  return {
    decision: row.review_decision as TransactionReview['decision'],
    reviewerId: row.reviewed_by,
    reason: row.review_reason,
    at: iso(row.reviewed_at),
  };
}

function transactionView(row: TransactionRow): TransactionView {
  const currency = currencyOf(row.currency);
  return {
    id: row.id,
    type: row.type,
    status: row.status as TransactionStatus,
    fromAccountId: row.from_account_id,
    toAccountId: row.to_account_id,
    amount: formatAmount(big(row.amount), currency),
    postedAmount: row.posted_amount === null ? null : formatAmount(big(row.posted_amount), currency),
    currency,
    reference: row.reference,
    reversalOf: row.reversal_of,
    reversedBy: row.reversed_by,
    beneficiary: beneficiaryOf(row),
    riskFlags: [...row.risk_flags],
    review: reviewOf(row),
    createdAt: iso(row.created_at),
    position: row.position,
  };
}

export async function getTransaction(
  db: Kysely<any>,
  id: string,
  schema?: string,
): Promise<TransactionView | null> {
  const row = await transactionsDb(db, schema)
    .selectFrom('transactions')
    .select(transactionColumns)
    .where('id', '=', id)
    .executeTakeFirst();
  return row === undefined ? null : transactionView(row as TransactionRow);
}

/** What listTransactions narrows by; every filter given must hold. */
export interface TransactionFilters {
  /** Those touching (debiting or crediting) one of these accounts. */
  accountIds?: readonly string[];
  status?: string;
  /** Those whose risk flags include this rule id. */
  riskFlag?: string;
  /** Created at or after (inclusive). */
  from?: Date;
  /** Created before (exclusive). */
  to?: Date;
  /**
   * Amount at least this, in major units as a decimal string ("250.00"), compared as numeric
   * in SQL against each row's amount in its own currency's minor units: never a JS number.
   */
  minAmount?: string;
  currency?: Currency;
}

/** A minimum amount in major units: plain decimal, at most 15 + 3 digits (the widest exponent). */
const minAmountPattern = /^(0|[1-9][0-9]{0,14})(\.[0-9]{1,3})?$/;

/**
 * A row's amount in major units ≥ `minAmount`, as amount (minor units) ≥ minAmount × 10^exponent
 * of the row's currency: exact in numeric, whatever the currency.
 */
function minAmountCondition(minAmount: string) {
  if (!minAmountPattern.test(minAmount)) throw new RangeError('minAmount must be a plain decimal string');
  const scales = currencies.map(
    (currency) =>
      sql`WHEN ${currency} THEN ${(10n ** BigInt(currencyExponents[currency])).toString()}::numeric`,
  );
  return sql<boolean>`amount >= ${minAmount}::numeric * (CASE currency ${sql.join(scales, sql` `)} END)`;
}

function checkDate(what: string, value: Date | undefined): void {
  if (value !== undefined && (!(value instanceof Date) || Number.isNaN(value.getTime()))) {
    throw new RangeError(`${what} must be a valid Date`);
  }
}

/** Transactions, newest first, narrowed by `filters` (see TransactionFilters). */
export async function listTransactions(
  db: Kysely<any>,
  query: TransactionFilters & { limit: number; cursor?: string; schema?: string },
): Promise<{ items: TransactionView[]; nextCursor: string | null }> {
  checkLimit(query.limit);
  checkDate('from', query.from);
  checkDate('to', query.to);
  let select = transactionsDb(db, query.schema).selectFrom('transactions').select(transactionColumns);
  const ids = query.accountIds;
  if (ids !== undefined) {
    if (ids.length === 0) return { items: [], nextCursor: null };
    select = select.where((eb) => eb.or([eb('from_account_id', 'in', ids), eb('to_account_id', 'in', ids)]));
  }
  if (query.status !== undefined) select = select.where('status', '=', query.status);
  if (query.riskFlag !== undefined) {
    // The first condition is the flagged index's own: the planner walks only flagged rows.
    select = select
      .where(sql<boolean>`cardinality(risk_flags) > 0`)
      .where(sql<boolean>`risk_flags @> ARRAY[${query.riskFlag}]::text[]`);
  }
  if (query.from !== undefined)
    select = select.where(sql<boolean>`created_at >= ${query.from.toISOString()}::timestamptz`);
  if (query.to !== undefined)
    select = select.where(sql<boolean>`created_at < ${query.to.toISOString()}::timestamptz`);
  if (query.currency !== undefined) select = select.where('currency', '=', query.currency);
  if (query.minAmount !== undefined) select = select.where(minAmountCondition(query.minAmount));
  if (query.cursor !== undefined)
    select = select.where(sql<boolean>`position < ${decodeCursor('t1', query.cursor)}::bigint`);
  const rows = (await select
    // The table's bigint column, not the text alias of the same name (ORDER BY prefers an
    // output column): as text, 100000000 sorts before 99999999 and the keyset drops rows.
    .orderBy('transactions.position', 'desc')
    .limit(query.limit + 1)
    .execute()) as TransactionRow[];
  const last = rows[query.limit - 1];
  return {
    items: rows.slice(0, query.limit).map(transactionView),
    nextCursor: rows.length > query.limit && last ? encodeCursor('t1', last.position) : null,
  };
}

/** One currency's figures for GET /api/admin/stats. */
export interface CurrencyStats {
  currency: Currency;
  /** Σ balances of customer accounts, major units. */
  deposits: string;
  /** Σ amounts of transactions created within the day that are posted (as posted) or pending. */
  volumeToday: string;
  /** How many transactions those are. */
  transfersToday: number;
  /** Transactions held for review now (whenever created). */
  heldForReview: number;
}

/**
 * The money figures of GET /api/admin/stats, per currency (in currency order): one statement
 * over both read models, sums in numeric (never a JS number). The day is [dayStart, dayStart
 * + 24 h). A posted transaction counts its posted amount (a hold may be posted in part).
 */
export async function currencyStats(
  db: Kysely<any>,
  query: {
    dayStart: Date;
    accountsSchema?: string;
    transactionsSchema?: string;
  },
): Promise<CurrencyStats[]> {
  checkDate('dayStart', query.dayStart);
  const accountsSchema = query.accountsSchema ?? accountsProjection.schema;
  const transactionsSchema = query.transactionsSchema ?? transactionsProjection.schema;
  assertProjectionSchema(accountsSchema);
  assertProjectionSchema(transactionsSchema);
  const dayStart = query.dayStart.toISOString();
  const dayEnd = new Date(query.dayStart.getTime() + 86_400_000).toISOString();
  const today = sql`created_at >= ${dayStart}::timestamptz AND created_at < ${dayEnd}::timestamptz`;
  const moving = sql`status IN ('posted', 'pending')`;
  const { rows } = await sql<{
    currency: string;
    deposits: string;
    volume: string;
    transfers: string;
    held: string;
  }>`
    WITH d AS (
      SELECT currency, sum(credits_posted - debits_posted) AS deposits
      FROM ${sql.table(`${accountsSchema}.accounts`)}
      WHERE kind = 'customer'
      GROUP BY currency
    ), t AS (
      SELECT currency,
        sum(CASE WHEN status = 'posted' THEN coalesce(posted_amount, amount) ELSE amount END)
          FILTER (WHERE ${moving} AND ${today}) AS volume,
        count(*) FILTER (WHERE ${moving} AND ${today}) AS transfers,
        count(*) FILTER (WHERE status = 'held_for_review') AS held
      FROM ${sql.table(`${transactionsSchema}.transactions`)}
      WHERE (${today}) OR status = 'held_for_review'
      GROUP BY currency
    )
    SELECT coalesce(d.currency, t.currency) AS currency,
      coalesce(d.deposits, 0)::text AS deposits,
      coalesce(t.volume, 0)::text AS volume,
      coalesce(t.transfers, 0)::text AS transfers,
      coalesce(t.held, 0)::text AS held
    FROM d FULL JOIN t ON d.currency = t.currency
    ORDER BY 1`.execute(db);
  return rows.map((row) => {
    const currency = currencyOf(row.currency);
    return {
      currency,
      deposits: formatAmount(big(row.deposits), currency),
      volumeToday: formatAmount(big(row.volume), currency),
      // Counts of rows: far below 2^53.
      transfersToday: Number(row.transfers),
      heldForReview: Number(row.held),
    };
  });
}

/** One currency's money moved on one UTC day (GET /api/admin/volume, the back-office chart). */
export interface DailyVolume {
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  currency: Currency;
  /** Σ amounts of the transactions created that day that are posted (as posted) or pending. */
  volume: string;
  /** How many transactions those are. */
  transactions: number;
}

/**
 * Daily volume per currency over [from, to) (UTC days, both midnights), counted as
 * currencyStats counts today's: posted (their posted amount) or pending transactions by
 * creation time. Days without any are left out. One bounded query on the created_at index.
 */
export async function dailyVolume(
  db: Kysely<any>,
  query: { from: Date; to: Date; transactionsSchema?: string },
): Promise<DailyVolume[]> {
  checkDate('from', query.from);
  checkDate('to', query.to);
  const transactionsSchema = query.transactionsSchema ?? transactionsProjection.schema;
  assertProjectionSchema(transactionsSchema);
  const { rows } = await sql<{ day: string; currency: string; volume: string; transactions: string }>`
    SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, currency,
      sum(CASE WHEN status = 'posted' THEN coalesce(posted_amount, amount) ELSE amount END)::text AS volume,
      count(*)::text AS transactions
    FROM ${sql.table(`${transactionsSchema}.transactions`)}
    WHERE created_at >= ${iso(query.from)}::timestamptz AND created_at < ${iso(query.to)}::timestamptz
      AND status IN ('posted', 'pending')
    GROUP BY 1, 2
    ORDER BY 1, 2`.execute(db);
  return rows.map((row) => {
    const currency = currencyOf(row.currency);
    return {
      day: row.day,
      currency,
      volume: formatAmount(big(row.volume), currency),
      transactions: Number(row.transactions),
    };
  });
}

/** Per currency Σ debits and Σ credits posted over all accounts (the trial balance). */
export async function trialBalance(
  db: Kysely<any>,
  schema?: string,
): Promise<{ currency: string; debits: bigint; credits: bigint; balanced: boolean }[]> {
  const rows = await accountsDb(db, schema)
    .selectFrom('accounts')
    .select([
      'currency',
      sql<string>`sum(debits_posted)::text`.as('debits'),
      sql<string>`sum(credits_posted)::text`.as('credits'),
    ])
    .groupBy('currency')
    .orderBy('currency')
    .execute();
  return rows.map((r) => ({
    currency: r.currency,
    debits: big(r.debits),
    credits: big(r.credits),
    balanced: big(r.debits) === big(r.credits),
  }));
}

export interface TrialBalanceTotals {
  currency: Currency;
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

/**
 * The trial balance of the read model with the pending totals too, per currency, in
 * currency order; for GET /api/audit/trial-balance. Sums of numeric columns, as text: never
 * a JS number. One aggregate over the accounts table (one row per account).
 */
export async function trialBalanceTotals(db: Kysely<any>, schema?: string): Promise<TrialBalanceTotals[]> {
  const rows = await accountsDb(db, schema)
    .selectFrom('accounts')
    .select([
      'currency',
      sql<string>`sum(debits_posted)::text`.as('debits_posted'),
      sql<string>`sum(credits_posted)::text`.as('credits_posted'),
      sql<string>`sum(debits_pending)::text`.as('debits_pending'),
      sql<string>`sum(credits_pending)::text`.as('credits_pending'),
    ])
    .groupBy('currency')
    .orderBy('currency')
    .execute();
  return rows.map((r) => ({
    currency: currencyOf(r.currency),
    debitsPosted: big(r.debits_posted),
    creditsPosted: big(r.credits_posted),
    debitsPending: big(r.debits_pending),
    creditsPending: big(r.credits_pending),
  }));
}
