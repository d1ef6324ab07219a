import { randomBytes, randomUUID } from 'node:crypto';
import { bearer, json, ledgerHarness, strongPassword } from '@ledger/api/testing';
import { kycProjection } from '@ledger/projection-kyc';
import { PNG } from 'pngjs';
import t from 'tap';
import { callbackSignature, signatureHeader, timestampHeader } from './callbacks.js';

// An external verification provider, simulated: the bank runs with KYC_PROVIDER=acme, a
// customer submits, the provider calls back signed (HMAC-SHA256 of timestamp and body).
// Unsigned, wrongly signed, stale and replayed callbacks change nothing.

const secret = randomBytes(32).toString('base64url');
const h = await ledgerHarness(t, 'api_kyc_callbacks', {
  projections: [kycProjection],
  waitForProjections: true,
  roles: ['agent'],
  noStackTrace: true,
});
const { f, assertProblem } = h;
const app = await f.newApp({
  env: { ...h.env, KYC_PROVIDER: 'acme', KYC_PROVIDER_SECRETS: JSON.stringify({ acme: secret }) },
});

function png(): Buffer {
  const image = new PNG({ width: 32, height: 20 });
  image.data.fill(200);
  return PNG.sync.write(image);
}

async function customerWithCase(on = app) {
  const username = `anna_${randomBytes(4).toString('hex')}`;
  const registered = await on.inject({
    method: 'POST',
    url: '/api/auth/register',
    payload: {
      username,
      email: `${username}@example.com`,
      password: strongPassword,
      firstName: 'Anna Maria',
      lastName: 'Eriksson',
      dateOfBirth: '1974-08-12',
    },
  });
  const userId = json(registered).user.id as string;
  const token = json(
    await on.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username, password: strongPassword },
    }),
  ).accessToken as string;
  const boundary = 'b0undary';
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="documentType"\r\n\r\npassport\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n\r\n`),
    png(),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const submitted = await on.inject({
    method: 'POST',
    url: '/api/verification',
    headers: { ...bearer(token), 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload,
  });
  if (submitted.statusCode !== 202) throw new Error(submitted.body);
  return { userId, token, caseId: json(submitted).verification.id as string };
}

const result = (caseId: string, over: Record<string, unknown> = {}) => ({
  callbackId: randomUUID(),
  caseId,
  document: {
    mrzValid: true,
    surname: 'ERIKSSON',
    givenNames: 'ANNA MARIA',
    documentNumber: 'X1234567',
    nationality: 'UTO',
    dateOfBirth: '1974-08-12',
    expiryDate: '2034-01-01',
  },
  face: null,
  ...over,
});

function callback(
  body: unknown,
  options: { provider?: string; key?: string; at?: number; signature?: string | null; raw?: string } = {},
) {
  const raw = options.raw ?? JSON.stringify(body);
  const timestamp = String(options.at ?? Math.floor(Date.now() / 1000));
  const signature =
    options.signature === undefined
      ? callbackSignature(options.key ?? secret, timestamp, raw)
      : options.signature;
  return app.inject({
    method: 'POST',
    url: `/api/verification/callbacks/${options.provider ?? 'acme'}`,
    headers: {
      'content-type': 'application/json',
      [timestampHeader]: timestamp,
      ...(signature === null ? {} : { [signatureHeader]: signature }),
    },
    payload: raw,
  });
}

t.test('a signed callback decides the case by the same rules; the user is verified', async (t) => {
  const { caseId, token } = await customerWithCase();
  const head = await f.store.lastWrittenPosition();
  const body = result(caseId);
  assertProblem(t, await callback(body, { signature: null }), 401, 'invalid_signature');
  assertProblem(
    t,
    await callback(body, { key: 'another secret of at least 32 characters' }),
    401,
    'invalid_signature',
  );
  assertProblem(
    t,
    await callback(body, { at: Math.floor(Date.now() / 1000) - 301 }),
    401,
    'invalid_signature',
  );
  const tampered = JSON.stringify(body);
  assertProblem(
    t,
    await callback(body, {
      signature: callbackSignature(secret, String(Math.floor(Date.now() / 1000)), `${tampered} `),
    }),
    401,
    'invalid_signature',
  );
  assertProblem(t, await callback(body, { provider: 'nobody' }), 404, 'not_found');
  assertProblem(t, await callback({ ...body, document: { surname: 'X' } }), 400, 'validation_failed');
  assertProblem(t, await callback(null, { raw: '{not json' }), 400, 'validation_failed');
  t.same(await f.store.readAll({ after: head, limit: 10 }), [], 'nothing written by any refusal');

  const accepted = await callback(body);
  t.equal(accepted.statusCode, 200, accepted.body);
  t.match(json(accepted), { caseId, status: 'verified' });
  t.equal(json(await app.inject({ url: '/api/auth/me', headers: bearer(token) })).user.kycStatus, 'verified');
  assertProblem(t, await callback(body), 409, 'callback_replayed');
  assertProblem(t, await callback(result(caseId)), 409, 'already_checked');
});

t.test(
  'the provider’s findings meet the rules: expired, mismatching, unreadable; another provider’s case',
  async (t) => {
    const expired = await customerWithCase();
    const response = await callback(
      result(expired.caseId, { document: { ...result(expired.caseId).document, expiryDate: '2012-04-15' } }),
    );
    t.match(json(response), { status: 'needs_review' });
    const unreadable = await customerWithCase();
    t.match(json(await callback(result(unreadable.caseId, { document: null }))), { status: 'needs_review' });
    const forged = await customerWithCase();
    t.match(
      json(
        await callback(
          result(forged.caseId, { document: { ...result(forged.caseId).document, mrzValid: false } }),
        ),
      ),
      { status: 'rejected' },
    );
    const local = await customerWithCase(h.app);
    assertProblem(t, await callback(result(local.caseId)), 409, 'wrong_provider');
    assertProblem(t, await callback(result(randomUUID())), 404, 'not_found');
  },
);

t.test('the same callback sent twice at once is taken once', async (t) => {
  const { caseId } = await customerWithCase();
  const body = result(caseId);
  const answers = await Promise.all([callback(body), callback(body), callback(body)]);
  t.same(answers.map((a) => a.statusCode).sort(), [200, 409, 409], answers.map((a) => a.body).join('\n'));
  const codes = answers.filter((a) => a.statusCode === 409).map((a) => json(a).code);
  t.ok(
    codes.every((c) => c === 'callback_replayed' || c === 'already_checked'),
    codes.join(),
  );
});
