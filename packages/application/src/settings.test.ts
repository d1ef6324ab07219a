import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { userStreamId } from '@ledger/contracts';
import { defaultRuleModes, defaultRuleThresholds } from '@ledger/domain';
import { dailyDebitsOn } from '@ledger/domain/ledger';
import { defaultSettings } from '@ledger/domain/settings';
import type { EventStore } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import { Vault } from '@ledger/vault';
import t from 'tap';
import { registerUser } from './identity.js';
import {
  bankAccountId,
  createLedger,
  loadAccount,
  openCustomerAccount,
  runTransferCommand,
  transferIdFor,
} from './ledger/index.js';
import {
  cashDeskFor,
  changeSettings,
  loadSettings,
  rulePolicyFor,
  SettingsCache,
  settingsAtVersion,
  settingsMaxAgeMs,
  settingsStreamId,
  transferLimitsFor,
} from './settings.js';

// Settings as events, the limits they give a transfer, and the daily limit under real
// concurrency (several processes, real PostgreSQL).

const { store, testDb, db } = await openTestStore('application_settings', t);
const vault = await Vault.open(db, 'application-settings-test-data-key-0123456789');
const ledger = createLedger(store);

const meta = { actorId: 'director' };
const now = () => new Date();
const eur = (transferAmountMax: string, dailyDebitMax: string, unverifiedDailyDebitMax: string) => ({
  EUR: { transferAmountMax, dailyDebitMax, unverifiedDailyDebitMax },
});

