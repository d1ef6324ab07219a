import assert from 'node:assert/strict';
import type { EvaluationOutcome, RuleFinding, RuleId } from '../fraud/rules.js';
import type { TransferCode } from './account.js';
import type { TransferLimitName } from './decide.js';
import { type Currency, fromMinorUnits, type MinorUnits } from './money.js';

/**
 * The transfer aggregate (`transfer-<id>` stream): events, state, evolve. Pure.
 *
 * A transfer is created once (the stream is appended with expected `no_stream`) and is
 * never edited: a two-phase transfer ends once (posted, voided, expired or returned), and a
 * correction is a new reversal transfer, of which the original only records the id. A
 * create the decider refused for the state of accounts or settings is recorded too
 * (TransferRefused, and nothing after it), so its key answers the same refusal for ever.
 */

export type TransferMode = 'single-phase' | 'two-phase';

/** Who an external transfer pays, outside the bank: `iban` normalised (no spaces, upper case). */
export interface Beneficiary {
  iban: string;
  name: string;
}

/**
 * What the fraud and AML rules decided about a customer's debit (codes `transfer`,
 * `external`), recorded on the event that created or refused it, with the settings version
 * (the API's settings `version`) they ran under: the decision replays exactly.
 */
export interface RiskRecord {
  settingsVersion: string;
  outcome: EvaluationOutcome;
  /** Active rules that fired: the transaction's riskFlags. */
  flags: RuleId[];
  /** Rules in shadow mode that would have fired: recorded, changing nothing. */
  shadow: RuleId[];
  findings: RuleFinding[];
}

/** Why a transfer waits for a manager: rules that asked for review, or the cash desk's threshold. */
export type ReviewReason = RuleId | 'cash_approval_min';

/** A transfer held for review, as its TransferPending records it. */
export interface HoldReview {
  reasons: ReviewReason[];
  /** Who asked for the money to move (the owner, or the member of staff at the desk): never its reviewer. */
  requestedBy: string;
  /** What was asked: approving a single-phase request posts it; a two-phase one too (API.md). */
  requestedMode: TransferMode;
}

export interface ReviewDecision {
  decision: 'approved' | 'rejected';
  reviewerId: string;
  reason: string;
  at: string;
}

/** What identifies a transfer's request: a replay must carry the same body. */
export interface TransferBodyData {
  transferId: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: MinorUnits;
  currency: Currency;
  code: TransferCode;
  reference: string | null;
  /** The transfer this one reverses (code `reversal` only). */
  reversalOf: string | null;
  /** Code `external` only (absent otherwise, and in events written before it existed). */
  beneficiary?: Beneficiary;
}

/**
 * A create's business refusal (a 422) as TransferRefused records it: amounts in minor units,
 * as in every event. These are the refusals that depend on what accounts, settings or KYC
 * said at the time (and same_account, the one 422 about the request alone): a retry of the
 * request must get the same answer after they have changed. A 400 (the request's form), a
 * 404 or a 403 (whom it names) and a 409 (its key) are not recorded: nothing is written.
 */
export type RecordedRefusal =
  | { code: 'same_account' }
  | { code: 'currency_mismatch'; accountId: string; accountCurrency: Currency }
  | { code: 'account_frozen'; accountId: string }
  | { code: 'account_closed'; accountId: string }
  | { code: 'insufficient_funds'; accountId: string; available: MinorUnits }
  | { code: 'limit_exceeded'; limit: TransferLimitName; max: MinorUnits; currency: Currency }
  | { code: 'kyc_required'; limit: 'unverified_daily_debit_max'; max: MinorUnits; currency: Currency }
  | { code: 'approval_required'; max: MinorUnits; currency: Currency }
  /** An active rule whose outcome is reject fired (a watch-list hit): the rules that did. */
  | { code: 'transfer_rejected'; rules: RuleId[] };

