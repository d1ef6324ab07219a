import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  type Account,
  type AccountCommand,
  type AccountState,
  bankAccountTypes,
  type Currency,
  type CustomerAccountType,
  decideAccount,
  evolveAccount,
  initialAccountState,
  type LedgerRejection,
} from '@ledger/domain/ledger';
import type { EventMetadata } from '@ledger/eventstore';
import { runCommand } from '../command-handler.js';
import type { Ledger } from './context.js';
import { readWholeStream, toNew } from './events.js';
import { bankAccountId, makeAccountNumber } from './ids.js';
import { loadAccount, versionOf } from './load.js';
import { accountNumberStreamId, accountStreamId, customerAccountsStreamId } from './streams.js';

/** Account commands over the store, each through the one command loop (runCommand). */

export interface OpenCustomerAccountCommand {
  ownerId: string;
  accountType: CustomerAccountType;
  currency: Currency;
  /** The owner's KYC: a second account needs it verified. */
  kycVerified: boolean;
  now: Date;
}

export type OpenAccountResult =
  | { ok: true; account: Account; accountNumber: string; position: bigint }
  | { ok: false; code: 'kyc_required' };

/**
 * Opens a customer account: AccountOpened (with its account number), the number's
 * reservation and the owner's account list in one append. The list is appended with its
 * expected version, so two concurrent "first accounts" cannot both skip the KYC check; a
 * conflict (another account of the owner, or very rarely the same random number) is
 * decided again.
 */
export async function openCustomerAccount(
  ledger: Ledger,
  command: OpenCustomerAccountCommand,
  metadata: EventMetadata,
): Promise<OpenAccountResult> {
  await ensureBankAccounts(ledger, command.currency, command.now, metadata);
  const accountId = randomUUID();
  const newEvent = toNew(metadata);
  return runCommand<OpenAccountResult>(
    ledger.store,
    async () => {
      const owned = await readWholeStream(ledger.store, customerAccountsStreamId(command.ownerId));
      if (owned.length >= 1 && !command.kycVerified) return { answer: { ok: false, code: 'kyc_required' } };
      const decision = decideAccount(
        {
          type: 'OpenCustomerAccount',
          accountId,
          ownerId: command.ownerId,
          accountType: command.accountType,
          currency: command.currency,
          now: command.now,
        },
        initialAccountState(),
      );
      assert(decision.status === 'accepted', `opening a fresh account id was refused: ${decision.status}`);
      const accountNumber = makeAccountNumber();
      const [opened] = decision.events;
      assert(opened?.type === 'AccountOpened');
      return {
        writes: [
          {
            streamId: accountStreamId(accountId),
            expectedVersion: 'no_stream',
            // The number rides along in AccountOpened's data, so the read model needs no join.
            events: [newEvent({ type: opened.type, data: { ...opened.data, accountNumber } })],
          },
          {
            streamId: accountNumberStreamId(accountNumber),
            expectedVersion: 'no_stream',
            events: [newEvent({ type: 'AccountNumberAssigned', data: { accountNumber, accountId } })],
          },
          {
            streamId: customerAccountsStreamId(command.ownerId),
            expectedVersion: versionOf(owned),
            events: [
              newEvent({
                type: 'CustomerAccountAdded',
                data: { userId: command.ownerId, accountId, accountNumber },
              }),
            ],
          },
        ],
        done: (result) => {
          const account = evolveAccount(initialAccountState(), opened);
          assert(account.status !== 'none');
          return { ok: true, account, accountNumber, position: result.position };
        },
      };
    },
    { deadline: ledger.deadline },
  );
}

/**
 * Opens the bank-owned accounts of a currency (cash, clearing, fee-income, suspense) that
 * do not exist yet. Idempotent: fixed ids, appended with their expected version; a
 * concurrent opener winning the race is the same outcome.
 */
export async function ensureBankAccounts(
  ledger: Ledger,
  currency: Currency,
  now: Date,
  metadata: EventMetadata,
): Promise<void> {
  if (ledger.bankCurrencies.has(currency)) return;
  for (const type of bankAccountTypes) {
    const accountId = bankAccountId(currency, type);
    await runCommand<'opened' | 'exists'>(ledger.store, async () => {
      const { state, version } = await loadAccount(ledger, accountId);
      const decision = decideAccount(
        { type: 'OpenBankAccount', accountId, accountType: type, currency, now },
        state,
      );
      if (decision.status === 'replayed') return { answer: 'exists' };
      assert(decision.status === 'accepted', `bank account ${currency} ${type}: ${decision.status}`);
      return {
        writes: [
          {
            streamId: accountStreamId(accountId),
            expectedVersion: version,
            events: decision.events.map(toNew(metadata)),
          },
        ],
        done: () => 'opened',
        // Another process opened it first: the account exists, which is all this asks.
        onConflict: () => 'exists',
      };
    });
  }
  ledger.bankCurrencies.add(currency);
}

export type AccountOutcome =
  | { ok: true; account: Account; position: bigint | null }
  | { ok: false; rejection: LedgerRejection };

export type AccountChange = Extract<
  AccountCommand,
  { type: 'FreezeAccount' | 'UnfreezeAccount' | 'CloseAccount' }
>;

/** Freeze, unfreeze, close: one account stream, decided again on concurrent writes. */
export async function runAccountCommand(
  ledger: Ledger,
  command: AccountChange,
  metadata: EventMetadata,
): Promise<AccountOutcome> {
  const streamId = accountStreamId(command.accountId);
  return ledger.locks.run([streamId], () =>
    runCommand<AccountOutcome>(
      ledger.store,
      async () => {
        const { state, version } = await loadAccount(ledger, command.accountId);
        const decision = decideAccount(command, state);
        if (decision.status === 'rejected') return { answer: { ok: false, rejection: decision.rejection } };
        assert(decision.status === 'accepted' && state.status !== 'none', 'only opening replays');
        if (decision.events.length === 0) return { answer: { ok: true, account: state, position: null } };
        return {
          writes: [{ streamId, expectedVersion: version, events: decision.events.map(toNew(metadata)) }],
          done: (result) => {
            const account = decision.events.reduce(evolveAccount, state as AccountState);
            assert(account.status !== 'none');
            return { ok: true, account, position: result.position };
          },
        };
      },
      { deadline: ledger.deadline },
    ),
  );
}
