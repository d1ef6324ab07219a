import type { RecordedEvent } from '@ledger/eventstore';
import t from 'tap';
import { auditView, secretFieldsByType } from './redact.js';

// The redaction of events shown by the Audit API, without a database: today's events pass
// whole (no secret in them, references by id), and nets 2 and 3 still catch a secret that
// a new event type would bring.

function recorded(type: string, data: unknown, metadata: Record<string, unknown> = {}): RecordedEvent {
  return {
    eventId: '018f0000-0000-7000-8000-000000000001',
    streamId: 'user-1',
    streamVersion: 3n,
    globalPosition: 12345678901234567n,
    type,
    schemaVersion: 1,
    data: data as RecordedEvent['data'],
    metadata: metadata as RecordedEvent['metadata'],
    recordedAt: '2026-01-02T03:04:05.006Z',
    hash: 'ab'.repeat(32),
  };
}

const passwordId = '018f0000-0000-7000-8000-0000000000aa';
const factorId = '018f0000-0000-7000-8000-0000000000bb';
const sealedName = 'pii1.AAAAAAAAAAAAAAAA.c2VhbGVk.BBBBBBBBBBBBBBBBBBBBBB';

t.test('no per-type list: no event holds a secret', async (t) => {
  t.same(secretFieldsByType, {});
});

t.test('the events of today are shown whole: references and sealed fields are not secrets', async (t) => {
  const registered = {
    userId: '018f0000-0000-7000-8000-000000000002',
    username: sealedName,
    email: sealedName,
    passwordId,
    role: 'customer',
    firstName: sealedName,
    lastName: null,
    dateOfBirth: null,
    phone: sealedName,
    registeredAt: 'x',
    via: 'self',
  };
  const view = auditView(recorded('UserRegistered', registered, { actorId: 'a', correlationId: 'c' }));
  t.same(view.data, registered);
  t.same(view.metadata, { actorId: 'a', correlationId: 'c' });
  t.same(view.redacted, []);
  t.match(view, {
    position: '12345678901234567',
    streamVersion: '3',
    hash: 'ab'.repeat(32),
    recordedAt: '2026-01-02T03:04:05.006Z',
  });
  for (const [type, data] of [
    ['PasswordChanged', { userId: 'u', at: 'x', passwordId }],
    ['TwoFactorSetupStarted', { userId: 'u', at: 'x', factorId }],
    ['RefreshTokenReused', { userId: 'u', at: 'x', familyId: factorId }],
    ['LoginSucceeded', { userId: 'u', at: 'x', otpTimeStep: 5 }],
  ] as const) {
    const shown = auditView(recorded(type, data));
    t.same(shown.data, data, `${type}: as stored`);
    t.same(shown.redacted, [], `${type}: nothing redacted`);
  }
});

t.test('a name ending in Id is a reference only when its value is a uuid', async (t) => {
  const view = auditView(
    recorded('SomethingNew', {
      passwordId: 'hunter2-hunter2',
      otpSecretId: { iv: 'IV' },
      factorId,
      secretId: 42,
      tokenId: `${factorId}x`,
      apiKeyId: factorId.toUpperCase(),
      nested: [{ credentialId: passwordId }],
      passwordid: passwordId,
    }),
  );
  t.same(view.data, {
    passwordId: '[redacted]',
    otpSecretId: '[redacted]',
    factorId,
    secretId: '[redacted]',
    tokenId: '[redacted]',
    apiKeyId: factorId.toUpperCase(),
    nested: [{ credentialId: passwordId }],
    passwordid: '[redacted]',
  });
  t.same(view.redacted.sort(), [
    'data.otpSecretId',
    'data.passwordId',
    'data.passwordid',
    'data.secretId',
    'data.tokenId',
  ]);
});

t.test('the old secrets, should one come back, are still caught by nets 2 and 3', async (t) => {
  const bcrypt = '$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234';
  const view = auditView(
    recorded('UserRegistered', {
      userId: 'u',
      username: 'ann',
      passwordHash: 'opaque-format-hash',
      old: bcrypt,
    }),
  );
  t.same(view.data, { userId: 'u', username: 'ann', passwordHash: '[redacted]', old: '[redacted]' });
  t.same(view.redacted.sort(), ['data.old', 'data.passwordHash']);
  const setup = auditView(
    recorded('TwoFactorSetupStarted', {
      userId: 'u',
      at: 'x',
      secret: { alg: 'A256GCM', keyId: 'k1', iv: 'IV', tag: 'TAG', ciphertext: 'CT' },
    }),
  );
  t.same(setup.data, { userId: 'u', at: 'x', secret: '[redacted]' });
  t.same(setup.redacted, ['data.secret']);
  const sealedOnly = auditView(
    recorded('Imported', { box: { alg: 'A256GCM', keyId: 'k1', iv: 'IV', tag: 'TAG', ciphertext: 'CT' } }),
  );
  t.same(sealedOnly.redacted, ['data.box.ciphertext'], 'a sealed box under any name: its ciphertext');
});

t.test('a new event type: secrets by field name, at any depth, in data and metadata', async (t) => {
  const view = auditView(
    recorded(
      'SomethingNew',
      {
        nested: { refresh_token: 'rt_abc', tokenHash: 'deadbeef', list: [{ apiKey: 'k' }] },
        otp: '123456',
        otpTimeStep: 5,
        familyId: 'f',
        amount: '100',
        clientSecret: null,
        accountId: '018f0000-0000-7000-8000-000000000003',
      },
      { actorId: 'a', authorization: 'x', sessionToken: 's', ip: '127.0.0.1' },
    ),
  );
  t.same(view.data, {
    nested: { refresh_token: '[redacted]', tokenHash: '[redacted]', list: [{ apiKey: '[redacted]' }] },
    otp: '[redacted]',
    otpTimeStep: 5,
    familyId: 'f',
    amount: '100',
    clientSecret: null,
    accountId: '018f0000-0000-7000-8000-000000000003',
  });
  t.same(view.metadata, {
    actorId: 'a',
    authorization: '[redacted]',
    sessionToken: '[redacted]',
    ip: '127.0.0.1',
  });
  t.same(view.redacted.sort(), [
    'data.nested.list[0].apiKey',
    'data.nested.refresh_token',
    'data.nested.tokenHash',
    'data.otp',
    'metadata.authorization',
    'metadata.sessionToken',
  ]);
});

t.test('password-hash formats under any name', async (t) => {
  const bcrypt = '$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234';
  const view = auditView(
    recorded('Imported', { h: bcrypt, a: '$argon2id$v=19$m=65536', s: '$6$salt$x', note: 'costs $20' }),
  );
  t.same(view.data, { h: '[redacted]', a: '[redacted]', s: '[redacted]', note: 'costs $20' });
  t.notOk(JSON.stringify(view).includes('$2b$'));
});

t.test('the stored event is not changed', async (t) => {
  const event = recorded('UserRegistered', { passwordHash: 'h', profile: { secret: 's' } });
  auditView(event);
  t.same(event.data, { passwordHash: 'h', profile: { secret: 's' } });
});
