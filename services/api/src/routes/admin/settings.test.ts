import { randomUUID } from 'node:crypto';
import { bearer, json, ledgerHarness, type User } from '@ledger/api/testing';
import { loadAccount, settingsStreamId, transferIdFor, transferStreamId } from '@ledger/application';
import { defaultRuleAmountsText, ruleIds } from '@ledger/domain';
import { defaultCashApprovalMinText, defaultLimitsText } from '@ledger/domain/settings';
import type { LightMyRequestResponse } from 'fastify';
import t, { type Test } from 'tap';

// GET and PUT /api/admin/settings, and the limits they set on POST /api/transactions
// (transfer_amount_max, daily_debit_max, the unverified customer's cap → kyc_required),
// and the fraud/AML rules' settings (thresholds, modes, watch list), through app.inject()
// against real PostgreSQL and Redis.

const h = await ledgerHarness(t, 'api_settings', { roles: ['agent', 'manager', 'auditor'] });
const { app, f, director, assertProblem, customer, post, deposit } = h;
const { agent, manager, auditor } = h.roles;

const getSettings = (token: string) =>
  app.inject({ method: 'GET', url: '/api/admin/settings', headers: bearer(token) });
const putSettings = (token: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'PUT',
    url: '/api/admin/settings',
    headers: { ...bearer(token), ...headers },
    payload: payload as Record<string, unknown>,
  });
const settingsEvents = () => f.store.readStream(settingsStreamId);

const openAccount = async (user: User) => (await h.openAccount(user)).id;

/** A funded account of a new customer, and somewhere to send to. */
async function funded(kyc: boolean, amount = '1000.00') {
  const user = await customer(kyc);
  const from = await openAccount(user);
  const to = await openAccount(await customer(true));
  await deposit(from, amount);
  return { user, from, to };
}

const transfer = (
  user: User,
  from: string,
  to: string,
  amount: string,
  extra: object = {},
  key: string = randomUUID(),
) =>
  post(
    '/api/transactions',
    user.token,
    {
      type: 'transfer',
      fromAccountId: from,
      toAccountId: to,
      amount,
      currency: 'EUR',
      ...extra,
    },
    key,
  );

/**
 * A refused transfer moved nothing: its transfer stream holds only the refusal's record
 * (TransferRefused, so the same key answers the same 422 again), the account stream is as it was.
 */
async function refusedWithNothingWritten(
  t: Test,
  user: User,
  from: string,
  send: (key: string) => Promise<LightMyRequestResponse>,
  code: string,
) {
  const before = await loadAccount(f.ledger, from);
  const key: string = randomUUID();
  const response = await send(key);
  assertProblem(t, response, 422, code);
  const recorded = await f.store.readStream(transferStreamId(transferIdFor(user.id, key)));
  t.same(
    recorded.map((e) => [e.type, (e.data as { rejection?: { code?: string } }).rejection?.code]),
    [['TransferRefused', code]],
    'only the refusal recorded on the transfer stream',
  );
  t.equal((await loadAccount(f.ledger, from)).version, before.version, 'the account stream is unchanged');
  return json(response);
}

const eurLimits = { transferAmountMax: '100.00', dailyDebitMax: '300.00', unverifiedDailyDebitMax: '50.00' };

/** The rule amounts of every currency, in major units, as GET answers them by default. */
const defaultRuleAmounts = (name: 'reviewAmountMin' | 'structuringThreshold' | 'newPayeeAmountMin') =>
  Object.fromEntries(
    Object.entries(defaultRuleAmountsText).map(([currency, text]) => [currency, text[name]]),
  );

const defaultRuleThresholdsText = {
  reviewAmountMin: defaultRuleAmounts('reviewAmountMin'),
  velocityCount: 10,
  velocityWindowMinutes: 60,
  structuringThreshold: defaultRuleAmounts('structuringThreshold'),
  structuringCount: 3,
  newPayeeAmountMin: defaultRuleAmounts('newPayeeAmountMin'),
  dormantDays: 180,
  outlierZ: 3.5,
  reviewTimeoutHours: 72,
};
const defaultRules = Object.fromEntries(ruleIds.map((id) => [id, 'active']));

