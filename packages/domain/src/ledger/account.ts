import assert from 'node:assert/strict';
import { type Currency, fromMinorUnits, type MinorUnits } from './money.js';

/**
 * The account aggregate (`account-<id>` stream): events, state, evolve. Pure.
 *
 * Four running totals as in TigerBeetle. Amounts in events are minor-unit strings
 * (`MinorUnits`), parsed back with BigInt here. Every leg names its transfer, so a
 * statement line or a point-in-time balance is a fold over this stream alone.
 */

export const customerAccountTypes = ['checking', 'savings'] as const;
export type CustomerAccountType = (typeof customerAccountTypes)[number];
/** Bank-owned accounts, one of each per currency. */
export const bankAccountTypes = ['cash', 'clearing', 'fee-income', 'suspense'] as const;
export type BankAccountType = (typeof bankAccountTypes)[number];
export type AccountType = CustomerAccountType | BankAccountType;

export const transferCodes = ['transfer', 'deposit', 'withdrawal', 'external', 'fee', 'reversal'] as const;
export type TransferCode = (typeof transferCodes)[number];

export type LegSide = 'debit' | 'credit';

interface LegData {
  accountId: string;
  transferId: string;
  side: LegSide;
  /** The other account of the transfer: the statement line's counterparty. */
  counterpartyAccountId: string;
  code: TransferCode;
  at: string;
}

export type AccountEvent =
  | {
      type: 'AccountOpened';
      data: {
        accountId: string;
        kind: 'customer';
        accountType: CustomerAccountType;
        ownerId: string;
        currency: Currency;
        debitsMustNotExceedCredits: true;
        /** How far below zero the available balance may go; "0" = no overdraft. */
        overdraftLimit: MinorUnits;
        openedAt: string;
      };
    }
  | {
      type: 'AccountOpened';
      data: {
        accountId: string;
        kind: 'bank';
        accountType: BankAccountType;
        ownerId: null;
        currency: Currency;
        debitsMustNotExceedCredits: false;
        overdraftLimit: null;
        openedAt: string;
      };
    }
  | { type: 'AccountFrozen'; data: { accountId: string; reason: string; at: string } }
  | { type: 'AccountUnfrozen'; data: { accountId: string; reason: string; at: string } }
  | { type: 'AccountClosed'; data: { accountId: string; at: string } }
  /** A two-phase transfer reserved `amount` on this account. */
  | { type: 'AccountLegPending'; data: LegData & { amount: MinorUnits } }
  /**
   * `amount` posted; `releasedPending` leaves the pending total: "0" for a single-phase
   * transfer, the whole pending amount when a hold is posted (fully or partially).
   */
  | { type: 'AccountLegPosted'; data: LegData & { amount: MinorUnits; releasedPending: MinorUnits } }
  /** A hold ended without moving money: `amount` leaves the pending total. */
  | { type: 'AccountLegReleased'; data: LegData & { amount: MinorUnits; reason: 'voided' | 'expired' } };

export type AccountEventType = AccountEvent['type'];

export interface AccountFlags {
  /** Customer accounts: the available balance may not go below −overdraftLimit. */
  debitsMustNotExceedCredits: boolean;
  overdraftLimit: bigint;
}

export interface Account {
  status: 'active' | 'frozen' | 'closed';
  id: string;
  kind: 'customer' | 'bank';
  accountType: AccountType;
  ownerId: string | null;
  currency: Currency;
  flags: AccountFlags;
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
  openedAt: string;
}

export type AccountState = { status: 'none' } | Account;

export const initialAccountState = (): AccountState => ({ status: 'none' });

/** Posted balance, credit-normal: credits − debits. */
export function balanceOf(account: Account): bigint {
  return account.creditsPosted - account.debitsPosted;
}

/** What may still be spent: the posted balance less outgoing holds (incoming holds don't count). */
export function availableBalanceOf(account: Account): bigint {
  return balanceOf(account) - account.debitsPending;
}

