import type { KycStatus, Role } from '@ledger/contracts';
import {
  type Account,
  type AmountError,
  type Beneficiary,
  type Currency,
  type CustomerAccountType,
  type LedgerRejection,
  parseAmount,
  type Transfer,
} from '@ledger/domain/ledger';
import type { AppendDeadline, EventMetadata } from '@ledger/eventstore';
import { createExternalTransfer } from '../clearing.js';
import { loadUser } from '../identity.js';
import { packBenefitsFor } from '../packs/subscriptions.js';
import { cashDeskFor, rulePolicyFor, transferLimitsFor } from '../settings.js';
import {
  type AccountChange,
  ensureBankAccounts,
  openCustomerAccount,
  runAccountCommand,
} from './accounts.js';
import { type Ledger, underDeadline } from './context.js';
import { bankAccountId, transferIdFor } from './ids.js';
import {
  accountNumberOf,
  accountOnce,
  accountOwnerOf,
  customerAccountIds,
  findAccountIdByNumber,
  loadTransfer,
} from './load.js';
import { runTransferCommand, type TransferOutcome, type TransferRequest } from './transfers.js';

/**
 * The ledger's use cases: each takes the caller and the request (as the API parsed it) and
 * returns an outcome. Everything a rule needs is loaded here, once, for every caller: who
 * owns the accounts, the settings' limits, the caller's KYC, the bank-owned accounts. A
 * route parses, calls one of these and maps the outcome; it loads nothing itself. The fraud
 * rules, pack benefits (packBenefitsFor) and KYC gates plug in here.
 */

/** Who asks: the signed-in user as the session knows them, the request's metadata and clock. */
export interface LedgerCaller {
  userId: string;
  role: Role;
  kycStatus: KycStatus;
  metadata: EventMetadata;
  now: Date;
  /** When the caller stops waiting: past it, a command appends nothing (runCommand). */
  deadline?: AppendDeadline | undefined;
}

/** Refusals of the use cases on top of the deciders' (LedgerRejection). */
export type UseCaseRejection =
  | LedgerRejection
  /** No account has the account number given. */
  | { code: 'account_number_unknown' }
  /** Cash at the desk is for staff. */
  | { code: 'staff_only' }
  /** Reviews of held transfers are for managers and directors. */
  | { code: 'manager_only' }
  /** Bank-owned accounts are not closed. */
  | { code: 'bank_account'; accountId: string }
  /** The account is opened for a customer that does not exist (or is not a customer). */
  | { code: 'customer_not_found' }
  /** Staff open accounts for a customer: the request must name them. */
  | { code: 'owner_required' }
  /** A second account needs a verified identity. */
  | { code: 'second_account_kyc' }
  /** An amount text the currency refuses (a post's amount: its currency is the transfer's). */
  | { code: 'amount_invalid'; reason: AmountError };

export type MoneyOutcome =
  | { status: 'accepted' | 'replayed'; transfer: Transfer; position: bigint }
  | { status: 'rejected'; rejection: UseCaseRejection };

const refused = (rejection: UseCaseRejection): MoneyOutcome => ({ status: 'rejected', rejection });
const notFound = (accountId: string): MoneyOutcome => refused({ code: 'account_not_found', accountId });

/** The account a transfer names: by id, or by its account number (checked by the caller's parse). */
export type AccountRef = { accountId: string } | { accountNumber: string };

export interface TransferRequestBody {
  idempotencyKey: string;
  fromAccountId: string;
  to: AccountRef;
  amount: bigint;
  currency: Currency;
  mode: 'immediate' | 'pending';
  timeoutSeconds?: number;
  reference: string | null;
}

/**
 * A customer's transfer between accounts of the bank, single-phase or a hold. Only the
 * owner moves money out of an account (staff use the desk, reversals and the admin API);
 * another's account is "not found", never "forbidden". Held to the settings' limits and the
 * owner's KYC (the caller's, who is the owner).
 */
