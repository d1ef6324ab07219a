import assert from 'node:assert/strict';
import {
  accountIn,
  applyAccountEvents,
  applyWrites,
  bigints,
  emptyLedger,
  isAccountCommand,
  type Ledger,
  type LedgerCommand,
  statesFor,
  viaJson,
} from '@ledger/domain/testing';
import fc from 'fast-check';
import t from 'tap';
import {
  type Account,
  type AccountEvent,
  availableBalanceOf,
  balanceOf,
  isLimitedCode,
  utcDayOf,
} from './account.js';
import {
  type AccountCommand,
  type Decision,
  decideAccount,
  decideTransfer,
  type LedgerRejectionCode,
  ledgerRejectionCodes,
  type TransferLimits,
  type TransferWrites,
} from './decide.js';
import { type Currency, fromMinorUnits } from './money.js';
import type { TransferEvent } from './transfer.js';

/**
 * Property: any sequence of opens, deposits, withdrawals, transfers (single- and
 * two-phase), posts (full and partial), voids, expiries, reversals, freezes and closes
 * over a few accounts keeps every invariant of DESIGN.md §4 after every step, every
 * decision leaves its input states untouched, and a rejection writes nothing.
 */

/** Shortly before midnight: longer histories cross into the next UTC day (daily limits). */
const t0 = Date.parse('2026-03-01T23:57:00.000Z');

interface Pooled {
  id: string;
  currency: Currency;
  open: AccountCommand;
  customer: boolean;
}

const customer = (id: string, currency: Currency, overdraftLimit = 0n): Pooled => ({
  id,
  currency,
  customer: true,
  open: {
    type: 'OpenCustomerAccount',
    accountId: id,
    ownerId: `user-${id}`,
    accountType: 'checking',
    currency,
    ...(overdraftLimit === 0n ? {} : { overdraftLimit }),
    now: new Date(t0),
  },
});
const bank = (id: string, currency: Currency, accountType: 'cash' | 'clearing' | 'fee-income'): Pooled => ({
  id,
  currency,
  customer: false,
  open: { type: 'OpenBankAccount', accountId: id, accountType, currency, now: new Date(t0) },
});

const pool: Pooled[] = [
  customer('alice', 'EUR'),
  customer('bob', 'EUR', 50_00n),
  customer('carol', 'EUR'),
  bank('cash-eur', 'EUR', 'cash'),
  bank('fees-eur', 'EUR', 'fee-income'),
  bank('clearing-eur', 'EUR', 'clearing'),
  customer('jun', 'JPY'),
  bank('cash-jpy', 'JPY', 'cash'),
];
const customers = pool.flatMap((p, i) => (p.customer ? [i] : []));
const cashFor = (currency: Currency) => (currency === 'EUR' ? 'cash-eur' : 'cash-jpy');
/** New transfers draw from a pool small enough for replays and id clashes. */
const transferIds = Array.from({ length: 24 }, (_, i) => `t${i}`);

type Step =
  | { kind: 'open'; account: number }
  | { kind: 'deposit' | 'withdraw'; id: string; account: number; amount: bigint }
  | { kind: 'withdrawAll'; id: string; account: number }
  | {
      kind: 'transfer';
      id: string;
      debit: number;
      credit: number;
      amount: bigint;
      otherCurrency: boolean;
      twoPhase: boolean;
      timeoutSeconds: number;
      transferAmountMax: bigint | null;
      dailyDebitMax: bigint | null;
      unverifiedDailyDebitMax: bigint | null;
    }
  /** To another bank: a hold on the clearing account until the rail settles or returns it. */
  | { kind: 'external'; id: string; debit: number; amount: bigint; unverifiedDailyDebitMax: bigint | null }
  /** The clearing rail's answer to one of the recent external transfers. */
  | { kind: 'settle' | 'return'; target: number }
  /** `target` picks one of the most recent transfers (see `existing`). */
  | { kind: 'post'; target: number; amount: bigint | null }
  | { kind: 'void' | 'expire'; target: number }
  | { kind: 'reverse'; id: string; target: number }
  | { kind: 'freeze' | 'unfreeze' | 'close'; account: number }
  | { kind: 'tick'; seconds: number }
  /** A client retry: the last CreateTransfer again, unchanged but for its time. */
  | { kind: 'retry' };