/** A 400 validation_failed with an error at (or under) `path`. */
function refusedAt(t: Test, response: LightMyRequestResponse, path: string, what: string) {
  assertProblem(t, response, 400, 'validation_failed');
  t.ok(
    (json(response).errors as { path: string }[]).some((e) => e.path.startsWith(path)),
    `${what}: an error at ${path} (${response.body.slice(0, 300)})`,
  );
}

t.test('GET /settings: defaults for the director and the auditor, no one else', async (t) => {
  const response = await getSettings(director);
  t.equal(response.statusCode, 200, response.body);
  t.equal(response.headers.etag, '"0"');
  const body = json(response);
  t.same(body, {
    settings: {
      limits: defaultLimitsText,
      cashApprovalMin: defaultCashApprovalMinText,
      fees: {},
      ruleThresholds: defaultRuleThresholdsText,
      rules: defaultRules,
      watchList: [],
      retentionDays: 1827,
    },
    version: '0',
    changedAt: null,
    position: null,
  });
  t.equal((await getSettings(auditor.token)).statusCode, 200);
  assertProblem(t, await getSettings(manager.token), 403, 'forbidden');
  assertProblem(t, await getSettings(agent.token), 403, 'forbidden');
  assertProblem(t, await getSettings((await customer(true)).token), 403, 'forbidden');
  assertProblem(t, await app.inject({ method: 'GET', url: '/api/admin/settings' }), 401, 'unauthorized');
});

t.test('PUT /settings: director only; bad bodies are 400 and write nothing', async (t) => {
  const user = await customer(true);
  for (const [who, token] of [
    ['manager', manager.token],
    ['agent', agent.token],
    ['auditor', auditor.token],
    ['customer', user.token],
  ] as const) {
    assertProblem(t, await putSettings(token, { limits: { EUR: eurLimits } }), 403, 'forbidden');
    t.same(await settingsEvents(), [], `nothing written by the ${who}`);
  }
  const cases: [string, unknown, string][] = [
    ['an unknown currency', { limits: { XYZ: eurLimits } }, 'body.limits'],
    [
      'a negative amount',
      { limits: { EUR: { ...eurLimits, dailyDebitMax: '-5' } } },
      'body.limits.EUR.dailyDebitMax',
    ],
    [
      'a JSON number',
      { limits: { EUR: { ...eurLimits, dailyDebitMax: 300.5 } } },
      'body.limits.EUR.dailyDebitMax',
    ],
    [
      'an exponent',
      { limits: { EUR: { ...eurLimits, transferAmountMax: '1e3' } } },
      'body.limits.EUR.transferAmountMax',
    ],
    [
      'too many decimals',
      { limits: { EUR: { ...eurLimits, transferAmountMax: '1.234' } } },
      'body.limits.EUR.transferAmountMax',
    ],
    [
      'zero per transfer',
      { limits: { EUR: { ...eurLimits, transferAmountMax: '0' } } },
      'body.limits.EUR.transferAmountMax',
    ],
    [
      'over 999999999999999.99',
      { limits: { EUR: { ...eurLimits, dailyDebitMax: '1000000000000000.00' } } },
      'body.limits.EUR.dailyDebitMax',
    ],
    [
      'a missing limit',
      { limits: { EUR: { transferAmountMax: '1.00', dailyDebitMax: '2.00' } } },
      'body.limits.EUR.unverifiedDailyDebitMax',
    ],
    ['an unknown limit', { limits: { EUR: { ...eurLimits, weekly: '1.00' } } }, 'body.limits.EUR'],
    [
      'per transfer above the daily limit',
      { limits: { EUR: { ...eurLimits, transferAmountMax: '300.01' } } },
      'body.limits.EUR.transferAmountMax',
    ],
    [
      'unverified above the daily limit',
      { limits: { EUR: { ...eurLimits, unverifiedDailyDebitMax: '300.01' } } },
      'body.limits.EUR.unverifiedDailyDebitMax',
    ],
    ['a fee that does not exist yet', { limits: {}, fees: { wire: '1.00' } }, 'body.fees'],
    ['no limits', {}, 'body.limits'],
    ['a negative retention period', { limits: {}, retentionDays: -1 }, 'body.retentionDays'],
    ['a retention period in years', { limits: {}, retentionDays: 2.5 }, 'body.retentionDays'],
    ['a retention period as text', { limits: {}, retentionDays: '1827' }, 'body.retentionDays'],
    ['a retention period over a century', { limits: {}, retentionDays: 36_501 }, 'body.retentionDays'],
    ['an unknown field', { limits: {}, colour: 'red' }, 'body'],
  ];
  for (const [what, payload, path] of cases) {
    const response = await putSettings(director, payload);
    assertProblem(t, response, 400, 'validation_failed');
    t.ok(
      (json(response).errors as { path: string }[]).some((e) => e.path.startsWith(path)),
      `${what}: an error at ${path} (${response.body.slice(0, 300)})`,
    );
  }
  t.same(await settingsEvents(), [], 'nothing written');
});

