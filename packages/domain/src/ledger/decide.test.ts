import {
  accountIn,
  applyTransferEvents,
  bigints,
  given,
  type Ledger,
  type LedgerCommand,
  run,
  statesFor,
  transferIn,
} from '@ledger/domain/testing';
import t, { type Test } from 'tap';
import { defaultRuleModes, defaultRuleThresholds, type RulePolicy } from '../fraud/rules.js';
import {
  type Account,
  type AccountEvent,
  type AccountState,
  availableBalanceOf,
  balanceOf,
  dailyDebitsOn,
  evolveAccount,
  foldAccount,
} from './account.js';
import {
  type AccountCommand,
  type CreateTransferCommand,
  type Decision,
  decideAccount,
  decideTransfer,
  type LedgerRejection,
  type LedgerRejectionCode,
  ledgerRejectionCodes,
  pendingTimeoutSecondsDefault,
  pendingTimeoutSecondsMax,
  recordedRefusalCodes,
  recordedRefusalOf,
  rejectionOfRefusal,
  type TransferCommand,
  type TransferWrites,
} from './decide.js';
import { evolveTransfer, foldTransfer, type TransferEvent } from './transfer.js';

// Given commands (or events) / when a command / then events or a rejection.

const t0 = new Date('2026-03-01T09:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const iso = t0.toISOString();

const alice = 'acc-alice';
const bob = 'acc-bob';
const carol = 'acc-carol-usd';
const cash = 'acc-cash-eur';
const fees = 'acc-fees-eur';

const openAlice: AccountCommand = {
  type: 'OpenCustomerAccount',
  accountId: alice,
  ownerId: 'user-alice',
  accountType: 'checking',
  currency: 'EUR',
  now: t0,
};
const openBob: AccountCommand = { ...openAlice, accountId: bob, ownerId: 'user-bob', accountType: 'savings' };
const openCarol: AccountCommand = { ...openAlice, accountId: carol, ownerId: 'user-carol', currency: 'USD' };
const openCash: AccountCommand = {
  type: 'OpenBankAccount',
  accountId: cash,
  accountType: 'cash',
  currency: 'EUR',
  now: t0,
};
const openFees: AccountCommand = { ...openCash, accountId: fees, accountType: 'fee-income' };

/** Any field of any create (the type's code-dependent rules are what some tests break on purpose). */
type CreateFields = { [K in keyof CreateTransferCommand]?: unknown };

/** A create of 100.00 EUR from alice to bob; codes held to limits get none (`{}`) unless given. */
const create = (transferId: string, fields: CreateFields = {}): TransferCommand => {
  const command: Record<string, unknown> = {
    type: 'CreateTransfer',
    transferId,
    debitAccountId: alice,
    creditAccountId: bob,
    amount: 100_00n,
    currency: 'EUR',
    code: 'transfer',
    mode: 'single-phase',
    now: t0,
    ...fields,
  };
  if ((command.code === 'transfer' || command.code === 'external') && command.limits === undefined) {
    command.limits = {};
  }
  return command as unknown as TransferCommand;
};
const deposit = (transferId: string, accountId: string, amount: bigint): TransferCommand =>
  create(transferId, { debitAccountId: cash, creditAccountId: accountId, amount, code: 'deposit' });
const hold = (transferId: string, amount: bigint, timeoutSeconds = 0): TransferCommand =>
  create(transferId, { amount, mode: 'two-phase', timeoutSeconds });
const post = (transferId: string, amount?: bigint, now = t0): TransferCommand =>
  amount === undefined
    ? { type: 'PostPendingTransfer', transferId, now }
    : { type: 'PostPendingTransfer', transferId, amount, now };
const voidIt = (transferId: string): TransferCommand => ({
  type: 'VoidPendingTransfer',
  transferId,
  now: t0,
});
const expire = (transferId: string, now: Date): TransferCommand => ({
  type: 'ExpirePendingTransfer',
  transferId,
  now,
});
const reverse = (transferId: string, originalTransferId: string, reason = 'disputed'): TransferCommand => ({
  type: 'ReverseTransfer',
  transferId,
  originalTransferId,
  reason,
  now: t0,
});
const freeze = (accountId: string): AccountCommand => ({
  type: 'FreezeAccount',
  accountId,
  reason: 'aml',
  now: t0,
});
const unfreeze = (accountId: string): AccountCommand => ({
  type: 'UnfreezeAccount',
  accountId,
  reason: 'cleared',
  now: t0,
});
const close = (accountId: string): AccountCommand => ({ type: 'CloseAccount', accountId, now: t0 });

const at24h = new Date(t0.getTime() + 24 * 3_600_000).toISOString();
const clearingEur = 'acc-clearing-eur';
const openClearingEur: AccountCommand = { ...openCash, accountId: clearingEur, accountType: 'clearing' };

/** The rules with their defaults (every one active, 72 h to review) and `policy`'s changes. */
function rulesWith(policy: Partial<RulePolicy> = {}, settingsVersion = '7') {
  return {
    policy: { thresholds: defaultRuleThresholds(), modes: defaultRuleModes(), watchList: [], ...policy },
    settingsVersion,
  };
}

/** The same create, as an external transfer to `beneficiary` (through the clearing account). */
const externalTo = (command: TransferCommand, beneficiary: { iban: string; name: string }): TransferCommand =>
  ({
    ...command,
    code: 'external',
    mode: 'two-phase',
    creditAccountId: clearingEur,
    beneficiary,
  }) as TransferCommand;

/** Alice holds 500.00 EUR; Bob, Carol (USD), the cash desk and fee income exist. */
const funded = (...more: LedgerCommand[]) =>
  given(openAlice, openBob, openCarol, openCash, openFees, deposit('dep-1', alice, 500_00n), ...more);

function account(ledger: Ledger, id: string): Account {
  const state = accountIn(ledger, id);
  if (state.status === 'none') throw new Error(`no account ${id}`);
  return state;
}

/** Runs a command that must be refused, and checks that nothing changed. */
function rejection(t: Test, ledger: Ledger, command: LedgerCommand): LedgerRejection {
  const before = structuredClone(ledger);
  const decision = run(ledger, command);
  t.same(ledger, before, 'a rejection changes no state');
  if (decision.status !== 'rejected') throw new Error(`${command.type} was ${decision.status}, not rejected`);
  return decision.rejection;
}

function accepted<W>(decision: Decision<W>): W {
  if (decision.status !== 'accepted')
    throw new Error(`expected accepted, got ${JSON.stringify(decision, bigints)}`);
  return decision.events;
}

function writes(ledger: Ledger, command: LedgerCommand): TransferWrites {
  return accepted(run(ledger, command)) as TransferWrites;
}

const seen = new Set<LedgerRejectionCode>();
function expectCode(t: Test, ledger: Ledger, command: LedgerCommand, code: LedgerRejectionCode) {
  const refused = rejection(t, ledger, command);
  t.equal(refused.code, code, `${command.type} → ${code}`);
  seen.add(refused.code);
  return refused;
}

t.test('accounts', async (t) => {
  t.test('open a customer account: active, zero totals, no-overdraft flag', async (t) => {
    const decision = decideAccount({ ...openAlice, overdraftLimit: 50_00n }, { status: 'none' });
    const events = accepted(decision);
    t.same(events, [
      {
        type: 'AccountOpened',
        data: {
          accountId: alice,
          kind: 'customer',
          accountType: 'checking',
          ownerId: 'user-alice',
          currency: 'EUR',
          debitsMustNotExceedCredits: true,
          overdraftLimit: '5000',
          openedAt: iso,
        },
      },
    ]);
    const state = foldAccount(events);
    t.match(state, {
      status: 'active',
      flags: { debitsMustNotExceedCredits: true, overdraftLimit: 50_00n },
      debitsPosted: 0n,
      creditsPosted: 0n,
      debitsPending: 0n,
      creditsPending: 0n,
    });
  });

  t.test('open a bank-owned account: no owner, may go below zero', async (t) => {
    const [event] = accepted(decideAccount(openCash, { status: 'none' }));
    t.match(event, {
      data: {
        kind: 'bank',
        accountType: 'cash',
        ownerId: null,
        debitsMustNotExceedCredits: false,
        overdraftLimit: null,
      },
    });
    const ledger = funded();
    t.equal(balanceOf(account(ledger, cash)), -500_00n, 'the cash desk is debited by deposits');
  });

  t.test('open twice: same body is a replay, another body account_exists', async (t) => {
    const ledger = given(openAlice);
    t.same(run(ledger, openAlice), { status: 'replayed' });
    t.same(expectCode(t, ledger, { ...openAlice, currency: 'USD' }, 'account_exists'), {
      code: 'account_exists',
      accountId: alice,
    });
    expectCode(t, ledger, { ...openAlice, overdraftLimit: 1n }, 'account_exists');
  });

  t.test('an overdraft limit is ≥ 0 and bounded', async (t) => {
    t.match(expectCode(t, given(), { ...openAlice, overdraftLimit: -1n }, 'invalid_amount'), {
      reason: 'not_positive',
    });
    t.match(expectCode(t, given(), { ...openAlice, overdraftLimit: 10n ** 17n }, 'invalid_amount'), {
      reason: 'too_large',
    });
  });

  t.test('freeze and unfreeze; repeating either changes nothing', async (t) => {
    const ledger = given(openAlice);
    t.same(accepted(run(ledger, freeze(alice))), [
      { type: 'AccountFrozen', data: { accountId: alice, reason: 'aml', at: iso } },
    ]);
    t.equal(account(ledger, alice).status, 'frozen');
    t.same(accepted(run(ledger, freeze(alice))), []);
    t.same(accepted(run(ledger, unfreeze(alice))), [
      { type: 'AccountUnfrozen', data: { accountId: alice, reason: 'cleared', at: iso } },
    ]);
    t.equal(account(ledger, alice).status, 'active');
    t.same(accepted(run(ledger, unfreeze(alice))), []);
  });

  t.test('unknown and closed accounts cannot be frozen, unfrozen or closed', async (t) => {
    expectCode(t, given(), freeze(alice), 'account_not_found');
    expectCode(t, given(), unfreeze(alice), 'account_not_found');
    expectCode(t, given(), close(alice), 'account_not_found');
    const ledger = given(openAlice, close(alice));
    expectCode(t, ledger, freeze(alice), 'account_closed');
    expectCode(t, ledger, unfreeze(alice), 'account_closed');
    t.same(accepted(run(ledger, close(alice))), [], 'closing a closed account changes nothing');
  });

  t.test('close needs a zero balance and no holds either way', async (t) => {
    t.same(expectCode(t, funded(), close(alice), 'balance_not_zero'), {
      code: 'balance_not_zero',
      accountId: alice,
      balance: 500_00n,
    });
    expectCode(t, funded(), close(cash), 'balance_not_zero');
    expectCode(t, funded(hold('h', 10_00n)), close(bob), 'pending_transfers');
    const drained = funded(hold('h', 500_00n));
    t.equal(balanceOf(account(drained, alice)), 500_00n);
    expectCode(t, drained, close(alice), 'balance_not_zero');
    const ledger = funded(create('out', { amount: 500_00n }));
    t.same(accepted(run(ledger, close(alice))), [
      { type: 'AccountClosed', data: { accountId: alice, at: iso } },
    ]);
    t.equal(account(ledger, alice).status, 'closed');
  });

  t.test('a frozen account can be closed when empty', async (t) => {
    const ledger = given(openAlice, freeze(alice));
    accepted(run(ledger, close(alice)));
    t.equal(account(ledger, alice).status, 'closed');
  });
});

t.test('single-phase transfers', async (t) => {
  t.test('post at once: one event per stream, totals move on both accounts', async (t) => {
    const ledger = funded();
    const events = writes(ledger, create('t1', { amount: 120_50n, reference: 'rent' }));
    const leg = { transferId: 't1', code: 'transfer', reference: 'rent', at: iso };
    t.same(events, {
      transfer: [
        {
          type: 'TransferPosted',
          data: {
            transferId: 't1',
            debitAccountId: alice,
            creditAccountId: bob,
            amount: '12050',
            currency: 'EUR',
            code: 'transfer',
            reference: 'rent',
            reversalOf: null,
            at: iso,
          },
        },
      ],
      debit: [
        {
          type: 'AccountLegPosted',
          data: {
            accountId: alice,
            ...leg,
            side: 'debit',
            counterpartyAccountId: bob,
            amount: '12050',
            releasedPending: '0',
            payee: `acct:${bob}`,
          },
        },
      ],
      credit: [
        {
          type: 'AccountLegPosted',
          data: {
            accountId: bob,
            ...leg,
            side: 'credit',
            counterpartyAccountId: alice,
            amount: '12050',
            releasedPending: '0',
          },
        },
      ],
      original: [],
    });
    t.match(account(ledger, alice), { debitsPosted: 120_50n, creditsPosted: 500_00n });
    t.equal(balanceOf(account(ledger, bob)), 120_50n);
    t.match(transferIn(ledger, 't1'), { status: 'posted', postedAmount: 120_50n, reversedBy: null });
  });

  t.test('deposit, withdrawal and fee go through the bank-owned accounts', async (t) => {
    const ledger = funded(
      create('w', { debitAccountId: alice, creditAccountId: cash, amount: 200_00n, code: 'withdrawal' }),
      create('f', { debitAccountId: alice, creditAccountId: fees, amount: 2_50n, code: 'fee' }),
    );
    t.equal(balanceOf(account(ledger, alice)), 297_50n);
    t.equal(balanceOf(account(ledger, cash)), -300_00n);
    t.equal(balanceOf(account(ledger, fees)), 2_50n);
  });

  t.test('amounts are > 0 and at most 999999999999999.99: invalid_amount', async (t) => {
    t.match(expectCode(t, funded(), create('t', { amount: 0n }), 'invalid_amount'), {
      reason: 'not_positive',
    });
    expectCode(t, funded(), create('t', { amount: -1n }), 'invalid_amount');
    t.match(expectCode(t, funded(), create('t', { amount: 10n ** 17n }), 'invalid_amount'), {
      reason: 'too_large',
    });
    // 999999999999999.99 is allowed by the amount rule (then refused for funds).
    expectCode(t, funded(), create('t', { amount: 10n ** 17n - 1n }), 'insufficient_funds');
  });

  t.test('same_account', async (t) => {
    expectCode(t, funded(), create('t', { creditAccountId: alice }), 'same_account');
  });

  t.test('account_not_found, for either side', async (t) => {
    t.same(expectCode(t, funded(), create('t', { debitAccountId: 'ghost' }), 'account_not_found'), {
      code: 'account_not_found',
      accountId: 'ghost',
    });
    t.same(expectCode(t, funded(), create('t', { creditAccountId: 'ghost' }), 'account_not_found'), {
      code: 'account_not_found',
      accountId: 'ghost',
    });
  });

  t.test('currency_mismatch: both accounts must hold the command currency', async (t) => {
    t.same(expectCode(t, funded(), create('t', { creditAccountId: carol }), 'currency_mismatch'), {
      code: 'currency_mismatch',
      accountId: carol,
      accountCurrency: 'USD',
    });
    expectCode(t, funded(), create('t', { currency: 'USD' }), 'currency_mismatch');
  });

  t.test('account_frozen, either side; unfrozen works again', async (t) => {
    expectCode(t, funded(freeze(alice)), create('t'), 'account_frozen');
    t.same(expectCode(t, funded(freeze(bob)), create('t'), 'account_frozen'), {
      code: 'account_frozen',
      accountId: bob,
    });
    writes(funded(freeze(bob), unfreeze(bob)), create('t'));
  });

  t.test('account_closed: a closed account takes no legs, either side', async (t) => {
    const ledger = funded(close(bob));
    expectCode(t, ledger, create('t'), 'account_closed');
    expectCode(t, ledger, create('t', { debitAccountId: bob, creditAccountId: alice }), 'account_closed');
    expectCode(t, ledger, hold('h', 1n), 'account_closed');
  });

  t.test('insufficient_funds: available = balance − outgoing holds (+ overdraft)', async (t) => {
    writes(funded(), create('t', { amount: 500_00n }));
    t.same(expectCode(t, funded(), create('t', { amount: 500_01n }), 'insufficient_funds'), {
      code: 'insufficient_funds',
      accountId: alice,
      available: 500_00n,
    });
    const held = funded(hold('h', 300_00n));
    t.equal(availableBalanceOf(account(held, alice)), 200_00n);
    expectCode(t, held, create('t', { amount: 200_01n }), 'insufficient_funds');
    writes(held, create('t', { amount: 200_00n }));
    // An incoming hold is not money yet.
    const incoming = funded(
      create('in', { debitAccountId: alice, creditAccountId: bob, amount: 50_00n, mode: 'two-phase' }),
    );
    expectCode(
      t,
      incoming,
      create('t', { debitAccountId: bob, creditAccountId: alice, amount: 1n }),
      'insufficient_funds',
    );
  });

  t.test('an overdraft limit lets available go down to −limit, not below', async (t) => {
    const ledger = given(openCash, { ...openAlice, overdraftLimit: 100_00n }, openBob);
    t.match(expectCode(t, ledger, create('t', { amount: 100_01n }), 'insufficient_funds'), {
      available: 100_00n,
    });
    writes(ledger, create('t', { amount: 100_00n }));
    t.equal(availableBalanceOf(account(ledger, alice)), -100_00n);
    expectCode(t, ledger, create('t2', { amount: 1n }), 'insufficient_funds');
  });

  t.test('limit_exceeded names the limit it hit; a limit is inclusive', async (t) => {
    t.same(
      expectCode(
        t,
        funded(),
        create('t', { amount: 100_01n, limits: { transferAmountMax: 100_00n } }),
        'limit_exceeded',
      ),
      { code: 'limit_exceeded', limit: 'transfer_amount_max', max: 100_00n, currency: 'EUR' },
    );
    writes(funded(), create('t', { amount: 100_00n, limits: { transferAmountMax: 100_00n } }));
    // Given 350.00 sent today, when 150.01 more against a 500.00 daily limit: refused.
    const daily = { dailyDebitMax: 500_00n };
    const sent = () => funded(deposit('dep-2', alice, 1_000_00n), create('sent', { amount: 350_00n }));
    t.same(expectCode(t, sent(), create('t', { amount: 150_01n, limits: daily }), 'limit_exceeded'), {
      code: 'limit_exceeded',
      limit: 'daily_debit_max',
      max: 500_00n,
      currency: 'EUR',
    });
    const ledger = sent();
    writes(ledger, create('t', { amount: 150_00n, limits: daily }));
    expectCode(t, ledger, create('t2', { amount: 1n, limits: daily }), 'limit_exceeded');
    // A hold is held to the same limit.
    expectCode(
      t,
      sent(),
      create('h', { amount: 150_01n, mode: 'two-phase', limits: daily }),
      'limit_exceeded',
    );
  });

  t.test('kyc_required: an unverified owner is held to the lower daily total', async (t) => {
    const unverified = {
      transferAmountMax: 300_00n,
      dailyDebitMax: 400_00n,
      unverifiedDailyDebitMax: 200_00n,
    };
    const sent = () => funded(create('sent', { amount: 150_00n }));
    t.same(expectCode(t, sent(), create('t', { amount: 50_01n, limits: unverified }), 'kyc_required'), {
      code: 'kyc_required',
      limit: 'unverified_daily_debit_max',
      max: 200_00n,
      currency: 'EUR',
    });
    writes(sent(), create('t', { amount: 50_00n, limits: unverified }));
    // What verifying would not lift is limit_exceeded, not kyc_required.
    t.match(expectCode(t, sent(), create('t', { amount: 300_01n, limits: unverified }), 'limit_exceeded'), {
      limit: 'transfer_amount_max',
    });
    t.match(expectCode(t, sent(), create('t', { amount: 250_01n, limits: unverified }), 'limit_exceeded'), {
      limit: 'daily_debit_max',
    });
    // 0: nothing may go out (external transfers before KYC).
    expectCode(
      t,
      funded(),
      create('t', { amount: 1n, limits: { unverifiedDailyDebitMax: 0n } }),
      'kyc_required',
    );
    // Verified: the same transfer is only held to dailyDebitMax.
    writes(
      sent(),
      create('t', { amount: 250_00n, limits: { transferAmountMax: 300_00n, dailyDebitMax: 400_00n } }),
    );
  });

  t.test('the same id with the same body is a replay; with another body transfer_exists', async (t) => {
    const ledger = funded(create('t1', { reference: 'x' }));
    const before = structuredClone(ledger);
    t.same(
      run(ledger, create('t1', { reference: 'x', now: at(60) })),
      { status: 'replayed' },
      'now is no part of it',
    );
    t.same(ledger, before);
    t.same(expectCode(t, ledger, create('t1', { reference: 'y' }), 'transfer_exists'), {
      code: 'transfer_exists',
      transferId: 't1',
    });
    expectCode(t, ledger, create('t1', { amount: 1n, reference: 'x' }), 'transfer_exists');
    expectCode(t, ledger, create('t1', { mode: 'two-phase', reference: 'x' }), 'transfer_exists');
    // A replay is answered even when the first one left no funds for a second.
    const drained = funded(create('all', { amount: 500_00n }));
    t.same(run(drained, create('all', { amount: 500_00n })), { status: 'replayed' });
  });
});

t.test('two-phase transfers', async (t) => {
  t.test('a hold reserves the amount on both accounts, balance unchanged', async (t) => {
    const ledger = funded();
    const events = writes(ledger, hold('h', 80_00n, 3600));
    t.match(events.transfer, [
      {
        type: 'TransferPending',
        data: {
          transferId: 'h',
          amount: '8000',
          timeoutSeconds: 3600,
          expiresAt: at(3600).toISOString(),
          at: iso,
        },
      },
    ]);
    t.match(events.debit, [
      { type: 'AccountLegPending', data: { accountId: alice, side: 'debit', amount: '8000' } },
    ]);
    t.match(events.credit, [
      { type: 'AccountLegPending', data: { accountId: bob, side: 'credit', amount: '8000' } },
    ]);
    t.match(account(ledger, alice), { debitsPending: 80_00n, debitsPosted: 0n });
    t.equal(balanceOf(account(ledger, alice)), 500_00n);
    t.equal(availableBalanceOf(account(ledger, alice)), 420_00n);
    t.match(account(ledger, bob), { creditsPending: 80_00n, creditsPosted: 0n });
    t.match(transferIn(ledger, 'h'), { status: 'pending', expiresAt: at(3600).toISOString() });
    writes(ledger, hold('forever', 1n));
    t.match(transferIn(ledger, 'forever'), { status: 'pending', timeoutSeconds: 0, expiresAt: null });
  });

  t.test('invalid_timeout: whole seconds, ≥ 0, bounded, two-phase only', async (t) => {
    expectCode(t, funded(), hold('h', 1n, -1), 'invalid_timeout');
    expectCode(t, funded(), hold('h', 1n, 1.5), 'invalid_timeout');
    expectCode(t, funded(), hold('h', 1n, pendingTimeoutSecondsMax + 1), 'invalid_timeout');
    expectCode(t, funded(), create('t', { timeoutSeconds: 60 }), 'invalid_timeout');
    writes(funded(), hold('h', 1n, pendingTimeoutSecondsMax));
  });

  t.test('post the full amount', async (t) => {
    const ledger = funded(hold('h', 80_00n));
    const events = writes(ledger, post('h'));
    t.same(events.transfer, [
      { type: 'PendingTransferPosted', data: { transferId: 'h', amount: '8000', at: iso } },
    ]);
    t.match(events.debit, [
      { type: 'AccountLegPosted', data: { side: 'debit', amount: '8000', releasedPending: '8000' } },
    ]);
    t.match(events.credit, [
      { type: 'AccountLegPosted', data: { side: 'credit', amount: '8000', releasedPending: '8000' } },
    ]);
    t.match(account(ledger, alice), { debitsPending: 0n, debitsPosted: 80_00n });
    t.match(account(ledger, bob), { creditsPending: 0n, creditsPosted: 80_00n });
    t.match(transferIn(ledger, 'h'), { status: 'posted', postedAmount: 80_00n });
  });

  t.test('post part: the rest of the hold is released in the same step', async (t) => {
    const ledger = funded(hold('h', 80_00n));
    const events = writes(ledger, post('h', 30_00n));
    t.match(events.debit, [{ data: { amount: '3000', releasedPending: '8000' } }]);
    t.match(account(ledger, alice), { debitsPending: 0n, debitsPosted: 30_00n });
    t.equal(availableBalanceOf(account(ledger, alice)), 470_00n);
    t.match(transferIn(ledger, 'h'), { status: 'posted', amount: 80_00n, postedAmount: 30_00n });
  });

  t.test('amount_exceeds_pending, invalid_amount on post', async (t) => {
    t.same(expectCode(t, funded(hold('h', 80_00n)), post('h', 80_01n), 'amount_exceeds_pending'), {
      code: 'amount_exceeds_pending',
      transferId: 'h',
      pending: 80_00n,
    });
    expectCode(t, funded(hold('h', 80_00n)), post('h', 0n), 'invalid_amount');
  });

  t.test('a hold ends once: transfer_not_pending after post, void or expiry', async (t) => {
    for (const end of [post('h'), voidIt('h'), expire('h', at(60))]) {
      const ledger = funded(hold('h', 80_00n, 60), end);
      for (const again of [post('h'), voidIt('h'), expire('h', at(120))]) {
        t.match(expectCode(t, ledger, again, 'transfer_not_pending'), { transferId: 'h' });
      }
    }
    t.match(expectCode(t, funded(create('t')), voidIt('t'), 'transfer_not_pending'), { status: 'posted' });
  });

  t.test('transfer_not_found for post, void, expire and reverse', async (t) => {
    for (const command of [post('nope'), voidIt('nope'), expire('nope', t0), reverse('r', 'nope')]) {
      t.same(expectCode(t, funded(), command, 'transfer_not_found'), {
        code: 'transfer_not_found',
        transferId: 'nope',
      });
    }
  });

  t.test('void releases the whole hold, even on a frozen account', async (t) => {
    const ledger = funded(hold('h', 80_00n), freeze(alice));
    const events = writes(ledger, voidIt('h'));
    t.same(events.transfer, [
      { type: 'PendingTransferVoided', data: { transferId: 'h', reason: null, at: iso } },
    ]);
    t.match(events.debit, [{ type: 'AccountLegReleased', data: { amount: '8000', reason: 'voided' } }]);
    t.match(account(ledger, alice), { debitsPending: 0n, debitsPosted: 0n });
    t.match(account(ledger, bob), { creditsPending: 0n, creditsPosted: 0n });
    t.match(transferIn(ledger, 'h'), { status: 'voided' });
  });

  t.test('posting moves money: account_frozen on either side', async (t) => {
    expectCode(t, funded(hold('h', 80_00n), freeze(alice)), post('h'), 'account_frozen');
    expectCode(t, funded(hold('h', 80_00n), freeze(bob)), post('h'), 'account_frozen');
  });

  t.test('expiry: only once its time has come; then posting is refused', async (t) => {
    const ledger = funded(hold('h', 80_00n, 60));
    expectCode(t, ledger, expire('h', at(59)), 'transfer_not_expired');
    t.same(expectCode(t, ledger, post('h', undefined, at(60)), 'transfer_expired'), {
      code: 'transfer_expired',
      transferId: 'h',
    });
    writes(funded(hold('h', 80_00n, 60)), post('h', undefined, at(59)));
    const events = writes(ledger, expire('h', at(60)));
    t.same(events.transfer, [
      { type: 'PendingTransferExpired', data: { transferId: 'h', at: at(60).toISOString() } },
    ]);
    t.match(events.credit, [
      { type: 'AccountLegReleased', data: { side: 'credit', amount: '8000', reason: 'expired' } },
    ]);
    t.match(account(ledger, alice), { debitsPending: 0n });
    t.match(transferIn(ledger, 'h'), { status: 'expired' });
    expectCode(t, funded(hold('h', 1n)), expire('h', at(10 ** 9)), 'transfer_not_expired');
  });
});

t.test('reversals', async (t) => {
  t.test('a new transfer the other way, recorded on the original in the same append', async (t) => {
    const ledger = funded(create('t1', { amount: 70_00n }));
    const events = writes(ledger, reverse('r1', 't1', 'wrong payee'));
    t.same(events.transfer, [
      {
        type: 'TransferPosted',
        data: {
          transferId: 'r1',
          debitAccountId: bob,
          creditAccountId: alice,
          amount: '7000',
          currency: 'EUR',
          code: 'reversal',
          reference: 'wrong payee',
          reversalOf: 't1',
          at: iso,
        },
      },
    ]);
    t.same(events.original, [
      { type: 'TransferReversed', data: { transferId: 't1', reversalTransferId: 'r1', at: iso } },
    ]);
    t.match(events.debit, [
      { type: 'AccountLegPosted', data: { accountId: bob, side: 'debit', code: 'reversal' } },
    ]);
    t.match(events.credit, [{ type: 'AccountLegPosted', data: { accountId: alice, side: 'credit' } }]);
    t.equal(balanceOf(account(ledger, alice)), 500_00n);
    t.equal(balanceOf(account(ledger, bob)), 0n);
    t.match(
      account(ledger, alice),
      { debitsPosted: 70_00n, creditsPosted: 570_00n },
      'history is kept, not undone',
    );
    t.match(transferIn(ledger, 't1'), { status: 'posted', reversedBy: 'r1' });
  });

  t.test('a partly posted hold is reversed by what was posted', async (t) => {
    const ledger = funded(hold('h', 80_00n), post('h', 30_00n));
    t.match(writes(ledger, reverse('r', 'h')).transfer, [{ data: { amount: '3000' } }]);
    t.equal(balanceOf(account(ledger, alice)), 500_00n);
  });

  t.test('replay, transfer_exists, transfer_already_reversed', async (t) => {
    const ledger = funded(create('t1'), reverse('r1', 't1'));
    t.same(run(ledger, reverse('r1', 't1')), { status: 'replayed' });
    expectCode(t, ledger, reverse('r1', 't1', 'another reason'), 'transfer_exists');
    expectCode(t, ledger, create('r1'), 'transfer_exists');
    t.same(expectCode(t, ledger, reverse('r2', 't1'), 'transfer_already_reversed'), {
      code: 'transfer_already_reversed',
      transferId: 't1',
      reversedBy: 'r1',
    });
    writes(ledger, reverse('r3', 'r1', 'reversed in error'));
    t.equal(balanceOf(account(ledger, bob)), 100_00n, 'a reversal can itself be reversed');
  });

  t.test('transfer_not_posted: holds and ended holds are voided, not reversed', async (t) => {
    t.match(expectCode(t, funded(hold('h', 1n)), reverse('r', 'h'), 'transfer_not_posted'), {
      status: 'pending',
    });
    t.match(expectCode(t, funded(hold('h', 1n), voidIt('h')), reverse('r', 'h'), 'transfer_not_posted'), {
      status: 'voided',
    });
  });

  t.test('a reversal keeps the account rules: funds, frozen, closed', async (t) => {
    const spent = funded(
      create('t1'),
      create('t2', { debitAccountId: bob, creditAccountId: fees, amount: 60_00n, code: 'fee' }),
    );
    t.match(expectCode(t, spent, reverse('r', 't1'), 'insufficient_funds'), {
      accountId: bob,
      available: 40_00n,
    });
    expectCode(t, funded(create('t1'), freeze(alice)), reverse('r', 't1'), 'account_frozen');
    const closed = funded(
      create('t1'),
      create('t2', { debitAccountId: bob, creditAccountId: alice }),
      close(bob),
    );
    expectCode(t, closed, reverse('r', 't1'), 'account_closed');
  });
});

t.test('external transfers and the clearing rail', async (t) => {
  const clearing = 'acc-clearing-eur';
  const openClearing: AccountCommand = { ...openCash, accountId: clearing, accountType: 'clearing' };
  const payee = { iban: 'GB82WEST12345698765432', name: 'Dana Payee' };
  const external = (transferId: string, fields: CreateFields = {}) =>
    create(transferId, {
      creditAccountId: clearing,
      code: 'external',
      mode: 'two-phase',
      beneficiary: payee,
      amount: 120_00n,
      ...fields,
    });
  const settle = (transferId: string): TransferCommand => ({
    type: 'PostPendingTransfer',
    transferId,
    byClearing: true,
    now: at(5),
  });
  const returnIt = (
    transferId: string,
    reason = 'account closed at the beneficiary bank',
  ): TransferCommand => ({
    type: 'ReturnPendingTransfer',
    transferId,
    reason,
    now: at(5),
  });

  t.test(
    'given funds, when an external transfer is made, then a hold to clearing naming the payee',
    async (t) => {
      const ledger = funded(openClearing);
      const events = writes(ledger, external('x'));
      t.match(events.transfer, [
        {
          type: 'TransferPending',
          data: {
            transferId: 'x',
            code: 'external',
            creditAccountId: clearing,
            beneficiary: payee,
            expiresAt: null,
          },
        },
      ]);
      t.match(transferIn(ledger, 'x'), { status: 'pending', beneficiary: payee, code: 'external' });
      t.equal(availableBalanceOf(account(ledger, alice)), 380_00n);
      t.match(account(ledger, clearing), { creditsPending: 120_00n });
      t.match(transferIn(funded(create('t')), 't'), { beneficiary: null }, 'other codes name no payee');
    },
  );

  t.test('the payee is part of the request: a replay carries the same one', async (t) => {
    const ledger = funded(openClearing, external('x'));
    t.same(run(ledger, external('x', { now: at(60) })), { status: 'replayed' });
    expectCode(
      t,
      ledger,
      external('x', { beneficiary: { ...payee, name: 'Someone Else' } }),
      'transfer_exists',
    );
    expectCode(
      t,
      ledger,
      external('x', { beneficiary: { ...payee, iban: 'DE89370400440532013000' } }),
      'transfer_exists',
    );
  });

  t.test('the rail settles: the full amount posted to clearing', async (t) => {
    const ledger = funded(openClearing, external('x'));
    const events = writes(ledger, settle('x'));
    t.match(events.transfer, [{ type: 'PendingTransferPosted', data: { amount: '12000' } }]);
    t.match(transferIn(ledger, 'x'), { status: 'posted', postedAmount: 120_00n });
    t.equal(balanceOf(account(ledger, alice)), 380_00n);
    t.match(account(ledger, clearing), { creditsPosted: 120_00n, creditsPending: 0n });
  });

  t.test(
    'given a pending external transfer, when the rail returns it, then its hold is released as by a void',
    async (t) => {
      const ledger = funded(openClearing, external('x'));
      const events = writes(ledger, returnIt('x'));
      t.same(events.transfer, [
        {
          type: 'PendingTransferReturned',
          data: {
            transferId: 'x',
            reason: 'account closed at the beneficiary bank',
            at: at(5).toISOString(),
          },
        },
      ]);
      t.match(events.debit, [
        {
          type: 'AccountLegReleased',
          data: { accountId: alice, side: 'debit', amount: '12000', reason: 'returned' },
        },
      ]);
      t.match(events.credit, [
        {
          type: 'AccountLegReleased',
          data: { accountId: clearing, side: 'credit', amount: '12000', reason: 'returned' },
        },
      ]);
      t.match(transferIn(ledger, 'x'), { status: 'returned', endedAt: at(5).toISOString() });
      // The same account effects as a void of the same hold.
      const voided = funded(openClearing, external('x'));
      writes(voided, { type: 'VoidPendingTransfer', transferId: 'x', byClearing: true, now: at(5) });
      t.same(account(ledger, alice), account(voided, alice));
      t.same(account(ledger, clearing), account(voided, clearing));
      t.equal(availableBalanceOf(account(ledger, alice)), 500_00n);
      t.equal(balanceOf(account(ledger, clearing)), 0n);
    },
  );

  t.test('a return is allowed on a frozen account: it moves no money', async (t) => {
    const ledger = funded(openClearing, external('x'), freeze(alice));
    writes(ledger, returnIt('x'));
    t.match(account(ledger, alice), { debitsPending: 0n, status: 'frozen' });
  });

  t.test('the rail decides once: transfer_not_pending after settle or return', async (t) => {
    for (const end of [settle('x'), returnIt('x')]) {
      const ledger = funded(openClearing, external('x'), end);
      for (const again of [settle('x'), returnIt('x')]) {
        expectCode(t, ledger, again, 'transfer_not_pending');
      }
    }
    expectCode(t, funded(openClearing), returnIt('nope'), 'transfer_not_found');
  });

  t.test(
    'clearing_only: nobody posts or voids an external transfer by hand, whatever its status',
    async (t) => {
      for (const given of [[], [settle('x')], [returnIt('x')]]) {
        const ledger = funded(openClearing, external('x'), ...given);
        t.same(expectCode(t, ledger, post('x'), 'clearing_only'), { code: 'clearing_only', transferId: 'x' });
        expectCode(t, ledger, voidIt('x'), 'clearing_only');
      }
      // An external transfer has no timeout, so it never expires.
      expectCode(t, funded(openClearing, external('x')), expire('x', at(10 ** 9)), 'transfer_not_expired');
    },
  );

  t.test('external transfers keep the account rules', async (t) => {
    expectCode(t, funded(openClearing), external('x', { amount: 500_01n }), 'insufficient_funds');
    expectCode(t, funded(openClearing, freeze(alice)), external('x'), 'account_frozen');
    expectCode(t, funded(openClearing), external('x', { currency: 'USD' }), 'currency_mismatch');
  });

  t.test(
    'programmer errors: a payee only with code external; the rail ends external transfers only',
    async (t) => {
      t.throws(() => run(funded(openClearing), create('t', { beneficiary: payee })), /beneficiary/);
      t.throws(
        () => run(funded(openClearing), external('x', { beneficiary: undefined } as never)),
        /beneficiary/,
      );
      t.throws(() => run(funded(openClearing), external('x', { mode: 'single-phase' })), /two-phase/);
      t.throws(() => run(funded(hold('h', 1n)), returnIt('h')), /clearing rail ends a transfer/);
      t.throws(() => run(funded(hold('h', 1n)), settle('h')), /clearing rail ends a transfer/);
    },
  );
});

t.test('the daily debit total (Account.dailyDebits) and the daily limit', async (t) => {
  const lateDay1 = new Date('2026-03-01T23:59:59.999Z');
  const day2 = new Date('2026-03-02T00:00:00.000Z');
  const daily = { dailyDebitMax: 300_00n };
  const dailyDebitsOf = (state: AccountState) => {
    if (state.status === 'none') throw new Error('no account');
    const { day, total, holds } = state.dailyDebits;
    return { day, total, holds: Object.fromEntries(holds) };
  };
  const dailyDebits = (ledger: Ledger, id = alice) => dailyDebitsOf(account(ledger, id));

  t.test('counts transfers out, single-phase when posted, holds when made', async (t) => {
    const ledger = funded();
    t.same(dailyDebits(ledger), { day: null, total: 0n, holds: {} }, 'a deposit is not counted');
    writes(ledger, create('t1', { amount: 100_00n }));
    t.same(dailyDebits(ledger), { day: '2026-03-01', total: 100_00n, holds: {} });
    writes(ledger, hold('h1', 50_00n));
    t.same(dailyDebits(ledger), { day: '2026-03-01', total: 150_00n, holds: { h1: 50_00n } });
    t.same(dailyDebits(ledger, bob), { day: null, total: 0n, holds: {} }, 'incoming is not counted');
    writes(ledger, create('t2', { amount: 150_00n, limits: daily }));
    expectCode(t, ledger, create('t3', { amount: 1n, limits: daily }), 'limit_exceeded');
  });

  t.test(
    'a voided or expired hold gives its amount back; a partial post keeps what was posted',
    async (t) => {
      const ledger = funded(hold('h1', 100_00n), hold('h2', 100_00n, 60), hold('h3', 100_00n));
      t.equal(dailyDebits(ledger).total, 300_00n);
      expectCode(t, ledger, create('t', { amount: 1n, limits: daily }), 'limit_exceeded');
      writes(ledger, voidIt('h1'));
      t.same(dailyDebits(ledger), { day: '2026-03-01', total: 200_00n, holds: { h2: 100_00n, h3: 100_00n } });
      writes(ledger, expire('h2', at(60)));
      t.equal(dailyDebits(ledger).total, 100_00n);
      writes(ledger, post('h3', 40_00n));
      t.same(dailyDebits(ledger), { day: '2026-03-01', total: 40_00n, holds: {} });
      writes(ledger, create('t', { amount: 260_00n, limits: daily }));
      t.equal(dailyDebits(ledger).total, 300_00n);
    },
  );

  t.test('a new UTC day starts at 0; holds of an earlier day change nothing when they end', async (t) => {
    const ledger = funded(
      deposit('dep-2', alice, 1_000_00n),
      create('t1', { amount: 200_00n, now: lateDay1 }),
      create('h1', { amount: 100_00n, mode: 'two-phase', now: lateDay1 }),
      create('h2', { amount: 50_00n, mode: 'two-phase', now: lateDay1 }),
    );
    t.equal(dailyDebits(ledger).total, 350_00n);
    expectCode(t, ledger, create('t2', { amount: 1n, limits: daily, now: lateDay1 }), 'limit_exceeded');
    // The first millisecond of the next day: yesterday's total no longer counts.
    writes(ledger, create('t2', { amount: 300_00n, limits: daily, now: day2 }));
    t.same(dailyDebits(ledger), { day: '2026-03-02', total: 300_00n, holds: {} });
    writes(ledger, { type: 'VoidPendingTransfer', transferId: 'h1', now: day2 });
    writes(ledger, { type: 'PostPendingTransfer', transferId: 'h2', now: day2 });
    t.same(dailyDebits(ledger), { day: '2026-03-02', total: 300_00n, holds: {} }, 'counted on its own day');
  });

  t.test('cash at the desk, fees and reversals are neither limited nor counted', async (t) => {
    const ledger = funded(
      create('w', { debitAccountId: alice, creditAccountId: cash, amount: 10_00n, code: 'withdrawal' }),
      create('f', { debitAccountId: alice, creditAccountId: fees, amount: 1_00n, code: 'fee' }),
      deposit('dep-bob', bob, 1_00n),
      create('in', { debitAccountId: bob, creditAccountId: alice, amount: 1n, code: 'transfer' }),
    );
    t.same(dailyDebits(ledger), { day: null, total: 0n, holds: {} });
    writes(ledger, create('t', { amount: 100_00n }));
    writes(ledger, reverse('r', 't'));
    t.equal(dailyDebits(ledger).total, 100_00n, 'a reversal gives no allowance back');
    const refund = funded(create('t', { debitAccountId: alice, creditAccountId: bob, amount: 100_00n }));
    writes(refund, reverse('r', 't'));
    t.equal(dailyDebits(refund, bob).total, 0n, 'the reversal debit on bob is not his transfer');
  });

  t.test('evolve, event by event', async (t) => {
    const opened = accepted(decideAccount(openAlice, { status: 'none' }));
    const leg = (type: 'AccountLegPending' | 'AccountLegPosted' | 'AccountLegReleased', data: object) =>
      ({
        type,
        data: {
          accountId: alice,
          side: 'debit',
          counterpartyAccountId: bob,
          code: 'transfer',
          ...data,
        },
      }) as AccountEvent;
    const credit = leg('AccountLegPosted', {
      transferId: 'in',
      side: 'credit',
      amount: '100000',
      releasedPending: '0',
      at: '2026-03-01T08:00:00.000Z',
    });
    const events = [
      ...opened,
      credit,
      leg('AccountLegPending', { transferId: 'h', amount: '5000', at: '2026-03-01T10:00:00.000Z' }),
      leg('AccountLegPosted', {
        transferId: 't',
        amount: '700',
        releasedPending: '0',
        at: '2026-03-01T11:00:00.000Z',
      }),
    ];
    t.same(dailyDebitsOf(foldAccount(events)), { day: '2026-03-01', total: 5700n, holds: { h: 5000n } });
    const partial = [
      ...events,
      leg('AccountLegPosted', {
        transferId: 'h',
        amount: '2000',
        releasedPending: '5000',
        at: '2026-03-01T12:00:00.000Z',
      }),
    ];
    t.match(foldAccount(partial), { dailyDebits: { day: '2026-03-01', total: 2700n } });
    // Clock skew between two writers: a leg stamped just before the tracked day counts on it.
    const skewed = [
      ...events,
      leg('AccountLegPosted', {
        transferId: 'n',
        amount: '100',
        releasedPending: '0',
        at: '2026-03-02T00:00:00.001Z',
      }),
      leg('AccountLegPosted', {
        transferId: 'o',
        amount: '100',
        releasedPending: '0',
        at: '2026-03-01T23:59:59.999Z',
      }),
    ];
    const state = foldAccount(skewed);
    t.match(state, { dailyDebits: { day: '2026-03-02', total: 200n } });
    // ...and a decider whose clock is behind still sees the later day's total.
    if (state.status === 'none') throw new Error('opened');
    t.equal(dailyDebitsOn(state, lateDay1), 200n);
    t.equal(dailyDebitsOn(state, day2), 200n);
    t.equal(dailyDebitsOn(state, new Date('2026-03-03T00:00:00.000Z')), 0n);
  });

  t.test('limits are for transfers and external transfers only', async (t) => {
    const withdrawal = create('w', {
      debitAccountId: alice,
      creditAccountId: cash,
      amount: 1n,
      code: 'withdrawal',
      limits: daily,
    });
    t.throws(() => run(funded(), withdrawal), /limits on a withdrawal/);
  });
});

t.test('programmer errors are assertions that throw', async (t) => {
  const opened = accepted(decideAccount(openAlice, { status: 'none' }));
  const leg: AccountEvent = {
    type: 'AccountLegPosted',
    data: {
      accountId: alice,
      transferId: 't',
      side: 'credit',
      counterpartyAccountId: bob,
      code: 'deposit',
      reference: null,
      amount: '100',
      releasedPending: '0',
      at: iso,
    },
  };
  t.throws(() => foldAccount([leg]), /without AccountOpened/);
  t.throws(() => foldAccount([...opened, ...opened]), /existing account/);
  t.throws(() => foldAccount([...opened, { ...leg, data: { ...leg.data, accountId: bob } }]), /for acc-bob/);
  t.throws(() => foldAccount([...opened, { ...leg, data: { ...leg.data, amount: '1.00' } }]), /malformed/);
  t.throws(() => foldAccount([...opened, { ...leg, data: { ...leg.data, amount: '0' } }]), /positive/);
  const closed: AccountState = evolveAccount(foldAccount(opened), {
    type: 'AccountClosed',
    data: { accountId: alice, at: iso },
  });
  t.throws(() => evolveAccount(closed, leg), /closed account/);
  const withMoney = foldAccount([...opened, leg]);
  t.throws(
    () => evolveAccount(withMoney, { type: 'AccountClosed', data: { accountId: alice, at: iso } }),
    /money/,
  );
  t.throws(
    () =>
      evolveAccount(withMoney, {
        type: 'AccountLegReleased',
        data: { ...leg.data, side: 'debit', reason: 'voided' },
      }),
    /debitsPending/,
  );
  t.throws(() =>
    evolveAccount(withMoney, { type: 'AccountUnfrozen', data: { accountId: alice, reason: '', at: iso } }),
  );

  const ledger = funded(create('t1'));
  const posted = transferIn(ledger, 't1');
  const endedTwice: TransferEvent = {
    type: 'PendingTransferVoided',
    data: { transferId: 't1', reason: null, at: iso },
  };
  t.throws(() => evolveTransfer(posted, endedTwice), /on posted transfer/);
  t.throws(() => foldTransfer([endedTwice]), /never created/);
  const reversed: TransferEvent = {
    type: 'TransferReversed',
    data: { transferId: 't1', reversalTransferId: 'r', at: iso },
  };
  t.throws(() => evolveTransfer(evolveTransfer(posted, reversed), reversed), /reversed twice/);

  // The handler must load the streams the command names.
  const states = statesFor(ledger, create('t2'));
  t.throws(
    () => decideTransfer(create('t2'), { ...states, debit: accountIn(ledger, cash) }),
    /another account/,
  );
  t.throws(() => decideAccount(freeze(bob), accountIn(ledger, alice)), /another account/);
  t.throws(() =>
    decideTransfer(reverse('r', 't1'), {
      ...statesFor(ledger, reverse('r', 't1')),
      original: undefined,
    } as never),
  );
  const sneaky = { ...create('t3'), code: 'reversal' } as unknown as TransferCommand;
  t.throws(() => decideTransfer(sneaky, statesFor(ledger, sneaky)), /ReverseTransfer/);
  const pending = funded(hold('h', 1n));
  t.throws(
    () => decideTransfer(post('h'), { ...statesFor(pending, post('h')), credit: { status: 'none' } }),
    /missing/,
  );
});

t.test('bank-owned accounts are no party to a customer transfer: account_not_found', async (t) => {
  const clearing = 'acc-clearing-eur';
  const ledger = funded({ ...openCash, accountId: clearing, accountType: 'clearing' });
  for (const bank of [cash, fees, clearing]) {
    for (const mode of ['single-phase', 'two-phase'] as const) {
      const refused = expectCode(
        t,
        ledger,
        create('t', { creditAccountId: bank, mode }),
        'account_not_found',
      );
      t.same(refused, { code: 'account_not_found', accountId: bank }, 'as if it did not exist');
    }
    expectCode(t, ledger, create('t', { debitAccountId: bank, creditAccountId: alice }), 'account_not_found');
  }
  const rejected = run(ledger, create('t', { creditAccountId: cash }), { recordRefusals: true });
  t.notOk(rejected.status === 'rejected' && rejected.record, 'a 404 records nothing');
  t.equal(transferIn(ledger, 't').status, 'none');
  // The bank's own movements still reach them: cash at the desk, fees.
  writes(ledger, create('f', { creditAccountId: fees, amount: 1_00n, code: 'fee' }));
  writes(ledger, create('w', { creditAccountId: cash, amount: 1_00n, code: 'withdrawal' }));
});

t.test('the cash desk: own_account, held for review above cashApprovalMin', async (t) => {
  const desk = { staffId: 'user-bob', approvalMin: 1_000_00n, reviewTimeoutHours: 24 };
  const cashIn = (id: string, accountId: string, amount: bigint) =>
    create(id, { debitAccountId: cash, creditAccountId: accountId, amount, code: 'deposit', desk });
  const cashOut = (id: string, accountId: string, amount: bigint) =>
    create(id, { debitAccountId: accountId, creditAccountId: cash, amount, code: 'withdrawal', desk });

  t.test(
    'given Bob at the desk, when he serves himself, then own_account and nothing recorded',
    async (t) => {
      const ledger = funded(deposit('dep-bob', bob, 50_00n));
      t.same(expectCode(t, ledger, cashIn('d', bob, 1_00n), 'own_account'), {
        code: 'own_account',
        accountId: bob,
      });
      expectCode(t, ledger, cashOut('w', bob, 1_00n), 'own_account');
      const decision = run(ledger, cashOut('w', bob, 1_00n), { recordRefusals: true });
      t.notOk(decision.status === 'rejected' && decision.record, 'a 403 records nothing');
      t.equal(transferIn(ledger, 'w').status, 'none');
      // Alice he serves, in and out.
      writes(ledger, cashIn('d2', alice, 1_00n));
      writes(ledger, cashOut('w2', alice, 1_00n));
    },
  );

  t.test('given a threshold, when the amount is at it then posted, above it held for review', async (t) => {
    const ledger = funded(deposit('big', alice, 2_000_00n));
    const at = writes(ledger, cashIn('d', alice, 1_000_00n));
    t.match(at.transfer, [{ type: 'TransferPosted', data: { code: 'deposit', amount: '100000' } }]);
    const held = writes(ledger, cashIn('d2', alice, 1_000_01n));
    t.match(held.transfer, [
      {
        type: 'TransferPending',
        data: {
          code: 'deposit',
          amount: '100001',
          timeoutSeconds: 0,
          expiresAt: at24h,
          review: { reasons: ['cash_approval_min'], requestedBy: 'user-bob', requestedMode: 'single-phase' },
        },
      },
    ]);
    t.match(transferIn(ledger, 'd2'), {
      status: 'pending',
      mode: 'single-phase',
      review: { decision: null },
    });
    // Reserved, not paid in: the incoming hold is not available yet.
    t.equal(account(ledger, alice).creditsPending, 1_000_01n);
    writes(ledger, cashOut('w', alice, 1_000_01n));
    t.equal(account(ledger, alice).debitsPending, 1_000_01n);
    writes(ledger, cashOut('w2', alice, 1_000_00n));
    // Funds first: a manager is asked only about what could be paid out.
    expectCode(t, ledger, cashOut('w3', alice, 10_000_00n), 'insufficient_funds');
    // Without the desk's context (the bank's own cash movements) neither rule applies.
    writes(ledger, deposit('bank', bob, 5_000_00n));
  });

  t.test('an approval_required recorded before reviews existed answers again', async (t) => {
    const ledger = funded();
    const command = cashIn('d', alice, 2_000_00n) as TransferCommand & { type: 'CreateTransfer' };
    applyTransferEvents(ledger, [
      {
        type: 'TransferRefused',
        data: {
          transferId: 'd',
          debitAccountId: cash,
          creditAccountId: alice,
          amount: '200000',
          currency: 'EUR',
          code: 'deposit',
          reference: null,
          reversalOf: null,
          mode: 'single-phase',
          timeoutSeconds: 0,
          rejection: { code: 'approval_required', max: '100000', currency: 'EUR' },
          at: iso,
        },
      },
    ]);
    t.same(expectCode(t, ledger, command, 'approval_required'), {
      code: 'approval_required',
      max: 1_000_00n,
      currency: 'EUR',
    });
  });

  t.test('programmer errors: the desk serves cash on a customer account against cash', async (t) => {
    const ledger = funded();
    t.throws(() => run(ledger, create('x', { desk })), /cash desk/);
    t.throws(
      () => run(ledger, create('x', { debitAccountId: fees, creditAccountId: alice, code: 'deposit', desk })),
      /cash account/,
    );
    expectCode(
      t,
      ledger,
      create('x', { debitAccountId: cash, creditAccountId: fees, code: 'deposit', desk }),
      'account_not_found',
    );
  });
});

t.test('a hold given no timeout expires after 7 days; an external one waits for the rail', async (t) => {
  const ledger = funded();
  const defaulted = writes(ledger, create('h', { amount: 1_00n, mode: 'two-phase' }));
  t.match(defaulted.transfer, [
    {
      type: 'TransferPending',
      data: { timeoutSeconds: pendingTimeoutSecondsDefault, expiresAt: at(7 * 24 * 3600).toISOString() },
    },
  ]);
  t.equal(pendingTimeoutSecondsDefault, 7 * 24 * 3600);
  // The same request, with or without the timeout it defaulted to.
  t.same(run(ledger, create('h', { amount: 1_00n, mode: 'two-phase' })), { status: 'replayed' });
  t.same(
    run(
      ledger,
      create('h', { amount: 1_00n, mode: 'two-phase', timeoutSeconds: pendingTimeoutSecondsDefault }),
    ),
    { status: 'replayed' },
  );
  expectCode(
    t,
    ledger,
    create('h', { amount: 1_00n, mode: 'two-phase', timeoutSeconds: 60 }),
    'transfer_exists',
  );
  expectCode(t, ledger, expire('h', at(7 * 24 * 3600 - 1)), 'transfer_not_expired');
  writes(ledger, expire('h', at(7 * 24 * 3600)));
  t.match(transferIn(ledger, 'h'), { status: 'expired' });
  // Single-phase: no timeout, and none may be given.
  writes(ledger, create('t', { amount: 1_00n }));
  t.match(transferIn(ledger, 't'), { timeoutSeconds: 0 });

  // A hold made before the default existed recorded 0: a retry without a timeout is the same.
  const old = funded();
  const legacy = statesFor(old, create('l', { amount: 1_00n, mode: 'two-phase' }));
  applyTransferEvents(old, [
    {
      type: 'TransferPending',
      data: {
        transferId: 'l',
        debitAccountId: alice,
        creditAccountId: bob,
        amount: '100',
        currency: 'EUR',
        code: 'transfer',
        reference: null,
        reversalOf: null,
        timeoutSeconds: 0,
        expiresAt: null,
        at: iso,
      },
    },
  ]);
  t.equal(legacy.transfer.status, 'none');
  t.same(run(old, create('l', { amount: 1_00n, mode: 'two-phase' })), { status: 'replayed' });
});

t.test('a refused create is recorded, and the same request is refused again', async (t) => {
  t.test('given a refusal for funds, when funded and retried, then the same refusal', async (t) => {
    const ledger = funded();
    const command = create('t', { amount: 600_00n, reference: 'rent' });
    const first = run(ledger, command, { recordRefusals: true });
    if (first.status !== 'rejected') throw new Error(first.status);
    t.same(first.rejection, { code: 'insufficient_funds', accountId: alice, available: 500_00n });
    t.same(first.record, [
      {
        type: 'TransferRefused',
        data: {
          transferId: 't',
          debitAccountId: alice,
          creditAccountId: bob,
          amount: '60000',
          currency: 'EUR',
          code: 'transfer',
          reference: 'rent',
          reversalOf: null,
          mode: 'single-phase',
          timeoutSeconds: 0,
          rejection: { code: 'insufficient_funds', accountId: alice, available: '50000' },
          at: iso,
        },
      },
    ]);
    t.match(transferIn(ledger, 't'), { status: 'rejected', amount: 600_00n, rejectedAt: iso });
    t.equal(balanceOf(account(ledger, alice)), 500_00n, 'no money moved');
    t.equal(account(ledger, alice).debitsPending, 0n);

    writes(ledger, deposit('dep-2', alice, 1_000_00n));
    const again = run(ledger, { ...command, now: at(60) }, { recordRefusals: true });
    t.same(
      again,
      { status: 'rejected', rejection: first.rejection },
      'the first answer, nothing more to record',
    );
    t.same(expectCode(t, ledger, create('t', { amount: 599_00n, reference: 'rent' }), 'transfer_exists'), {
      code: 'transfer_exists',
      transferId: 't',
    });
    expectCode(
      t,
      ledger,
      create('t', { amount: 600_00n, reference: 'rent', mode: 'two-phase' }),
      'transfer_exists',
    );
    // It never became a transfer: nothing to post, void or reverse.
    t.match(expectCode(t, ledger, post('t'), 'transfer_not_pending'), { status: 'rejected' });
    t.match(expectCode(t, ledger, voidIt('t'), 'transfer_not_pending'), { status: 'rejected' });
    t.match(expectCode(t, ledger, reverse('r', 't'), 'transfer_not_posted'), { status: 'rejected' });
    writes(ledger, create('t2', { amount: 600_00n, reference: 'rent' }));
  });

  t.test('which refusals are recorded: the 422s, not the 400s, 404s, 403s or 409s', async (t) => {
    const frozenBob = funded(freeze(bob));
    const limits = { transferAmountMax: 50_00n, dailyDebitMax: 100_00n, unverifiedDailyDebitMax: 20_00n };
    const recorded: [string, Ledger, TransferCommand][] = [
      ['same_account', funded(), create('t', { creditAccountId: alice })],
      ['currency_mismatch', funded(), create('t', { creditAccountId: carol })],
      ['account_frozen', frozenBob, create('t')],
      ['account_closed', funded(close(bob)), create('t')],
      ['insufficient_funds', funded(), create('t', { amount: 500_01n })],
      ['limit_exceeded', funded(), create('t', { amount: 50_01n, limits })],
      ['kyc_required', funded(), create('t', { amount: 20_01n, limits })],
      [
        'transfer_rejected',
        funded(openClearingEur),
        create('t', { rules: rulesWith({ watchList: [{ name: 'x' }] }) }),
      ],
    ];
    const [, , sanctioned] = recorded[7]!;
    recorded[7]![2] = externalTo(sanctioned, { iban: 'DE89370400440532013000', name: 'X' });
    for (const [code, ledger, command] of recorded) {
      const decision = run(ledger, command, { recordRefusals: true });
      t.match(
        decision,
        { status: 'rejected', rejection: { code }, record: [{ type: 'TransferRefused' }] },
        code,
      );
      t.equal(transferIn(ledger, 't').status, 'rejected', `${code}: recorded`);
      if (decision.status === 'rejected')
        t.same(run(ledger, command), { status: 'rejected', rejection: decision.rejection });
    }
    // approval_required is no longer decided (such cash is held for review): old records only.
    t.same(
      recorded.map(([code]) => code).sort(),
      recordedRefusalCodes.filter((code) => code !== 'approval_required').sort(),
      'every recorded code',
    );
    const unrecorded: [string, Ledger, TransferCommand][] = [
      ['invalid_amount', funded(), create('t', { amount: 0n })],
      ['invalid_timeout', funded(), create('t', { timeoutSeconds: 60 })],
      ['account_not_found', funded(), create('t', { creditAccountId: 'ghost' })],
      ['account_not_found', funded(), create('t', { creditAccountId: fees })],
      [
        'own_account',
        funded(),
        {
          ...deposit('t', alice, 1n),
          desk: { staffId: 'user-alice', approvalMin: 1n, reviewTimeoutHours: 1 },
        } as TransferCommand,
      ],
      ['transfer_exists', funded(create('t')), create('t', { amount: 1n })],
    ];
    for (const [code, ledger, command] of unrecorded) {
      const before = transferIn(ledger, 't');
      const decision = run(ledger, command, { recordRefusals: true });
      t.match(decision, { status: 'rejected', rejection: { code } }, code);
      t.notOk(decision.status === 'rejected' && decision.record, `${code}: nothing recorded`);
      t.same(transferIn(ledger, 't'), before);
    }
  });

  t.test('a recorded refusal reads back as the rejection it was, through JSON', async (t) => {
    const rejections: LedgerRejection[] = [
      { code: 'same_account' },
      { code: 'currency_mismatch', accountId: carol, accountCurrency: 'USD' },
      { code: 'account_frozen', accountId: bob },
      { code: 'account_closed', accountId: bob },
      { code: 'insufficient_funds', accountId: alice, available: 12_34n },
      { code: 'limit_exceeded', limit: 'daily_debit_max', max: 100_00n, currency: 'EUR' },
      { code: 'kyc_required', limit: 'unverified_daily_debit_max', max: 0n, currency: 'KWD' },
      { code: 'approval_required', max: 1_500_000n, currency: 'JPY' },
      { code: 'transfer_rejected', rules: ['sanctioned_payee'] },
    ];
    for (const rejection of rejections) {
      const refusal = recordedRefusalOf(rejection);
      if (refusal === null) throw new Error(`${rejection.code} not recorded`);
      t.same(rejectionOfRefusal(JSON.parse(JSON.stringify(refusal))), rejection, rejection.code);
    }
    t.equal(recordedRefusalOf({ code: 'transfer_exists', transferId: 't' }), null);
    t.equal(recordedRefusalOf({ code: 'own_account', accountId: alice }), null);
  });

  t.test('programmer errors: nothing follows a refusal', async (t) => {
    const ledger = funded();
    run(ledger, create('t', { amount: 600_00n }), { recordRefusals: true });
    const refused = transferIn(ledger, 't');
    t.throws(
      () =>
        evolveTransfer(refused, {
          type: 'PendingTransferVoided',
          data: { transferId: 't', reason: null, at: iso },
        }),
      /on rejected transfer/,
    );
    t.throws(
      () =>
        evolveTransfer(refused, {
          type: 'TransferReversed',
          data: { transferId: 't', reversalTransferId: 'r', at: iso },
        }),
      /on rejected transfer/,
    );
    const [record] = (run(funded(), create('t', { amount: 600_00n })) as { record: TransferEvent[] }).record;
    t.throws(() => evolveTransfer(refused, record!), /existing transfer/);
  });
});

t.test("every leg repeats its transfer's reference, whichever command writes it", async (t) => {
  const legReferences = (w: TransferWrites) =>
    [...w.debit, ...w.credit].map((e) => ('reference' in e.data ? e.data.reference : 'missing'));
  const ledger = funded(create('h', { amount: 10_00n, mode: 'two-phase', reference: 'rent hold' }));
  t.same(legReferences(writes(funded(), create('c', { reference: 'rent' }))), ['rent', 'rent'], 'create');
  t.same(legReferences(writes(funded(), create('n'))), [null, null], 'no reference: null');
  t.same(
    legReferences(writes(funded(), create('p', { mode: 'two-phase', reference: 'hold' }))),
    ['hold', 'hold'],
    'a hold',
  );
  t.same(legReferences(writes(ledger, post('h', 4_00n))), ['rent hold', 'rent hold'], 'its post');
  t.same(legReferences(writes(funded(create('h', { mode: 'two-phase', reference: 'x' })), voidIt('h'))), [
    'x',
    'x',
  ]);
  t.same(
    legReferences(writes(funded(create('t1', { reference: 'rent' })), reverse('r1', 't1', 'refund'))),
    ['refund', 'refund'],
    'a reversal: its reason, as its TransferPosted',
  );
});

t.test('fraud and AML rules, and transfers held for review', async (t) => {
  const review = (transferId: string, decision: 'approved' | 'rejected', reviewerId = 'user-manager') =>
    ({
      type: 'ReviewHeldTransfer',
      transferId,
      decision,
      reviewerId,
      reason: 'checked',
      now: at(60),
    }) as const;
  /** 6 000.00 EUR on alice's account: at the default reviewAmountMin (5 000.00) and more. */
  const rich = (...more: LedgerCommand[]) =>
    funded(openClearingEur, deposit('dep-rich', alice, 6_000_00n), ...more);
  const large = (id: string, fields: CreateFields = {}) =>
    create(id, { amount: 5_000_00n, rules: rulesWith(), ...fields });

  t.test('given the rules, when nothing fires, then posted with the decision recorded', async (t) => {
    const ledger = funded();
    const events = writes(ledger, create('t', { rules: rulesWith() }));
    t.same(events.transfer[0]?.data, {
      ...events.transfer[0]?.data,
      risk: { settingsVersion: '7', outcome: 'allow', flags: [], shadow: [], findings: [] },
    });
    t.match(transferIn(ledger, 't'), { status: 'posted', risk: { outcome: 'allow' }, review: null });
  });

  t.test('given a review, when made, then held: funds reserved, the owner cannot end it', async (t) => {
    const ledger = rich();
    const events = writes(ledger, large('h'));
    t.match(events.transfer, [
      {
        type: 'TransferPending',
        data: {
          timeoutSeconds: 0,
          expiresAt: new Date(t0.getTime() + 72 * 3_600_000).toISOString(),
          risk: { settingsVersion: '7', outcome: 'review', flags: ['large_amount', 'new_payee_large'] },
          review: {
            reasons: ['large_amount', 'new_payee_large'],
            requestedBy: 'user-alice',
            requestedMode: 'single-phase',
          },
        },
      },
    ]);
    t.match(events.debit, [{ type: 'AccountLegPending', data: { amount: '500000', payee: `acct:${bob}` } }]);
    t.equal(availableBalanceOf(account(ledger, alice)), 1_500_00n, 'the held amount is reserved');
    expectCode(t, ledger, post('h'), 'transfer_held');
    expectCode(t, ledger, voidIt('h'), 'transfer_held');
    // The same request again: the same held transfer (its mode is what was asked).
    t.same(run(ledger, large('h')), { status: 'replayed' });
  });

  t.test('given a held transfer, when a manager approves it, then posted in full', async (t) => {
    const ledger = rich(large('h'));
    expectCode(t, ledger, review('h', 'approved', 'user-alice'), 'reviewer_is_party');
    expectCode(t, ledger, review('h', 'approved', 'user-bob'), 'reviewer_is_party');
    const events = writes(ledger, review('h', 'approved'));
    t.match(events.transfer, [
      {
        type: 'TransferReviewed',
        data: { transferId: 'h', code: 'transfer', decision: 'approved', reviewerId: 'user-manager' },
      },
      { type: 'PendingTransferPosted', data: { amount: '500000' } },
    ]);
    t.match(transferIn(ledger, 'h'), {
      status: 'posted',
      postedAmount: 5_000_00n,
      review: { decision: { decision: 'approved', reviewerId: 'user-manager', reason: 'checked' } },
    });
    t.equal(balanceOf(account(ledger, alice)), 1_500_00n);
    t.equal(balanceOf(account(ledger, bob)), 5_000_00n);
    expectCode(t, ledger, review('h', 'rejected'), 'transfer_not_held');
  });

  t.test('given a held transfer, when rejected, then voided and the funds released', async (t) => {
    const ledger = rich(large('h'));
    t.match(writes(ledger, review('h', 'rejected')).transfer, [
      { type: 'TransferReviewed', data: { decision: 'rejected' } },
      { type: 'PendingTransferVoided', data: { reason: 'checked' } },
    ]);
    t.equal(availableBalanceOf(account(ledger, alice)), 6_500_00n);
    t.equal(transferIn(ledger, 'h').status, 'voided');
    // Never paid: bob is still a new payee for a large first payment.
    t.match(writes(ledger, large('h2')).transfer, [
      { data: { review: { reasons: ['large_amount', 'new_payee_large'] } } },
    ]);
  });

  t.test(
    'given a held transfer, when its deadline passes, then it expires; a late approval is refused',
    async (t) => {
      const ledger = rich(large('h'));
      const deadline = new Date(t0.getTime() + 72 * 3_600_000);
      expectCode(t, ledger, expire('h', new Date(deadline.getTime() - 1)), 'transfer_not_expired');
      expectCode(t, ledger, { ...review('h', 'approved'), now: deadline }, 'transfer_expired');
      writes(ledger, expire('h', deadline));
      t.equal(transferIn(ledger, 'h').status, 'expired');
      t.equal(availableBalanceOf(account(ledger, alice)), 6_500_00n);
    },
  );

  t.test('given a watch-list payee, then transfer_rejected, recorded with the figures', async (t) => {
    const ledger = funded(openClearingEur);
    const sanctioned = externalTo(
      create('x', { rules: rulesWith({ watchList: [{ iban: 'de89 3704 0044 0532 0130 00' }] }) }),
      {
        iban: 'DE89370400440532013000',
        name: 'Anyone',
      },
    );
    const decision = run(ledger, sanctioned, { recordRefusals: true });
    t.match(decision, {
      status: 'rejected',
      rejection: { code: 'transfer_rejected', rules: ['sanctioned_payee'] },
      record: [
        {
          type: 'TransferRefused',
          data: {
            rejection: { code: 'transfer_rejected', rules: ['sanctioned_payee'] },
            risk: {
              outcome: 'reject',
              findings: [{ ruleId: 'sanctioned_payee', figures: { matchedOn: 'iban', watchListEntry: '0' } }],
            },
          },
        },
      ],
    });
    t.same(expectCode(t, ledger, sanctioned, 'transfer_rejected'), {
      code: 'transfer_rejected',
      rules: ['sanctioned_payee'],
    });
    t.equal(availableBalanceOf(account(ledger, alice)), 500_00n, 'nothing moved');
  });

  t.test('given a rule in shadow mode, then its finding is recorded and the outcome unchanged', async (t) => {
    const ledger = rich();
    const modes = { ...defaultRuleModes(), large_amount: 'shadow' as const, new_payee_large: 'off' as const };
    const events = writes(ledger, large('s', { rules: rulesWith({ modes }) }));
    t.match(events.transfer, [
      {
        type: 'TransferPosted',
        data: {
          risk: {
            outcome: 'allow',
            flags: [],
            shadow: ['large_amount'],
            findings: [{ ruleId: 'large_amount', mode: 'shadow' }],
          },
        },
      },
    ]);
    const [posted] = events.transfer;
    t.equal(
      posted?.type === 'TransferPosted' && posted.data.risk?.findings.length,
      1,
      'an off rule is not evaluated',
    );
  });

  t.test('given an external transfer held, when approved, then it goes on to the rail', async (t) => {
    const payee = { iban: 'GB82WEST12345698765432', name: 'Payee' };
    const ledger = rich();
    writes(ledger, externalTo(large('x'), payee));
    t.match(transferIn(ledger, 'x'), {
      status: 'pending',
      review: { reasons: ['large_amount', 'new_payee_large'] },
    });
    expectCode(
      t,
      ledger,
      { type: 'PostPendingTransfer', transferId: 'x', byClearing: true, now: t0 },
      'transfer_held',
    );
    const events = writes(ledger, review('x', 'approved'));
    t.same(events.debit, []);
    t.match(events.transfer, [
      { type: 'TransferReviewed', data: { code: 'external', decision: 'approved' } },
    ]);
    t.match(transferIn(ledger, 'x'), { status: 'pending', expiresAt: null });
    writes(ledger, { type: 'PostPendingTransfer', transferId: 'x', byClearing: true, now: at(120) });
    t.equal(balanceOf(account(ledger, alice)), 1_500_00n);
    // Paid: the IBAN is a known payee now.
    t.ok(account(ledger, alice).debitActivity.knownPayees.has('iban:GB82WEST12345698765432'));
  });

  t.test('given cash above the threshold, the member of staff at the desk does not approve it', async (t) => {
    const desk = { staffId: 'user-teller', approvalMin: 1_000_00n, reviewTimeoutHours: 24 };
    const ledger = funded(
      create('d', { debitAccountId: cash, creditAccountId: alice, amount: 2_000_00n, code: 'deposit', desk }),
    );
    expectCode(t, ledger, review('d', 'approved', 'user-teller'), 'reviewer_is_party');
    expectCode(t, ledger, review('d', 'approved', 'user-alice'), 'reviewer_is_party');
    writes(ledger, review('d', 'approved'));
    t.equal(balanceOf(account(ledger, alice)), 2_500_00n);
  });

  t.test('velocity reads the account’s own debits: the eleventh within the hour is held', async (t) => {
    const ledger = funded();
    for (let i = 0; i < 10; i++)
      writes(ledger, create(`v${i}`, { amount: 1_00n, rules: rulesWith(), now: at(i) }));
    const events = writes(ledger, create('v10', { amount: 1_00n, rules: rulesWith(), now: at(10) }));
    t.match(events.transfer, [{ type: 'TransferPending', data: { review: { reasons: ['velocity'] } } }]);
    t.equal(account(ledger, alice).debitActivity.recent.length, 11);
    t.equal(account(ledger, alice).debitActivity.lastDebitAt, at(10).toISOString());
    // An hour after the last, the window is empty again: allowed.
    const later = writes(ledger, create('v11', { amount: 1_00n, rules: rulesWith(), now: at(3600 + 11) }));
    t.match(later.transfer, [{ type: 'TransferPosted' }]);
  });

  t.test('a review of a transfer that is not held, or of none', async (t) => {
    const ledger = funded(create('t'));
    expectCode(t, ledger, review('t', 'approved'), 'transfer_not_held');
    expectCode(t, ledger, review('ghost', 'approved'), 'transfer_not_found');
  });
});

t.test('every rejection code has a test above', async (t) => {
  t.same([...seen].sort(), [...ledgerRejectionCodes].sort());
});
