import assert from 'node:assert/strict';
import {
  type AccountEvent,
  type AccountState,
  evolveAccount,
  initialAccountState,
} from '../src/ledger/account.js';
import {
  type AccountCommand,
  type Decision,
  decideAccount,
  decideTransfer,
  type TransferCommand,
  type TransferStates,
  type TransferWrites,
} from '../src/ledger/decide.js';
import {
  evolveTransfer,
  initialTransferState,
  type TransferEvent,
  type TransferState,
} from '../src/ledger/transfer.js';

/**
 * Tests only (`@ledger/domain/testing`): an in-memory ledger that loads the streams a
 * command needs, decides, and applies the events the way the application layer appends
 * them. Events go through JSON on the way, as they do through the event store.
 */

export interface Ledger {
  accounts: Map<string, AccountState>;
  transfers: Map<string, TransferState>;
}

export const emptyLedger = (): Ledger => ({ accounts: new Map(), transfers: new Map() });

export const accountIn = (ledger: Ledger, id: string): AccountState =>
  ledger.accounts.get(id) ?? initialAccountState();
export const transferIn = (ledger: Ledger, id: string): TransferState =>
  ledger.transfers.get(id) ?? initialTransferState();

/** The streams a transfer command loads, as the handler loads them. */
export function statesFor(ledger: Ledger, command: TransferCommand): TransferStates {
  const none = initialAccountState();
  const transfer = transferIn(ledger, command.transferId);
  switch (command.type) {
    case 'CreateTransfer':
      return {
        transfer,
        debit: accountIn(ledger, command.debitAccountId),
        credit: accountIn(ledger, command.creditAccountId),
      };
    case 'ReverseTransfer': {
      const original = transferIn(ledger, command.originalTransferId);
      if (original.status === 'none') return { transfer, debit: none, credit: none, original };
      return {
        transfer,
        debit: accountIn(ledger, original.creditAccountId),
        credit: accountIn(ledger, original.debitAccountId),
        original,
      };
    }
    default:
      if (transfer.status === 'none') return { transfer, debit: none, credit: none };
      return {
        transfer,
        debit: accountIn(ledger, transfer.debitAccountId),
        credit: accountIn(ledger, transfer.creditAccountId),
      };
  }
}

/** Through JSON, as the event store keeps them: a bigint left in an event throws here. */
export const viaJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

export function applyAccountEvents(ledger: Ledger, events: readonly AccountEvent[]): void {
  for (const event of viaJson(events)) {
    const id = event.data.accountId;
    ledger.accounts.set(id, evolveAccount(accountIn(ledger, id), event));
  }
}

export function applyTransferEvents(ledger: Ledger, events: readonly TransferEvent[]): void {
  for (const event of viaJson(events)) {
    const id = event.data.transferId;
    ledger.transfers.set(id, evolveTransfer(transferIn(ledger, id), event));
  }
}

export function applyWrites(ledger: Ledger, writes: TransferWrites): void {
  applyTransferEvents(ledger, writes.transfer);
  applyTransferEvents(ledger, writes.original);
  applyAccountEvents(ledger, writes.debit);
  applyAccountEvents(ledger, writes.credit);
}

export type LedgerCommand = AccountCommand | TransferCommand;

export const isAccountCommand = (command: LedgerCommand): command is AccountCommand =>
  command.type.endsWith('Account');

/**
 * `recordRefusals`: a refusal's record (TransferRefused) is appended too, as runTransferCommand
 * appends it. Off by default, so that a test of a rejection can check that nothing changed.
 */
export function run(
  ledger: Ledger,
  command: LedgerCommand,
  options: { recordRefusals?: boolean } = {},
): Decision<AccountEvent[] | TransferWrites> {
  if (isAccountCommand(command)) {
    const decision = decideAccount(command, accountIn(ledger, command.accountId));
    if (decision.status === 'accepted') applyAccountEvents(ledger, decision.events);
    return decision;
  }
  const decision = decideTransfer(command, statesFor(ledger, command));
  if (decision.status === 'accepted') applyWrites(ledger, decision.events);
  if (decision.status === 'rejected' && options.recordRefusals && decision.record !== undefined)
    applyTransferEvents(ledger, decision.record);
  return decision;
}

/** Runs commands that must all be accepted: the "given" of a test. */
export function given(...commands: LedgerCommand[]): Ledger {
  const ledger = emptyLedger();
  for (const command of commands) {
    const decision = run(ledger, command);
    assert.equal(decision.status, 'accepted', `given ${command.type}: ${JSON.stringify(decision, bigints)}`);
  }
  return ledger;
}

/** JSON.stringify replacer for messages about values holding bigints. */
export const bigints = (_key: string, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value);
