import { randomUUID } from 'node:crypto';
import { fundedAccount } from '@ledger/application/testing';
import { subscriptionStreamId } from '@ledger/contracts';
import type { RecordedEvent } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import { until } from '@ledger/testkit';
import t from 'tap';
import {
  type ClearingRail,
  clearExternalTransfer,
  createExternalTransfer,
  jobMetadata,
} from '../clearing.js';
import {
  accountNumberOf,
  accountOwnerOf,
  bankAccountId,
  createLedger,
  ledgerEventSchemaVersion,
  runTransferCommand,
  transferStreamId,
} from '../ledger/index.js';
import {
  changePack,
  changeSubscriptionPack,
  createPack,
  type PackCaller,
  seedCatalog,
  seededPackId,
  seedPackCatalog,
  settleSubscription,
  subscribeToPack,
} from '../packs/index.js';
import { notificationId, notificationsOf } from './decide.js';

// Which events notify whom (API.md, Notifications), against a real PostgreSQL event store:
// ledger events through the application's use cases (or appended as a decider would write
// them), identity and KYC events as stored. Each type once, for the right recipient only,
// with the same id however often it is decided.

const { store } = await openTestStore('application_notifications', t);
const ledger = createLedger(store);
const context = { ledger };
const meta = { actorId: 'test' };

let position = 1_000_000n;
/** An event as the store would hand it over, without a store read (identity and KYC: no loader needed). */
function recorded(type: string, data: unknown, streamId = `test-${randomUUID()}`): RecordedEvent {
  return {
    eventId: randomUUID(),
    streamId,
    streamVersion: 5n,
    globalPosition: position++,
    type,
    schemaVersion: 1,
    data: data as RecordedEvent['data'],
    metadata: {},
    recordedAt: new Date().toISOString(),
    hash: '',
  };
}

/** Every intent of every event written after `head`. */
async function intentsSince(head: bigint) {
  // $all is readable below the oldest transaction open on the server (other test files' too).
  const last = await store.lastWrittenPosition();
  await until(
    'the log is readable up to what was written',
    async () => (await store.headPosition()) >= last,
    10_000,
  );
  const events = await store.readAll({ after: head, limit: 1000 });
  return (await Promise.all(events.map((e) => notificationsOf(context, e)))).flat();
}

const ownerOf = async (accountId: string) => (await accountOwnerOf(ledger, accountId))!;

t.test('a transfer: transfer_sent to the payer, transfer_received to the payee; ids stable', async (t) => {
  const from = await fundedAccount(ledger, 100_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  const head = await store.headPosition();
  const outcome = await runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: randomUUID(),
      debitAccountId: from,
      creditAccountId: to,
      amount: 12_50n,
      currency: 'EUR',
      code: 'transfer',
      mode: 'single-phase',
      reference: 'rent\nmarch <b>',
      limits: {},
      now: new Date(),
    },
    meta,
  );
  t.equal(outcome.status, 'accepted');
  const intents = await intentsSince(head);
  t.same(intents.map((i) => [i.type, i.recipientUserId, i.category]).sort(), [
    ['transfer_received', await ownerOf(to), 'transfers'],
    ['transfer_sent', await ownerOf(from), 'transfers'],
  ]);
  const sent = intents.find((i) => i.type === 'transfer_sent')!;
  const received = intents.find((i) => i.type === 'transfer_received')!;
  t.same(sent.facts, {
    amount: '12.50',
    currency: 'EUR',
    transferId: sent.facts.transferId,
    reference: 'rent\nmarch <b>',
    accountId: from,
    counterparty: (await accountNumberOf(ledger, to))!,
  });
  t.equal(received.facts.counterparty, await accountNumberOf(ledger, from), 'the payer’s account number');
  t.equal(received.facts.amount, '12.50');
  t.notOk(JSON.stringify(intents.map((i) => i.facts)).includes('"name"'), 'nobody’s name');
  t.same(await intentsSince(head), intents, 'decided again: the same intents, the same ids');
  t.equal(sent.id, notificationId(sent.eventId, sent.recipientUserId, 'transfer_sent'));
  t.not(sent.id, received.id);
});

