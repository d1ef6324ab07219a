import assert from 'node:assert/strict';
import {
  type Beneficiary,
  type Currency,
  isHeldForReview,
  parseIban,
  type TransferCommand,
  type TransferLimits,
  type TransferRules,
} from '@ledger/domain/ledger';
import type { EventMetadata } from '@ledger/eventstore';
import { ensureBankAccounts } from './ledger/accounts.js';
import type { Ledger } from './ledger/context.js';
import { bankAccountId } from './ledger/ids.js';
import { loadTransfer } from './ledger/load.js';
import { runTransferCommand, type TransferOutcome } from './ledger/transfers.js';

/**
 * External transfers, the clearing rail and hold expiry: the ledger commands that jobs run
 * (DESIGN §4). An external transfer is a two-phase transfer from the customer's account to
 * the bank's `clearing` account of its currency; the rail (simulated here) later settles it
 * (posts the full amount: the money leaves the bank through clearing) or returns it (the
 * hold is released and the transfer ends `returned`). Only the rail decides: the commands
 * it sends carry `byClearing`, and the decider refuses post/void without it.
 */

/** actorId of events that jobs write: no person asked for them, the bank's own process did. */
export const clearingActorId = 'system:clearing';
export const holdExpiryActorId = 'system:hold-expiry';

/**
 * Metadata of an event a job writes: the job's actor, the event that caused the job, and
 * the correlation of the request that started it all.
 */
export function jobMetadata(
  actorId: string,
  cause: { eventId: string; correlationId?: string | undefined; jobId: string },
): EventMetadata {
  return {
    actorId,
    causationId: cause.eventId,
    correlationId: cause.correlationId ?? cause.eventId,
    jobId: cause.jobId,
  };
}

// ---------------------------------------------------------------------------------------
// Creating an external transfer

export interface ExternalTransferCommand {
  /** Derived from (caller, Idempotency-Key), as for every money movement. */
  transferId: string;
  fromAccountId: string;
  /** IBAN normalised by parseIban. */
  beneficiary: Beneficiary;
  amount: bigint;
  currency: Currency;
  reference: string | null;
  /** The caller's limits, as for an internal transfer (`external` is a limited code). */
  limits: TransferLimits;
  /** The fraud and AML rules in force (sendExternal always gives them; absent: not judged). */
  rules?: TransferRules;
  now: Date;
}

/** The hold to `clearing`; the dispatcher hands it to the rail (job `clearing.submit`). */
export async function createExternalTransfer(
  ledger: Ledger,
  command: ExternalTransferCommand,
  metadata: EventMetadata,
): Promise<TransferOutcome> {
  const parsed = parseIban(command.beneficiary.iban);
  assert(parsed.ok && parsed.iban === command.beneficiary.iban, 'the caller normalises and checks the IBAN');
  await ensureBankAccounts(ledger, command.currency, command.now, metadata);
  return runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: command.transferId,
      debitAccountId: command.fromAccountId,
      creditAccountId: bankAccountId(command.currency, 'clearing'),
      amount: command.amount,
      currency: command.currency,
      code: 'external',
      mode: 'two-phase',
      reference: command.reference,
      beneficiary: { iban: command.beneficiary.iban, name: command.beneficiary.name },
      limits: command.limits,
      ...(command.rules === undefined ? {} : { rules: command.rules }),
      now: command.now,
    },
    metadata,
  );
}

// ---------------------------------------------------------------------------------------
// The clearing rail (simulated)

/** Most IBANs on the return list (CLEARING_RETURN_IBANS). */
export const clearingReturnIbansMax = 1000;
/** Longest answer time of the simulated rail: one day. */
export const clearingDelayMsMax = 86_400_000;

export interface ClearingRail {
  /** How long after the transfer was made the rail answers (the job's delay). */
  delayMs: number;
  /** Beneficiaries (normalised IBANs) whose bank sends the money back; the rest settle. */
  returnIbans: ReadonlySet<string>;
}

export const clearingRailDefaults = { delayMs: 5000, returnIbans: new Set<string>() } as const;

export type ClearingAnswer = { outcome: 'settle' } | { outcome: 'return'; reason: string };

