import type { UseCaseRejection } from '@ledger/application';
import type { AccountBody, TransactionBody } from '@ledger/contracts';
import {
  type Account,
  type AmountError,
  type Currency,
  formatAmount,
  isCurrency,
  parseAmount,
  type Transfer,
} from '@ledger/domain/ledger';
import { type HttpProblem, problem } from './problem.js';

/** Ledger rejections (the deciders' and the use cases') mapped to HTTP once, here at the edge (API.md). */
export function ledgerProblem(rejection: UseCaseRejection): HttpProblem {
  switch (rejection.code) {
    case 'account_number_unknown':
      return problem(404, 'account_not_found', 'No account has this number');
    case 'staff_only':
      return problem(403, 'forbidden', 'Cash deposits and withdrawals are for staff');
    case 'bank_account':
      return problem(403, 'forbidden', 'Bank accounts stay open');
    case 'customer_not_found':
      return problem(404, 'not_found', 'No such customer');
    case 'owner_required':
      return invalid('body.userId', 'staff open accounts for a customer: give userId');
    case 'second_account_kyc':
      return problem(422, 'kyc_required', 'A second account needs a verified identity (KYC)');
    case 'amount_invalid':
      return invalid('body.amount', amountMessages[rejection.reason]);
    case 'invalid_amount':
      return invalid('body.amount', rejection.reason === 'too_large' ? 'too large' : 'must be > 0');
    case 'invalid_timeout':
      return invalid('body.timeoutSeconds', 'out of range, or given for an immediate transfer');
    case 'same_account':
      return problem(422, 'same_account', 'The two accounts of a transfer must differ');
    case 'currency_mismatch':
      return problem(
        422,
        'currency_mismatch',
        `Account ${rejection.accountId} holds ${rejection.accountCurrency}`,
        {
          accountId: rejection.accountId,
        },
      );
    case 'account_not_found':
      return problem(404, 'account_not_found', 'No such account', { accountId: rejection.accountId });
    case 'account_exists':
      return problem(409, 'conflict', 'This account exists');
    case 'account_frozen':
      return problem(422, 'account_frozen', `Account ${rejection.accountId} is frozen`, {
        accountId: rejection.accountId,
      });
    case 'account_closed':
      return problem(422, 'account_closed', `Account ${rejection.accountId} is closed`, {
        accountId: rejection.accountId,
      });
    case 'insufficient_funds':
      return problem(422, 'insufficient_funds', 'The available balance does not cover this amount');
    case 'limit_exceeded': {
      const max = formatAmount(rejection.max, rejection.currency);
      return problem(
        422,
        'limit_exceeded',
        `The ${rejection.limit} limit of ${max} ${rejection.currency} would be exceeded`,
        { limit: rejection.limit, max, currency: rejection.currency },
      );
    }
    case 'kyc_required': {
      const max = formatAmount(rejection.max, rejection.currency);
      return problem(
        422,
        'kyc_required',
        `Until your identity is verified (KYC), at most ${max} ${rejection.currency} a day may go out`,
        { limit: rejection.limit, max, currency: rejection.currency },
      );
    }
    case 'own_account':
      return problem(
        403,
        'own_account',
        'Staff do not serve themselves: cash on your own account is for a colleague',
        {
          accountId: rejection.accountId,
        },
      );
    case 'approval_required': {
      const max = formatAmount(rejection.max, rejection.currency);
      return problem(
        422,
        'approval_required',
        `Cash above ${max} ${rejection.currency} needs a manager's approval`,
        { max, currency: rejection.currency },
      );
    }
    case 'balance_not_zero':
      return problem(422, 'balance_not_zero', 'Only an account with a zero balance can be closed');
    case 'pending_transfers':
      return problem(422, 'pending_transfers', 'The account has pending transfers: post or void them first');
    case 'transfer_exists':
      return problem(409, 'idempotency_conflict', 'This Idempotency-Key was used for another request');
    case 'transfer_not_found':
      return problem(404, 'not_found', 'No such transaction');
    case 'transfer_not_pending':
      return problem(409, 'transfer_not_pending', `The transaction is ${rejection.status}, not pending`);
    case 'clearing_only':
      return problem(
        403,
        'forbidden',
        'An external transfer is settled or returned by the clearing rail, not by hand',
      );
    case 'transfer_expired':
      return problem(409, 'transfer_not_pending', 'The hold has expired');
    case 'transfer_not_expired':
      return problem(409, 'transfer_not_expired', 'The hold has not expired yet');
    case 'amount_exceeds_pending':
      return problem(422, 'amount_exceeds_pending', 'The amount exceeds the pending amount');
    case 'transfer_not_posted':
      return problem(
        409,
        'transfer_not_posted',
        `The transaction is ${rejection.status}: only posted ones reverse`,
      );
    case 'transfer_already_reversed':
      return problem(409, 'transfer_already_reversed', 'The transaction is already reversed', {
        reversedBy: rejection.reversedBy,
      });
    default: {
      const unexpected: never = rejection;
      throw new Error(`unmapped ledger rejection ${JSON.stringify(unexpected)}`);
    }
  }
}

export function invalid(path: string, message: string): HttpProblem {
  return problem(400, 'validation_failed', `${path} is not valid: ${message}`, {
    errors: [{ path, message }],
  });
}

const amountMessages: Record<AmountError, string> = {
  not_a_string: 'must be a decimal string, e.g. "10.50"',
  unsupported_currency: 'unknown currency',
  malformed: 'must be plain decimal notation, e.g. "10.50"',
  negative: 'must be > 0',
  zero: 'must be > 0',
  too_many_decimals: "more decimals than the currency's exponent",
  too_large: 'at most 999999999999999.99',
};

export function currencyOrThrow(text: string, path = 'body.currency'): Currency {
  if (!isCurrency(text)) throw invalid(path, 'unknown currency');
  return text;
}

/** An API amount → minor units, or a 400 naming the field. */
export function amountOrThrow(text: unknown, currency: Currency, path = 'body.amount'): bigint {
  const parsed = parseAmount(text, currency);
  if (!parsed.ok) throw invalid(path, amountMessages[parsed.reason]);
  return parsed.amount;
}

export function accountBody(account: Account, accountNumber: string | null): AccountBody {
  const balance = account.creditsPosted - account.debitsPosted;
  return {
    id: account.id,
    accountNumber,
    userId: account.ownerId,
    type: account.accountType,
    currency: account.currency,
    status: account.status,
    balance: formatAmount(balance, account.currency),
    availableBalance: formatAmount(balance - account.debitsPending, account.currency),
    pendingDebits: formatAmount(account.debitsPending, account.currency),
    pendingCredits: formatAmount(account.creditsPending, account.currency),
    createdAt: account.openedAt,
  };
}

export function transactionBody(transfer: Transfer, position: bigint): TransactionBody {
  const status = transfer.status === 'expired' ? 'voided' : transfer.status;
  return {
    id: transfer.id,
    type: transfer.code,
    status,
    fromAccountId: transfer.debitAccountId,
    toAccountId: transfer.creditAccountId,
    amount: formatAmount(transfer.amount, transfer.currency),
    postedAmount:
      transfer.status === 'posted' ? formatAmount(transfer.postedAmount, transfer.currency) : null,
    currency: transfer.currency,
    reference: transfer.reference,
    reversalOf: transfer.reversalOf,
    beneficiary: transfer.beneficiary,
    riskFlags: [],
    createdAt: transfer.createdAt,
    position: position.toString(),
  };
}
