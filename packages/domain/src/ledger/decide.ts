import assert from 'node:assert/strict';
import { evaluateRules, type Payee, payeeKey, type RuleId, type RulePolicy } from '../fraud/rules.js';
import {
  type Account,
  type AccountEvent,
  type AccountState,
  availableBalanceOf,
  type BankAccountType,
  balanceOf,
  type CustomerAccountType,
  dailyDebitsOn,
  isLimitedCode,
  type LegSide,
} from './account.js';
import { amountMaxMinor, type Currency, fromMinorUnits, toMinorUnits } from './money.js';
import {
  type Beneficiary,
  type HoldReview,
  isHeldForReview,
  type RecordedRefusal,
  type ReviewReason,
  type RiskRecord,
  type Transfer,
  type TransferBodyData,
  type TransferEvent,
  type TransferMode,
  type TransferState,
} from './transfer.js';

/**
 * Commands and the pure deciders of the ledger. The clock (`now`), ids and the context
 * (limits from settings and KYC, what the account already sent today) come in on the
 * command. Expected failures are values (`LedgerRejection`); a state that cannot happen
 * (a leg on a closed account, states of the wrong accounts) is an assertion that throws.
 */

/** Longest a two-phase hold may wait for its post or void: 30 days. */
export const pendingTimeoutSecondsMax = 30 * 24 * 60 * 60;
/**
 * How long a hold given no timeout waits (API.md: 7 days), so that no customer's money is
 * reserved for ever by a hold nobody ends. An external transfer has none: the clearing rail
 * ends it.
 */
export const pendingTimeoutSecondsDefault = 7 * 24 * 60 * 60;

export type TransferLimitName = 'transfer_amount_max' | 'daily_debit_max';

/**
 * Expected failures, a closed union. Each maps to one API error code at the edge
 * (`transfer_exists` → 409 `idempotency_conflict`; the others keep their name).
 */
export type LedgerRejection =
  | { code: 'invalid_amount'; reason: 'not_positive' | 'too_large' }
  | { code: 'invalid_timeout' }
  | { code: 'same_account' }
  | { code: 'currency_mismatch'; accountId: string; accountCurrency: Currency }
  | { code: 'account_not_found'; accountId: string }
  | { code: 'account_exists'; accountId: string }
  | { code: 'account_frozen'; accountId: string }
  | { code: 'account_closed'; accountId: string }
  /** `available` includes the overdraft: the most this debit could have been. */
  | { code: 'insufficient_funds'; accountId: string; available: bigint }
  | { code: 'limit_exceeded'; limit: TransferLimitName; max: bigint; currency: Currency }
  /** Over the daily total of an owner whose KYC is not verified: verifying would lift it. */
  | { code: 'kyc_required'; limit: 'unverified_daily_debit_max'; max: bigint; currency: Currency }
  /** Cash at the desk on an account the member of staff owns: nobody serves themself. */
  | { code: 'own_account'; accountId: string }
  /**
   * Cash at the desk above the settings' cashApprovalMin (`max`): no longer decided (such cash
   * is held for review), but answered again for the refusals recorded before.
   */
  | { code: 'approval_required'; max: bigint; currency: Currency }
  /** An active rule whose outcome is reject fired (a watch-list hit): the rules that did. */
  | { code: 'transfer_rejected'; rules: RuleId[] }
  /** A post or void of a transfer held for review: a manager decides it, through the review. */
  | { code: 'transfer_held'; transferId: string }
  /** A review of a transfer that is not held for review (any more). */
  | { code: 'transfer_not_held'; transferId: string; status: Transfer['status'] }
  /** The reviewer asked for the money to move, or owns one of its accounts: four eyes. */
  | { code: 'reviewer_is_party'; transferId: string }
  | { code: 'balance_not_zero'; accountId: string; balance: bigint }
  | { code: 'pending_transfers'; accountId: string }
  | { code: 'transfer_exists'; transferId: string }
  | { code: 'transfer_not_found'; transferId: string }
  | { code: 'transfer_not_pending'; transferId: string; status: Transfer['status'] }
  /** An external transfer is settled or returned by the clearing rail, never by hand. */
  | { code: 'clearing_only'; transferId: string }
  | { code: 'transfer_expired'; transferId: string }
  | { code: 'transfer_not_expired'; transferId: string }
  | { code: 'amount_exceeds_pending'; transferId: string; pending: bigint }
  | { code: 'transfer_not_posted'; transferId: string; status: Transfer['status'] }
  | { code: 'transfer_already_reversed'; transferId: string; reversedBy: string };

export type LedgerRejectionCode = LedgerRejection['code'];

export const ledgerRejectionCodes = [
  'invalid_amount',
  'invalid_timeout',
  'same_account',
  'currency_mismatch',
  'account_not_found',
  'account_exists',
  'account_frozen',
  'account_closed',
  'insufficient_funds',
  'limit_exceeded',
  'kyc_required',
  'own_account',
  'approval_required',
  'transfer_rejected',
  'transfer_held',
  'transfer_not_held',
  'reviewer_is_party',
  'balance_not_zero',
  'pending_transfers',
  'transfer_exists',
  'transfer_not_found',
  'transfer_not_pending',
  'clearing_only',
  'transfer_expired',
  'transfer_not_expired',
  'amount_exceeds_pending',
  'transfer_not_posted',
  'transfer_already_reversed',
] as const satisfies readonly LedgerRejectionCode[];

// The list above names every code once: adding a code to the union without it fails here.
type Missing = Exclude<LedgerRejectionCode, (typeof ledgerRejectionCodes)[number]>;
const _everyCodeListed: Missing extends never ? true : Missing = true;