t.test('deposits, bank accounts and a hold without review notify nobody', async (t) => {
  const head = await store.headPosition();
  const from = await fundedAccount(ledger, 50_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  const hold = await runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: randomUUID(),
      debitAccountId: from,
      creditAccountId: to,
      amount: 1_00n,
      currency: 'EUR',
      code: 'transfer',
      mode: 'two-phase',
      limits: {},
      now: new Date(),
    },
    meta,
  );
  t.equal(hold.status, 'accepted');
  t.same(await intentsSince(head), [], 'opening, depositing and holding: nothing');
  t.same(
    await notificationsOf(
      context,
      recorded('AccountFrozen', {
        accountId: bankAccountId('EUR', 'cash'),
        reason: 'x',
        at: new Date().toISOString(),
      }),
    ),
    [],
    'a bank-owned account has no owner to tell',
  );
});

t.test('held, approved, rejected: to the owner of the debit account', async (t) => {
  const from = await fundedAccount(ledger, 100_00n, meta);
  const to = await fundedAccount(ledger, 0n, meta);
  const payer = await ownerOf(from);
  for (const decision of ['approved', 'rejected'] as const) {
    const transferId = randomUUID();
    const at = new Date().toISOString();
    const head = await store.headPosition();
    // As the decider writes them (the legs left out: only the transfer's stream is read).
    await store.append([
      {
        streamId: transferStreamId(transferId),
        expectedVersion: 'no_stream',
        events: [
          {
            type: 'TransferPending',
            schemaVersion: ledgerEventSchemaVersion,
            data: {
              transferId,
              debitAccountId: from,
              creditAccountId: to,
              amount: '300000',
              currency: 'EUR',
              code: 'transfer',
              reference: 'car',
              reversalOf: null,
              timeoutSeconds: 0,
              expiresAt: null,
              review: { reasons: ['amount_outlier'], requestedBy: payer, requestedMode: 'single-phase' },
              at,
            },
          },
        ],
      },
    ]);
    await store.append([
      {
        streamId: transferStreamId(transferId),
        expectedVersion: 0n,
        events: [
          {
            type: 'TransferReviewed',
            schemaVersion: ledgerEventSchemaVersion,
            data: {
              transferId,
              code: 'transfer',
              decision,
              reviewerId: randomUUID(),
              reason: 'called <them>',
              at,
            },
          },
        ],
      },
    ]);
    const intents = await intentsSince(head);
    t.same(
      intents.map((i) => [i.type, i.recipientUserId]),
      [
        ['transfer_held', payer],
        [`transfer_${decision}`, payer],
      ],
      decision,
    );
    t.match(intents[0]!.facts, { amount: '3000.00', currency: 'EUR', transferId, reference: 'car' });
    t.match(intents[1]!.facts, { amount: '3000.00', reason: 'called <them>' });
  }
});

t.test('an external transfer returned by the rail: transfer_returned to the payer', async (t) => {
  const from = await fundedAccount(ledger, 100_00n, meta);
  const returnIban = 'DE89370400440532013000';
  const rail: ClearingRail = { delayMs: 0, returnIbans: new Set([returnIban]) };
  const outcome = await createExternalTransfer(
    ledger,
    {
      transferId: randomUUID(),
      fromAccountId: from,
      beneficiary: { iban: returnIban, name: 'Some Payee' },
      amount: 20_00n,
      currency: 'EUR',
      reference: 'invoice 7',
      limits: {},
      now: new Date(),
    },
    meta,
  );
  if (outcome.status !== 'accepted') throw new Error(JSON.stringify(outcome));
  const head = await store.headPosition();
  await clearExternalTransfer(
    ledger,
    { transferId: outcome.transfer.id, rail, now: new Date() },
    jobMetadata('system:clearing', { eventId: randomUUID(), jobId: 'clearing.submit-x' }),
  );
  const intents = await intentsSince(head);
  t.same(
    intents.map((i) => [i.type, i.recipientUserId]),
    [['transfer_returned', await ownerOf(from)]],
  );
  t.match(intents[0]!.facts, { amount: '20.00', currency: 'EUR', transferId: outcome.transfer.id });
  t.notOk(JSON.stringify(intents[0]!.facts).includes('Some Payee'), 'never the payee’s name');
});