export type TransferEvent =
  /** Single-phase: posted at once. */
  | { type: 'TransferPosted'; data: TransferBodyData & { risk?: RiskRecord; at: string } }
  /**
   * Two-phase: `amount` held on both accounts until posted, voided or expired. With
   * `review`: held for review (any requested mode), `expiresAt` being the review's deadline.
   */
  | {
      type: 'TransferPending';
      data: TransferBodyData & {
        /** 0: no timeout. */
        timeoutSeconds: number;
        expiresAt: string | null;
        risk?: RiskRecord;
        review?: HoldReview;
        at: string;
      };
    }
  | { type: 'PendingTransferPosted'; data: { transferId: string; amount: MinorUnits; at: string } }
  | { type: 'PendingTransferVoided'; data: { transferId: string; reason: string | null; at: string } }
  | { type: 'PendingTransferExpired'; data: { transferId: string; at: string } }
  /** The clearing rail sent an external transfer back: its hold is released, as by a void. */
  | { type: 'PendingTransferReturned'; data: { transferId: string; reason: string; at: string } }
  /** Recorded on the original in the same append as the reversal: at most one per transfer. */
  | { type: 'TransferReversed'; data: { transferId: string; reversalTransferId: string; at: string } }
  /**
   * A create refused (see RecordedRefusal), with the whole request (what a retry must repeat
   * to be the same request) and why. Moves no money: no account stream is written with it.
   */
  | {
      type: 'TransferRefused';
      data: TransferBodyData & {
        mode: TransferMode;
        timeoutSeconds: number;
        rejection: RecordedRefusal;
        risk?: RiskRecord;
        at: string;
      };
    }
  /**
   * A manager decided a held transfer, in the same append as what follows: approved, a
   * PendingTransferPosted (an external transfer instead goes on, pending, to the clearing
   * rail); rejected, a PendingTransferVoided.
   */
  | { type: 'TransferReviewed'; data: ReviewDecision & { transferId: string; code: TransferCode } };

export type TransferEventType = TransferEvent['type'];

/** Every transfer event type, once: what readers of transfer streams accept and projections handle. */
export const transferEventTypes = [
  'TransferPosted',
  'TransferPending',
  'PendingTransferPosted',
  'PendingTransferVoided',
  'PendingTransferExpired',
  'PendingTransferReturned',
  'TransferReversed',
  'TransferRefused',
  'TransferReviewed',
] as const satisfies readonly TransferEventType[];
// A type added to TransferEvent but not listed above fails here.
type UnlistedTransferEvent = Exclude<TransferEventType, (typeof transferEventTypes)[number]>;
const _everyTransferEventListed: UnlistedTransferEvent extends never ? true : UnlistedTransferEvent = true;

export interface TransferBody {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  currency: Currency;
  code: TransferCode;
  reference: string | null;
  reversalOf: string | null;
  beneficiary: Beneficiary | null;
  mode: TransferMode;
  timeoutSeconds: number;
  /** The rules' decision (customer debits since the rules exist); null otherwise. */
  risk: RiskRecord | null;
  /** Held for review when created (and how it was decided, once it was); null otherwise. */
  review: (HoldReview & { decision: ReviewDecision | null }) | null;
  createdAt: string;
}

export type Transfer =
  | (TransferBody & { status: 'pending'; expiresAt: string | null })
  | (TransferBody & {
      status: 'posted';
      /** ≤ amount: a hold may be posted partially. */
      postedAmount: bigint;
      postedAt: string;
      reversedBy: string | null;
    })
  | (TransferBody & { status: 'voided' | 'expired' | 'returned'; endedAt: string })
  /** Refused when created: only the request and the refusal, never a leg. */
  | (TransferBody & { status: 'rejected'; refusal: RecordedRefusal; rejectedAt: string });

export type TransferState = { status: 'none' } | Transfer;

export const initialTransferState = (): TransferState => ({ status: 'none' });

function body(
  data: TransferBodyData & { risk?: RiskRecord; review?: HoldReview },
  mode: TransferMode,
  timeoutSeconds: number,
  at: string,
): TransferBody {
  return {
    id: data.transferId,
    debitAccountId: data.debitAccountId,
    creditAccountId: data.creditAccountId,
    amount: fromMinorUnits(data.amount),
    currency: data.currency,
    code: data.code,
    reference: data.reference,
    reversalOf: data.reversalOf,
    beneficiary: data.beneficiary ?? null,
    mode,
    timeoutSeconds,
    risk: data.risk ?? null,
    review: data.review === undefined ? null : { ...data.review, decision: null },
    createdAt: at,
  };
}

