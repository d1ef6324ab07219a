import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { bearer, json, ledgerHarness } from '@ledger/api/testing';
import { kycProjection } from '@ledger/projection-kyc';
import { PNG } from 'pngjs';
import t from 'tap';

// API.md, KYC, through app.inject() against real PostgreSQL and Redis, without the worker:
// the upload's checks (size while streaming, type by content, decompression bombs, empty
// files), who sees which case and file, and an agent's review moving the user's status.

const h = await ledgerHarness(t, 'api_verification', {
  projections: [kycProjection],
  waitForProjections: true,
  roles: ['agent', 'manager', 'auditor'],
  noStackTrace: true,
});
const { app, f, runners, assertProblem, customer, get, post } = h;
const { agent, auditor } = h.roles;

interface Part {
  name: string;
  data: Buffer | string;
  filename?: string;
  contentType?: string;
}

/** A multipart/form-data body, written by hand: nothing between the test and the parser. */
function form(parts: Part[]) {
  const boundary = `----ledger${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition =
      part.filename === undefined
        ? `form-data; name="${part.name}"`
        : `form-data; name="${part.name}"; filename="${part.filename}"`;
    const type = part.contentType === undefined ? '' : `Content-Type: ${part.contentType}\r\n`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`));
    chunks.push(Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

function png(width = 64, height = 40): Buffer {
  const image = new PNG({ width, height });
  for (let i = 0; i < image.data.length; i += 4) {
    image.data[i] = (i * 7) % 256;
    image.data[i + 1] = 128;
    image.data[i + 2] = 200;
    image.data[i + 3] = 255;
  }
  return PNG.sync.write(image);
}

/** A PNG whose header declares 100000 × 100000 pixels: tiny on the wire, 40 GB decoded. */
function pngBomb(): Buffer {
  const real = png(1, 1);
  const bomb = Buffer.from(real);
  bomb.writeUInt32BE(100_000, 16);
  bomb.writeUInt32BE(100_000, 20);
  return bomb;
}

const submit = (token: string, parts: Part[]) => {
  const body = form(parts);
  return app.inject({
    method: 'POST',
    url: '/api/verification',
    headers: { ...bearer(token), ...body.headers },
    payload: body.payload,
  });
};
const document = (data: Buffer, extra: Partial<Part> = {}): Part[] => [
  { name: 'documentType', data: 'passport' },
  { name: 'file', data, filename: 'passport.png', contentType: 'image/png', ...extra },
];

async function caughtUp() {
  const head = await f.store.lastWrittenPosition();
  for (const runner of runners) await runner.waitFor(head, 10_000);
}

async function storedFiles(userId: string): Promise<string[]> {
  return readdir(join(app.config.documentsDir, userId)).catch(() => []);
}

t.test('bad uploads are refused and keep nothing', async (t) => {
  const alice = await customer(false);
  const head = await f.store.lastWrittenPosition();
  const big = Buffer.alloc(16 * 1024 * 1024 + 1, 0x41);
  png().copy(big, 0);
  assertProblem(t, await submit(alice.token, document(big)), 413, 'file_too_large');
  assertProblem(t, await submit(alice.token, document(pngBomb())), 413, 'file_too_large');
  const html = Buffer.from('<!doctype html><script>alert(1)</script>');
  assertProblem(t, await submit(alice.token, document(html)), 415, 'unsupported_media_type');
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), randomBytes(200)]);
  assertProblem(
    t,
    await submit(alice.token, document(elf, { filename: 'scan.jpg' })),
    415,
    'unsupported_media_type',
  );
  const pdf = Buffer.from('%PDF-1.4\n%%EOF\n');
  assertProblem(
    t,
    await submit(alice.token, [...document(png()), { name: 'selfie', data: pdf, filename: 's.png' }]),
    415,
    'unsupported_media_type',
  );
  assertProblem(t, await submit(alice.token, document(Buffer.alloc(0))), 400, 'validation_failed');
  assertProblem(
    t,
    await submit(alice.token, [{ name: 'file', data: png(), filename: 'p.png' }]),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await submit(alice.token, [
      { name: 'documentType', data: 'driving_licence' },
      ...document(png()).slice(1),
    ]),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await submit(alice.token, [{ name: 'documentType', data: 'passport' }]),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await submit(alice.token, [...document(png()), { name: 'extra', data: png(), filename: 'x.png' }]),
    400,
    'validation_failed',
  );
  const notMultipart = await app.inject({
    method: 'POST',
    url: '/api/verification',
    headers: bearer(alice.token),
    payload: { documentType: 'passport' },
  });
  assertProblem(t, notMultipart, 415, 'unsupported_media_type');
  assertProblem(t, await submit(agent.token, document(png())), 403, 'forbidden');
  t.same(await f.store.readAll({ after: head, limit: 10 }), [], 'nothing written');
  t.same(await storedFiles(alice.id), [], 'no file kept');
});