t.test('PUT /settings by the director: 200 with the settings and position; If-Match', async (t) => {
  const before = json(await getSettings(director));
  const response = await putSettings(
    director,
    { limits: { EUR: eurLimits } },
    { 'if-match': `"${before.version}"` },
  );
  t.equal(response.statusCode, 200, response.body);
  const body = json(response);
  t.match(body, { settings: { limits: { EUR: eurLimits, USD: defaultLimitsText.USD } }, version: '1' });
  t.equal(response.headers.etag, '"1"');
  const events = await settingsEvents();
  t.equal(events.length, 1);
  t.equal(body.position, events[0]!.globalPosition.toString());
  const data = events[0]!.data as { settings: { limits: Record<string, unknown> }; at: string };
  t.same(
    data.settings.limits.EUR,
    { transferAmountMax: '10000', dailyDebitMax: '30000', unverifiedDailyDebitMax: '5000' },
    'minor units in the event',
  );
  t.same(Object.keys(data.settings.limits).sort(), Object.keys(defaultLimitsText).sort(), 'every currency');
  t.equal(data.at, body.changedAt);
  t.equal(
    events[0]!.metadata.actorId,
    json(await app.inject({ url: '/api/auth/me', headers: bearer(director) })).user.id,
  );
  t.same(json(await getSettings(auditor.token)), body, 'GET reads what PUT wrote');
  // The same again: nothing new recorded, the same position.
  const again = await putSettings(director, { limits: { EUR: eurLimits } });
  t.same(json(again), body);
  t.equal((await settingsEvents()).length, 1);
  // A stale If-Match (another director changed them since) is 412, and writes nothing.
  assertProblem(
    t,
    await putSettings(director, { limits: {} }, { 'if-match': '"0"' }),
    412,
    'precondition_failed',
  );
  assertProblem(
    t,
    await putSettings(director, { limits: {} }, { 'if-match': 'W/"1"' }),
    400,
    'validation_failed',
  );
  t.equal((await settingsEvents()).length, 1);
});

t.test(
  'a transfer above transferAmountMax: 422 limit_exceeded naming the limit, nothing written',
  async (t) => {
    const { user, from, to } = await funded(true);
    const problem = await refusedWithNothingWritten(
      t,
      user,
      from,
      (key) => transfer(user, from, to, '100.01', {}, key),
      'limit_exceeded',
    );
    t.match(problem, { limit: 'transfer_amount_max', max: '100.00', currency: 'EUR' });
    t.equal((await transfer(user, from, to, '100.00')).statusCode, 201, 'the limit itself is allowed');
  },
);

