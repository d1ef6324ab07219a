export { type LedgerTotalsSnapshot, ledgerTotalsReadModel } from './ledger-totals.js';
export { accountsMigrations, transactionsMigrations } from './migrations.js';
export {
  accountsProjection,
  accountsProjectionHandles,
  transactionsProjection,
  transactionsProjectionHandles,
} from './projection.js';
export {
  type AccountPage,
  type AccountView,
  type CurrencyStats,
  currencyStats,
  type DailyVolume,
  dailyVolume,
  getAccount,
  getTransaction,
  InvalidCursor,
  listAccounts,
  listLimits,
  listStatement,
  listTransactions,
  type StatementLine,
  type TransactionFilters,
  type TransactionReview,
  type TransactionStatus,
  type TransactionView,
  type TrialBalanceTotals,
  trialBalance,
  trialBalanceTotals,
} from './queries.js';
export type { AccountsDatabase, TransactionsDatabase } from './schema.js';