export async function createTransfer(
  ledger: Ledger,
  caller: LedgerCaller,
  request: TransferRequestBody,
): Promise<MoneyOutcome> {
  ledger = underDeadline(ledger, caller.deadline);
  let toAccountId: string;
  if ('accountNumber' in request.to) {
    const found = await findAccountIdByNumber(ledger, request.to.accountNumber);
    if (found === null) return refused({ code: 'account_number_unknown' });
    toAccountId = found;
  } else {
    toAccountId = request.to.accountId;
  }
  if ((await accountOwnerOf(ledger, request.fromAccountId)) !== caller.userId) {
    return notFound(request.fromAccountId);
  }
  return runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: transferIdFor(caller.userId, request.idempotencyKey),
      debitAccountId: request.fromAccountId,
      creditAccountId: toAccountId,
      amount: request.amount,
      currency: request.currency,
      code: 'transfer',
      mode: request.mode === 'pending' ? 'two-phase' : 'single-phase',
      ...(request.timeoutSeconds === undefined ? {} : { timeoutSeconds: request.timeoutSeconds }),
      reference: request.reference,
      // What was sent today is in the account's state; the owner's KYC is the caller's.
      limits: await transferLimitsFor(ledger, {
        ownerId: caller.userId,
        kycVerified: caller.kycStatus === 'verified',
        currency: request.currency,
        code: 'transfer',
        pack: await packBenefitsFor(ledger, request.fromAccountId, caller.now),
      }),
      rules: await rulePolicyFor(ledger),
      now: caller.now,
    },
    caller.metadata,
  );
}

export interface ExternalRequestBody {
  idempotencyKey: string;
  fromAccountId: string;
  /** IBAN normalised and checked by parseIban. */
  beneficiary: Beneficiary;
  amount: bigint;
  currency: Currency;
  reference: string | null;
}

/**
 * Money out of the bank to an IBAN: a hold to the clearing account until the rail settles
 * or returns it. The owner only; an owner whose KYC is not verified sends nothing out.
 */
export async function sendExternal(
  ledger: Ledger,
  caller: LedgerCaller,
  request: ExternalRequestBody,
): Promise<MoneyOutcome> {
  ledger = underDeadline(ledger, caller.deadline);
  const from = await accountOnce(ledger, request.fromAccountId);
  if (from.status === 'none' || from.ownerId !== caller.userId) return notFound(request.fromAccountId);
  // Before anything is written: the clearing account of another currency may not exist yet.
  if (from.currency !== request.currency) {
    return refused({ code: 'currency_mismatch', accountId: from.id, accountCurrency: from.currency });
  }
  return createExternalTransfer(
    ledger,
    {
      transferId: transferIdFor(caller.userId, request.idempotencyKey),
      fromAccountId: from.id,
      beneficiary: request.beneficiary,
      amount: request.amount,
      currency: request.currency,
      reference: request.reference,
      limits: await transferLimitsFor(ledger, {
        ownerId: caller.userId,
        kycVerified: caller.kycStatus === 'verified',
        currency: request.currency,
        code: 'external',
        pack: await packBenefitsFor(ledger, from.id, caller.now),
      }),
      rules: await rulePolicyFor(ledger),
      now: caller.now,
    },
    caller.metadata,
  );
}

export interface CashRequestBody {
  idempotencyKey: string;
  type: 'deposit' | 'withdrawal';
  accountId: string;
  amount: bigint;
  currency: Currency;
  reference: string | null;
}

/**
 * A deposit or a withdrawal at the cash desk, by staff: single-phase, against the bank's
 * cash account of the currency, decided with the desk's context (never on an account the
 * member of staff owns; above the settings' cashApprovalMin a manager must approve). An
 * account that is not a customer's is account_not_found before anything is written.
 */
export async function moveCash(
  ledger: Ledger,
  caller: LedgerCaller,
  request: CashRequestBody,
): Promise<MoneyOutcome> {
  ledger = underDeadline(ledger, caller.deadline);
  if (caller.role === 'customer' || caller.role === 'auditor') return refused({ code: 'staff_only' });
  return createCashTransfer(
    ledger,
    {
      transferId: transferIdFor(caller.userId, request.idempotencyKey),
      staffId: caller.userId,
      type: request.type,
      accountId: request.accountId,
      amount: request.amount,
      currency: request.currency,
      reference: request.reference,
      now: caller.now,
    },
    caller.metadata,
  );
}

export interface CashTransferCommand {
  /** Derived from (caller, Idempotency-Key), as for every money movement. */
  transferId: string;
  /** The member of staff at the desk (the request's principal). */
  staffId: string;
  type: 'deposit' | 'withdrawal';
  /** The customer's account the cash goes into or comes out of. */
  accountId: string;
  amount: bigint;
  currency: Currency;
  reference: string | null;
  now: Date;
}