function opened(state: AccountState, event: AccountEvent): Account {
  // An event before AccountOpened, or a leg on a closed account, is a corrupt stream.
  assert(state.status !== 'none', `${event.type} on an account stream without AccountOpened`);
  assert(
    state.id === event.data.accountId,
    `${event.type} for ${event.data.accountId} on account ${state.id}`,
  );
  return state;
}

function takingLeg(state: AccountState, event: AccountEvent): Account {
  const account = opened(state, event);
  assert(account.status !== 'closed', `${event.type} on closed account ${account.id}`);
  return account;
}

function withPending(account: Account, side: LegSide, delta: bigint): Account {
  const key = side === 'debit' ? 'debitsPending' : 'creditsPending';
  const next = account[key] + delta;
  assert(next >= 0n, `${key} of ${account.id} would become ${next}`);
  return { ...account, [key]: next };
}

export function evolveAccount(state: AccountState, event: AccountEvent): AccountState {
  switch (event.type) {
    case 'AccountOpened': {
      assert(state.status === 'none', `AccountOpened on existing account ${event.data.accountId}`);
      const d = event.data;
      return {
        status: 'active',
        id: d.accountId,
        kind: d.kind,
        accountType: d.accountType,
        ownerId: d.ownerId,
        currency: d.currency,
        flags: {
          debitsMustNotExceedCredits: d.debitsMustNotExceedCredits,
          overdraftLimit: d.overdraftLimit === null ? 0n : fromMinorUnits(d.overdraftLimit),
        },
        debitsPosted: 0n,
        creditsPosted: 0n,
        debitsPending: 0n,
        creditsPending: 0n,
        openedAt: d.openedAt,
      };
    }
    case 'AccountFrozen': {
      const account = opened(state, event);
      assert(account.status === 'active', `AccountFrozen on ${account.status} account ${account.id}`);
      return { ...account, status: 'frozen' };
    }
    case 'AccountUnfrozen': {
      const account = opened(state, event);
      assert(account.status === 'frozen', `AccountUnfrozen on ${account.status} account ${account.id}`);
      return { ...account, status: 'active' };
    }
    case 'AccountClosed': {
      const account = opened(state, event);
      assert(account.status !== 'closed', `AccountClosed on closed account ${account.id}`);
      assert(
        balanceOf(account) === 0n && account.debitsPending === 0n && account.creditsPending === 0n,
        `AccountClosed on account ${account.id} with money or holds on it`,
      );
      return { ...account, status: 'closed' };
    }
    case 'AccountLegPending': {
      const account = takingLeg(state, event);
      const amount = fromMinorUnits(event.data.amount);
      assert(amount > 0n, 'a pending leg moves a positive amount');
      return withPending(account, event.data.side, amount);
    }
    case 'AccountLegPosted': {
      const account = takingLeg(state, event);
      const amount = fromMinorUnits(event.data.amount);
      const released = fromMinorUnits(event.data.releasedPending);
      assert(amount > 0n && released >= 0n, 'a posted leg moves a positive amount');
      const next = withPending(account, event.data.side, -released);
      return event.data.side === 'debit'
        ? { ...next, debitsPosted: next.debitsPosted + amount }
        : { ...next, creditsPosted: next.creditsPosted + amount };
    }
    case 'AccountLegReleased': {
      const account = takingLeg(state, event);
      const amount = fromMinorUnits(event.data.amount);
      assert(amount > 0n, 'a released leg frees a positive amount');
      return withPending(account, event.data.side, -amount);
    }
    default: {
      const unexpected: never = event;
      throw new assert.AssertionError({ message: `unhandled account event ${JSON.stringify(unexpected)}` });
    }
  }
}

export function foldAccount(events: readonly AccountEvent[]): AccountState {
  return events.reduce(evolveAccount, initialAccountState());
}