/**
 * The refusals of a CreateTransfer that are recorded (TransferRefused, see RecordedRefusal):
 * its 422s. Every other rejection writes nothing.
 */
export const recordedRefusalCodes = [
  'same_account',
  'currency_mismatch',
  'account_frozen',
  'account_closed',
  'insufficient_funds',
  'limit_exceeded',
  'kyc_required',
  'approval_required',
  'transfer_rejected',
] as const satisfies readonly RecordedRefusal['code'][];
// Every code a TransferRefused may carry is listed above.
type UnlistedRefusal = Exclude<RecordedRefusal['code'], (typeof recordedRefusalCodes)[number]>;
const _everyRefusalListed: UnlistedRefusal extends never ? true : UnlistedRefusal = true;

/** A rejection as TransferRefused records it, or null for one that is not recorded. */
export function recordedRefusalOf(rejection: LedgerRejection): RecordedRefusal | null {
  switch (rejection.code) {
    case 'same_account':
      return { code: rejection.code };
    case 'currency_mismatch':
      return {
        code: rejection.code,
        accountId: rejection.accountId,
        accountCurrency: rejection.accountCurrency,
      };
    case 'account_frozen':
    case 'account_closed':
      return { code: rejection.code, accountId: rejection.accountId };
    case 'insufficient_funds':
      return {
        code: rejection.code,
        accountId: rejection.accountId,
        available: toMinorUnits(rejection.available),
      };
    case 'limit_exceeded':
      return { ...rejection, max: toMinorUnits(rejection.max) };
    case 'kyc_required':
      return { ...rejection, max: toMinorUnits(rejection.max) };
    case 'approval_required':
      return { code: rejection.code, max: toMinorUnits(rejection.max), currency: rejection.currency };
    case 'transfer_rejected':
      return { code: rejection.code, rules: [...rejection.rules] };
    default:
      return null;
  }
}

/** The rejection a recorded refusal answers again. */
export function rejectionOfRefusal(refusal: RecordedRefusal): LedgerRejection {
  switch (refusal.code) {
    case 'same_account':
    case 'currency_mismatch':
    case 'account_frozen':
    case 'account_closed':
    case 'transfer_rejected':
      return refusal;
    case 'insufficient_funds':
      return { ...refusal, available: fromMinorUnits(refusal.available) };
    case 'limit_exceeded':
      return { ...refusal, max: fromMinorUnits(refusal.max) };
    case 'kyc_required':
      return { ...refusal, max: fromMinorUnits(refusal.max) };
    case 'approval_required':
      return { ...refusal, max: fromMinorUnits(refusal.max) };
    default: {
      const unexpected: never = refusal;
      throw new assert.AssertionError({ message: `unknown recorded refusal ${JSON.stringify(unexpected)}` });
    }
  }
}

export interface Rejected {
  status: 'rejected';
  rejection: LedgerRejection;
  /**
   * A CreateTransfer's business refusal: the TransferRefused to append to the new transfer's
   * stream (expected no_stream, nothing else in the append), so the same request answers the
   * same refusal after whatever refused it has changed. Absent: nothing is recorded.
   */
  record?: TransferEvent[];
}

/**
 * `accepted`: append these events (possibly none: freezing a frozen account changes
 * nothing). `replayed`: the same request already happened; answer with what is stored.
 * `rejected`: answer the rejection; append its `record` first when there is one.
 */
export type Decision<Writes> = { status: 'accepted'; events: Writes } | { status: 'replayed' } | Rejected;

const accept = <W>(events: W): Decision<W> => ({ status: 'accepted', events });
const reject = (rejection: LedgerRejection): Rejected => ({ status: 'rejected', rejection });
const replayed = { status: 'replayed' } as const;

// ---------------------------------------------------------------------------------------
// Accounts

export type AccountCommand =
  | {
      type: 'OpenCustomerAccount';
      accountId: string;
      ownerId: string;
      accountType: CustomerAccountType;
      currency: Currency;
      /** Minor units the available balance may go below zero; 0n or absent = none. */
      overdraftLimit?: bigint;
      now: Date;
    }
  | {
      type: 'OpenBankAccount';
      accountId: string;
      accountType: BankAccountType;
      currency: Currency;
      now: Date;
    }
  | { type: 'FreezeAccount'; accountId: string; reason: string; now: Date }
  | { type: 'UnfreezeAccount'; accountId: string; reason: string; now: Date }
  /** Requires a zero balance and no holds either way. */
  | { type: 'CloseAccount'; accountId: string; now: Date };

function openedEvent(command: AccountCommand & { type: 'OpenCustomerAccount' | 'OpenBankAccount' }) {
  const at = command.now.toISOString();
  const event: AccountEvent =
    command.type === 'OpenCustomerAccount'
      ? {
          type: 'AccountOpened',
          data: {
            accountId: command.accountId,
            kind: 'customer',
            accountType: command.accountType,
            ownerId: command.ownerId,
            currency: command.currency,
            debitsMustNotExceedCredits: true,
            overdraftLimit: toMinorUnits(command.overdraftLimit ?? 0n),
            openedAt: at,
          },
        }
      : {
          type: 'AccountOpened',
          data: {
            accountId: command.accountId,
            kind: 'bank',
            accountType: command.accountType,
            ownerId: null,
            currency: command.currency,
            debitsMustNotExceedCredits: false,
            overdraftLimit: null,
            openedAt: at,
          },
        };
  return event;
}