t.test('account_frozen: to the owner of a customer account', async (t) => {
  const account = await fundedAccount(ledger, 0n, meta);
  const event = recorded('AccountFrozen', {
    accountId: account,
    reason: 'court order',
    at: new Date().toISOString(),
  });
  const intents = await notificationsOf(context, event);
  t.same(
    intents.map((i) => [i.type, i.recipientUserId, i.category]),
    [['account_frozen', await ownerOf(account), 'security']],
  );
  t.match(intents[0]!.facts, {
    reason: 'court order',
    accountNumber: await accountNumberOf(ledger, account),
  });
});

t.test('KYC outcomes: once per check or review, to the case’s user', async (t) => {
  const userId = randomUUID();
  const at = new Date().toISOString();
  const checked = (outcome: string) =>
    recorded('KycChecked', {
      caseId: randomUUID(),
      userId,
      at,
      extracted: null,
      mrzValid: null,
      faceMatch: null,
      outcome,
      reasons: [],
      checkedBy: 'local',
    });
  for (const outcome of ['verified', 'rejected', 'needs_review']) {
    const intents = await notificationsOf(context, checked(outcome));
    t.same(
      intents.map((i) => [i.type, i.recipientUserId, i.category]),
      [[`kyc_${outcome}`, userId, 'kyc']],
    );
  }
  for (const decision of ['verified', 'rejected']) {
    const event = recorded('KycReviewed', {
      caseId: randomUUID(),
      userId,
      at,
      by: randomUUID(),
      decision,
      reason: 'blurry',
    });
    const intents = await notificationsOf(context, event);
    t.same(
      intents.map((i) => [i.type, i.recipientUserId]),
      [[`kyc_${decision}`, userId]],
    );
    t.equal(intents[0]!.facts.reason, 'blurry');
  }
  t.same(
    await notificationsOf(context, recorded('KycSubmitted', {})),
    [],
    'a submission notifies nobody (never parsed)',
  );
});

t.test('security events: password, 2FA on and off, lock', async (t) => {
  const userId = randomUUID();
  const at = new Date().toISOString();
  const cases: [string, unknown, string, Record<string, string>][] = [
    ['PasswordChanged', { userId, at, passwordId: randomUUID() }, 'password_changed', {}],
    ['TwoFactorEnabled', { userId, at, otpTimeStep: 1 }, 'two_factor_changed', { change: 'enabled' }],
    ['TwoFactorDisabled', { userId, at, otpTimeStep: 2 }, 'two_factor_changed', { change: 'disabled' }],
    ['UserLocked', { userId, at, until: null, reason: 'staff' }, 'account_locked', { reason: 'staff' }],
  ];
  for (const [type, data, expected, facts] of cases) {
    const event = recorded(type, data, `user-${userId}`);
    const intents = await notificationsOf(context, event);
    t.same(
      intents.map((i) => [i.type, i.recipientUserId, i.category]),
      [[expected, userId, 'security']],
      type,
    );
    t.match(intents[0]!.facts, facts);
    t.same(await notificationsOf(context, event), intents, `${type}: the same id decided again`);
  }
  t.same(
    await notificationsOf(context, recorded('UserUnlocked', { userId, at, reason: 'staff' })),
    [],
    'an unlock notifies nobody',
  );
});