t.test('a case: submitted, one at a time, seen by its owner and staff only, reviewed', async (t) => {
  const bob = await customer(false);
  const eve = await customer(false);
  const scan = png(120, 80);
  const submitted = await submit(bob.token, document(scan));
  t.equal(submitted.statusCode, 202, submitted.body);
  const { verification } = json(submitted);
  t.match(verification, { userId: bob.id, documentType: 'passport', status: 'submitted', extracted: null });
  assertProblem(t, await submit(bob.token, document(png())), 409, 'verification_pending');
  const me = json(await get('/api/auth/me', bob.token)).user;
  t.equal(me.kycStatus, 'submitted');

  // The file is kept sealed: its bytes are nowhere in clear on disk.
  const files = await storedFiles(bob.id);
  t.equal(files.length, 1);
  const { readFile } = await import('node:fs/promises');
  const onDisk = await readFile(join(app.config.documentsDir, bob.id, files[0]!));
  t.notOk(onDisk.includes(scan.subarray(16, 48)), 'sealed on disk');

  await caughtUp();
  const id = verification.id as string;
  t.match(json(await get(`/api/verification/${id}`, bob.token)).verification, { id, status: 'submitted' });
  assertProblem(t, await get(`/api/verification/${id}`, eve.token), 404, 'not_found');
  assertProblem(t, await get(`/api/verification/${id}/document`, eve.token), 404, 'not_found');
  t.same(json(await get('/api/verification', eve.token)).items, [], 'another customer sees none of it');
  const queue = json(await get('/api/verification?status=submitted', agent.token)).items as { id: string }[];
  t.ok(
    queue.some((c) => c.id === id),
    'in the agents’ queue',
  );

  const file = await get(`/api/verification/${id}/document`, agent.token);
  t.equal(file.statusCode, 200);
  t.equal(file.headers['content-type'], 'image/png');
  t.equal(file.headers['x-content-type-options'], 'nosniff');
  t.match(String(file.headers['content-security-policy']), /sandbox/);
  t.ok(file.rawPayload.equals(scan), 'the same bytes back');
  assertProblem(t, await get(`/api/verification/${id}/selfie`, agent.token), 404, 'not_found');

  assertProblem(
    t,
    await post(`/api/verification/${id}/approve`, bob.token, { reason: 'me' }, null),
    403,
    'forbidden',
  );
  assertProblem(
    t,
    await post(`/api/verification/${id}/approve`, auditor.token, { reason: 'x' }, null),
    403,
    'forbidden',
  );
  assertProblem(
    t,
    await post(`/api/verification/${id}/approve`, agent.token, {}, null),
    400,
    'validation_failed',
  );
  assertProblem(
    t,
    await post(
      '/api/verification/00000000-0000-4000-8000-000000000000/approve',
      agent.token,
      { reason: 'x' },
      null,
    ),
    404,
    'not_found',
  );
  // Before the review a second account is out of reach; after it, not.
  t.equal(
    (await post('/api/accounts', bob.token, { type: 'checking', currency: 'EUR' }, null)).statusCode,
    201,
  );
  assertProblem(
    t,
    await post('/api/accounts', bob.token, { type: 'savings', currency: 'EUR' }, null),
    422,
    'kyc_required',
  );
  const approved = await post(
    `/api/verification/${id}/approve`,
    agent.token,
    { reason: 'document checked by hand' },
    null,
  );
  t.equal(approved.statusCode, 200, approved.body);
  t.match(json(approved).verification, {
    status: 'verified',
    decidedBy: agent.id,
    reasons: ['agent_approved'],
  });
  t.equal(json(await get('/api/auth/me', bob.token)).user.kycStatus, 'verified');
  t.equal(
    (await post('/api/accounts', bob.token, { type: 'savings', currency: 'EUR' }, null)).statusCode,
    201,
  );
  assertProblem(t, await submit(bob.token, document(png())), 409, 'already_verified');
  await caughtUp();
  t.match(json(await get(`/api/verification/${id}`, auditor.token)).verification, { status: 'verified' });
});

t.test('uploads read at once are bounded: the excess gets 429 with Retry-After', async (t) => {
  const people = await Promise.all(Array.from({ length: 16 }, () => customer(false)));
  const big = Buffer.alloc(4 * 1024 * 1024, 0x41);
  png().copy(big, 0);
  const answers = await Promise.all(people.map((p) => submit(p.token, document(big))));
  const statuses = answers.map((a) => a.statusCode);
  t.ok(
    statuses.every((s) => s === 202 || s === 429),
    `only 202 and 429 (${statuses.join(' ')})`,
  );
  t.ok(statuses.filter((s) => s === 202).length >= 8, 'at least the bound goes through');
  const refused = answers.filter((a) => a.statusCode === 429);
  t.ok(refused.length > 0, `${refused.length} refused while 8 were being read`);
  for (const a of refused) {
    t.equal(a.headers['retry-after'], '2');
    t.match(json(a), { code: 'rate_limited' });
  }
});