/** What the simulated beneficiary bank answers. Pure. */
export function clearingAnswer(rail: ClearingRail, beneficiary: Beneficiary): ClearingAnswer {
  return rail.returnIbans.has(beneficiary.iban)
    ? { outcome: 'return', reason: 'returned by the beneficiary bank' }
    : { outcome: 'settle' };
}

export type ClearingResult =
  | { result: 'settled' | 'returned'; position: bigint }
  /** Already settled or returned (the job ran before, e.g. a retry after a crash): nothing to do. */
  | { result: 'already_ended' }
  /** Held for review: the rail gets it when a manager approves it (its own job then). */
  | { result: 'held' };

/**
 * Runs the rail's answer for one external transfer. A settle that the ledger refuses
 * because an account was frozen meanwhile becomes a return: the money must not leave a
 * frozen account, and a return (like a void) moves none.
 */
export async function clearExternalTransfer(
  ledger: Ledger,
  command: { transferId: string; rail: ClearingRail; now: Date },
  metadata: EventMetadata,
): Promise<ClearingResult> {
  const { state } = await loadTransfer(ledger, command.transferId);
  assert(state.status !== 'none', `clearing job for unknown transfer ${command.transferId}`);
  assert.equal(state.code, 'external', `clearing job for ${state.code} transfer ${state.id}`);
  if (state.status !== 'pending') return { result: 'already_ended' };
  if (isHeldForReview(state)) return { result: 'held' };
  assert(state.beneficiary !== null, `external transfer ${state.id} without a beneficiary`);
  const answer = clearingAnswer(command.rail, state.beneficiary);
  const returned = (reason: string): TransferCommand => ({
    type: 'ReturnPendingTransfer',
    transferId: state.id,
    reason,
    now: command.now,
  });
  let outcome = await runTransferCommand(
    ledger,
    answer.outcome === 'settle'
      ? { type: 'PostPendingTransfer', transferId: state.id, byClearing: true, now: command.now }
      : returned(answer.reason),
    metadata,
  );
  if (outcome.status === 'rejected' && outcome.rejection.code === 'account_frozen') {
    outcome = await runTransferCommand(ledger, returned('account frozen: not sent'), metadata);
  }
  if (outcome.status === 'rejected') {
    assert.equal(outcome.rejection.code, 'transfer_not_pending', `clearing: ${outcome.rejection.code}`);
    return { result: 'already_ended' };
  }
  assert(outcome.status === 'accepted', 'ending a hold is never a replay');
  return {
    result: outcome.transfer.status === 'posted' ? 'settled' : 'returned',
    position: outcome.position,
  };
}

// ---------------------------------------------------------------------------------------
// Hold expiry

export type ExpiryResult =
  | { result: 'expired'; position: bigint }
  /** Posted, voided (or expired) before its time came: the expected no-op. */
  | { result: 'already_ended' }
  /**
   * Pending without a deadline any more: an external transfer held for review and approved
   * before its review's deadline waits for the clearing rail alone. Nothing to do.
   */
  | { result: 'no_deadline' }
  /** This clock says the hold has not expired yet (clocks apart): try again later. */
  | { result: 'not_due'; expiresAt: string | null };

/** Sent by the scheduled job `ledger.expire-hold` once the hold's expiresAt has passed. */
export async function expirePendingTransfer(
  ledger: Ledger,
  command: { transferId: string; now: Date },
  metadata: EventMetadata,
): Promise<ExpiryResult> {
  const outcome = await runTransferCommand(
    ledger,
    { type: 'ExpirePendingTransfer', transferId: command.transferId, now: command.now },
    metadata,
  );
  if (outcome.status === 'rejected') {
    const { rejection } = outcome;
    if (rejection.code === 'transfer_not_pending') return { result: 'already_ended' };
    // The job comes from the transfer's own TransferPending event: it exists.
    assert.equal(rejection.code, 'transfer_not_expired', `hold expiry: ${rejection.code}`);
    const { state } = await loadTransfer(ledger, command.transferId);
    if (state.status === 'pending' && state.expiresAt === null) return { result: 'no_deadline' };
    return { result: 'not_due', expiresAt: state.status === 'pending' ? state.expiresAt : null };
  }
  assert(outcome.status === 'accepted', 'ending a hold is never a replay');
  return { result: 'expired', position: outcome.position };
}