t.test('the daily limit counts what left today, holds included', async (t) => {
  const { user, from, to } = await funded(true);
  t.equal((await transfer(user, from, to, '100.00')).statusCode, 201);
  t.equal((await transfer(user, from, to, '100.00', { mode: 'pending' })).statusCode, 201);
  t.equal((await transfer(user, from, to, '99.99')).statusCode, 201);
  const problem = await refusedWithNothingWritten(
    t,
    user,
    from,
    (key) => transfer(user, from, to, '0.02', {}, key),
    'limit_exceeded',
  );
  t.match(problem, { limit: 'daily_debit_max', max: '300.00', currency: 'EUR' });
  t.equal((await transfer(user, from, to, '0.01')).statusCode, 201, 'up to the limit exactly');
  // Cash at the desk is not a customer transfer: not limited.
  const withdrawal = await post('/api/transactions', agent.token, {
    type: 'withdrawal',
    accountId: from,
    amount: '150.00',
    currency: 'EUR',
  });
  t.equal(withdrawal.statusCode, 201, withdrawal.body);
});

t.test('KYC: an unverified customer is held to unverifiedDailyDebitMax (422 kyc_required)', async (t) => {
  const { user, from, to } = await funded(false);
  t.equal((await transfer(user, from, to, '30.00')).statusCode, 201);
  const problem = await refusedWithNothingWritten(
    t,
    user,
    from,
    (key) => transfer(user, from, to, '20.01', {}, key),
    'kyc_required',
  );
  t.match(problem, { limit: 'unverified_daily_debit_max', max: '50.00', currency: 'EUR' });
  t.equal((await transfer(user, from, to, '20.00')).statusCode, 201, 'up to the cap');
  // Over the per-transfer limit, verifying would not help: that one is named instead.
  await refusedWithNothingWritten(
    t,
    user,
    from,
    (key) => transfer(user, from, to, '100.01', {}, key),
    'limit_exceeded',
  );

  // A verified customer is held to dailyDebitMax only.
  const verified = await funded(true);
  const ok = await transfer(verified.user, verified.from, verified.to, '100.00');
  t.equal(ok.statusCode, 201, ok.body);
  t.equal((await transfer(verified.user, verified.from, verified.to, '60.00')).statusCode, 201);
});

t.test(
  'cashApprovalMin: read and replaced with the settings, per currency, 400 when not an amount',
  async (t) => {
    const before = json(await getSettings(director));
    t.same(before.settings.cashApprovalMin, defaultCashApprovalMinText);
    const response = await putSettings(
      director,
      { limits: before.settings.limits, cashApprovalMin: { EUR: '2500.00', KWD: '750.500' } },
      { 'if-match': `"${before.version}"` },
    );
    t.equal(response.statusCode, 200, response.body);
    t.same(json(response).settings.cashApprovalMin, {
      ...defaultCashApprovalMinText,
      EUR: '2500.00',
      KWD: '750.500',
    });
    const [event] = (await settingsEvents()).slice(-1);
    t.match(event?.data, { settings: { cashApprovalMin: { EUR: '250000', KWD: '750500', USD: '1000000' } } });
    t.same(
      json(await getSettings(auditor.token)).settings.cashApprovalMin,
      json(response).settings.cashApprovalMin,
    );
    const count = (await settingsEvents()).length;
    for (const [what, value, path] of [
      ['zero', { EUR: '0' }, 'body.cashApprovalMin.EUR'],
      ['negative', { EUR: '-1.00' }, 'body.cashApprovalMin.EUR'],
      ['a JSON number', { EUR: 5000 }, 'body.cashApprovalMin.EUR'],
      ['too many decimals', { EUR: '1.001' }, 'body.cashApprovalMin.EUR'],
      ['an unknown currency', { XYZ: '1.00' }, 'body.cashApprovalMin'],
    ] as const) {
      const refused = await putSettings(director, { limits: {}, cashApprovalMin: value });
      assertProblem(t, refused, 400, 'validation_failed');
      t.ok(
        (json(refused).errors as { path: string }[]).some((e) => e.path.startsWith(path)),
        `${what}: an error at ${path} (${refused.body.slice(0, 300)})`,
      );
    }
    t.equal((await settingsEvents()).length, count, 'nothing written');
    assertProblem(
      t,
      await putSettings(manager.token, { limits: {}, cashApprovalMin: { EUR: '1.00' } }),
      403,
      'forbidden',
    );
    // Back to the defaults for whatever runs next.
    t.equal((await putSettings(director, { limits: before.settings.limits })).statusCode, 200);
  },
);

