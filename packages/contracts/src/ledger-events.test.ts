import t from 'tap';
import { z } from 'zod';
import {
  accountEventSchemas,
  CorruptLedgerEvent,
  isAccountEventType,
  isLedgerEventType,
  isTransferEventType,
  ledgerBookkeepingEventSchemas,
  ledgerEventSchemas,
  parseAccountEvent,
  parseLedgerEvent,
  parseTransferEvent,
  transferEventSchemas,
} from './ledger-events.js';

// The stored ledger events' contract: what parses, what is refused (with type and path in
// the error), and that every schema takes the compiled fast path.

const alice = '0b0e4c1d-9f2a-4b3c-8d4e-5f6a7b8c9d01';
const bob = '0b0e4c1d-9f2a-4b3c-8d4e-5f6a7b8c9d02';
const owner = '0b0e4c1d-9f2a-4b3c-8d4e-5f6a7b8c9d03';
const transfer = '0b0e4c1d-9f2a-4b3c-8d4e-5f6a7b8c9d04';
const at = '2026-03-01T10:00:00.000Z';
const leg = {
  accountId: alice,
  transferId: transfer,
  side: 'debit',
  counterpartyAccountId: bob,
  code: 'transfer',
  reference: 'rent',
  at,
};
const body = {
  transferId: transfer,
  debitAccountId: alice,
  creditAccountId: bob,
  amount: '12050',
  currency: 'EUR',
  code: 'transfer',
  reference: null,
  reversalOf: null,
};

/** One stored event of every type, as the ledger's writers make them. */
const stored = {
  AccountOpened: {
    accountId: alice,
    kind: 'customer',
    accountType: 'checking',
    ownerId: owner,
    currency: 'EUR',
    debitsMustNotExceedCredits: true,
    overdraftLimit: '0',
    openedAt: at,
    accountNumber: '7300123456789012',
  },
  AccountFrozen: { accountId: alice, reason: 'fraud check', at },
  AccountUnfrozen: { accountId: alice, reason: 'cleared', at },
  AccountClosed: { accountId: alice, at },
  AccountLegPending: { ...leg, amount: '8000' },
  AccountLegPosted: { ...leg, amount: '8000', releasedPending: '0' },
  AccountLegReleased: { ...leg, amount: '8000', reason: 'voided' },
  TransferPosted: { ...body, at },
  TransferPending: {
    ...body,
    code: 'external',
    beneficiary: { iban: 'GB82WEST12345698765432', name: 'Payee' },
    timeoutSeconds: 0,
    expiresAt: null,
    risk: {
      settingsVersion: '3',
      outcome: 'review',
      flags: ['new_payee_large'],
      shadow: ['velocity'],
      findings: [
        {
          ruleId: 'new_payee_large',
          mode: 'active',
          outcome: 'review',
          figures: { amount: '500000', newPayeeAmountMin: '200000' },
        },
        { ruleId: 'velocity', mode: 'shadow', outcome: 'review', figures: { count: '11' } },
      ],
    },
    review: { reasons: ['new_payee_large'], requestedBy: owner, requestedMode: 'two-phase' },
    at,
  },
  PendingTransferPosted: { transferId: transfer, amount: '5000', at },
  PendingTransferVoided: { transferId: transfer, reason: null, at },
  PendingTransferExpired: { transferId: transfer, at },
  PendingTransferReturned: { transferId: transfer, reason: 'closed account', at },
  TransferReversed: { transferId: transfer, reversalTransferId: owner, at },
  TransferReviewed: {
    transferId: transfer,
    code: 'external',
    decision: 'approved',
    reviewerId: owner,
    reason: 'known customer',
    at,
  },
  TransferRefused: {
    ...body,
    mode: 'two-phase',
    timeoutSeconds: 604800,
    rejection: { code: 'insufficient_funds', accountId: alice, available: '-500' },
    at,
  },
  AccountNumberAssigned: { accountNumber: '7300123456789012', accountId: alice },
  CustomerAccountAdded: { userId: owner, accountId: alice, accountNumber: '7300123456789012' },
  TransferRequestRecorded: {
    requestId: owner,
    fingerprint: 'post:abc:5000',
    transferId: transfer,
    transferVersion: '1',
  },
} satisfies Record<keyof typeof ledgerEventSchemas, unknown>;

/** The error a parse throws (or undefined). */
function failure(parse: () => unknown): CorruptLedgerEvent | undefined {
  try {
    parse();
  } catch (error) {
    if (error instanceof CorruptLedgerEvent) return error;
    throw error;
  }
  return undefined;
}

t.test('every ledger event type parses as stored, each by its own family', async (t) => {
  for (const [type, data] of Object.entries(stored)) {
    t.same(parseLedgerEvent({ type, data }), { type, data }, type);
    if (type in accountEventSchemas) {
      t.same(parseAccountEvent({ type, data }), { type, data }, `${type} is an account event`);
      t.ok(
        failure(() => parseTransferEvent({ type, data })),
        `${type} is not a transfer event`,
      );
    } else if (type in transferEventSchemas) {
      t.same(parseTransferEvent({ type, data }), { type, data }, `${type} is a transfer event`);
      t.ok(
        failure(() => parseAccountEvent({ type, data })),
        `${type} is not an account event`,
      );
    } else {
      t.ok(type in ledgerBookkeepingEventSchemas, type);
      t.ok(
        failure(() => parseAccountEvent({ type, data })),
        `${type} is not an account event`,
      );
      t.ok(
        failure(() => parseTransferEvent({ type, data })),
        `${type} is not a transfer event`,
      );
    }
  }
  t.same(
    Object.keys(ledgerEventSchemas).sort(),
    Object.keys(stored).sort(),
    'the fixture names every schema',
  );
});

