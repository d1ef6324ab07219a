import type { RecordedEvent } from '@ledger/eventstore';
import t from 'tap';
import { auditView } from './redact.js';

// The redaction of events shown by the Audit API, without a database: each of its three
// nets, and what it must leave alone.

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

t.test('known secrets, per event type', async (t) => {
  const view = auditView(
    recorded('UserRegistered', { userId: 'u', username: 'ann', passwordHash: 'opaque-format-hash' }),
  );
  t.same(view.data, { userId: 'u', username: 'ann', passwordHash: '[redacted]' });
  t.same(view.redacted, ['data.passwordHash']);
  t.match(view, {
    position: '12345678901234567',
    streamVersion: '3',
    hash: 'ab'.repeat(32),
    recordedAt: '2026-01-02T03:04:05.006Z',
  });
  const setup = auditView(
    recorded('TwoFactorSetupStarted', {
      userId: 'u',
      at: 'x',
      secret: { alg: 'A256GCM', keyId: 'k1', iv: 'IV', tag: 'TAG', ciphertext: 'CT' },
    }),
  );
  t.same(setup.data, { userId: 'u', at: 'x', secret: '[redacted]' });
  t.same(setup.redacted, ['data.secret']);
  t.same(auditView(recorded('PasswordChanged', { passwordHash: 'h', at: 'x' })).data, {
    passwordHash: '[redacted]',
    at: 'x',
  });
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