t.test('rule settings: PUT round-trips through GET, minor units in the event, If-Match', async (t) => {
  const before = json(await getSettings(director));
  t.same(before.settings.ruleThresholds, defaultRuleThresholdsText);
  t.same(before.settings.rules, defaultRules);
  t.same(before.settings.watchList, []);
  const payload = {
    limits: before.settings.limits,
    ruleThresholds: {
      reviewAmountMin: { EUR: '7500.50', JPY: '900000' },
      velocityCount: 5,
      velocityWindowMinutes: 30,
      structuringThreshold: { KWD: '250.125' },
      dormantDays: 90,
      outlierZ: 4.1234,
      reviewTimeoutHours: 24,
    },
    rules: { velocity: 'shadow', dormant_account: 'off' },
    watchList: [
      { name: '  Ivan Example  ' },
      { iban: 'gb29 nwbk 6016 1331 9268 19' },
      { name: 'Ivan Example', iban: 'DE89370400440532013000' },
      { name: 'Ivan Example' },
    ],
  };
  // A stale If-Match is still 412, and writes nothing.
  const count = (await settingsEvents()).length;
  assertProblem(t, await putSettings(director, payload, { 'if-match': '"0"' }), 412, 'precondition_failed');
  t.equal((await settingsEvents()).length, count);

  const response = await putSettings(director, payload, { 'if-match': `"${before.version}"` });
  t.equal(response.statusCode, 200, response.body);
  const body = json(response);
  t.equal(body.version, String(Number(before.version) + 1));
  t.equal(response.headers.etag, `"${body.version}"`);
  t.same(body.settings.ruleThresholds, {
    ...defaultRuleThresholdsText,
    reviewAmountMin: { ...defaultRuleThresholdsText.reviewAmountMin, EUR: '7500.50', JPY: '900000' },
    velocityCount: 5,
    velocityWindowMinutes: 30,
    structuringThreshold: { ...defaultRuleThresholdsText.structuringThreshold, KWD: '250.125' },
    dormantDays: 90,
    outlierZ: 4.1234,
    reviewTimeoutHours: 24,
  });
  t.same(body.settings.rules, { ...defaultRules, velocity: 'shadow', dormant_account: 'off' });
  t.same(
    body.settings.watchList,
    [
      { name: 'Ivan Example' },
      { iban: 'GB29NWBK60161331926819' },
      { name: 'Ivan Example', iban: 'DE89370400440532013000' },
      { name: 'Ivan Example' },
    ],
    'names trimmed, IBANs normalised, duplicates kept',
  );
  t.same(json(await getSettings(auditor.token)), body, 'GET reads what PUT wrote');
  const [event] = (await settingsEvents()).slice(-1);
  t.match(event?.data, {
    settings: {
      ruleThresholds: {
        reviewAmountMin: { EUR: '750050', JPY: '900000', USD: '500000' },
        structuringThreshold: { KWD: '250125' },
        velocityCount: 5,
        outlierZ: 4.1234,
      },
      rules: { velocity: 'shadow', large_amount: 'active' },
      watchList: body.settings.watchList,
    },
  });

  // The same again (written otherwise): nothing new.
  const again = await putSettings(director, {
    ...payload,
    rules: { ...payload.rules, structuring: 'active' },
  });
  t.same(json(again), body);
  t.equal((await settingsEvents()).length, count + 1);

  // A PUT without them: the rule settings are back to their defaults.
  const reset = await putSettings(
    director,
    { limits: before.settings.limits },
    { 'if-match': `"${body.version}"` },
  );
  t.equal(reset.statusCode, 200, reset.body);
  const after = json(await getSettings(director)).settings;
  t.same(after.ruleThresholds, defaultRuleThresholdsText);
  t.same(after.rules, defaultRules);
  t.same(after.watchList, []);
  t.same(after.limits, before.settings.limits, 'the rest as it was');
});

