import { randomUUID } from 'node:crypto';
import { createTransfer } from '@ledger/application/testing';
import {
  accountNumberLength,
  accountNumberPrefix,
  balanceOf,
  checkDigits,
  parseAccountNumber,
  type TransferCommand,
} from '@ledger/domain/ledger';
import { PostgresEventStore } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import {
  bankAccountId,
  createCashTransfer,
  createLedger,
  customerAccountIds,
  ensureBankAccounts,
  findAccountIdByNumber,
  loadAccount,
  loadTransfer,
  makeAccountNumber,
  openCustomerAccount,
  runAccountCommand,
  runTransferCommand,
  transferIdFor,
  transferStreamId,
  uuidv5,
} from './ledger/index.js';

// The ledger's command handlers against a real PostgreSQL event store.

const { store, database } = await openTestStore('application_ledger', t);
const ledger = createLedger(store);

const meta = { actorId: 'test' };
const now = () => new Date();

async function open(ownerId = randomUUID(), kycVerified = false) {
  const result = await openCustomerAccount(
    ledger,
    { ownerId, accountType: 'checking', currency: 'EUR', kycVerified, now: now() },
    meta,
  );
  if (!result.ok) throw new Error(result.code);
  return result;
}

const deposit = (accountId: string, amount: bigint, key = randomUUID()): TransferCommand => ({
  type: 'CreateTransfer',
  transferId: transferIdFor('teller', key),
  debitAccountId: bankAccountId('EUR', 'cash'),
  creditAccountId: accountId,
  amount,
  currency: 'EUR',
  code: 'deposit',
  mode: 'single-phase',
  now: now(),
});

const transfer = createTransfer;

t.test('uuidv5 matches RFC 9562 and transfer ids are scoped to the caller', async (t) => {
  // RFC 9562 appendix A.4: DNS namespace, "www.example.com".
  t.equal(
    uuidv5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'),
    '2ed6657d-e927-568b-95e1-2665a8aea6a2',
  );
  const key = randomUUID();
  t.equal(transferIdFor('a', key), transferIdFor('a', key));
  t.not(transferIdFor('a', key), transferIdFor('b', key));
});

t.test('account numbers carry ISO 7064 mod-97 check digits that catch typos', async (t) => {
  for (let i = 0; i < 50; i++) {
    const number = makeAccountNumber();
    t.equal(number.length, accountNumberLength);
    t.same(parseAccountNumber(number), { ok: true, accountNumber: number });
    const digits = number.split('');
    const at = 4 + (i % 12);
    digits[at] = String((Number(digits[at]) + 1 + (i % 9)) % 10);
    t.same(parseAccountNumber(digits.join('')), { ok: false, reason: 'check_digits' }, 'one digit changed');
  }
  // Every swap of two different neighbours changes the number by 9·(a − b)·10^k, never a
  // multiple of 97: each is caught. A fixed number, so every position is tried every run.
  const body = `${accountNumberPrefix}918273645261`;
  const fixed = body + checkDigits(body);
  t.same(parseAccountNumber(fixed), { ok: true, accountNumber: fixed });
  for (let k = accountNumberPrefix.length; k < fixed.length - 1; k++) {
    const swapped = fixed.split('');
    t.not(swapped[k], swapped[k + 1], `the fixed number's digits ${k} and ${k + 1} differ`);
    [swapped[k], swapped[k + 1]] = [swapped[k + 1]!, swapped[k]!];
    t.same(
      parseAccountNumber(swapped.join('')),
      { ok: false, reason: 'check_digits' },
      `neighbours ${k} and ${k + 1} swapped`,
    );
  }
  // GB82 WEST 1234 5698 7654 32, rearranged as IBANs are checked: WEST…GB → digits, check 82.
  t.equal(checkDigits('32142829123456987654321611'), '82', 'the check digits of a known IBAN');
  t.same(parseAccountNumber('7300 12'), { ok: false, reason: 'malformed' });
  t.same(parseAccountNumber('12ab'), { ok: false, reason: 'malformed' });
  const number = makeAccountNumber();
  t.same(parseAccountNumber(number.replace(/(\d{4})/g, '$1 ').trim()), { ok: true, accountNumber: number });
});

t.test('bank accounts are opened once per currency', async (t) => {
  await ensureBankAccounts(ledger, 'USD', now(), meta);
  const head = await store.lastWrittenPosition();
  await ensureBankAccounts(ledger, 'USD', now(), meta);
  t.equal(await store.lastWrittenPosition(), head, 'nothing written the second time');
  const cash = await loadAccount(ledger, bankAccountId('USD', 'cash'));
  t.equal(cash.state.status, 'active');
  t.equal(cash.version, 0n);
});

