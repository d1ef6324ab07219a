export * from './backtest.js';
export { type AccountBalanceAt, accountBalanceAt, type BalanceCut, balanceAtPageSize } from './balance-at.js';
export {
  type AuditPage,
  auditLogPage,
  auditStreamPage,
  type LogVerification,
  sharedVerifier,
} from './log.js';
export { auditView, secretFieldsByType } from './redact.js';
export {
  FoldAborted,
  type LedgerTotals,
  type LedgerTotalsReadModel,
  type TrialBalance,
  type TrialBalanceCut,
  type TrialBalanceLine,
  type TrialBalanceLineView,
  type TrialBalanceQuery,
  type TrialBalanceView,
  trialBalance,
  trialBalanceFold,
  trialBalanceView,
} from './trial-balance.js';