t.test('rule thresholds: each bound just inside is 200, just outside 400 with its path', async (t) => {
  const { limits } = json(await getSettings(director)).settings;
  const bounds: [string, number, number, number][] = [
    ['velocityCount', 1, 1000, 1],
    ['velocityWindowMinutes', 1, 10_080, 1],
    ['structuringCount', 2, 1000, 1],
    ['dormantDays', 1, 3650, 1],
    ['reviewTimeoutHours', 1, 720, 1],
    ['outlierZ', 0.5, 100, 0.0001],
  ];
  for (const [name, min, max, step] of bounds) {
    for (const inside of [min, max]) {
      const response = await putSettings(director, { limits, ruleThresholds: { [name]: inside } });
      t.equal(response.statusCode, 200, `${name} ${inside}: ${response.body.slice(0, 200)}`);
      t.equal(json(response).settings.ruleThresholds[name], inside);
    }
    const count = (await settingsEvents()).length;
    for (const outside of [min - step, max + step]) {
      refusedAt(
        t,
        await putSettings(director, { limits, ruleThresholds: { [name]: outside } }),
        `body.ruleThresholds.${name}`,
        `${name} ${outside}`,
      );
    }
    t.equal((await settingsEvents()).length, count, `${name}: nothing written`);
  }
  const cases: [string, unknown, string][] = [
    ['a count with decimals', { velocityCount: 2.5 }, 'body.ruleThresholds.velocityCount'],
    ['a count as text', { dormantDays: '30' }, 'body.ruleThresholds.dormantDays'],
    ['outlierZ with 5 decimals', { outlierZ: 3.12345 }, 'body.ruleThresholds.outlierZ'],
    ['outlierZ as text', { outlierZ: '3.5' }, 'body.ruleThresholds.outlierZ'],
    ['a zero amount', { reviewAmountMin: { EUR: '0' } }, 'body.ruleThresholds.reviewAmountMin.EUR'],
    [
      'a negative amount',
      { newPayeeAmountMin: { EUR: '-1.00' } },
      'body.ruleThresholds.newPayeeAmountMin.EUR',
    ],
    [
      'too many decimals',
      { structuringThreshold: { EUR: '1000.001' } },
      'body.ruleThresholds.structuringThreshold.EUR',
    ],
    [
      'an amount as a JSON number',
      { reviewAmountMin: { EUR: 5000 } },
      'body.ruleThresholds.reviewAmountMin.EUR',
    ],
    ['an exponent', { reviewAmountMin: { EUR: '5e3' } }, 'body.ruleThresholds.reviewAmountMin.EUR'],
    ['an unknown currency', { reviewAmountMin: { XYZ: '1.00' } }, 'body.ruleThresholds.reviewAmountMin'],
    ['an amount not per currency', { reviewAmountMin: '5000.00' }, 'body.ruleThresholds.reviewAmountMin'],
    ['an unknown threshold', { weekly: 1 }, 'body.ruleThresholds'],
  ];
  const count = (await settingsEvents()).length;
  for (const [what, ruleThresholds, path] of cases)
    refusedAt(t, await putSettings(director, { limits, ruleThresholds }), path, what);
  t.equal((await settingsEvents()).length, count, 'nothing written');
  const smallest = await putSettings(director, {
    limits,
    ruleThresholds: { reviewAmountMin: { EUR: '0.01', JPY: '1', KWD: '0.001' } },
  });
  t.equal(smallest.statusCode, 200, smallest.body);
  t.match(json(smallest).settings.ruleThresholds.reviewAmountMin, { EUR: '0.01', JPY: '1', KWD: '0.001' });
  t.equal((await putSettings(director, { limits })).statusCode, 200, 'back to the defaults');
});