const accountIndex = fc.integer({ min: 0, max: pool.length - 1 });
const customerIndex = fc.constantFrom(...customers);
const transferId = fc.constantFrom(...transferIds);
const target = fc.nat({ max: 9 });
const amount = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(-1n, 0n, 1n) },
  { weight: 6, arbitrary: fc.bigInt({ min: 1n, max: 300_00n }) },
);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('open' as const), account: accountIndex }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom('deposit' as const, 'withdraw' as const),
      id: transferId,
      account: customerIndex,
      amount,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('withdrawAll' as const),
      id: transferId,
      account: customerIndex,
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('transfer' as const),
      id: transferId,
      debit: accountIndex,
      credit: accountIndex,
      amount,
      otherCurrency: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      twoPhase: fc.boolean(),
      timeoutSeconds: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60 })),
      transferAmountMax: fc.option(fc.bigInt({ min: 1n, max: 200_00n }), { freq: 8 }),
      dailyDebitMax: fc.option(fc.bigInt({ min: 1n, max: 600_00n }), { freq: 3 }),
      unverifiedDailyDebitMax: fc.option(fc.bigInt({ min: 0n, max: 300_00n }), { freq: 6 }),
    }),
  },
  {
    // Holds between EUR accounts, most of which succeed: there is something to post or void.
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('transfer' as const),
      id: transferId,
      debit: fc.constantFrom(0, 1, 2),
      credit: fc.constantFrom(0, 1, 2, 3, 4),
      amount,
      otherCurrency: fc.constant(false),
      twoPhase: fc.constant(true),
      timeoutSeconds: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60 })),
      transferAmountMax: fc.constant(null),
      dailyDebitMax: fc.option(fc.bigInt({ min: 1n, max: 600_00n }), { freq: 3 }),
      unverifiedDailyDebitMax: fc.constant(null),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('external' as const),
      id: transferId,
      debit: customerIndex,
      amount,
      // Mostly a verified customer; now and then one without KYC (external: refused).
      unverifiedDailyDebitMax: fc.oneof(
        { weight: 5, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constant(0n) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constantFrom('settle' as const, 'return' as const), target }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('post' as const),
      target,
      amount: fc.option(amount, { freq: 2 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('void' as const, 'expire' as const), target }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reverse' as const), id: transferId, target }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('freeze' as const, 'unfreeze' as const, 'close' as const),
      account: accountIndex,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 90 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'retry' as const }) },
);

interface World {
  ledger: Ledger;
  now: number;
  /** How many times each hold was ended (posted, voided or expired). */
  holdEnds: Map<string, number>;
  lastCreate: LedgerCommand | null;
}

/** Resolves a step's `target` to a transfer id: a recent one (a hold, for post/void/expire), or 'ghost'. */
function existing(world: World, target: number, preferPending = false): string {
  const all = [...world.ledger.transfers.entries()];
  const pending = all.filter(([, transfer]) => transfer.status === 'pending');
  // Holds are what post, void and expire are about: aim at one most of the time.
  const ids = (preferPending && pending.length > 0 && target < 6 ? pending : all).map(([id]) => id);
  // Mostly one that exists; now and then one that does not.
  if (ids.length === 0 || target === 9) return 'ghost';
  return ids[ids.length - 1 - (target % ids.length)]!;
}

/** A recent external transfer (ended or not: the rail may answer twice), or null when none exists. */
function externalTransfer(world: World, target: number): string | null {
  const ids = [...world.ledger.transfers.entries()]
    .filter(([, transfer]) => transfer.status !== 'none' && transfer.code === 'external')
    .map(([id]) => id);
  return ids.length === 0 ? null : ids[ids.length - 1 - (target % ids.length)]!;
}

/** The step's limits, those it has; none at all when it has none. */
function limitsOf(s: Step & { kind: 'transfer' }): { limits?: TransferLimits } {
  const limits: TransferLimits = {
    ...(s.transferAmountMax === null ? {} : { transferAmountMax: s.transferAmountMax }),
    ...(s.dailyDebitMax === null ? {} : { dailyDebitMax: s.dailyDebitMax }),
    ...(s.unverifiedDailyDebitMax === null ? {} : { unverifiedDailyDebitMax: s.unverifiedDailyDebitMax }),
  };
  return Object.keys(limits).length === 0 ? {} : { limits };
}

