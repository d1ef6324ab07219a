import type { KycEvent } from '@ledger/contracts';
import t from 'tap';
import {
  type CheckFindings,
  decideKyc,
  type KycCommand,
  kycOutcome,
  normalizeName,
  userKycStatusAfter,
} from './decide.js';
import { evolveKyc, initialKycState, type KycState } from './kyc.js';

// Given events, when a command, then events or a rejection; and the outcome rules of API.md.

const caseId = '5a0c1b2d-0000-4000-8000-000000000001';
const userId = '5a0c1b2d-0000-4000-8000-000000000002';
const agentId = '5a0c1b2d-0000-4000-8000-000000000003';
const now = new Date('2026-06-01T10:00:00.000Z');
const file = { sha256: 'a'.repeat(64), size: 1000, contentType: 'image/png' as const };

const fields = {
  surname: 'ERIKSSON',
  givenNames: 'ANNA MARIA',
  documentNumber: 'L898902C3',
  nationality: 'UTO',
  dateOfBirth: '1974-08-12',
  expiryDate: '2030-04-15',
};
const profile = { firstName: 'Anna María', lastName: 'Eriksson', dateOfBirth: '1974-08-12' };
const findings = (over: Partial<CheckFindings> = {}): CheckFindings => ({
  mrz: { valid: true, fields },
  face: null,
  ...over,
});

const fold = (events: KycEvent[]): KycState => events.reduce(evolveKyc, initialKycState());
const submit: KycCommand = {
  type: 'SubmitDocument',
  now,
  caseId,
  userId,
  documentType: 'passport',
  document: file,
  selfie: null,
  provider: 'local',
};
const submitted = (): KycEvent[] => decideKyc(submit, initialKycState()).events;

t.test('the rules of API.md', async (t) => {
  t.same(kycOutcome(findings(), profile, now), { outcome: 'verified', reasons: [] });
  t.same(
    kycOutcome(findings({ mrz: { valid: false, fields } }), profile, now),
    { outcome: 'rejected', reasons: ['mrz_checksum'] },
    'forged check digits',
  );
  t.same(kycOutcome(findings({ mrz: null }), profile, now), {
    outcome: 'needs_review',
    reasons: ['unreadable'],
  });
  t.same(
    kycOutcome(
      findings({ mrz: { valid: true, fields: { ...fields, expiryDate: '2012-04-15' } } }),
      profile,
      now,
    ),
    { outcome: 'needs_review', reasons: ['document_expired'] },
  );
  t.same(kycOutcome(findings(), { ...profile, lastName: 'Erikson' }, now).reasons, ['profile_mismatch']);
  t.same(kycOutcome(findings(), { ...profile, dateOfBirth: '1974-08-13' }, now).reasons, [
    'profile_mismatch',
  ]);
  t.same(
    kycOutcome(findings(), { ...profile, firstName: null }, now).reasons,
    ['profile_mismatch'],
    'no profile',
  );
  t.same(kycOutcome(findings({ face: { found: true, distance: 0.71, matched: false } }), profile, now), {
    outcome: 'needs_review',
    reasons: ['face_mismatch'],
  });
  t.same(kycOutcome(findings({ face: { found: false } }), profile, now).reasons, ['face_not_found']);
  t.same(
    kycOutcome(findings({ face: { found: true, distance: 0.3, matched: true } }), profile, now).outcome,
    'verified',
  );
  t.equal(normalizeName(' Anna-María  '), 'ANNA MARIA', 'case, accents and separators do not count');
});

t.test('submit, check once, review; the user status follows', async (t) => {
  const events = submitted();
  t.same(
    events.map((e) => e.type),
    ['KycSubmitted'],
  );
  t.equal(userKycStatusAfter(events), 'submitted');
  t.equal(decideKyc(submit, fold(events)).rejection, 'case_exists');
  const started = decideKyc({ type: 'StartCheck', now, attempt: 1 }, fold(events)).events;
  t.equal(fold([...events, ...started]).status, 'processing');
  const checked = decideKyc(
    { type: 'RecordCheck', now, findings: findings(), profile, checkedBy: 'local' },
    fold([...events, ...started]),
  ).events;
  t.match(checked, [
    { type: 'KycChecked', data: { outcome: 'verified', extracted: fields, mrzValid: true } },
  ]);
  const done = fold([...events, ...started, ...checked]);
  t.equal(done.status, 'verified');
  t.equal(userKycStatusAfter(checked), 'verified');
  for (const command of [
    { type: 'StartCheck', now, attempt: 2 },
    { type: 'RecordCheck', now, findings: findings(), profile, checkedBy: 'local' },
    { type: 'RecordCheckFailure', now, attempt: 2, error: 'x', final: true },
  ] as const) {
    t.equal(
      decideKyc(command, done).rejection,
      'already_checked',
      `${command.type} after the check: once only`,
    );
  }
  const reviewed = decideKyc(
    { type: 'Review', now, by: agentId, decision: 'rejected', reason: 'blurred' },
    done,
  ).events;
  t.match(reviewed, [
    { type: 'KycReviewed', data: { decision: 'rejected', by: agentId, reason: 'blurred' } },
  ]);
  const after = fold([...events, ...started, ...checked, ...reviewed]);
  t.equal(after.status, 'rejected');
  t.same(after.status === 'none' ? [] : after.reasons, ['agent_rejected']);
  t.same(
    decideKyc({ type: 'Review', now, by: agentId, decision: 'rejected', reason: 'again' }, after).events,
    [],
    'the same decision again: nothing new',
  );
  t.equal(decideKyc({ type: 'StartCheck', now, attempt: 1 }, initialKycState()).rejection, 'case_not_found');
});

t.test('failures: retried, then the case goes to a person', async (t) => {
  const events = submitted();
  const failed = decideKyc(
    { type: 'RecordCheckFailure', now, attempt: 1, error: 'timeout', final: false },
    fold(events),
  );
  t.same(
    failed.events.map((e) => e.type),
    ['KycCheckFailed'],
  );
  t.equal(fold([...events, ...failed.events]).status, 'submitted');
  const last = decideKyc(
    { type: 'RecordCheckFailure', now, attempt: 3, error: 'x'.repeat(900), final: true },
    fold(events),
  );
  t.same(
    last.events.map((e) => e.type),
    ['KycCheckFailed', 'KycChecked'],
  );
  t.equal((last.events[0]!.data as { error: string }).error.length, 500, 'the error is bounded');
  t.match(last.events[1], { data: { outcome: 'needs_review', reasons: ['processing_failed'] } });
});