t.test('rules and watch list: bad ids, modes and entries are 400 with their path', async (t) => {
  const { limits } = json(await getSettings(director)).settings;
  const allOff = Object.fromEntries(ruleIds.map((id) => [id, 'off']));
  const off = await putSettings(director, { limits, rules: allOff });
  t.equal(off.statusCode, 200, off.body);
  t.same(json(off).settings.rules, allOff);
  const count = (await settingsEvents()).length;
  const longList = Array.from({ length: 10_001 }, (_, i) => ({ iban: `XX${i}` }));
  const cases: [string, unknown, string][] = [
    ['an unknown rule id', { rules: { speeding: 'off' } }, 'body.rules'],
    ['an unknown mode', { rules: { velocity: 'loud' } }, 'body.rules.velocity'],
    ['a mode in capitals', { rules: { velocity: 'ACTIVE' } }, 'body.rules.velocity'],
    ['rules not an object', { rules: ['velocity'] }, 'body.rules'],
    ['a bidi override in a name', { watchList: [{ name: 'Ivan \u202eExample' }] }, 'body.watchList.0.name'],
    [
      'a bidi isolate in a name',
      { watchList: [{ name: 'x' }, { name: '\u2066Ivan' }] },
      'body.watchList.1.name',
    ],
    ['NUL in a name', { watchList: [{ name: 'Iv\u0000an' }] }, 'body.watchList.0.name'],
    ['a line break in a name', { watchList: [{ name: 'Ivan\nExample' }] }, 'body.watchList.0.name'],
    ['a C1 control in a name', { watchList: [{ name: 'Ivan\u009bExample' }] }, 'body.watchList.0.name'],
    ['a name of 201 characters', { watchList: [{ name: 'N'.repeat(201) }] }, 'body.watchList.0.name'],
    ['a blank name', { watchList: [{ name: '   ' }] }, 'body.watchList.0.name'],
    ['an entry without name or iban', { watchList: [{}] }, 'body.watchList.0'],
    ['an IBAN of 35 characters', { watchList: [{ iban: 'A'.repeat(35) }] }, 'body.watchList.0.iban'],
    ['an IBAN with punctuation', { watchList: [{ iban: 'DE89-3704' }] }, 'body.watchList.0.iban'],
    ['an unknown field in an entry', { watchList: [{ name: 'Ivan', country: 'XX' }] }, 'body.watchList.0'],
    ['a watch list that is not a list', { watchList: { name: 'Ivan' } }, 'body.watchList'],
    ['more than 10 000 entries', { watchList: longList }, 'body.watchList'],
  ];
  for (const [what, extra, path] of cases)
    refusedAt(t, await putSettings(director, { limits, ...(extra as object) }), path, what);
  t.equal((await settingsEvents()).length, count, 'nothing written');
  const name200 = 'Ñ'.repeat(200);
  const bounded = await putSettings(director, {
    limits,
    watchList: [{ name: name200 }, { iban: ` ${'A1'.repeat(17)} ` }],
  });
  t.equal(bounded.statusCode, 200, bounded.body.slice(0, 300));
  t.same(json(bounded).settings.watchList, [{ name: name200 }, { iban: 'A1'.repeat(17) }]);
  const full = await putSettings(director, { limits, watchList: longList.slice(1) });
  t.equal(full.statusCode, 200, `10 000 entries: ${full.body.slice(0, 200)}`);
  t.equal(json(full).settings.watchList.length, 10_000);
  t.equal((await putSettings(director, { limits })).statusCode, 200, 'back to the defaults');
});