export function decideAccount(command: AccountCommand, state: AccountState): Decision<AccountEvent[]> {
  if (state.status !== 'none') assert.equal(state.id, command.accountId, 'account state of another account');
  const at = command.now.toISOString();
  switch (command.type) {
    case 'OpenCustomerAccount':
    case 'OpenBankAccount': {
      const event = openedEvent(command);
      if (state.status !== 'none') {
        const d = event.data;
        const same =
          state.kind === d.kind &&
          state.accountType === d.accountType &&
          state.ownerId === d.ownerId &&
          state.currency === d.currency &&
          state.flags.overdraftLimit ===
            (command.type === 'OpenCustomerAccount' ? (command.overdraftLimit ?? 0n) : 0n);
        return same ? replayed : reject({ code: 'account_exists', accountId: command.accountId });
      }
      if (command.type === 'OpenCustomerAccount' && command.overdraftLimit !== undefined) {
        const limit = command.overdraftLimit;
        if (limit < 0n) return reject({ code: 'invalid_amount', reason: 'not_positive' });
        if (limit > amountMaxMinor(command.currency))
          return reject({ code: 'invalid_amount', reason: 'too_large' });
      }
      return accept([event]);
    }
    case 'FreezeAccount':
    case 'UnfreezeAccount': {
      if (state.status === 'none') return reject({ code: 'account_not_found', accountId: command.accountId });
      if (state.status === 'closed') return reject({ code: 'account_closed', accountId: state.id });
      const data = { accountId: state.id, reason: command.reason, at };
      if (command.type === 'FreezeAccount') {
        return accept(state.status === 'frozen' ? [] : [{ type: 'AccountFrozen', data }]);
      }
      return accept(state.status === 'active' ? [] : [{ type: 'AccountUnfrozen', data }]);
    }
    case 'CloseAccount': {
      if (state.status === 'none') return reject({ code: 'account_not_found', accountId: command.accountId });
      if (state.status === 'closed') return accept([]);
      const balance = balanceOf(state);
      if (balance !== 0n) return reject({ code: 'balance_not_zero', accountId: state.id, balance });
      if (state.debitsPending !== 0n || state.creditsPending !== 0n) {
        return reject({ code: 'pending_transfers', accountId: state.id });
      }
      return accept([{ type: 'AccountClosed', data: { accountId: state.id, at } }]);
    }
    default: {
      const unexpected: never = command;
      throw new assert.AssertionError({ message: `unhandled account command ${JSON.stringify(unexpected)}` });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Transfers

/**
 * Context the handler loads from the bank's settings and the owner's KYC, for the limited
 * codes only (`transfer`, `external`: see limitedTransferCodes). What the account already
 * sent today is not context: it is in the debit account's state (Account.dailyDebits), so
 * it is exactly as current as the version the append expects.
 */
export interface TransferLimits {
  /** Per transfer, minor units. Over it: limit_exceeded `transfer_amount_max`. */
  transferAmountMax?: bigint;
  /** The debit account's limited debits of the UTC day of `now`, this one included. */
  dailyDebitMax?: bigint;
  /**
   * Set when the owner's KYC is not verified: their daily total is also held to this (0n:
   * nothing may go out, as for external transfers). Over it, but not over dailyDebitMax:
   * kyc_required, since verifying is what would lift it.
   */
  unverifiedDailyDebitMax?: bigint;
}

/**
 * Context of cash at the desk (codes `deposit` and `withdrawal`), loaded by the handler from
 * the request's principal and the bank's settings. Absent: the bank moving its own cash
 * (tests, migrations), held to neither rule.
 */
export interface CashDesk {
  /** The member of staff at the desk: never on an account they own (own_account). */
  staffId: string;
  /**
   * The settings' cashApprovalMin of the currency: an amount strictly above it is held for
   * a manager's review (funds reserved); the amount itself not.
   */
  approvalMin: bigint;
}

/** How long a held transfer waits for its review: the settings' ruleThresholds.reviewTimeoutHours. */
export interface ReviewDeadline {
  reviewTimeoutHours: number;
}

/**
 * The fraud and AML rules a customer's debit is judged by, from the settings in force,
 * with their version (the API's settings `version`), recorded with the decision.
 */
export interface TransferRules {
  policy: RulePolicy;
  settingsVersion: string;
}

/** What every create names; the context it is decided in depends on its code (below). */
interface CreateTransferBody {
  type: 'CreateTransfer';
  /** Derived by the caller from (caller, Idempotency-Key). */
  transferId: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  currency: Currency;
  mode: TransferMode;
  /**
   * Two-phase only. Absent: pendingTimeoutSecondsDefault, but for an external transfer
   * (the clearing rail ends it). 0: no timeout, for the bank's own holds only (the API
   * accepts 1 s to 30 days).
   */
  timeoutSeconds?: number;
  reference?: string | null;
  /**
   * Code `external` only, which is always two-phase: the hold waits for the clearing
   * rail to settle (post) or return it.
   */
  beneficiary?: Beneficiary;
  now: Date;
}

/**
 * A new transfer. A customer's debit (codes `transfer` and `external`) cannot be made
 * without the limits it is held to: the type requires them, so no caller skips them by
 * forgetting (`{}`: none apply, the bank's own transfers). Cash at the desk carries the
 * desk's context instead.
 */
export type CreateTransferCommand =
  | (CreateTransferBody & {
      code: 'transfer' | 'external';
      limits: TransferLimits;
      /**
       * The rules it is judged by. The use cases always give them; absent: not judged (the
       * deciders' own tests of everything else).
       */
      rules?: TransferRules;
      desk?: never;
    })
  | (CreateTransferBody & {
      code: 'deposit' | 'withdrawal' | 'fee';
      limits?: never;
      rules?: never;
      /** Made at the desk: who serves, and the approval threshold. Absent: the bank's own cash. */
      desk?: CashDesk & ReviewDeadline;
    });

export type TransferCommand =
  | CreateTransferCommand
  /**
   * Posts `amount` (default: all) of a hold; the rest is released in the same step. An
   * external transfer is posted (settled) and voided by the clearing rail only:
   * `byClearing` says the command comes from it; without it, clearing_only.
   */
  | { type: 'PostPendingTransfer'; transferId: string; amount?: bigint; byClearing?: boolean; now: Date }
  | {
      type: 'VoidPendingTransfer';
      transferId: string;
      reason?: string | null;
      byClearing?: boolean;
      now: Date;
    }
  /**
   * The clearing rail sent an external transfer back (the beneficiary's bank refused it):
   * the hold is released, as by a void, and the transfer ends `returned`.
   */
  | { type: 'ReturnPendingTransfer'; transferId: string; reason: string; now: Date }
  /** Sent by the scheduled job once `expiresAt` has passed. */
  | { type: 'ExpirePendingTransfer'; transferId: string; now: Date }
  /** A new single-phase transfer moving the original's posted amount back. */
  | { type: 'ReverseTransfer'; transferId: string; originalTransferId: string; reason: string; now: Date }
  /**
   * A manager's decision on a transfer held for review: approved, it is posted (an external
   * one goes on to the clearing rail); rejected, it is voided. Who may review (rank) is the
   * use case's; that the reviewer is no party to it is decided here, on the states.
   */
  | {
      type: 'ReviewHeldTransfer';
      transferId: string;
      decision: 'approved' | 'rejected';
      reviewerId: string;
      reason: string;
      now: Date;
    };

/**
 * The streams one transfer command touches. For CreateTransfer and ReverseTransfer the
 * accounts are those the new transfer debits and credits (for a reversal: the original's
 * credit and debit accounts); otherwise those of the existing transfer.
 */
export interface TransferStates {
  transfer: TransferState;
  debit: AccountState;
  credit: AccountState;
  /** ReverseTransfer only: the transfer being reversed. */
  original?: TransferState;
}

/** What to append, atomically: one list per stream; `original` is non-empty for reversals only. */
export interface TransferWrites {
  transfer: TransferEvent[];
  debit: AccountEvent[];
  credit: AccountEvent[];
  original: TransferEvent[];
}

function checkAmount(amount: bigint, currency: Currency): LedgerRejection | null {
  if (amount <= 0n) return { code: 'invalid_amount', reason: 'not_positive' };
  if (amount > amountMaxMinor(currency)) return { code: 'invalid_amount', reason: 'too_large' };
  return null;
}

/** A new leg may land on an open, active account of the transfer's currency. */
function checkTakesLeg(account: Account, currency: Currency): LedgerRejection | null {
  if (account.status === 'closed') return { code: 'account_closed', accountId: account.id };
  if (account.status === 'frozen') return { code: 'account_frozen', accountId: account.id };
  if (account.currency !== currency) {
    return { code: 'currency_mismatch', accountId: account.id, accountCurrency: account.currency };
  }
  return null;
}

/** debitsMustNotExceedCredits: available − amount ≥ −overdraftLimit. */
function checkFunds(debit: Account, amount: bigint): LedgerRejection | null {
  if (!debit.flags.debitsMustNotExceedCredits) return null;
  const available = availableBalanceOf(debit) + debit.flags.overdraftLimit;
  return amount > available ? { code: 'insufficient_funds', accountId: debit.id, available } : null;
}

/**
 * Limits first that verifying KYC would not lift (limit_exceeded), then the unverified
 * owner's daily total (kyc_required).
 */
function checkLimits(
  debit: Account,
  amount: bigint,
  command: TransferCommand & { type: 'CreateTransfer' },
): LedgerRejection | null {
  const { limits, currency } = command;
  if (limits === undefined) return null;
  // The daily total counts limited codes only: a limit on any other would compare apples with pears.
  assert(isLimitedCode(command.code), `limits on a ${command.code} transfer`);
  if (limits.transferAmountMax !== undefined && amount > limits.transferAmountMax) {
    return { code: 'limit_exceeded', limit: 'transfer_amount_max', max: limits.transferAmountMax, currency };
  }
  const total = dailyDebitsOn(debit, command.now) + amount;
  if (limits.dailyDebitMax !== undefined && total > limits.dailyDebitMax) {
    return { code: 'limit_exceeded', limit: 'daily_debit_max', max: limits.dailyDebitMax, currency };
  }
  if (limits.unverifiedDailyDebitMax !== undefined && total > limits.unverifiedDailyDebitMax) {
    return {
      code: 'kyc_required',
      limit: 'unverified_daily_debit_max',
      max: limits.unverifiedDailyDebitMax,
      currency,
    };
  }
  return null;
}

function checkTimeout(mode: TransferMode, timeoutSeconds: number): LedgerRejection | null {
  const valid =
    Number.isSafeInteger(timeoutSeconds) &&
    timeoutSeconds >= 0 &&
    timeoutSeconds <= pendingTimeoutSecondsMax &&
    (mode === 'two-phase' || timeoutSeconds === 0);
  return valid ? null : { code: 'invalid_timeout' };
}

function accountOf(state: AccountState, id: string, role: string): Account {
  // The handler loads the accounts the transfer names; anything else is its bug.
  assert(state.status !== 'none', `${role} account ${id} of an existing transfer is missing`);
  assert.equal(state.id, id, `${role} account state is of another account`);
  return state;
}

/** What a transfer's legs repeat of it: each leg is a statement line on its own. */
interface Leg {
  transfer: Pick<Transfer, 'id' | 'debitAccountId' | 'creditAccountId' | 'code' | 'reference'> & {
    beneficiary: Beneficiary | null;
  };
  at: string;
}

/** Whom a customer's debit pays, as the rules key payees: the account, or the beneficiary's IBAN. */
function payeeOfLeg(transfer: Leg['transfer']): string {
  return transfer.beneficiary === null
    ? payeeKey({ accountId: transfer.creditAccountId })
    : payeeKey({ iban: transfer.beneficiary.iban });
}

function legData({ transfer, at }: Leg, side: LegSide) {
  return {
    accountId: side === 'debit' ? transfer.debitAccountId : transfer.creditAccountId,
    transferId: transfer.id,
    side,
    counterpartyAccountId: side === 'debit' ? transfer.creditAccountId : transfer.debitAccountId,
    code: transfer.code,
    reference: transfer.reference,
    at,
    // The debit account's payee history is a fold of its own legs (DebitActivity).
    ...(side === 'debit' && isLimitedCode(transfer.code) ? { payee: payeeOfLeg(transfer) } : {}),
  };
}

function bothLegs(make: (side: LegSide) => AccountEvent): Pick<TransferWrites, 'debit' | 'credit'> {
  return { debit: [make('debit')], credit: [make('credit')] };
}

/** The hold's timeout when the command gives none (see TransferCommand's timeoutSeconds). */
function timeoutSecondsOf(command: TransferCommand & { type: 'CreateTransfer' }): number {
  if (command.timeoutSeconds !== undefined) return command.timeoutSeconds;
  return command.mode === 'two-phase' && command.code !== 'external' ? pendingTimeoutSecondsDefault : 0;
}

function sameRequest(
  transfer: Transfer,
  command: TransferCommand & { type: 'CreateTransfer' },
  timeoutSeconds: number,
): boolean {
  return (
    transfer.debitAccountId === command.debitAccountId &&
    transfer.creditAccountId === command.creditAccountId &&
    transfer.amount === command.amount &&
    transfer.currency === command.currency &&
    transfer.code === command.code &&
    transfer.mode === command.mode &&
    // A hold made without a timeout before the default existed recorded 0: still the same request.
    (transfer.timeoutSeconds === timeoutSeconds ||
      (command.timeoutSeconds === undefined && transfer.timeoutSeconds === 0)) &&
    transfer.reference === (command.reference ?? null) &&
    transfer.reversalOf === null &&
    transfer.beneficiary?.iban === command.beneficiary?.iban &&
    transfer.beneficiary?.name === command.beneficiary?.name
  );
}

/** What a created (or refused) transfer records of its request. */
function requestData(command: TransferCommand & { type: 'CreateTransfer' }): TransferBodyData {
  return {
    transferId: command.transferId,
    debitAccountId: command.debitAccountId,
    creditAccountId: command.creditAccountId,
    amount: toMinorUnits(command.amount),
    currency: command.currency,
    code: command.code,
    reference: command.reference ?? null,
    reversalOf: null,
    ...(command.beneficiary === undefined
      ? {}
      : { beneficiary: { iban: command.beneficiary.iban, name: command.beneficiary.name } }),
  };
}

/** A business refusal of a create, with the TransferRefused that records it. */
function refuse(
  command: TransferCommand & { type: 'CreateTransfer' },
  timeoutSeconds: number,
  rejection: LedgerRejection,
  risk: RiskRecord | null = null,
): Rejected {
  const refusal = recordedRefusalOf(rejection);
  assert(refusal !== null, `${rejection.code} is not a recorded refusal`);
  const data = {
    ...requestData(command),
    mode: command.mode,
    timeoutSeconds,
    rejection: refusal,
    ...(risk === null ? {} : { risk }),
    at: command.now.toISOString(),
  };
  return { status: 'rejected', rejection, record: [{ type: 'TransferRefused', data }] };
}

/**
 * Whom a create may name, before anything about money: a 404 or a 403, never recorded.
 * - A `transfer` moves money between customer accounts: a bank-owned account (cash,
 *   clearing, fee income, suspense) is no one's payee, and is answered exactly as an
 *   account that does not exist (the bank's own accounts are not shown to customers).
 * - Cash at the desk is on a customer account (the other side is the desk's cash), and
 *   never on one the member of staff owns.
 */
function checkParties(
  command: TransferCommand & { type: 'CreateTransfer' },
  debit: Account,
  credit: Account,
): LedgerRejection | null {
  if (command.code === 'transfer') {
    for (const account of [debit, credit]) {
      if (account.kind !== 'customer') return { code: 'account_not_found', accountId: account.id };
    }
  }
  const { desk } = command;
  if (desk === undefined) return null;
  assert(command.code === 'deposit' || command.code === 'withdrawal', `a ${command.code} at the cash desk`);
  const [customer, till] = command.code === 'deposit' ? [credit, debit] : [debit, credit];
  assert(till.kind === 'bank' && till.accountType === 'cash', 'the desk pays in and out of its cash account');
  if (customer.kind !== 'customer') return { code: 'account_not_found', accountId: customer.id };
  if (customer.ownerId === desk.staffId) return { code: 'own_account', accountId: customer.id };
  return null;
}

/**
 * The rules' decision on a customer's debit, or null for a transfer they do not judge.
 * Its context is the debit account's own activity, as of the version the append expects.
 */
function judge(command: TransferCommand & { type: 'CreateTransfer' }, debit: Account): RiskRecord | null {
  const { rules } = command;
  if (rules === undefined) return null;
  assert(isLimitedCode(command.code), `rules on a ${command.code} transfer`);
  const payee: Payee =
    command.beneficiary === undefined
      ? { accountId: command.creditAccountId }
      : { iban: command.beneficiary.iban, name: command.beneficiary.name };
  const activity = debit.debitActivity;
  const evaluation = evaluateRules(
    {
      code: command.code as 'transfer' | 'external',
      amount: command.amount,
      currency: command.currency,
      payee,
      now: command.now,
    },
    {
      recentDebits: activity.recent,
      knownPayees: activity.knownPayees,
      lastDebitAt: activity.lastDebitAt,
      accountOpenedAt: debit.openedAt,
    },
    rules.policy,
  );
  return {
    settingsVersion: rules.settingsVersion,
    outcome: evaluation.outcome,
    flags: evaluation.flags,
    shadow: evaluation.shadow,
    findings: evaluation.findings,
  };
}

/** The active rules whose own outcome is `outcome`. */
const rulesWith = (risk: RiskRecord, outcome: 'review' | 'reject'): RuleId[] =>
  risk.findings.filter((f) => f.mode === 'active' && f.outcome === outcome).map((f) => f.ruleId);

/**
 * Why a manager must see it first, or null: active rules asking for review, or cash at the
 * desk strictly above the settings' cashApprovalMin; with the review's deadline.
 */
function reviewOf(
  command: TransferCommand & { type: 'CreateTransfer' },
  debit: Account,
  risk: RiskRecord | null,
): { review: HoldReview; timeoutHours: number } | null {
  const { desk } = command;
  let reasons: ReviewReason[] = [];
  let requestedBy: string | null = null;
  let timeoutHours = 0;
  if (risk !== null && risk.outcome === 'review') {
    reasons = rulesWith(risk, 'review');
    assert(command.rules !== undefined && debit.ownerId !== null, 'rules judge customer debits');
    requestedBy = debit.ownerId;
    timeoutHours = command.rules.policy.thresholds.reviewTimeoutHours;
  } else if (desk !== undefined && command.amount > desk.approvalMin) {
    reasons = ['cash_approval_min'];
    requestedBy = desk.staffId;
    timeoutHours = desk.reviewTimeoutHours;
  }
  if (requestedBy === null) return null;
  assert(Number.isSafeInteger(timeoutHours) && timeoutHours > 0, `a review of ${timeoutHours} hours`);
  return { review: { reasons, requestedBy, requestedMode: command.mode }, timeoutHours };
}

function createTransfer(
  command: TransferCommand & { type: 'CreateTransfer' },
  states: TransferStates,
): Decision<TransferWrites> {
  assert.notEqual(command.code, 'reversal', 'reversals are made by ReverseTransfer');
  // The clearing rail answers later: an external transfer is a hold, and names its payee.
  assert.equal(
    command.beneficiary !== undefined,
    command.code === 'external',
    'a beneficiary goes with code external, and only with it',
  );
  assert(command.code !== 'external' || command.mode === 'two-phase', 'an external transfer is two-phase');
  const timeoutSeconds = timeoutSecondsOf(command);
  const { transfer } = states;
  if (transfer.status !== 'none') {
    if (!sameRequest(transfer, command, timeoutSeconds))
      return reject({ code: 'transfer_exists', transferId: command.transferId });
    // Refused the first time: refused again, with the first answer, whatever changed since.
    return transfer.status === 'rejected' ? reject(rejectionOfRefusal(transfer.refusal)) : replayed;
  }
  const { amount, currency } = command;
  const invalid = checkAmount(amount, currency) ?? checkTimeout(command.mode, timeoutSeconds);
  if (invalid !== null) return reject(invalid);
  if (command.debitAccountId === command.creditAccountId)
    return refuse(command, timeoutSeconds, { code: 'same_account' });

  const { debit, credit } = states;
  if (debit.status === 'none')
    return reject({ code: 'account_not_found', accountId: command.debitAccountId });
  if (credit.status === 'none')
    return reject({ code: 'account_not_found', accountId: command.creditAccountId });
  assert.equal(debit.id, command.debitAccountId, 'debit account state is of another account');
  assert.equal(credit.id, command.creditAccountId, 'credit account state is of another account');
  const hidden = checkParties(command, debit, credit);
  if (hidden !== null) return reject(hidden);
  const closed = checkTakesLeg(debit, currency) ?? checkTakesLeg(credit, currency);
  if (closed !== null) return refuse(command, timeoutSeconds, closed);
  // A watch-list hit is refused (and recorded) whatever the limits and funds would say.
  const risk = judge(command, debit);
  if (risk?.outcome === 'reject') {
    const rejection: LedgerRejection = { code: 'transfer_rejected', rules: rulesWith(risk, 'reject') };
    return refuse(command, timeoutSeconds, rejection, risk);
  }
  // Funds before review: a manager is asked only about what could be paid.
  const refused = checkLimits(debit, amount, command) ?? checkFunds(debit, amount);
  if (refused !== null) return refuse(command, timeoutSeconds, refused, risk);

  const at = command.now.toISOString();
  const data = { ...requestData(command), ...(risk === null ? {} : { risk }) };
  const held = reviewOf(command, debit, risk);
  const leg: Leg = {
    transfer: {
      id: command.transferId,
      debitAccountId: command.debitAccountId,
      creditAccountId: command.creditAccountId,
      code: command.code,
      reference: data.reference,
      beneficiary: command.beneficiary ?? null,
    },
    at,
  };
  if (held !== null) {
    // Held for review: a hold whatever was asked, until a manager decides or the deadline.
    const expiresAt = new Date(command.now.getTime() + held.timeoutHours * 3_600_000).toISOString();
    return accept({
      transfer: [
        { type: 'TransferPending', data: { ...data, timeoutSeconds, expiresAt, review: held.review, at } },
      ],
      ...bothLegs((side) => ({
        type: 'AccountLegPending',
        data: { ...legData(leg, side), amount: data.amount },
      })),
      original: [],
    });
  }
  if (command.mode === 'single-phase') {
    return accept({
      transfer: [{ type: 'TransferPosted', data: { ...data, at } }],
      ...bothLegs((side) => ({
        type: 'AccountLegPosted',
        data: { ...legData(leg, side), amount: data.amount, releasedPending: '0' },
      })),
      original: [],
    });
  }
  const expiresAt =
    timeoutSeconds === 0 ? null : new Date(command.now.getTime() + timeoutSeconds * 1000).toISOString();
  return accept({
    transfer: [{ type: 'TransferPending', data: { ...data, timeoutSeconds, expiresAt, at } }],
    ...bothLegs((side) => ({
      type: 'AccountLegPending',
      data: { ...legData(leg, side), amount: data.amount },
    })),
    original: [],
  });
}

function isPastExpiry(transfer: Transfer & { status: 'pending' }, now: Date): boolean {
  return transfer.expiresAt !== null && now.getTime() >= Date.parse(transfer.expiresAt);
}

/** Post, void, expire and return: the transfer must be pending; its accounts must be loaded. */
function endHold(
  command: TransferCommand & {
    type: 'PostPendingTransfer' | 'VoidPendingTransfer' | 'ExpirePendingTransfer' | 'ReturnPendingTransfer';
  },
  states: TransferStates,
): Decision<TransferWrites> {
  const { transfer } = states;
  if (transfer.status === 'none')
    return reject({ code: 'transfer_not_found', transferId: command.transferId });
  assert.equal(transfer.id, command.transferId, 'transfer state of another transfer');
  // Whatever its status: only the rail decides an external transfer, and only external ones.
  const byClearing =
    command.type === 'ReturnPendingTransfer' ||
    ((command.type === 'PostPendingTransfer' || command.type === 'VoidPendingTransfer') &&
      command.byClearing === true);
  if (transfer.code === 'external' && !byClearing && command.type !== 'ExpirePendingTransfer') {
    return reject({ code: 'clearing_only', transferId: transfer.id });
  }
  assert(!byClearing || transfer.code === 'external', `the clearing rail ends a ${transfer.code} transfer`);
  if (transfer.status !== 'pending') {
    return reject({ code: 'transfer_not_pending', transferId: transfer.id, status: transfer.status });
  }
  // A manager decides a held transfer (ReviewHeldTransfer); only its deadline ends it otherwise.
  if (isHeldForReview(transfer) && command.type !== 'ExpirePendingTransfer') {
    return reject({ code: 'transfer_held', transferId: transfer.id });
  }
  const debit = accountOf(states.debit, transfer.debitAccountId, 'debit');
  const credit = accountOf(states.credit, transfer.creditAccountId, 'credit');
  // Close requires no holds, so an account with a hold on it is never closed.
  assert(debit.status !== 'closed' && credit.status !== 'closed', 'a pending transfer on a closed account');
  const at = command.now.toISOString();
  const leg: Leg = { transfer, at };
  const held = toMinorUnits(transfer.amount);

  switch (command.type) {
    case 'PostPendingTransfer': {
      if (isPastExpiry(transfer, command.now))
        return reject({ code: 'transfer_expired', transferId: transfer.id });
      const amount = command.amount ?? transfer.amount;
      const invalid = checkAmount(amount, transfer.currency);
      if (invalid !== null) return reject(invalid);
      if (amount > transfer.amount) {
        return reject({ code: 'amount_exceeds_pending', transferId: transfer.id, pending: transfer.amount });
      }
      // Posting moves money, so a freeze stops it; the funds were reserved when the hold was made.
      for (const account of [debit, credit]) {
        if (account.status === 'frozen') return reject({ code: 'account_frozen', accountId: account.id });
      }
      const posted = toMinorUnits(amount);
      return accept({
        transfer: [{ type: 'PendingTransferPosted', data: { transferId: transfer.id, amount: posted, at } }],
        ...bothLegs((side) => ({
          type: 'AccountLegPosted',
          data: { ...legData(leg, side), amount: posted, releasedPending: held },
        })),
        original: [],
      });
    }
    // Releasing a hold moves no money: allowed on frozen accounts, and always possible.
    case 'VoidPendingTransfer':
      return accept({
        transfer: [
          {
            type: 'PendingTransferVoided',
            data: { transferId: transfer.id, reason: command.reason ?? null, at },
          },
        ],
        ...bothLegs((side) => ({
          type: 'AccountLegReleased',
          data: { ...legData(leg, side), amount: held, reason: 'voided' },
        })),
        original: [],
      });
    case 'ReturnPendingTransfer':
      return accept({
        transfer: [
          {
            type: 'PendingTransferReturned',
            data: { transferId: transfer.id, reason: command.reason, at },
          },
        ],
        ...bothLegs((side) => ({
          type: 'AccountLegReleased',
          data: { ...legData(leg, side), amount: held, reason: 'returned' },
        })),
        original: [],
      });
    case 'ExpirePendingTransfer':
      if (!isPastExpiry(transfer, command.now)) {
        return reject({ code: 'transfer_not_expired', transferId: transfer.id });
      }
      return accept({
        transfer: [{ type: 'PendingTransferExpired', data: { transferId: transfer.id, at } }],
        ...bothLegs((side) => ({
          type: 'AccountLegReleased',
          data: { ...legData(leg, side), amount: held, reason: 'expired' },
        })),
        original: [],
      });
    default: {
      const unexpected: never = command;
      throw new assert.AssertionError({ message: `unhandled hold command ${JSON.stringify(unexpected)}` });
    }
  }
}

/**
 * A manager's decision on a held transfer. Four eyes: whoever asked for the money to move,
 * or owns either account, does not decide it. Approving moves money (a freeze stops it, and
 * a deadline that passed too); rejecting releases it, always possible.
 */
function reviewHeldTransfer(
  command: TransferCommand & { type: 'ReviewHeldTransfer' },
  states: TransferStates,
): Decision<TransferWrites> {
  const { transfer } = states;
  if (transfer.status === 'none')
    return reject({ code: 'transfer_not_found', transferId: command.transferId });
  assert.equal(transfer.id, command.transferId, 'transfer state of another transfer');
  if (!isHeldForReview(transfer) || transfer.review === null) {
    return reject({ code: 'transfer_not_held', transferId: transfer.id, status: transfer.status });
  }
  assert(transfer.status === 'pending');
  const debit = accountOf(states.debit, transfer.debitAccountId, 'debit');
  const credit = accountOf(states.credit, transfer.creditAccountId, 'credit');
  const parties = [transfer.review.requestedBy, debit.ownerId, credit.ownerId];
  if (parties.includes(command.reviewerId)) {
    return reject({ code: 'reviewer_is_party', transferId: transfer.id });
  }
  const at = command.now.toISOString();
  const reviewed: TransferEvent = {
    type: 'TransferReviewed',
    data: {
      transferId: transfer.id,
      code: transfer.code,
      decision: command.decision,
      reviewerId: command.reviewerId,
      reason: command.reason,
      at,
    },
  };
  const leg: Leg = { transfer, at };
  const held = toMinorUnits(transfer.amount);
  if (command.decision === 'rejected') {
    return accept({
      transfer: [
        reviewed,
        { type: 'PendingTransferVoided', data: { transferId: transfer.id, reason: command.reason, at } },
      ],
      ...bothLegs((side) => ({
        type: 'AccountLegReleased',
        data: { ...legData(leg, side), amount: held, reason: 'voided' },
      })),
      original: [],
    });
  }
  if (isPastExpiry(transfer, command.now))
    return reject({ code: 'transfer_expired', transferId: transfer.id });
  for (const account of [debit, credit]) {
    if (account.status === 'frozen') return reject({ code: 'account_frozen', accountId: account.id });
  }
  // An external transfer goes on, still a hold, to the clearing rail, which settles it.
  if (transfer.code === 'external') {
    return accept({ transfer: [reviewed], debit: [], credit: [], original: [] });
  }
  return accept({
    transfer: [
      reviewed,
      { type: 'PendingTransferPosted', data: { transferId: transfer.id, amount: held, at } },
    ],
    ...bothLegs((side) => ({
      type: 'AccountLegPosted',
      data: { ...legData(leg, side), amount: held, releasedPending: held },
    })),
    original: [],
  });
}

function reverseTransfer(
  command: TransferCommand & { type: 'ReverseTransfer' },
  states: TransferStates,
): Decision<TransferWrites> {
  assert(states.original !== undefined, 'ReverseTransfer needs the original transfer state');
  const { transfer, original } = states;
  if (transfer.status !== 'none') {
    const same = transfer.reversalOf === command.originalTransferId && transfer.reference === command.reason;
    return same ? replayed : reject({ code: 'transfer_exists', transferId: command.transferId });
  }
  if (original.status === 'none') {
    return reject({ code: 'transfer_not_found', transferId: command.originalTransferId });
  }
  assert.equal(original.id, command.originalTransferId, 'original transfer state of another transfer');
  if (original.status !== 'posted') {
    return reject({ code: 'transfer_not_posted', transferId: original.id, status: original.status });
  }
  if (original.reversedBy !== null) {
    return reject({
      code: 'transfer_already_reversed',
      transferId: original.id,
      reversedBy: original.reversedBy,
    });
  }
  // The reversal debits what the original credited, and credits what it debited.
  const debit = accountOf(states.debit, original.creditAccountId, 'debit');
  const credit = accountOf(states.credit, original.debitAccountId, 'credit');
  const amount = original.postedAmount;
  const refused =
    checkTakesLeg(debit, original.currency) ??
    checkTakesLeg(credit, original.currency) ??
    checkFunds(debit, amount);
  if (refused !== null) return reject(refused);

  const at = command.now.toISOString();
  const reversal = {
    id: command.transferId,
    debitAccountId: debit.id,
    creditAccountId: credit.id,
    code: 'reversal' as const,
    reference: command.reason,
    beneficiary: null,
  };
  const leg: Leg = { transfer: reversal, at };
  const moved = toMinorUnits(amount);
  return accept({
    transfer: [
      {
        type: 'TransferPosted',
        data: {
          transferId: reversal.id,
          debitAccountId: reversal.debitAccountId,
          creditAccountId: reversal.creditAccountId,
          amount: moved,
          currency: original.currency,
          code: 'reversal',
          reference: command.reason,
          reversalOf: original.id,
          at,
        },
      },
    ],
    ...bothLegs((side) => ({
      type: 'AccountLegPosted',
      data: { ...legData(leg, side), amount: moved, releasedPending: '0' },
    })),
    original: [
      { type: 'TransferReversed', data: { transferId: original.id, reversalTransferId: reversal.id, at } },
    ],
  });
}

export function decideTransfer(command: TransferCommand, states: TransferStates): Decision<TransferWrites> {
  switch (command.type) {
    case 'CreateTransfer':
      return createTransfer(command, states);
    case 'PostPendingTransfer':
    case 'VoidPendingTransfer':
    case 'ExpirePendingTransfer':
    case 'ReturnPendingTransfer':
      return endHold(command, states);
    case 'ReverseTransfer':
      return reverseTransfer(command, states);
    case 'ReviewHeldTransfer':
      return reviewHeldTransfer(command, states);
    default: {
      const unexpected: never = command;
      throw new assert.AssertionError({
        message: `unhandled transfer command ${JSON.stringify(unexpected)}`,
      });
    }
  }
}