t.test('a second account needs verified KYC; the number finds the account', async (t) => {
  const owner = randomUUID();
  const first = await open(owner);
  t.equal(await findAccountIdByNumber(ledger, first.accountNumber), first.account.id);
  const second = await openCustomerAccount(
    ledger,
    { ownerId: owner, accountType: 'savings', currency: 'EUR', kycVerified: false, now: now() },
    meta,
  );
  t.same(second, { ok: false, code: 'kyc_required' });
  await open(owner, true);
  t.equal((await customerAccountIds(ledger, owner)).length, 2);
});

t.test('concurrent first accounts of one unverified customer: exactly one opens', async (t) => {
  const owner = randomUUID();
  const results = await Promise.all(
    Array.from({ length: 10 }, () =>
      openCustomerAccount(
        ledger,
        { ownerId: owner, accountType: 'checking', currency: 'EUR', kycVerified: false, now: now() },
        meta,
      ),
    ),
  );
  t.equal(results.filter((r) => r.ok).length, 1);
});

t.test('200 concurrent transfers of 1.00 from 50.00: exactly 50 posted', async (t) => {
  const from = await open();
  const to = await open();
  t.equal((await runTransferCommand(ledger, deposit(from.account.id, 5000n), meta)).status, 'accepted');
  const results = await Promise.all(
    Array.from({ length: 200 }, () =>
      runTransferCommand(ledger, transfer(from.account.id, to.account.id, 100n), meta),
    ),
  );
  t.equal(results.filter((r) => r.status === 'accepted').length, 50);
  t.equal(
    results.filter((r) => r.status === 'rejected' && r.rejection.code === 'insufficient_funds').length,
    150,
  );
  const a = (await loadAccount(ledger, from.account.id)).state;
  const b = (await loadAccount(ledger, to.account.id)).state;
  t.ok(a.status === 'active' && balanceOf(a) === 0n);
  t.ok(b.status === 'active' && balanceOf(b) === 5000n);
});

t.test('same id: a replay answers the first result; another body is transfer_exists', async (t) => {
  const from = await open();
  const to = await open();
  await runTransferCommand(ledger, deposit(from.account.id, 1000n), meta);
  const command = transfer(from.account.id, to.account.id, 100n);
  const results = await Promise.all(
    Array.from({ length: 20 }, () => runTransferCommand(ledger, command, meta)),
  );
  t.equal(results.filter((r) => r.status === 'accepted').length, 1);
  const first = results.find((r) => r.status === 'accepted');
  for (const r of results) {
    t.ok(r.status !== 'rejected');
    if (r.status !== 'rejected' && first?.status === 'accepted') {
      t.equal(r.position, first.position, 'same position');
      t.same(r.transfer, first.transfer, 'same transfer');
    }
  }
  const other = await runTransferCommand(ledger, { ...command, amount: 200n }, meta);
  t.match(other, { status: 'rejected', rejection: { code: 'transfer_exists' } });
});

t.test('two-phase: concurrent post and void, exactly one wins; then reverse', async (t) => {
  const from = await open();
  const to = await open();
  await runTransferCommand(ledger, deposit(from.account.id, 1000n), meta);
  const hold = transfer(from.account.id, to.account.id, 300n, { mode: 'two-phase' });
  t.equal((await runTransferCommand(ledger, hold, meta)).status, 'accepted');
  const [post, voided] = await Promise.all([
    runTransferCommand(
      ledger,
      { type: 'PostPendingTransfer', transferId: hold.transferId, now: now() },
      meta,
    ),
    runTransferCommand(
      ledger,
      { type: 'VoidPendingTransfer', transferId: hold.transferId, now: now() },
      meta,
    ),
  ]);
  const winners = [post, voided].filter((r) => r.status === 'accepted');
  t.equal(winners.length, 1);
  t.match(
    [post, voided].find((r) => r.status === 'rejected'),
    { rejection: { code: 'transfer_not_pending' } },
  );
  const a = (await loadAccount(ledger, from.account.id)).state;
  t.ok(a.status === 'active' && a.debitsPending === 0n);

  const single = transfer(from.account.id, to.account.id, 100n);
  await runTransferCommand(ledger, single, meta);
  const reversalId = randomUUID();
  const reverse = await runTransferCommand(
    ledger,
    {
      type: 'ReverseTransfer',
      transferId: reversalId,
      originalTransferId: single.transferId,
      reason: 'oops',
      now: now(),
    },
    meta,
  );
  t.match(reverse, { status: 'accepted', transfer: { code: 'reversal', reversalOf: single.transferId } });
  const again = await runTransferCommand(
    ledger,
    {
      type: 'ReverseTransfer',
      transferId: randomUUID(),
      originalTransferId: single.transferId,
      reason: 'x',
      now: now(),
    },
    meta,
  );
  t.match(again, { status: 'rejected', rejection: { code: 'transfer_already_reversed' } });
});