/** Turns a step into a command against the current world (the clock and balances). */
function commandFor(world: World, s: Step): LedgerCommand | null {
  const now = new Date(world.now);
  const p = (i: number) => pool[i]!;
  switch (s.kind) {
    case 'open':
      return { ...p(s.account).open, now };
    case 'deposit':
    case 'withdraw':
    case 'withdrawAll': {
      const { id: accountId, currency } = p(s.account);
      let amount = s.kind === 'withdrawAll' ? 1n : s.amount;
      if (s.kind === 'withdrawAll') {
        const state = accountIn(world.ledger, accountId);
        if (state.status !== 'none' && availableBalanceOf(state) > 0n) amount = availableBalanceOf(state);
      }
      const [debitAccountId, creditAccountId] =
        s.kind === 'deposit' ? [cashFor(currency), accountId] : [accountId, cashFor(currency)];
      return {
        type: 'CreateTransfer',
        transferId: s.id,
        debitAccountId,
        creditAccountId,
        amount,
        currency,
        code: s.kind === 'deposit' ? 'deposit' : 'withdrawal',
        mode: 'single-phase',
        now,
      };
    }
    case 'transfer': {
      const debit = p(s.debit);
      const currency = s.otherCurrency ? (debit.currency === 'EUR' ? 'JPY' : 'EUR') : debit.currency;
      return {
        type: 'CreateTransfer',
        transferId: s.id,
        debitAccountId: debit.id,
        creditAccountId: p(s.credit).id,
        amount: s.amount,
        currency,
        code: 'transfer',
        mode: s.twoPhase ? 'two-phase' : 'single-phase',
        ...(s.twoPhase ? { timeoutSeconds: s.timeoutSeconds } : {}),
        ...limitsOf(s),
        now,
      };
    }
    case 'external': {
      const debit = p(s.debit);
      return {
        type: 'CreateTransfer',
        transferId: s.id,
        debitAccountId: debit.id,
        creditAccountId: 'clearing-eur',
        amount: s.amount,
        currency: debit.currency,
        code: 'external',
        mode: 'two-phase',
        beneficiary: { iban: 'DE89370400440532013000', name: 'Erika Mustermann' },
        ...(s.unverifiedDailyDebitMax === null ? {} : { limits: { unverifiedDailyDebitMax: 0n } }),
        now,
      };
    }
    case 'settle':
    case 'return': {
      const transferId = externalTransfer(world, s.target);
      if (transferId === null) return null;
      return s.kind === 'settle'
        ? { type: 'PostPendingTransfer', transferId, byClearing: true, now }
        : { type: 'ReturnPendingTransfer', transferId, reason: 'beneficiary bank refused', now };
    }
    case 'post':
      return s.amount === null
        ? { type: 'PostPendingTransfer', transferId: existing(world, s.target, true), now }
        : { type: 'PostPendingTransfer', transferId: existing(world, s.target, true), amount: s.amount, now };
    case 'void':
      return {
        type: 'VoidPendingTransfer',
        transferId: existing(world, s.target, true),
        reason: 'customer',
        now,
      };
    case 'expire':
      return { type: 'ExpirePendingTransfer', transferId: existing(world, s.target, true), now };
    case 'reverse': {
      const originalTransferId = existing(world, s.target);
      return { type: 'ReverseTransfer', transferId: s.id, originalTransferId, reason: 'correction', now };
    }
    case 'freeze':
      return { type: 'FreezeAccount', accountId: p(s.account).id, reason: 'review', now };
    case 'unfreeze':
      return { type: 'UnfreezeAccount', accountId: p(s.account).id, reason: 'cleared', now };
    case 'close':
      return { type: 'CloseAccount', accountId: p(s.account).id, now };
    case 'tick':
      world.now += s.seconds * 1000;
      return null;
    case 'retry':
      return world.lastCreate === null ? null : { ...world.lastCreate, now };
  }
}

function amountsOf(event: AccountEvent | TransferEvent): bigint[] {
  const data = event.data as { amount?: string };
  return data.amount === undefined ? [] : [fromMinorUnits(data.amount)];
}