/** The desk's transfer for a member of staff already known to be one (moveCash checks). */
export async function createCashTransfer(
  ledger: Ledger,
  command: CashTransferCommand,
  metadata: EventMetadata,
): Promise<TransferOutcome> {
  const account = await accountOnce(ledger, command.accountId);
  if (account.status === 'none' || account.kind !== 'customer') {
    return { status: 'rejected', rejection: { code: 'account_not_found', accountId: command.accountId } };
  }
  await ensureBankAccounts(ledger, command.currency, command.now, metadata);
  const cash = bankAccountId(command.currency, 'cash');
  const deposit = command.type === 'deposit';
  return runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: command.transferId,
      debitAccountId: deposit ? cash : command.accountId,
      creditAccountId: deposit ? command.accountId : cash,
      amount: command.amount,
      currency: command.currency,
      code: command.type,
      mode: 'single-phase',
      reference: command.reference,
      desk: {
        ...(await cashDeskFor(ledger, { staffId: command.staffId, currency: command.currency })),
        reviewTimeoutHours: (await rulePolicyFor(ledger)).policy.thresholds.reviewTimeoutHours,
      },
      now: command.now,
    },
    metadata,
  );
}

/**
 * The Idempotency-Key of a post or void: its id is scoped to the caller like a transfer's,
 * and the fingerprint is what the request asks, so a replay asking otherwise is a 409.
 */
const requestOf = (callerId: string, key: string, asks: Record<string, string | null>): TransferRequest => ({
  id: transferIdFor(callerId, key),
  fingerprint: JSON.stringify(asks),
});

/** Posts a hold, all of it or `amount` (text, in the transfer's currency). */
export async function postHold(
  ledger: Ledger,
  caller: LedgerCaller,
  request: { idempotencyKey: string; transferId: string; amount?: string },
): Promise<MoneyOutcome> {
  ledger = underDeadline(ledger, caller.deadline);
  const { state } = await loadTransfer(ledger, request.transferId);
  if (state.status === 'none') return refused({ code: 'transfer_not_found', transferId: request.transferId });
  let amount: bigint | undefined;
  if (request.amount !== undefined) {
    const parsed = parseAmount(request.amount, state.currency);
    if (!parsed.ok) return refused({ code: 'amount_invalid', reason: parsed.reason });
    amount = parsed.amount;
  }
  return runTransferCommand(
    ledger,
    {
      type: 'PostPendingTransfer',
      transferId: request.transferId,
      ...(amount === undefined ? {} : { amount }),
      now: caller.now,
    },
    caller.metadata,
    requestOf(caller.userId, request.idempotencyKey, {
      action: 'post',
      transferId: request.transferId,
      amount: amount?.toString() ?? null,
    }),
  );
}

/** Voids a hold: the held amount is released. */
export function voidHold(
  ledger: Ledger,
  caller: LedgerCaller,
  request: { idempotencyKey: string; transferId: string },
): Promise<TransferOutcome> {
  ledger = underDeadline(ledger, caller.deadline);
  return runTransferCommand(
    ledger,
    { type: 'VoidPendingTransfer', transferId: request.transferId, now: caller.now },
    caller.metadata,
    requestOf(caller.userId, request.idempotencyKey, { action: 'void', transferId: request.transferId }),
  );
}

/** Reverses a posted transfer with a new single-phase transfer moving the money back. */
export function reverse(
  ledger: Ledger,
  caller: LedgerCaller,
  request: { idempotencyKey: string; transferId: string; reason: string },
): Promise<TransferOutcome> {
  ledger = underDeadline(ledger, caller.deadline);
  return runTransferCommand(
    ledger,
    {
      type: 'ReverseTransfer',
      transferId: transferIdFor(caller.userId, request.idempotencyKey),
      originalTransferId: request.transferId,
      reason: request.reason,
      now: caller.now,
    },
    caller.metadata,
  );
}

/** Who reviews held transfers (API.md, Admin: manager+). */
const reviewerRoles: readonly Role[] = ['manager', 'director'];

/**
 * A manager's decision on a transfer held for review (by a rule, or cash above the desk's
 * threshold): approved, it is posted (an external one goes on to the clearing rail);
 * rejected, voided, its funds released. Never by whoever asked for it or owns either of its
 * accounts (the decider's reviewer_is_party), never after its deadline.
 */
