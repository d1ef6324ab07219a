import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTd3, createFaceMatcher } from '@ledger/documents';
import { faceCrop, passportImage, samplePhoto, validHolder } from '@ledger/documents/testing';
import t from 'tap';
import { startStack, waitFor } from './kit.js';

// Issue #16: the worker is killed (SIGKILL) while it checks a KYC document. BullMQ hands the
// stalled job to the restarted worker, which checks again; the case ends once: one
// KycChecked, one KycStatusChanged for it on the user's stream. The API, projector and worker
// are real processes on a fresh PostgreSQL database and a Redis of the test's own.

const password = 'correct horse battery staple';

// Two worker processes, OCR and a kill: ~80 s here alone, more on a busy CI machine.
t.setTimeout(600_000);

t.test(
  'a worker killed mid-check: the job is retried and the case ends once',
  { timeout: 240_000 },
  async (t) => {
    const documentsDir = await mkdtemp(join(tmpdir(), 'kyc-fault-'));
    t.teardown(() => rm(documentsDir, { recursive: true, force: true }));
    // The killed worker's job is taken back once its lock lapses: 10 s, not the default 30 s.
    const stack = await startStack(t, {
      env: { DOCUMENTS_DIR: documentsDir },
      workerEnv: { JOB_LOCK_MS: '10000' },
    });
    const call = async (method: string, path: string, body?: unknown, token?: string) => {
      const response = await fetch(`${stack.apiUrl}${path}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    const profile = { firstName: 'Anna Maria', lastName: 'Eriksson', dateOfBirth: '1974-08-12' };
    const registered = await call('POST', '/api/auth/register', {
      username: 'anna_fault',
      email: 'anna.fault@example.com',
      password,
      ...profile,
    });
    t.equal(registered.status, 201);
    const userId = registered.body.user.id as string;
    const token = (await call('POST', '/api/auth/login', { username: 'anna_fault', password })).body
      .accessToken as string;

    const lines = buildTd3({
      ...validHolder,
      personalNumber: 'ZE184226B',
    }) as [string, string];
    // The same face on the document and the selfie (sample 2's largest face, as found here).
    const matcher = await createFaceMatcher();
    const selfie = samplePhoto(2);
    const face = await matcher.describe(selfie);
    await matcher.close();
    if (!face.found) throw new Error('no face in sample 2');
    const form = new FormData();
    form.append('documentType', 'passport');
    form.append(
      'file',
      new Blob([passportImage({ mrzLines: lines, format: 'jpeg', photo: faceCrop(selfie, face.box) })]),
      'passport.jpg',
    );
    // A selfie makes the check longer (face detection on both): time to kill the worker in it.
    form.append('selfie', new Blob([selfie]), 'me.jpg');
    const submitted = await fetch(`${stack.apiUrl}/api/verification`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    t.equal(submitted.status, 202);
    const caseId = ((await submitted.json()) as { verification: { id: string } }).verification.id;

    const caseEvents = async () => (await stack.store.readStream(`kyc-${caseId}`)).map((e) => e.type);
    await waitFor(
      'the check started',
      async () => (await caseEvents()).includes('KycCheckStarted'),
      60_000,
      20,
    );
    await stack.worker.kill('SIGKILL');
    t.notOk((await caseEvents()).includes('KycChecked'), 'killed before it recorded an outcome');
    await stack.worker.start();

    // BullMQ sees the job stalled once its lock (JOB_LOCK_MS) lapses, and runs it again.
    await waitFor('the case decided', async () => (await caseEvents()).includes('KycChecked'), 150_000, 200);
    // A little longer: nothing more may come.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const events = await caseEvents();
    t.equal(events.filter((e) => e === 'KycChecked').length, 1, `one outcome (${events.join(', ')})`);
    t.ok(events.filter((e) => e === 'KycCheckStarted').length >= 2, 'checked again after the kill');
    const statuses = (await stack.store.readStream(`user-${userId}`))
      .filter((e) => e.type === 'KycStatusChanged')
      .map((e) => (e.data as { status: string }).status);
    t.equal(statuses.length, 2, `submitted, then one outcome (${statuses.join(', ')})`);
    t.equal(statuses[0], 'submitted');
    t.equal(statuses[1], 'verified', 'the document, the profile and the faces agree');
    t.ok(stack.worker.running, 'the restarted worker runs');
  },
);