/** Decides one step, checks what a decision may and may not do, applies it. */
function decideAndApply(world: World, command: LedgerCommand): Decision<AccountEvent[] | TransferWrites> {
  const before = structuredClone(world.ledger);
  if (isAccountCommand(command)) {
    const decision = decideAccount(command, accountIn(world.ledger, command.accountId));
    assert.deepStrictEqual(world.ledger, before, 'deciding changes no state');
    if (decision.status === 'accepted') {
      for (const event of decision.events) assert.equal(event.data.accountId, command.accountId);
      assert.deepStrictEqual(viaJson(decision.events), decision.events, 'events are plain JSON');
      applyAccountEvents(world.ledger, decision.events);
    }
    return decision;
  }
  const states = statesFor(world.ledger, command);
  const decision = decideTransfer(command, states);
  assert.deepStrictEqual(world.ledger, before, 'deciding changes no state');
  if (decision.status !== 'accepted') return decision;
  const writes = decision.events;
  // Plain JSON: no bigint (JSON.stringify throws), no Date, no undefined.
  assert.deepStrictEqual(viaJson(writes), writes, 'events are plain JSON');
  // Each list goes to its own stream, and a closed account takes no legs.
  for (const [side, state] of [
    ['debit', states.debit],
    ['credit', states.credit],
  ] as const) {
    assert(state.status !== 'none' && state.status !== 'closed', `${side} leg on a ${state.status} account`);
    assert.equal(writes[side].length, 1);
    for (const event of writes[side]) assert.equal(event.data.accountId, state.id);
  }
  for (const event of writes.transfer) assert.equal(event.data.transferId, command.transferId);
  for (const event of writes.original) {
    assert(command.type === 'ReverseTransfer');
    assert.equal(event.data.transferId, command.originalTransferId);
  }
  // Amounts > 0 in every event that moves or holds money.
  for (const event of [...writes.transfer, ...writes.debit, ...writes.credit]) {
    for (const amount of amountsOf(event)) assert(amount > 0n, `${event.type} with amount ${amount}`);
  }
  for (const event of writes.transfer) {
    if (event.type.startsWith('PendingTransfer')) {
      world.holdEnds.set(event.data.transferId, (world.holdEnds.get(event.data.transferId) ?? 0) + 1);
    }
  }
  applyWrites(world.ledger, writes);
  return decision;
}

function checkInvariants(world: World): void {
  const { accounts, transfers } = world.ledger;
  // Per currency, Σ debits = Σ credits, posted and pending separately.
  const sums = new Map<Currency, { dp: bigint; cp: bigint; dh: bigint; ch: bigint }>();
  for (const state of accounts.values()) {
    if (state.status === 'none') continue;
    const sum = sums.get(state.currency) ?? { dp: 0n, cp: 0n, dh: 0n, ch: 0n };
    sum.dp += state.debitsPosted;
    sum.cp += state.creditsPosted;
    sum.dh += state.debitsPending;
    sum.ch += state.creditsPending;
    sums.set(state.currency, sum);
  }
  for (const [currency, sum] of sums) {
    assert.equal(sum.dp, sum.cp, `${currency}: posted debits ≠ credits`);
    assert.equal(sum.dh, sum.ch, `${currency}: pending debits ≠ credits`);
  }
  // The totals of each account are exactly what its transfers say: a hold that ended
  // twice, or a leg lost or doubled, shows here.
  const expected = new Map<string, { dp: bigint; cp: bigint; dh: bigint; ch: bigint }>();
  const of = (id: string) => {
    const e = expected.get(id) ?? { dp: 0n, cp: 0n, dh: 0n, ch: 0n };
    expected.set(id, e);
    return e;
  };
  for (const transfer of transfers.values()) {
    if (transfer.status === 'none') continue;
    assert(transfer.amount > 0n, 'amounts > 0');
    if (transfer.status === 'pending') {
      of(transfer.debitAccountId).dh += transfer.amount;
      of(transfer.creditAccountId).ch += transfer.amount;
    }
    if (transfer.status === 'posted') {
      assert(transfer.postedAmount > 0n && transfer.postedAmount <= transfer.amount);
      of(transfer.debitAccountId).dp += transfer.postedAmount;
      of(transfer.creditAccountId).cp += transfer.postedAmount;
      if (transfer.reversedBy !== null) {
        const reversal = transfers.get(transfer.reversedBy);
        assert(
          reversal?.status === 'posted' && reversal.reversalOf === transfer.id,
          'reversal links both ways',
        );
        assert.equal(reversal.amount, transfer.postedAmount);
      }
    }
  }
  for (const state of accounts.values()) {
    if (state.status === 'none') continue;
    const e = of(state.id);
    assert.deepEqual(
      [state.debitsPosted, state.creditsPosted, state.debitsPending, state.creditsPending],
      [e.dp, e.cp, e.dh, e.ch],
      `totals of ${state.id} agree with its transfers`,
    );
    if (state.kind === 'customer') {
      assert(
        availableBalanceOf(state) >= -state.flags.overdraftLimit,
        `${state.id} available ${availableBalanceOf(state)} below −${state.flags.overdraftLimit}`,
      );
    }
    // The daily debit total is what the limited transfers of its day still hold or moved.
    const { day, total } = state.dailyDebits;
    let counted = 0n;
    for (const transfer of transfers.values()) {
      if (transfer.status === 'none' || transfer.debitAccountId !== state.id || !isLimitedCode(transfer.code))
        continue;
      if (day === null || utcDayOf(transfer.createdAt) !== day) continue;
      if (transfer.status === 'pending') counted += transfer.amount;
      if (transfer.status === 'posted') counted += transfer.postedAmount;
    }
    assert.equal(total, counted, `daily debits of ${state.id} on ${day}`);
    if (state.status === 'closed') {
      assert.equal(balanceOf(state), 0n);
      assert.equal(state.debitsPending + state.creditsPending, 0n);
    }
  }
  for (const [id, ends] of world.holdEnds) assert(ends <= 1, `hold ${id} ended ${ends} times`);
}

