import type {
  KycUseCaseRejection,
  PackFieldError,
  PackOutcome,
  SubscriptionOutcome,
  UseCaseRejection,
} from '@ledger/application';
import type { IdentityRejection } from '@ledger/domain';
import { formatAmount } from '@ledger/domain/ledger';
import { amountMessages, invalid } from './ledger-http.js';
import { type HttpProblem, problem } from './problem.js';

/**
 * Every aggregate's rejection codes mapped to HTTP once, here at the edge (API.md): the
 * identity's (a code), the ledger deciders' and the ledger use cases' (an object with a
 * code and its facts). A route answers `throw problemOf(outcome.rejection)`; no route makes
 * up a status or a code for a rejection of its own.
 */
export type Rejection = UseCaseRejection | IdentityRejection | 'self_modification';

const identityProblems: Record<
  IdentityRejection | 'self_modification',
  [status: number, detail: string, code?: string]
> = {
  user_exists: [409, 'A user with this id exists'],
  user_not_found: [404, 'No such user'],
  invalid_credentials: [401, 'Wrong username, email or password'],
  otp_required: [401, 'Two-factor authentication is on: give the current code as otp'],
  invalid_otp: [401, 'The one-time code is wrong, expired or already used'],
  account_locked: [423, 'The account is locked: too many failed attempts, or locked by staff'],
  profile_locked: [422, 'Name and birth date cannot change once KYC has verified them'],
  two_factor_already_enabled: [409, 'Two-factor authentication is already on: disable it first'],
  two_factor_not_pending: [409, 'Call POST /api/auth/2fa/setup first'],
  two_factor_not_enabled: [409, 'Two-factor authentication is not on'],
  insufficient_rank: [
    403,
    'Your rank does not allow this: managers lock customers and agents, directors anyone but themselves',
  ],
  // Nobody promotes or demotes themselves: it takes a second person.
  self_modification: [422, 'Another staff member must change your role'],
  // API.md, Admin: erasure is for customers only; staff records are the bank's own.
  not_a_customer: [403, 'Only a customer’s personal data can be erased', 'forbidden'],
  retention_period: [
    422,
    'The retention period after the customer relationship ended has not passed (or an account is still open)',
  ],
};

/** The problem of a rejection; `statusOverride` where the contract gives one code two statuses. */
export function problemOf(rejection: Rejection, statusOverride?: number): HttpProblem {
  if (typeof rejection === 'string') {
    const [status, detail, code] = identityProblems[rejection];
    return problem(statusOverride ?? status, code ?? rejection, detail);
  }
  return ledgerProblemOf(rejection);
}

function ledgerProblemOf(rejection: UseCaseRejection): HttpProblem {
  switch (rejection.code) {
    case 'account_number_unknown':
      return problem(404, 'account_not_found', 'No account has this number');
    case 'staff_only':
      return problem(403, 'forbidden', 'Cash deposits and withdrawals are for staff');
    case 'manager_only':
      return problem(403, 'forbidden', 'Held transactions are reviewed by a manager or a director');
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
    case 'transfer_rejected':
      return problem(422, 'transfer_rejected', `Refused by the bank's rules: ${rejection.rules.join(', ')}`, {
        rules: rejection.rules,
      });
    case 'transfer_held':
      return problem(
        409,
        'transfer_not_pending',
        'The transaction is held_for_review: a manager approves or rejects it',
        { status: 'held_for_review' },
      );
    case 'transfer_not_held':
      return problem(
        409,
        'transfer_not_pending',
        `The transaction is ${rejection.status}, not held for review`,
      );
    case 'reviewer_is_party':
      return problem(403, 'forbidden', 'A party to a transaction, or who asked for it, does not review it');
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

const kycProblems: Record<KycUseCaseRejection, [status: number, code: string, detail: string]> = {
  case_exists: [409, 'case_exists', 'A case with this id exists'],
  case_not_found: [404, 'not_found', 'No such verification'],
  already_checked: [409, 'already_checked', 'The case was decided already'],
  not_a_customer: [403, 'forbidden', 'Only customers verify their identity'],
  verification_pending: [409, 'verification_pending', 'Another verification of yours is still being checked'],
  already_verified: [409, 'already_verified', 'Your identity is verified already'],
  user_not_found: [404, 'not_found', 'No such user'],
  wrong_provider: [409, 'wrong_provider', 'The case is checked by another provider'],
  callback_replayed: [409, 'callback_replayed', 'This callback was received already'],
};

/** The problem of a refused KYC use case. */
export function kycProblemOf(rejection: KycUseCaseRejection): HttpProblem {
  const [status, code, detail] = kycProblems[rejection];
  return problem(status, code, detail);
}

/** What the pack catalog and subscription use cases refuse (invalid_pack: packFieldsProblem). */
export type PackUseCaseRejection =
  | Exclude<Extract<PackOutcome, { ok: false }>['rejection'], 'invalid_pack'>
  | Extract<SubscriptionOutcome, { ok: false }>['rejection'];

const packProblems: Record<PackUseCaseRejection, [status: number, code: string, detail: string]> = {
  forbidden: [403, 'forbidden', 'Packs are defined by managers and directors'],
  // Pack ids are random, or derived from the caller's Idempotency-Key: only a reused key meets one.
  pack_exists: [409, 'idempotency_conflict', 'This Idempotency-Key created another pack'],
  pack_not_found: [404, 'pack_not_found', 'No such pack (or it is not offered yet)'],
  pack_retired: [422, 'pack_retired', 'The pack is retired: it takes no new subscription and stays retired'],
  pack_currency_fixed: [
    422,
    'pack_currency_fixed',
    'The currency of a pack that has left draft cannot change: its subscriptions are charged in it',
  ],
  already_subscribed: [409, 'already_subscribed', 'The account already has this pack, or another one'],
  currency_mismatch: [422, 'currency_mismatch', 'The pack and the account are in different currencies'],
  subscription_not_found: [404, 'not_found', 'No such subscription'],
  subscription_inactive: [
    422,
    'subscription_inactive',
    'The subscription is suspended or cancelled: it no longer changes pack',
  ],
  // Another customer's account is not revealed (API.md, Conventions).
  account_not_found: [404, 'not_found', 'No such account'],
  account_closed: [422, 'account_closed', 'The account is closed'],
  idempotency_conflict: [409, 'idempotency_conflict', 'This Idempotency-Key was used for another request'],
};

/** The problem of a refused pack or subscription use case. */
export function packProblemOf(rejection: PackUseCaseRejection): HttpProblem {
  const [status, code, detail] = packProblems[rejection];
  return problem(status, code, detail);
}

/** A pack body whose amounts or currency the use case refused: 400, each field named. */
export function packFieldsProblem(errors: readonly PackFieldError[]): HttpProblem {
  const fields = errors.map((e) => ({ path: `body.${e.path}`, message: e.message }));
  return problem(400, 'validation_failed', `The pack is not valid: ${fields.map((f) => f.path).join(', ')}`, {
    errors: fields,
  });
}