export function reviewHeldTransfer(
  ledger: Ledger,
  caller: LedgerCaller,
  request: { transferId: string; decision: 'approved' | 'rejected'; reason: string },
): Promise<MoneyOutcome> {
  if (!reviewerRoles.includes(caller.role)) return Promise.resolve(refused({ code: 'manager_only' }));
  ledger = underDeadline(ledger, caller.deadline);
  return runTransferCommand(
    ledger,
    {
      type: 'ReviewHeldTransfer',
      transferId: request.transferId,
      decision: request.decision,
      reviewerId: caller.userId,
      reason: request.reason,
      now: caller.now,
    },
    caller.metadata,
  );
}

// ---------------------------------------------------------------------------------------
// Accounts

export type AccountUseCaseOutcome =
  | { ok: true; account: Account; accountNumber: string | null; position: bigint | null }
  | { ok: false; rejection: UseCaseRejection };

/**
 * Opens a checking or savings account: a customer's own, or staff's for the customer named
 * by `userId`. A second account needs the owner's identity verified.
 */
export async function openAccount(
  ledger: Ledger,
  caller: LedgerCaller,
  request: { userId?: string; type: CustomerAccountType; currency: Currency },
): Promise<AccountUseCaseOutcome> {
  ledger = underDeadline(ledger, caller.deadline);
  const ownerId = caller.role === 'customer' ? caller.userId : request.userId;
  if (ownerId === undefined) return { ok: false, rejection: { code: 'owner_required' } };
  const owner = await loadUser(ledger.store, ownerId);
  if (owner.status !== 'registered' || owner.role !== 'customer') {
    return { ok: false, rejection: { code: 'customer_not_found' } };
  }
  const result = await openCustomerAccount(
    ledger,
    {
      ownerId,
      accountType: request.type,
      currency: request.currency,
      kycVerified: owner.kycStatus === 'verified',
      now: caller.now,
    },
    caller.metadata,
  );
  if (!result.ok) return { ok: false, rejection: { code: 'second_account_kyc' } };
  return {
    ok: true,
    account: result.account,
    accountNumber: result.accountNumber,
    position: result.position,
  };
}

/** Freezes, unfreezes or closes an account; bank-owned accounts stay open. */
export async function changeAccount(
  ledger: Ledger,
  caller: LedgerCaller,
  command: AccountChange,
): Promise<AccountUseCaseOutcome> {
  ledger = underDeadline(ledger, caller.deadline);
  if (command.type === 'CloseAccount') {
    const account = await accountOnce(ledger, command.accountId);
    if (account.status !== 'none' && account.kind === 'bank') {
      return { ok: false, rejection: { code: 'bank_account', accountId: command.accountId } };
    }
  }
  const outcome = await runAccountCommand(ledger, command, caller.metadata);
  if (!outcome.ok) return outcome;
  return {
    ok: true,
    account: outcome.account,
    accountNumber: await accountNumberOf(ledger, outcome.account.id),
    position: outcome.position,
  };
}

// ---------------------------------------------------------------------------------------
// Who may see what (strongly consistent: the store, not a read model)

/** The owner of the account a transfer debits: who may post or void it (null: no such transfer). */
export async function transferDebitOwnerOf(ledger: Ledger, transferId: string): Promise<string | null> {
  const { state } = await loadTransfer(ledger, transferId);
  return state.status === 'none' ? null : accountOwnerOf(ledger, state.debitAccountId);
}

/** Whether the caller may see a transaction: staff and the auditor all, a customer those of their accounts. */
export async function mayReadTransfer(
  ledger: Ledger,
  caller: Pick<LedgerCaller, 'userId' | 'role'>,
  transferId: string,
): Promise<boolean> {
  if (caller.role !== 'customer') return true;
  const { state } = await loadTransfer(ledger, transferId);
  if (state.status === 'none') return false;
  const parties = await Promise.all([
    accountOwnerOf(ledger, state.debitAccountId),
    accountOwnerOf(ledger, state.creditAccountId),
  ]);
  return parties.includes(caller.userId);
}

/**
 * The accounts a transaction list may show: a customer's own (or the one they name, if it
 * is theirs: null when not), anyone else's choice (undefined: all).
 */
export async function readableAccounts(
  ledger: Ledger,
  caller: Pick<LedgerCaller, 'userId' | 'role'>,
  accountId: string | undefined,
): Promise<string[] | undefined | null> {
  if (caller.role !== 'customer') return accountId === undefined ? undefined : [accountId];
  const own = await customerAccountIds(ledger, caller.userId);
  if (accountId === undefined) return own;
  return own.includes(accountId) ? [accountId] : null;
}

export type { TransferOutcome };