t.test('random ledger histories keep every invariant', async (t) => {
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  fc.assert(
    fc.property(
      fc.uniqueArray(accountIndex, { maxLength: 2 }),
      fc.array(step, { minLength: 20, maxLength: 60 }),
      (unopened, steps) => {
        const world: World = { ledger: emptyLedger(), now: t0, holdEnds: new Map(), lastCreate: null };
        const closedTotals = new Map<string, string>();
        // Most accounts exist from the start; those left out may be opened by a step later.
        const opened = pool.flatMap((_, i) => (unopened.includes(i) ? [] : [i]));
        const opens = opened.map((i): Step => ({ kind: 'open', account: i }));
        const seeds = opened.flatMap((i): Step[] =>
          pool[i]!.customer ? [{ kind: 'deposit', id: `seed-${i}`, account: i, amount: 1000_00n }] : [],
        );
        for (const s of [...opens, ...seeds, ...steps]) {
          const command = commandFor(world, s);
          if (command === null) continue;
          const decision = decideAndApply(world, command);
          if (command.type === 'CreateTransfer') world.lastCreate = command;
          if (decision.status === 'rejected') {
            assert(
              (ledgerRejectionCodes as readonly LedgerRejectionCode[]).includes(decision.rejection.code),
            );
            count(`rejected ${decision.rejection.code}`);
          } else {
            const byClearing = command.type === 'PostPendingTransfer' && command.byClearing === true;
            count(`${decision.status} ${command.type}${byClearing ? ' by clearing' : ''}`);
          }
          checkInvariants(world);
          // A closed account never changes again.
          for (const state of world.ledger.accounts.values()) {
            if (state.status !== 'closed') continue;
            const totals = JSON.stringify(state as Account, bigints);
            assert.equal(closedTotals.get(state.id) ?? totals, totals, `closed ${state.id} changed`);
            closedTotals.set(state.id, totals);
          }
        }
      },
    ),
    { numRuns: 150 },
  );

  // A property that never reaches a post, a void or a close proves little: check the
  // generator reaches every kind of outcome.
  for (const key of [
    'accepted OpenCustomerAccount',
    'accepted OpenBankAccount',
    'accepted CreateTransfer',
    'accepted PostPendingTransfer',
    'accepted VoidPendingTransfer',
    'accepted ReturnPendingTransfer',
    'accepted PostPendingTransfer by clearing',
    'rejected clearing_only',
    'accepted ExpirePendingTransfer',
    'accepted ReverseTransfer',
    'accepted FreezeAccount',
    'accepted UnfreezeAccount',
    'accepted CloseAccount',
    'replayed CreateTransfer',
    'rejected insufficient_funds',
    'rejected currency_mismatch',
    'rejected account_frozen',
    'rejected account_closed',
    'rejected same_account',
    'rejected account_not_found',
    'rejected transfer_not_pending',
    'rejected amount_exceeds_pending',
    'rejected transfer_exists',
    'rejected transfer_already_reversed',
    'rejected transfer_expired',
    'rejected limit_exceeded',
    'rejected kyc_required',
    'rejected invalid_amount',
    'rejected balance_not_zero',
  ]) {
    t.ok((outcomes.get(key) ?? 0) > 0, `reached: ${key} (${outcomes.get(key) ?? 0})`);
  }
  t.comment(JSON.stringify(Object.fromEntries([...outcomes].sort())));
});