t.test('bank accounts open without owner, number or overdraft', async (t) => {
  const data = {
    accountId: alice,
    kind: 'bank',
    accountType: 'cash',
    ownerId: null,
    currency: 'JPY',
    debitsMustNotExceedCredits: false,
    overdraftLimit: null,
    openedAt: at,
  };
  t.same(parseAccountEvent({ type: 'AccountOpened', data }).data, data);
  t.match(
    failure(() => parseAccountEvent({ type: 'AccountOpened', data: { ...data, ownerId: owner } })),
    {
      path: 'data.ownerId',
    },
  );
  t.match(
    failure(() =>
      parseAccountEvent({ type: 'AccountOpened', data: { ...data, debitsMustNotExceedCredits: true } }),
    ),
    { path: 'data.debitsMustNotExceedCredits' },
  );
  const { accountNumber: _number, ...customer } = stored.AccountOpened;
  t.same(parseAccountEvent({ type: 'AccountOpened', data: customer }).data, customer, 'number optional');
});

t.test('a corrupt event is refused naming its type, path and place', async (t) => {
  const posted = stored.AccountLegPosted;
  const cases: [string, unknown, string, RegExp][] = [
    ['AccountLegPosted', { ...posted, amount: 8000 }, 'data.amount', /expected string/],
    ['AccountLegPosted', { ...posted, amount: '80.00' }, 'data.amount', /minor units/],
    ['AccountLegPosted', { ...posted, amount: '0800' }, 'data.amount', /minor units/],
    [
      'AccountLegPosted',
      { ...posted, releasedPending: undefined },
      'data.releasedPending',
      /expected string/,
    ],
    ['AccountLegPosted', { ...posted, reference: undefined }, 'data.reference', /expected string/],
    ['AccountLegPosted', { ...posted, side: 'left' }, 'data.side', /debit/],
    ['AccountLegPosted', { ...posted, at: 'yesterday' }, 'data.at', /datetime/],
    ['AccountLegPosted', { ...posted, accountId: '' }, 'data.accountId', /.+/],
    ['AccountLegPosted', null, 'data', /expected object/],
    ['AccountLegPosted', [posted], 'data', /expected object/],
    ['AccountLegReleased', { ...posted, reason: 'lost' }, 'data.reason', /voided/],
    ['AccountOpened', { ...stored.AccountOpened, currency: 'XXX' }, 'data.currency', /EUR/],
    ['AccountOpened', { ...stored.AccountOpened, kind: 'other' }, 'data.kind', /discriminator/],
  ];
  for (const [type, data, path, problem] of cases) {
    const error = failure(() =>
      parseAccountEvent({ type, data, streamId: `account-${alice}`, globalPosition: 42n }),
    );
    t.ok(error, `${type} ${path} refused`);
    t.match(error, { eventType: type, path, problem, streamId: `account-${alice}`, globalPosition: 42n });
    t.match(
      error?.message,
      new RegExp(`^corrupt ${type} event \\(stream account-${alice} at position 42\\): ${path}: `),
    );
  }
  const refusal = failure(() =>
    parseTransferEvent({
      type: 'TransferRefused',
      data: { ...stored.TransferRefused, rejection: { code: 'insufficient_funds', accountId: alice } },
    }),
  );
  t.match(refusal, {
    path: 'data.rejection.available',
    message: /^corrupt TransferRefused event: data\.rejection\.available: /,
  });
  t.match(
    failure(() =>
      parseTransferEvent({
        type: 'TransferPending',
        data: { ...stored.TransferPending, beneficiary: { iban: 'GB82WEST12345698765432' } },
      }),
    ),
    { path: 'data.beneficiary.name' },
  );
  t.match(
    failure(() =>
      parseTransferEvent({
        type: 'TransferPending',
        data: { ...stored.TransferPending, timeoutSeconds: 1.5 },
      }),
    ),
    { path: 'data.timeoutSeconds' },
  );
  t.match(
    failure(() =>
      parseLedgerEvent({
        type: 'TransferRequestRecorded',
        data: { ...stored.TransferRequestRecorded, transferVersion: 1 },
      }),
    ),
    { path: 'data.transferVersion' },
  );
});

t.test('an unknown type is refused, whatever Object.prototype holds', async (t) => {
  for (const type of ['UserRegistered', 'toString', '__proto__', 'constructor', '']) {
    t.match(
      failure(() => parseAccountEvent({ type, data: {} })),
      { path: 'type', problem: 'not an account event' },
    );
    t.match(
      failure(() => parseTransferEvent({ type, data: {} })),
      { path: 'type', problem: 'not a transfer event' },
    );
    t.match(
      failure(() => parseLedgerEvent({ type, data: {} })),
      { path: 'type', problem: 'not a ledger event' },
    );
    t.notOk(isLedgerEventType(type), type);
  }
  t.ok(isAccountEventType('AccountLegPosted'));
  t.notOk(isAccountEventType('TransferPosted'));
  t.ok(isTransferEventType('TransferPosted'));
  t.ok(isLedgerEventType('CustomerAccountAdded'));
});

t.test('keys this reader does not know are left out; the input is not changed', async (t) => {
  const data = { ...stored.AccountLegPosted, memo: 'later field' };
  const parsed = parseAccountEvent({ type: 'AccountLegPosted', data });
  t.same(parsed.data, stored.AccountLegPosted);
  t.equal((data as { memo?: string }).memo, 'later field');
  t.not(parsed.data, data, 'a fresh object');
});

t.test('every schema compiles to the fast path (no runtime fallback on valid events)', async (t) => {
  for (const [type, schema] of Object.entries(ledgerEventSchemas)) {
    t.doesNotThrow(() => z.compile(schema as z.ZodType, { strict: true }), type);
  }
});
