import { randomUUID } from 'node:crypto';
import { externalTransfer, fundedAccount, twoPhaseTransfer } from '@ledger/application/testing';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import {
  type ClearingRail,
  clearExternalTransfer,
  clearingAnswer,
  expirePendingTransfer,
  jobMetadata,
} from './clearing.js';
import {
  bankAccountId,
  createLedger,
  loadAccount,
  loadTransfer,
  runAccountCommand,
  runTransferCommand,
  transferStreamId,
} from './ledger/index.js';

// External transfers, the clearing rail's answers and hold expiry, against a real
// PostgreSQL event store. The jobs that run these are tested in services/worker.

const { store } = await openTestStore('application_clearing', t);
const ledger = createLedger(store);

const meta = { actorId: 'test' };
const railMeta = jobMetadata('system:clearing', { eventId: randomUUID(), jobId: 'clearing.submit-x' });
const settleIban = 'GB82WEST12345698765432';
const returnIban = 'DE89370400440532013000';
const rail: ClearingRail = { delayMs: 0, returnIbans: new Set([returnIban]) };

const funded = (amount: bigint) => fundedAccount(ledger, amount, meta);

async function external(fromAccountId: string, iban: string, amount = 10_00n) {
  const transfer = { from: fromAccountId, beneficiary: { iban, name: 'Payee' }, amount, reference: null };
  return (await externalTransfer(ledger, transfer, meta)).id;
}

t.test('jobMetadata: the job as actor, its event as cause, the request’s correlation kept', async (t) => {
  t.same(jobMetadata('system:clearing', { eventId: 'e1', correlationId: 'c1', jobId: 'j1' }), {
    actorId: 'system:clearing',
    causationId: 'e1',
    correlationId: 'c1',
    jobId: 'j1',
  });
  t.match(jobMetadata('system:hold-expiry', { eventId: 'e1', jobId: 'j1' }), { correlationId: 'e1' });
});

t.test('the rail’s answer: return for listed IBANs, settle for the rest', async (t) => {
  t.same(clearingAnswer(rail, { iban: settleIban, name: 'x' }), { outcome: 'settle' });
  t.match(clearingAnswer(rail, { iban: returnIban, name: 'x' }), { outcome: 'return' });
});

t.test('settle posts the full amount to clearing; a second run is a no-op', async (t) => {
  const alice = await funded(100_00n);
  const id = await external(alice, settleIban, 30_00n);
  const clearingBefore = (await loadAccount(ledger, bankAccountId('EUR', 'clearing'))).state;
  const settled = await clearExternalTransfer(ledger, { transferId: id, rail, now: new Date() }, railMeta);
  t.match(settled, { result: 'settled' });
  t.match((await loadTransfer(ledger, id)).state, { status: 'posted', postedAmount: 30_00n });
  const clearing = (await loadAccount(ledger, bankAccountId('EUR', 'clearing'))).state;
  if (clearing.status === 'none' || clearingBefore.status === 'none') throw new Error('no clearing account');
  t.equal(clearing.creditsPosted - clearingBefore.creditsPosted, 30_00n);
  const events = await store.readStream(transferStreamId(id));
  t.match(events.at(-1)?.metadata, { actorId: 'system:clearing', jobId: 'clearing.submit-x' });
  t.same(await clearExternalTransfer(ledger, { transferId: id, rail, now: new Date() }, railMeta), {
    result: 'already_ended',
  });
});

t.test('return releases the hold: status returned, money back', async (t) => {
  const alice = await funded(100_00n);
  const id = await external(alice, returnIban, 30_00n);
  t.match(await clearExternalTransfer(ledger, { transferId: id, rail, now: new Date() }, railMeta), {
    result: 'returned',
  });
  t.match((await loadTransfer(ledger, id)).state, { status: 'returned' });
  t.match((await loadAccount(ledger, alice)).state, { debitsPosted: 0n, debitsPending: 0n });
});

t.test('a settle refused because the account was frozen meanwhile becomes a return', async (t) => {
  const alice = await funded(100_00n);
  const id = await external(alice, settleIban, 30_00n);
  const frozen = await runAccountCommand(
    ledger,
    { type: 'FreezeAccount', accountId: alice, reason: 'aml review', now: new Date() },
    meta,
  );
  t.equal(frozen.ok, true);
  t.match(await clearExternalTransfer(ledger, { transferId: id, rail, now: new Date() }, railMeta), {
    result: 'returned',
  });
  const events = await store.readStream(transferStreamId(id));
  t.match(events.at(-1), { type: 'PendingTransferReturned', data: { reason: 'account frozen: not sent' } });
  t.match((await loadAccount(ledger, alice)).state, {
    status: 'frozen',
    debitsPending: 0n,
    debitsPosted: 0n,
  });
});

t.test('expiry: not due before expiresAt; expired after; an ended hold is a no-op', async (t) => {
  const alice = await funded(100_00n);
  const bob = await funded(0n);
  const made = new Date();
  const hold = async () => {
    const outcome = await twoPhaseTransfer(
      ledger,
      { from: alice, to: bob, amount: 5_00n, timeoutSeconds: 60, now: made },
      meta,
    );
    if (outcome.status !== 'accepted') throw new Error(outcome.status);
    return outcome.transfer.id;
  };
  const id = await hold();
  const expiresAt = new Date(made.getTime() + 60_000);
  t.same(
    await expirePendingTransfer(ledger, { transferId: id, now: new Date(expiresAt.getTime() - 1) }, meta),
    {
      result: 'not_due',
      expiresAt: expiresAt.toISOString(),
    },
  );
  t.match(await expirePendingTransfer(ledger, { transferId: id, now: expiresAt }, meta), {
    result: 'expired',
  });
  t.same(await expirePendingTransfer(ledger, { transferId: id, now: expiresAt }, meta), {
    result: 'already_ended',
  });
  const posted = await hold();
  await runTransferCommand(ledger, { type: 'PostPendingTransfer', transferId: posted, now: made }, meta);
  t.same(await expirePendingTransfer(ledger, { transferId: posted, now: expiresAt }, meta), {
    result: 'already_ended',
  });
});