/** Counts the store's stream reads, to see what a cached load reads. */
function counting(inner: EventStore) {
  const reads: { streamId: string; fromVersion: bigint | undefined }[] = [];
  const wrapped = new Proxy(inner, {
    get(target, key, receiver) {
      if (key === 'readStream') {
        return (streamId: string, options?: { fromVersion?: bigint; limit?: number }) => {
          reads.push({ streamId, fromVersion: options?.fromVersion });
          return target.readStream(streamId, options);
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, reads };
}

t.test('settings: defaults, a change, a no-op, a refused change writes nothing', async (t) => {
  const first = await loadSettings(ledger);
  t.same(first, {
    state: { status: 'default', settings: defaultSettings() },
    version: 'no_stream',
    position: null,
  });

  const bad = await changeSettings(
    ledger,
    {
      settings: {
        limits: { EUR: { transferAmountMax: '1e3', dailyDebitMax: '5', unverifiedDailyDebitMax: '1' } },
      },
      now: now(),
    },
    meta,
  );
  t.match(bad, { ok: false, code: 'invalid_settings', errors: [{ path: 'limits.EUR.transferAmountMax' }] });
  t.same(await store.readStream(settingsStreamId), [], 'nothing written');

  const changed = await changeSettings(
    ledger,
    { settings: { limits: eur('100.00', '500.00', '50.00') }, now: now() },
    meta,
  );
  if (!changed.ok) throw new Error(changed.code);
  t.equal(changed.version, 0n);
  t.equal(changed.settings.limits.EUR.dailyDebitMax, 500_00n);
  const events = await store.readStream(settingsStreamId);
  t.same(
    events.map((e) => [e.type, e.metadata.actorId, e.globalPosition]),
    [['SettingsChanged', 'director', changed.position]],
  );
  const loaded = await loadSettings(ledger);
  t.match(loaded, { state: { status: 'set' }, version: 0n, position: changed.position });

  const again = await changeSettings(
    ledger,
    { settings: { limits: eur('100.00', '500.00', '50.00') }, now: now() },
    meta,
  );
  t.match(
    again,
    { ok: true, version: 0n, position: changed.position },
    'the same settings: nothing appended',
  );
  t.equal((await store.readStream(settingsStreamId)).length, 1);
});

t.test('settings: optimistic concurrency with an expected version', async (t) => {
  const { version } = await loadSettings(ledger);
  const stale = await changeSettings(
    ledger,
    { settings: { limits: eur('100.00', '600.00', '50.00') }, now: now(), expectedVersion: 'no_stream' },
    meta,
  );
  t.same(stale, { ok: false, code: 'version_mismatch', actual: version });
  const fresh = await changeSettings(
    ledger,
    { settings: { limits: eur('100.00', '600.00', '50.00') }, now: now(), expectedVersion: version },
    meta,
  );
  t.match(fresh, { ok: true });
  // Two directors editing the same version: one wins, the other is told, nothing is lost.
  const base = (await loadSettings(ledger)).version;
  const results = await Promise.all(
    ['700.00', '800.00'].map((daily) =>
      changeSettings(
        ledger,
        { settings: { limits: eur('100.00', daily, '50.00') }, now: now(), expectedVersion: base },
        meta,
      ),
    ),
  );
  t.same(results.map((r) => r.ok).sort(), [false, true]);
});

t.test('loadSettings is cached per store and reads only what is new', async (t) => {
  const { store: watched, reads } = counting(store);
  const watchedLedger = createLedger(watched);
  const first = await loadSettings(watchedLedger);
  t.same(
    reads.map((r) => r.fromVersion),
    [0n],
    'the first load reads the stream',
  );
  reads.length = 0;
  await loadSettings(watchedLedger);
  t.same(
    reads.map((r) => r.fromVersion),
    [(first.version as bigint) + 1n],
    'then only after its version',
  );
  await changeSettings(ledger, { settings: { limits: eur('100.00', '900.00', '50.00') }, now: now() }, meta);
  reads.length = 0;
  const next = await loadSettings(watchedLedger);
  t.equal(next.state.settings.limits.EUR.dailyDebitMax, 900_00n, 'sees another writer’s change');
  t.same(
    reads.map((r) => r.fromVersion),
    [(first.version as bigint) + 1n],
  );
});

async function customer(kyc: boolean) {
  const userId = randomUUID();
  const registered = await registerUser(
    { store, vault },
    {
      type: 'Register',
      now: now(),
      userId,
      username: `u${userId.slice(0, 8)}`,
      email: `${userId}@example.com`,
      passwordId: randomUUID(),
      role: 'customer',
      profile: { firstName: null, lastName: null, dateOfBirth: null, phone: null },
      via: 'self',
    },
    meta,
  );
  if (!registered.ok) throw new Error(registered.code);
  if (kyc) {
    await store.append([
      {
        streamId: userStreamId(userId),
        expectedVersion: 'exists',
        events: [{ type: 'KycStatusChanged', data: { userId, at: now().toISOString(), status: 'verified' } }],
      },
    ]);
  }
  return userId;
}

t.test(
  'transferLimitsFor: the settings of the currency, the KYC cap, external, unlimited codes',
  async (t) => {
    await changeSettings(
      ledger,
      { settings: { limits: eur('100.00', '500.00', '50.00') }, now: now() },
      meta,
    );
    const verified = await customer(true);
    const unverified = await customer(false);
    const q = (ownerId: string, code: 'transfer' | 'external' | 'withdrawal' | 'fee') =>
      transferLimitsFor(ledger, { ownerId, currency: 'EUR', code });
    t.same(await q(verified, 'transfer'), { transferAmountMax: 100_00n, dailyDebitMax: 500_00n });
    t.same(await q(verified, 'external'), { transferAmountMax: 100_00n, dailyDebitMax: 500_00n });
    t.same(await q(unverified, 'transfer'), {
      transferAmountMax: 100_00n,
      dailyDebitMax: 500_00n,
      unverifiedDailyDebitMax: 50_00n,
    });
    t.same(await q(unverified, 'external'), {
      transferAmountMax: 100_00n,
      dailyDebitMax: 500_00n,
      unverifiedDailyDebitMax: 0n,
    });
    t.equal(await q(unverified, 'withdrawal'), undefined);
    t.equal(await q(unverified, 'fee'), undefined);
    const usd = await transferLimitsFor(ledger, { ownerId: verified, currency: 'USD', code: 'transfer' });
    t.same(usd, {
      transferAmountMax: defaultSettings().limits.USD.transferAmountMax,
      dailyDebitMax: defaultSettings().limits.USD.dailyDebitMax,
    });
  },
);

t.test('cashDeskFor: the staff member and the currency’s cashApprovalMin, as changed', async (t) => {
  const staffId = randomUUID();
  await changeSettings(ledger, { settings: { limits: {} }, now: now() }, meta);
  t.same(await cashDeskFor(ledger, { staffId, currency: 'EUR' }), { staffId, approvalMin: 10_000_00n });
  t.same(await cashDeskFor(ledger, { staffId, currency: 'JPY' }), { staffId, approvalMin: 1_500_000n });
  const changed = await changeSettings(
    ledger,
    { settings: { limits: {}, cashApprovalMin: { EUR: '750.00' } }, now: now() },
    meta,
  );
  t.match(changed, { ok: true, settings: { cashApprovalMin: { EUR: 750_00n, USD: 10_000_00n } } });
  t.same(
    await cashDeskFor(ledger, { staffId, currency: 'EUR' }),
    { staffId, approvalMin: 750_00n },
    'at once',
  );
  t.match(
    await changeSettings(
      ledger,
      { settings: { limits: {}, cashApprovalMin: { EUR: '0.00' } }, now: now() },
      meta,
    ),
    {
      ok: false,
      code: 'invalid_settings',
      errors: [{ path: 'cashApprovalMin.EUR', message: 'must be > 0' }],
    },
  );
});

t.test('rulePolicyFor: the rules’ settings in force and their version, as GET answers it', async (t) => {
  // A store of its own: the version counts this stream's changes from the start.
  const { store: own } = await openTestStore('application_rule_policy', t);
  const context = { store: own, settings: new SettingsCache() };
  t.same(await rulePolicyFor(context), {
    policy: { thresholds: defaultRuleThresholds(), modes: defaultRuleModes(), watchList: [] },
    settingsVersion: '0',
  });
  const changed = await changeSettings(
    context,
    {
      settings: {
        limits: {},
        ruleThresholds: { reviewAmountMin: { EUR: '900.00' }, velocityCount: 4 },
        rules: { dormant_account: 'off', amount_outlier: 'shadow' },
        watchList: [{ name: 'Ivan Example', iban: 'gb29 nwbk 6016 1331 9268 19' }],
      },
      now: now(),
    },
    meta,
  );
  t.match(changed, { ok: true, version: 0n });
  const { policy, settingsVersion } = await rulePolicyFor(context);
  t.equal(settingsVersion, '1', 'one change: "1", as GET /api/admin/settings answers');
  t.equal(policy.thresholds.reviewAmountMin.EUR, 900_00n);
  t.equal(policy.thresholds.reviewAmountMin.USD, defaultRuleThresholds().reviewAmountMin.USD);
  t.equal(policy.thresholds.velocityCount, 4);
  t.equal(policy.thresholds.dormantDays, defaultRuleThresholds().dormantDays);
  t.same(policy.modes, { ...defaultRuleModes(), dormant_account: 'off', amount_outlier: 'shadow' });
  t.same(policy.watchList, [{ name: 'Ivan Example', iban: 'GB29NWBK60161331926819' }]);

  // Another process's change applies within settingsMaxAgeMs, not necessarily at once.
  const other = { store: own, settings: new SettingsCache() };
  await changeSettings(other, { settings: { limits: {}, rules: { velocity: 'off' } }, now: now() }, meta);
  await new Promise((resolve) => setTimeout(resolve, settingsMaxAgeMs + 50));
  const later = await rulePolicyFor(context);
  t.equal(later.settingsVersion, '2');
  t.same(later.policy.modes, { ...defaultRuleModes(), velocity: 'off' }, 'the rest back to the defaults');
  t.same(later.policy.watchList, []);
});

t.test('a burst of loads that accept an age shares one read; an own change is never shared', async (t) => {
  const { store: own } = await openTestStore('application_settings_burst', t);
  const { store: counted, reads } = counting(own);
  const context = { store: counted, settings: new SettingsCache() };
  await changeSettings(
    context,
    { settings: { limits: {}, ruleThresholds: { velocityCount: 7 } }, now: now() },
    meta,
  );
  reads.length = 0;
  const burst = await Promise.all(
    Array.from({ length: 20 }, () => loadSettings(context, { maxAgeMs: settingsMaxAgeMs })),
  );
  t.equal(reads.length, 1, 'twenty loads, one read of the stream');
  t.ok(
    burst.every((s) => s.state.settings.ruleThresholds.velocityCount === 7),
    'each sees the change',
  );
  // A change expires the cache and any shared read: the next load reads after it.
  context.settings.expire();
  const [sharedBefore] = await Promise.all([
    loadSettings(context, { maxAgeMs: settingsMaxAgeMs }),
    changeSettings(
      context,
      { settings: { limits: {}, ruleThresholds: { velocityCount: 8 } }, now: now() },
      meta,
    ),
  ]);
  t.ok(sharedBefore.state.settings.ruleThresholds.velocityCount >= 7);
  const after = await loadSettings(context, { maxAgeMs: settingsMaxAgeMs });
  t.equal(after.state.settings.ruleThresholds.velocityCount, 8, 'the own change, at once');
});

t.test('settingsAtVersion: the settings a decision was made under, at any version', async (t) => {
  const { store: own } = await openTestStore('application_settings_at', t);
  const context = { store: own, settings: new SettingsCache() };
  t.same(await settingsAtVersion(own, '0'), defaultSettings(), '"0": the defaults');
  const versions: string[] = [];
  for (const count of [2, 3, 4]) {
    await changeSettings(
      context,
      { settings: { limits: {}, ruleThresholds: { structuringCount: count } }, now: now() },
      meta,
    );
    versions.push((await rulePolicyFor(context)).settingsVersion);
  }
  t.same(versions, ['1', '2', '3']);
  for (const [index, version] of versions.entries()) {
    const settings = await settingsAtVersion(own, version);
    t.equal(settings.ruleThresholds.structuringCount, index + 2, `version ${version}`);
    t.same(settings.limits, defaultSettings().limits);
  }
  t.same(
    await settingsAtVersion(own, '3'),
    (await loadSettings(context)).state.settings,
    'the last version: the settings in force',
  );
  await t.rejects(settingsAtVersion(own, '4'), /settings version 4 does not exist yet/);
  for (const bad of ['', '-1', '01', '1.0', 'x', ' 1'])
    await t.rejects(settingsAtVersion(own, bad), /is not a version/, JSON.stringify(bad));
  t.same(await settingsAtVersion(store, '0'), defaultSettings(), 'any store: "0" reads nothing');
});

t.test('20 concurrent transfers from 4 processes never exceed the daily limit in total', async (t) => {
  await changeSettings(ledger, { settings: { limits: eur('50.00', '95.00', '95.00') }, now: now() }, meta);
  const ownerId = await customer(true);
  const open = async (owner: string) => {
    const result = await openCustomerAccount(
      ledger,
      { ownerId: owner, accountType: 'checking', currency: 'EUR', kycVerified: true, now: now() },
      meta,
    );
    if (!result.ok) throw new Error(result.code);
    return result.account.id;
  };
  const from = await open(ownerId);
  const to = await open(randomUUID());
  const deposit = await runTransferCommand(
    ledger,
    {
      type: 'CreateTransfer',
      transferId: transferIdFor('teller', randomUUID()),
      debitAccountId: bankAccountId('EUR', 'cash'),
      creditAccountId: from,
      amount: 1_000_00n,
      currency: 'EUR',
      code: 'deposit',
      mode: 'single-phase',
      now: now(),
    },
    meta,
  );
  t.equal(deposit.status, 'accepted');

  const racer = fileURLToPath(new URL('../testing/daily-limit-racer.ts', import.meta.url));
  const at = now();
  const children: ChildProcess[] = [];
  t.teardown(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  const lines = Array.from({ length: 4 }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', racer], {
      env: {
        ...process.env,
        DATABASE_URL: testDb.url,
        OWNER_ID: ownerId,
        FROM: from,
        TO: to,
        COUNT: '5',
        AMOUNT_MINOR: '1000',
        NOW: at.toISOString(),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push(child);
    const reader = createInterface({ input: child.stdout! });
    const iterator = reader[Symbol.asyncIterator]();
    return { child, next: async () => (await iterator.next()).value as string };
  });
  for (const { next } of lines) t.equal(await next(), 'ready');
  for (const { child } of lines) child.stdin!.write('go\n');
  const outcomes = (
    await Promise.all(lines.map(async ({ next }) => JSON.parse(await next()) as string[]))
  ).flat();

  // 10.00 each against 95.00 a day: exactly 9 fit, whoever wins each race.
  t.equal(outcomes.length, 20);
  t.equal(outcomes.filter((o) => o === 'accepted').length, 9, JSON.stringify(outcomes));
  t.equal(outcomes.filter((o) => o === 'limit_exceeded').length, 11);
  const { state } = await loadAccount(ledger, from);
  if (state.status === 'none') throw new Error('account');
  t.equal(state.debitsPosted, 90_00n, 'what left the account');
  t.equal(dailyDebitsOn(state, at), 90_00n, 'and what the day counts');
});