/** Held for review and not yet decided: only a manager (or the review's deadline) ends it. */
export const isHeldForReview = (transfer: Transfer): boolean =>
  transfer.status === 'pending' && transfer.review !== null && transfer.review.decision === null;

function existing(state: TransferState, event: TransferEvent): Transfer {
  assert(state.status !== 'none', `${event.type} on a transfer stream that was never created`);
  assert(state.id === event.data.transferId, `${event.type} for ${event.data.transferId} on ${state.id}`);
  return state;
}

function pending(state: TransferState, event: TransferEvent): Extract<Transfer, { status: 'pending' }> {
  const transfer = existing(state, event);
  // Ending a hold twice would free or move its money twice.
  assert(transfer.status === 'pending', `${event.type} on ${transfer.status} transfer ${transfer.id}`);
  return transfer;
}

export function evolveTransfer(state: TransferState, event: TransferEvent): TransferState {
  switch (event.type) {
    case 'TransferPosted': {
      assert(state.status === 'none', `TransferPosted on existing transfer ${event.data.transferId}`);
      const b = body(event.data, 'single-phase', 0, event.data.at);
      return { ...b, status: 'posted', postedAmount: b.amount, postedAt: event.data.at, reversedBy: null };
    }
    case 'TransferPending': {
      assert(state.status === 'none', `TransferPending on existing transfer ${event.data.transferId}`);
      const d = event.data;
      // A request held for review keeps the mode it asked for (a replay asks the same).
      const mode = d.review?.requestedMode ?? 'two-phase';
      return { ...body(d, mode, d.timeoutSeconds, d.at), status: 'pending', expiresAt: d.expiresAt };
    }
    case 'PendingTransferPosted': {
      const { expiresAt: _expiresAt, ...b } = pending(state, event);
      const postedAmount = fromMinorUnits(event.data.amount);
      assert(postedAmount > 0n && postedAmount <= b.amount, `posted ${postedAmount} of a ${b.amount} hold`);
      return { ...b, status: 'posted', postedAmount, postedAt: event.data.at, reversedBy: null };
    }
    case 'PendingTransferVoided': {
      const { expiresAt: _expiresAt, ...b } = pending(state, event);
      return { ...b, status: 'voided', endedAt: event.data.at };
    }
    case 'PendingTransferExpired': {
      const { expiresAt: _expiresAt, ...b } = pending(state, event);
      return { ...b, status: 'expired', endedAt: event.data.at };
    }
    case 'PendingTransferReturned': {
      const { expiresAt: _expiresAt, ...b } = pending(state, event);
      assert.equal(b.code, 'external', `PendingTransferReturned on ${b.code} transfer ${b.id}`);
      return { ...b, status: 'returned', endedAt: event.data.at };
    }
    case 'TransferReversed': {
      const transfer = existing(state, event);
      assert(transfer.status === 'posted', `TransferReversed on ${transfer.status} transfer ${transfer.id}`);
      assert(transfer.reversedBy === null, `transfer ${transfer.id} reversed twice`);
      return { ...transfer, reversedBy: event.data.reversalTransferId };
    }
    case 'TransferRefused': {
      assert(state.status === 'none', `TransferRefused on existing transfer ${event.data.transferId}`);
      const d = event.data;
      return {
        ...body(d, d.mode, d.timeoutSeconds, d.at),
        status: 'rejected',
        refusal: d.rejection,
        rejectedAt: d.at,
      };
    }
    case 'TransferReviewed': {
      const transfer = pending(state, event);
      assert(
        isHeldForReview(transfer) && transfer.review !== null,
        `TransferReviewed on ${transfer.id}, not held`,
      );
      const { transferId: _id, code: _code, ...decision } = event.data;
      // An approved external transfer goes on to the clearing rail, which has no deadline.
      const expiresAt =
        decision.decision === 'approved' && transfer.code === 'external' ? null : transfer.expiresAt;
      return { ...transfer, expiresAt, review: { ...transfer.review, decision } };
    }
    default: {
      const unexpected: never = event;
      throw new assert.AssertionError({ message: `unhandled transfer event ${JSON.stringify(unexpected)}` });
    }
  }
}

export function foldTransfer(events: readonly TransferEvent[]): TransferState {
  return events.reduce(evolveTransfer, initialTransferState());
}