t.test('freeze blocks transfers; close needs a zero balance', async (t) => {
  const from = await open();
  const to = await open();
  await runTransferCommand(ledger, deposit(from.account.id, 100n), meta);
  const frozen = await runAccountCommand(
    ledger,
    { type: 'FreezeAccount', accountId: to.account.id, reason: 'r', now: now() },
    meta,
  );
  t.match(frozen, { ok: true, account: { status: 'frozen' } });
  t.match(await runTransferCommand(ledger, transfer(from.account.id, to.account.id, 1n), meta), {
    rejection: { code: 'account_frozen' },
  });
  t.match(
    await runAccountCommand(ledger, { type: 'CloseAccount', accountId: from.account.id, now: now() }, meta),
    {
      ok: false,
      rejection: { code: 'balance_not_zero' },
    },
  );
  t.match(
    await runAccountCommand(ledger, { type: 'CloseAccount', accountId: to.account.id, now: now() }, meta),
    {
      ok: true,
      account: { status: 'closed' },
    },
  );
});

t.test('a fold cached by one process, stale after another wrote, never decides wrongly', async (t) => {
  // A second store object over the same database: its account caches are its own, as in
  // another API process. `store` decides on its cached folds without reading (optimistic).
  const otherStore = await PostgresEventStore.open(database.sql, { migrate: false });
  t.teardown(() => otherStore.close());
  const other = createLedger(otherStore);
  const x = (await open(randomUUID(), true)).account.id;
  const y = (await open(randomUUID(), true)).account.id;
  t.equal((await runTransferCommand(ledger, deposit(x, 10_00n), meta)).status, 'accepted');

  // The other process empties x: this process's cached fold still says 10.00.
  t.equal((await runTransferCommand(other, transfer(x, y, 10_00n), meta)).status, 'accepted');
  const stale = await runTransferCommand(ledger, transfer(x, y, 5_00n), meta);
  t.match(
    stale,
    { status: 'rejected', rejection: { code: 'insufficient_funds' } },
    'decided on what is stored',
  );

  // The other process funds x again: this process's cached fold says 0.00.
  t.equal((await runTransferCommand(other, deposit(x, 3_00n), meta)).status, 'accepted');
  const funded = await runTransferCommand(ledger, transfer(x, y, 2_00n), meta);
  t.equal(funded.status, 'accepted', 'a rejection on a stale fold is decided again');

  const { state } = await loadAccount(other, x);
  t.equal(state.status !== 'none' && balanceOf(state), 1_00n, '10 - 10 + 3 - 2');
});

t.test('a replay decided in a process that holds no fold answers the first answer', async (t) => {
  // `other` holds no fold of either account: it loads them, decides the transfer anew
  // (assuming the transfer is new), fails on the transfer's expected no_stream, and then
  // answers the replay from what is stored.
  const otherStore = await PostgresEventStore.open(database.sql, { migrate: false });
  t.teardown(() => otherStore.close());
  const other = createLedger(otherStore);
  const x = (await open(randomUUID(), true)).account.id;
  const y = (await open(randomUUID(), true)).account.id;
  t.equal((await runTransferCommand(ledger, deposit(x, 10_00n), meta)).status, 'accepted');
  const command = transfer(x, y, 4_00n);
  const first = await runTransferCommand(ledger, command, meta);
  t.equal(first.status, 'accepted');
  const again = await runTransferCommand(other, { ...command, now: new Date() }, meta);
  t.match(again, { status: 'replayed', transfer: { id: command.transferId, amount: 4_00n } });
  t.equal(again.status !== 'rejected' && again.position, first.status === 'accepted' && first.position);
  const { state } = await loadAccount(other, x);
  t.equal(state.status !== 'none' && balanceOf(state), 6_00n, 'moved once');
});

