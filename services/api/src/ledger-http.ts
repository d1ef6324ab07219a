import type { LedgerCaller } from '@ledger/application';
import type { AccountBody, TransactionBody } from '@ledger/contracts';
import {
  type Account,
  type AmountError,
  type Currency,
  formatAmount,
  isCurrency,
  isHeldForReview,
  parseAmount,
  type Transfer,
} from '@ledger/domain/ledger';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalOf } from './policy.js';
import { type HttpProblem, problem } from './problem.js';

/** The caller a ledger use case takes: the request's principal, its metadata, the app's clock and the request's deadline. */
export function ledgerCaller(app: FastifyInstance, request: FastifyRequest): LedgerCaller {
  const principal = principalOf(request);
  return {
    userId: principal.userId,
    role: principal.role,
    kycStatus: principal.kycStatus,
    metadata: app.auth.metadata(request, principal.userId),
    now: app.auth.now(),
    deadline: request.appendDeadline,
  };
}

export function invalid(path: string, message: string): HttpProblem {
  return problem(400, 'validation_failed', `${path} is not valid: ${message}`, {
    errors: [{ path, message }],
  });
}

export const amountMessages: Record<AmountError, string> = {
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
  const status =
    transfer.status === 'expired'
      ? 'voided'
      : isHeldForReview(transfer)
        ? 'held_for_review'
        : transfer.status;
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
    riskFlags: transfer.risk?.flags ?? [],
    createdAt: transfer.createdAt,
    position: position.toString(),
  };
}
