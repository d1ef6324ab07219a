/** The ledger over the event store: its context, streams, loaders, commands and use cases. */
export { AccountCache, accountCacheSizeMax, snapshotEveryEvents } from './account-cache.js';
export {
  type AccountChange,
  type AccountOutcome,
  ensureBankAccounts,
  type OpenAccountResult,
  type OpenCustomerAccountCommand,
  openCustomerAccount,
  runAccountCommand,
} from './accounts.js';
export { createLedger, type Ledger, type LedgerOptions } from './context.js';
export { parseAccountEvent, parseTransferEvent, readWholeStream } from './events.js';
export { bankAccountId, makeAccountNumber, transferIdFor, uuidv5 } from './ids.js';
export {
  accountNumberOf,
  accountOnce,
  accountOwnerOf,
  customerAccountIds,
  findAccountIdByNumber,
  type Loaded,
  loadAccount,
  loadTransfer,
  peekAccount,
} from './load.js';
export {
  accountNumberStreamId,
  accountStreamId,
  customerAccountsStreamId,
  ledgerEventSchemaVersion,
  requestStreamId,
  transferStreamId,
} from './streams.js';
export { runTransferCommand, type TransferOutcome, type TransferRequest } from './transfers.js';
export {
  type AccountRef,
  type AccountUseCaseOutcome,
  type CashRequestBody,
  type CashTransferCommand,
  changeAccount,
  createCashTransfer,
  createTransfer,
  type ExternalRequestBody,
  type LedgerCaller,
  type MoneyOutcome,
  mayReadTransfer,
  moveCash,
  openAccount,
  postHold,
  readableAccounts,
  reverse,
  reviewHeldTransfer,
  sendExternal,
  type TransferRequestBody,
  transferDebitOwnerOf,
  type UseCaseRejection,
  voidHold,
} from './use-cases.js';