t.test('one Idempotency-Key, one request: a key reused on another endpoint is transfer_exists', async (t) => {
  const from = await open();
  const to = await open();
  await runTransferCommand(ledger, deposit(from.account.id, 10_00n), meta);
  const holdA = transfer(from.account.id, to.account.id, 1_00n, {
    mode: 'two-phase',
    transferId: transferIdFor('caller', 'key-a'),
  });
  const holdB = transfer(from.account.id, to.account.id, 1_00n, { mode: 'two-phase' });
  t.equal((await runTransferCommand(ledger, holdA, meta)).status, 'accepted');
  t.equal((await runTransferCommand(ledger, holdB, meta)).status, 'accepted');
  const post = (transferId: string) =>
    ({ type: 'PostPendingTransfer', transferId, now: now() }) as const satisfies TransferCommand;
  const head = await store.lastWrittenPosition();

  // The key that created hold A posts it, or posts hold B: both are another use of key-a.
  const requestA = { id: transferIdFor('caller', 'key-a'), fingerprint: 'post' };
  t.match(await runTransferCommand(ledger, post(holdA.transferId), meta, requestA), {
    status: 'rejected',
    rejection: { code: 'transfer_exists' },
  });
  t.match(await runTransferCommand(ledger, post(holdB.transferId), meta, requestA), {
    status: 'rejected',
    rejection: { code: 'transfer_exists', transferId: requestA.id },
  });
  t.equal(await store.lastWrittenPosition(), head, 'nothing written');

  // key-b posts hold B; then a create with key-b is another use of it.
  const requestB = { id: transferIdFor('caller', 'key-b'), fingerprint: 'post' };
  t.equal((await runTransferCommand(ledger, post(holdB.transferId), meta, requestB)).status, 'accepted');
  const afterPost = await store.lastWrittenPosition();
  const create = transfer(from.account.id, to.account.id, 1_00n, { transferId: requestB.id });
  t.match(await runTransferCommand(ledger, create, meta), {
    status: 'rejected',
    rejection: { code: 'transfer_exists', transferId: requestB.id },
  });
  t.equal(await store.lastWrittenPosition(), afterPost, 'nothing written');
  t.same(await store.readStream(`transfer-${requestB.id}`), [], 'no transfer under the post’s key');

  // The same key, the same request again: still the first answer.
  t.match(await runTransferCommand(ledger, post(holdB.transferId), meta, requestB), { status: 'replayed' });
});

t.test('one key raced on two endpoints from two processes: exactly one request wins', async (t) => {
  const otherStore = await PostgresEventStore.open(database.sql, { migrate: false });
  t.teardown(() => otherStore.close());
  const other = createLedger(otherStore);
  const from = await open();
  const to = await open();
  await runTransferCommand(ledger, deposit(from.account.id, 100_00n), meta);
  for (let round = 0; round < 10; round++) {
    const hold = transfer(from.account.id, to.account.id, 1_00n, { mode: 'two-phase' });
    t.equal((await runTransferCommand(ledger, hold, meta)).status, 'accepted');
    const id = transferIdFor('racer', `key-${round}-${randomUUID()}`);
    const [created, posted] = await Promise.all([
      runTransferCommand(ledger, transfer(from.account.id, to.account.id, 1_00n, { transferId: id }), meta),
      runTransferCommand(
        other,
        { type: 'PostPendingTransfer', transferId: hold.transferId, now: now() },
        meta,
        { id, fingerprint: 'post' },
      ),
    ]);
    const statuses = [created.status, posted.status].sort();
    t.same(statuses, ['accepted', 'rejected'], `round ${round}: one wins`);
    t.match(
      [created, posted].find((r) => r.status === 'rejected'),
      { rejection: { code: 'transfer_exists' } },
    );
    const transferWritten = (await store.readStream(`transfer-${id}`)).length > 0;
    const requestWritten = (await store.readStream(`request-${id}`)).length > 0;
    t.equal(transferWritten, created.status === 'accepted', 'the transfer exists only if the create won');
    t.equal(requestWritten, posted.status === 'accepted', 'the request exists only if the post won');
  }
});

t.test('a refused create is recorded: answered again after a deposit, 409 for another body', async (t) => {
  const from = await open();
  const to = await open();
  const command = transfer(from.account.id, to.account.id, 5_00n);
  const first = await runTransferCommand(ledger, command, meta);
  t.match(first, { status: 'rejected', rejection: { code: 'insufficient_funds', available: 0n } });
  const [record, ...more] = await store.readStream(transferStreamId(command.transferId));
  t.match(record, {
    type: 'TransferRefused',
    data: { rejection: { code: 'insufficient_funds', available: '0' } },
  });
  t.same(more, []);
  t.match(await loadTransfer(ledger, command.transferId), { state: { status: 'rejected' }, version: 0n });

  t.equal((await runTransferCommand(ledger, deposit(from.account.id, 10_00n), meta)).status, 'accepted');
  t.same(await runTransferCommand(ledger, { ...command, now: now() }, meta), first, 'the first answer');
  t.match(await runTransferCommand(ledger, { ...command, amount: 4_00n }, meta), {
    status: 'rejected',
    rejection: { code: 'transfer_exists' },
  });
  t.equal((await store.readStream(transferStreamId(command.transferId))).length, 1, 'recorded once');
  const { state } = await loadAccount(ledger, from.account.id);
  t.equal(state.status !== 'none' && balanceOf(state), 10_00n, 'nothing moved');
});