t.test('pack fees: pack_fee_charged when paid, pack_fee_failed when refused; a refund neither', async (t) => {
  const t0 = new Date('2027-03-05T10:00:00.000Z');
  const day = 86_400_000;
  const as = (userId: string, now: Date): PackCaller => ({ userId, role: 'customer', metadata: meta, now });
  await seedPackCatalog(store, t0);
  const manager = { userId: randomUUID(), role: 'manager' as const, metadata: meta, now: t0 };
  const packId = randomUUID();
  const body = { ...seedCatalog[1]!, name: 'Gold', monthlyFee: '9.99', status: 'active' as const };
  t.match(await createPack(store, manager, { packId, body }), { ok: true });

  // Paid: period 0 of Gold, then a change down to Essential (a refund: no fee, no notification).
  const payer = await fundedAccount(ledger, 100_00n, meta);
  const owner = await ownerOf(payer);
  const head = await store.headPosition();
  const started = await subscribeToPack(ledger, as(owner, t0), { packId, accountId: payer });
  if (!started.ok) throw new Error(started.rejection);
  const down = await changeSubscriptionPack(ledger, as(owner, new Date(t0.getTime() + 10 * day)), {
    subscriptionId: started.subscription.id,
    packId: seededPackId('Essential'),
  });
  t.ok(down.ok, 'changed down: a refund was paid back');
  const refunds = (await store.readStream(subscriptionStreamId(started.subscription.id))).filter(
    (e) => e.type === 'SubscriptionChargePaid' && (e.data as { amount: string }).amount.startsWith('-'),
  );
  t.equal(refunds.length, 1, 'the refund is recorded as a paid charge');
  const paid = await intentsSince(head);
  t.same(
    paid.map((i) => [i.type, i.recipientUserId, i.category]),
    [['pack_fee_charged', owner, 'packs']],
    'the fee of period 0 only: the refund notifies nobody',
  );
  t.same(paid[0]!.facts, {
    amount: '9.99',
    currency: 'EUR',
    packName: 'Gold',
    packId,
    subscriptionId: started.subscription.id,
    accountId: payer,
    transferId: paid[0]!.facts.transferId,
    charge: 'p0',
  });
  // The pack renamed since: deciding the old event again still names the pack as it was.
  t.match(await changePack(store, manager, { packId, body: { ...body, name: 'Gold (old)' } }), { ok: true });
  t.same(await intentsSince(head), paid, 'decided again: the same intents, ids and facts');

  // Refused: nothing on the account; then the dunning retry a day later.
  const empty = await fundedAccount(ledger, 0n, meta);
  const debtor = await ownerOf(empty);
  const before = await store.headPosition();
  const failing = await subscribeToPack(ledger, as(debtor, t0), { packId, accountId: empty });
  if (!failing.ok) throw new Error(failing.rejection);
  await settleSubscription(ledger, failing.subscription.id, new Date(t0.getTime() + day), meta);
  const failed = await intentsSince(before);
  t.same(
    failed.map((i) => [i.type, i.recipientUserId, i.category]),
    [
      ['pack_fee_failed', debtor, 'packs'],
      ['pack_fee_failed', debtor, 'packs'],
    ],
    'one per refused attempt, to the owner only',
  );
  t.match(failed[0]!.facts, {
    amount: '9.99',
    currency: 'EUR',
    packName: 'Gold (old)',
    charge: 'p0',
    nextAttemptAt: new Date(t0.getTime() + day).toISOString(),
  });
  t.match(failed[1]!.facts, { nextAttemptAt: new Date(t0.getTime() + 3 * day).toISOString() });
  t.not(failed[0]!.id, failed[1]!.id, 'each attempt its own notification');
  t.equal(failed[0]!.id, notificationId(failed[0]!.eventId, debtor, 'pack_fee_failed'));
});
