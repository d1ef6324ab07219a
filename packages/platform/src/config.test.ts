import t, { type Test } from 'tap';
import { ConfigError, loadConfig } from './config.js';

// loadConfig reads only the object it is given, so these tests never see the real environment.

function problemsOf(env: Record<string, string>): { variable: string; message: string }[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

function assertRejected(t: Test, env: Record<string, string>, variable: string) {
  const problems = problemsOf(env);
  t.same(
    problems.map((p) => p.variable),
    [variable],
    `${JSON.stringify(env)} is refused naming ${variable}`,
  );
  let message = '';
  try {
    loadConfig(env);
  } catch (error) {
    message = (error as Error).message;
  }
  t.match(message, new RegExp(`^\\s+${variable}: `, 'm'), 'the message names it too');
}

t.test('defaults', async (t) => {
  const config = loadConfig({});
  t.match(config, {
    port: 3000,
    host: '127.0.0.1',
    databaseUrl: undefined,
    dataDir: './.data',
    redisUrl: undefined,
    jwtSecret: undefined,
    totpKey: undefined,
    corsOrigins: [],
    logLevel: 'info',
    rateLimits: {},
    director: undefined,
  });
});

t.test('PORT', async (t) => {
  t.throws(() => loadConfig({ PORT: 'abc' }), ConfigError);
  assertRejected(t, { PORT: 'abc' }, 'PORT');
  assertRejected(t, { PORT: '70000' }, 'PORT');
  assertRejected(t, { PORT: '-1' }, 'PORT');
  assertRejected(t, { PORT: '80.5' }, 'PORT');
  t.equal(loadConfig({ PORT: '0' }).port, 0, 'PORT=0: any free port');
  t.equal(loadConfig({ PORT: '8080' }).port, 8080);
});

t.test('DATABASE_URL', async (t) => {
  assertRejected(t, { DATABASE_URL: 'not a url' }, 'DATABASE_URL');
  assertRejected(t, { DATABASE_URL: 'mysql://user@host/db' }, 'DATABASE_URL');
  t.equal(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/db' }).databaseUrl, 'postgres://u@h:5432/db');
  t.equal(loadConfig({ DATABASE_URL: 'postgresql://u@h/db' }).databaseUrl, 'postgresql://u@h/db');
  t.equal(loadConfig({ DATABASE_URL: '  ' }).databaseUrl, undefined, 'blank means unset: PGlite');
});

t.test('RATE_LIMITS', async (t) => {
  assertRejected(t, { RATE_LIMITS: '{not json' }, 'RATE_LIMITS');
  assertRejected(t, { RATE_LIMITS: '["login"]' }, 'RATE_LIMITS');
  assertRejected(t, { RATE_LIMITS: '{"login": "5 per minute"}' }, 'RATE_LIMITS');
  assertRejected(t, { RATE_LIMITS: '{"login": "0/minute"}' }, 'RATE_LIMITS');
  assertRejected(t, { RATE_LIMITS: '{"login": 5}' }, 'RATE_LIMITS');
  t.same(loadConfig({ RATE_LIMITS: '{"register": "1000/hour", "login": "100/minute"}' }).rateLimits, {
    register: { max: 1000, timeWindowMs: 3_600_000 },
    login: { max: 100, timeWindowMs: 60_000 },
  });
});

t.test('CORS_ORIGINS', async (t) => {
  assertRejected(t, { CORS_ORIGINS: 'bank.example' }, 'CORS_ORIGINS');
  assertRejected(t, { CORS_ORIGINS: 'https://bank.example/app' }, 'CORS_ORIGINS');
  assertRejected(t, { CORS_ORIGINS: 'ftp://bank.example' }, 'CORS_ORIGINS');
  assertRejected(t, { CORS_ORIGINS: '*' }, 'CORS_ORIGINS');
  t.same(loadConfig({ CORS_ORIGINS: ' https://bank.example , http://localhost:5173 ,' }).corsOrigins, [
    'https://bank.example',
    'http://localhost:5173',
  ]);
});

t.test('other variables', async (t) => {
  assertRejected(t, { REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL');
  assertRejected(t, { SMTP_URL: 'mailto:x@y' }, 'SMTP_URL');
  assertRejected(t, { JWT_SECRET: 'too-short' }, 'JWT_SECRET');
  assertRejected(t, { LOG_LEVEL: 'verbose' }, 'LOG_LEVEL');
  assertRejected(t, { HOST: '' }, 'HOST');
  assertRejected(t, { BANK_DIRECTOR_USERNAME: 'boss' }, 'BANK_DIRECTOR_USERNAME');
  const director = { username: 'boss', email: 'boss@bank.example', password: 'a long enough password' };
  t.same(
    loadConfig({
      BANK_DIRECTOR_USERNAME: director.username,
      BANK_DIRECTOR_EMAIL: director.email,
      BANK_DIRECTOR_PASSWORD: director.password,
    }).director,
    director,
  );
});

t.test('CLEARING_DELAY_MS and CLEARING_RETURN_IBANS (the simulated clearing rail)', async (t) => {
  t.same(loadConfig({}).clearing, { delayMs: 5000, returnIbans: [] });
  for (const bad of ['abc', '-1', '1.5', '86400001']) {
    assertRejected(t, { CLEARING_DELAY_MS: bad }, 'CLEARING_DELAY_MS');
  }
  t.equal(loadConfig({ CLEARING_DELAY_MS: '0' }).clearing.delayMs, 0);
  t.same(
    loadConfig({ CLEARING_RETURN_IBANS: ' gb82 west 1234 5698 7654 32 ,DE89370400440532013000,' }).clearing
      .returnIbans,
    ['GB82WEST12345698765432', 'DE89370400440532013000'],
    'normalised: spaces dropped, upper case; empty entries ignored',
  );
  assertRejected(t, { CLEARING_RETURN_IBANS: 'GB82WEST12345698765433' }, 'CLEARING_RETURN_IBANS');
  assertRejected(t, { CLEARING_RETURN_IBANS: 'DE89370400440532013000,nope' }, 'CLEARING_RETURN_IBANS');
  const many = Array.from({ length: 1001 }, () => 'DE89370400440532013000').join(',');
  assertRejected(t, { CLEARING_RETURN_IBANS: many }, 'CLEARING_RETURN_IBANS');
});

t.test("HOLD_SWEEP_INTERVAL_MS (the worker's sweep for overdue holds)", async (t) => {
  t.equal(loadConfig({}).holdSweepIntervalMs, 30_000);
  t.equal(loadConfig({ HOLD_SWEEP_INTERVAL_MS: '100' }).holdSweepIntervalMs, 100);
  t.equal(loadConfig({ HOLD_SWEEP_INTERVAL_MS: '3600000' }).holdSweepIntervalMs, 3_600_000);
  for (const bad of ['abc', '0', '99', '-1', '1.5', '3600001']) {
    assertRejected(t, { HOLD_SWEEP_INTERVAL_MS: bad }, 'HOLD_SWEEP_INTERVAL_MS');
  }
});

t.test("PACK_FEES_INTERVAL_MS (the worker's fee scheduler for packs)", async (t) => {
  t.equal(loadConfig({}).packFeesIntervalMs, 60_000);
  t.equal(loadConfig({ PACK_FEES_INTERVAL_MS: '100' }).packFeesIntervalMs, 100);
  t.equal(loadConfig({ PACK_FEES_INTERVAL_MS: '3600000' }).packFeesIntervalMs, 3_600_000);
  for (const bad of ['abc', '0', '99', '-1', '1.5', '3600001']) {
    assertRejected(t, { PACK_FEES_INTERVAL_MS: bad }, 'PACK_FEES_INTERVAL_MS');
  }
});

t.test("JOB_LOCK_MS (BullMQ's job lock)", async (t) => {
  t.equal(loadConfig({}).jobLockMs, 30_000);
  t.equal(loadConfig({ JOB_LOCK_MS: '1000' }).jobLockMs, 1_000);
  t.equal(loadConfig({ JOB_LOCK_MS: '600000' }).jobLockMs, 600_000);
  for (const bad of ['abc', '0', '999', '-1', '1.5', '600001']) {
    assertRejected(t, { JOB_LOCK_MS: bad }, 'JOB_LOCK_MS');
  }
});

t.test('every bad variable is reported at once', async (t) => {
  const problems = problemsOf({ PORT: 'abc', DATABASE_URL: 'nope', CORS_ORIGINS: 'x' });
  t.same(problems.map((p) => p.variable).sort(), ['CORS_ORIGINS', 'DATABASE_URL', 'PORT']);
});

t.test('secrets are not echoed in the message', async (t) => {
  const secret = 'short-secret';
  let message = '';
  try {
    loadConfig({ JWT_SECRET: secret });
  } catch (error) {
    message = (error as Error).message;
  }
  t.match(message, /JWT_SECRET/);
  t.notMatch(message, secret);
});

t.test('TOTP_KEY', async (t) => {
  assertRejected(t, { TOTP_KEY: 'too short' }, 'TOTP_KEY');
  const key = 'a-totp-key-of-at-least-32-characters-long';
  t.equal(loadConfig({ TOTP_KEY: key }).totpKey, key);
});

t.test('HANDLER_TIMEOUT_MS (the API handler deadline)', async (t) => {
  t.equal(loadConfig({}).handlerTimeoutMs, 30_000);
  t.equal(loadConfig({ HANDLER_TIMEOUT_MS: '100' }).handlerTimeoutMs, 100);
  t.equal(loadConfig({ HANDLER_TIMEOUT_MS: '600000' }).handlerTimeoutMs, 600_000);
  for (const bad of ['0', '99', '600001', '1.5', 'soon', '-1']) {
    assertRejected(t, { HANDLER_TIMEOUT_MS: bad }, 'HANDLER_TIMEOUT_MS');
  }
});

t.test('READY_LAG_MAX_SECONDS (the readiness bound on read model lag)', async (t) => {
  t.equal(loadConfig({}).readyLagMaxSeconds, 30);
  t.equal(loadConfig({ READY_LAG_MAX_SECONDS: '2' }).readyLagMaxSeconds, 2);
  t.equal(loadConfig({ READY_LAG_MAX_SECONDS: '86400' }).readyLagMaxSeconds, 86400);
  for (const bad of ['abc', '0', '-1', '1.5', '86401']) {
    assertRejected(t, { READY_LAG_MAX_SECONDS: bad }, 'READY_LAG_MAX_SECONDS');
  }
});

t.test('CHECKPOINT_EVERY (a chain checkpoint every N events)', async (t) => {
  t.equal(loadConfig({}).checkpointEvery, 1000);
  t.equal(loadConfig({ CHECKPOINT_EVERY: '10' }).checkpointEvery, 10);
  t.equal(loadConfig({ CHECKPOINT_EVERY: '1000000000' }).checkpointEvery, 1_000_000_000);
  for (const bad of ['abc', '0', '9', '1.5', '-1', '1000000001']) {
    assertRejected(t, { CHECKPOINT_EVERY: bad }, 'CHECKPOINT_EVERY');
  }
});

t.test('MAIL_FROM: one line, an address or "Name <address>"', async (t) => {
  t.equal(loadConfig({}).mailFrom, 'Ledger Bank <no-reply@ledger.local>');
  t.equal(loadConfig({ MAIL_FROM: '' }).mailFrom, 'Ledger Bank <no-reply@ledger.local>');
  t.equal(loadConfig({ MAIL_FROM: ' bank@example.com ' }).mailFrom, 'bank@example.com');
  t.equal(loadConfig({ MAIL_FROM: 'My Bank <bank@example.com>' }).mailFrom, 'My Bank <bank@example.com>');
  assertRejected(t, { MAIL_FROM: 'My Bank <bank@example.com>\r\nBcc: x@y.z' }, 'MAIL_FROM');
  assertRejected(t, { MAIL_FROM: 'Bank\n <bank@example.com>' }, 'MAIL_FROM');
  assertRejected(t, { MAIL_FROM: 'not an address' }, 'MAIL_FROM');
  assertRejected(t, { MAIL_FROM: `${'x'.repeat(400)}@example.com` }, 'MAIL_FROM');
});