t.test('a refusal raced from two processes and a deposit: one outcome, both answer it', async (t) => {
  // `other` is another API process (its own caches and locks): only the store's expected
  // versions keep the two from storing two outcomes of one request.
  const otherStore = await PostgresEventStore.open(database.sql, { migrate: false });
  t.teardown(() => otherStore.close());
  const other = createLedger(otherStore);
  const outcomes = new Set<string>();
  for (let round = 0; round < 12; round++) {
    const from = await open();
    const to = await open();
    await runTransferCommand(ledger, deposit(from.account.id, 1_00n), meta);
    const command = transfer(from.account.id, to.account.id, 5_00n);
    // Started a little apart, so the deposit lands before, between or after them.
    const after = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const [a, b] = await Promise.all([
      after(round % 3).then(() => runTransferCommand(ledger, command, meta)),
      after((round + 1) % 3).then(() => runTransferCommand(other, command, meta)),
      runTransferCommand(round % 2 === 0 ? ledger : other, deposit(from.account.id, 10_00n), meta),
    ]);
    const answer = (o: typeof a) =>
      o.status === 'rejected' ? `rejected ${o.rejection.code}` : `posted at ${o.position}`;
    t.equal(answer(a), answer(b), `round ${round}: the same answer (${answer(a)})`);
    outcomes.add(a.status === 'rejected' ? 'refused' : 'posted');
    const events = await store.readStream(transferStreamId(command.transferId));
    t.same(
      events.map((e) => e.type),
      [a.status === 'rejected' ? 'TransferRefused' : 'TransferPosted'],
      'one outcome stored',
    );
    const { state } = await loadAccount(other, from.account.id);
    t.equal(state.status !== 'none' && balanceOf(state), a.status === 'rejected' ? 11_00n : 6_00n);
  }
  t.comment(`outcomes seen: ${[...outcomes].join(', ')}`);
});

t.test(
  'cash at the desk: own_account and the review above cashApprovalMin, from the desk and the settings',
  async (t) => {
    const staffId = randomUUID();
    const own = await open(staffId);
    const customer = await open();
    const desk = (type: 'deposit' | 'withdrawal', accountId: string, amount: bigint) =>
      createCashTransfer(
        ledger,
        {
          transferId: randomUUID(),
          staffId,
          type,
          accountId,
          amount,
          currency: 'EUR',
          reference: null,
          now: now(),
        },
        meta,
      );
    const head = await store.lastWrittenPosition();
    t.match(await desk('deposit', own.account.id, 1_00n), {
      status: 'rejected',
      rejection: { code: 'own_account', accountId: own.account.id },
    });
    t.match(await desk('deposit', randomUUID(), 1_00n), { rejection: { code: 'account_not_found' } });
    t.match(await desk('deposit', bankAccountId('EUR', 'fee-income'), 1_00n), {
      rejection: { code: 'account_not_found' },
    });
    t.equal(await store.lastWrittenPosition(), head, 'nothing written');
    t.match(await desk('deposit', customer.account.id, 10_000_00n), { status: 'accepted' });
    t.match(await desk('withdrawal', customer.account.id, 10_000_01n), {
      status: 'rejected',
      rejection: { code: 'insufficient_funds' },
    });
    // Above the settings' cashApprovalMin: held for a manager, with the rules' review deadline.
    const held = await desk('deposit', customer.account.id, 10_000_01n);
    t.match(held, {
      status: 'accepted',
      transfer: {
        status: 'pending',
        review: { reasons: ['cash_approval_min'], requestedBy: staffId, decision: null },
      },
    });
    if (held.status !== 'accepted') throw new Error('not held');
    const { transfer } = held;
    t.equal(
      Date.parse(transfer.status === 'pending' ? (transfer.expiresAt ?? '') : '') -
        Date.parse(transfer.createdAt),
      72 * 3_600_000,
      'reviewTimeoutHours from the settings (72 by default)',
    );
  },
);
