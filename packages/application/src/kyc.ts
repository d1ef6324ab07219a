import { createHash } from 'node:crypto';
import {
  type DocumentContentType,
  extractedFieldNames,
  identityEventSchemaVersion,
  type KycDocumentType,
  type KycEvent,
  kycEventSchemaVersion,
  kycStreamId,
  parseKycEvent,
  type StoredFile,
  userStreamId,
} from '@ledger/contracts';
import {
  type CheckFindings,
  decideKyc,
  evolveKyc,
  initialKycState,
  type KycCase,
  type KycCommand,
  type KycRejection,
  type KycState,
  userKycStatusAfter,
} from '@ledger/domain';
import type {
  AppendDeadline,
  EventMetadata,
  EventStore,
  NewEvent,
  WrongExpectedVersion,
} from '@ledger/eventstore';
import { type Aggregate, loadStream, runCommand } from './command-handler.js';
import { loadOpenedUser, loadUser, userAggregate } from './identity.js';
import type { PersonalDataVault, SubjectSealer } from './personal-data.js';

/**
 * KYC (API.md, KYC; issue #16): the use cases of a verification case. A case is a
 * `kyc-<caseId>` stream; each of its decisions that moves the user's KYC status appends
 * KycStatusChanged to the user's stream in the SAME append (expected versions on both), so
 * the case and the user never disagree. The documents are stored outside the log, sealed
 * with the user's key (content-addressed by the hash of their clear bytes), and the fields
 * read off them are sealed in the events: an erasure reaches all of it.
 */

/** Where documents are kept (DocumentStorage of @ledger/platform, structurally). */
export interface DocumentFiles {
  put(userId: string, name: string, bytes: Buffer): Promise<void>;
  get(userId: string, name: string): Promise<Buffer | null>;
  removeUser(userId: string): Promise<void>;
}

export interface KycPorts {
  store: EventStore;
  vault: PersonalDataVault;
  documents: DocumentFiles;
}

export type KycUseCaseRejection =
  | KycRejection
  | 'not_a_customer'
  | 'verification_pending'
  | 'already_verified'
  | 'user_not_found'
  | 'wrong_provider'
  | 'callback_replayed';

export type KycOutcome<T> = { ok: true; value: T } | { ok: false; rejection: KycUseCaseRejection };

/** The KYC aggregate reading and writing through the owner's sealer (null: fields stay sealed). */
export function kycAggregateFor(sealer: SubjectSealer | null): Aggregate<KycState, KycEvent> {
  return {
    initialState: initialKycState,
    evolve: evolveKyc,
    parse(type, data) {
      const event = parseKycEvent(type, data);
      if (event.type !== 'KycChecked' || event.data.extracted === null || sealer === null) return event;
      const sealed = event.data.extracted;
      const opened = Object.fromEntries(extractedFieldNames.map((f) => [f, sealer.open(f, sealed[f])]));
      // Erased: nothing was read, as far as anyone can tell now.
      const extracted = Object.values(opened).some((v) => v === null)
        ? null
        : (opened as Record<(typeof extractedFieldNames)[number], string>);
      return { ...event, data: { ...event.data, extracted } };
    },
    serialize(event) {
      if (event.type !== 'KycChecked' || event.data.extracted === null) return event.data;
      if (sealer === null) throw new Error('KycChecked carries personal fields: it needs the user’s key');
      const clear = event.data.extracted;
      const extracted = Object.fromEntries(extractedFieldNames.map((f) => [f, sealer.seal(f, clear[f])]));
      return { ...event.data, extracted };
    },
    schemaVersion: kycEventSchemaVersion,
  };
}

/** The user a case belongs to (from its first event), or null when there is no such case. */
export async function kycCaseOwner(store: EventStore, caseId: string): Promise<string | null> {
  const [first] = await store.readStream(kycStreamId(caseId), { limit: 1 });
  if (!first) return null;
  const event = parseKycEvent(first.type, first.data);
  if (event.type !== 'KycSubmitted') throw new Error(`${first.streamId} starts with ${first.type}`);
  return event.data.userId;
}

/** The case with its extracted fields opened (null fields once the owner was erased). */
export async function loadKycCase(
  ports: Pick<KycPorts, 'store' | 'vault'>,
  caseId: string,
): Promise<KycCase | null> {
  const owner = await kycCaseOwner(ports.store, caseId);
  if (owner === null) return null;
  const sealer = (await ports.vault.sealers([owner])).get(owner) ?? null;
  const { state } = await loadStream(ports.store, kycStreamId(caseId), kycAggregateFor(sealer));
  return state.status === 'none' ? null : state;
}

interface KycStepResult {
  state: KycCase;
  events: KycEvent[];
  position: bigint | null;
}

interface KycStep {
  /** The decision, given the case and the owner (unopened, but for `opened`). */
  decide(state: KycState): KycCommand | KycUseCaseRejection | Promise<KycCommand | KycUseCaseRejection>;
  /**
   * A stream written in the same append that must not exist yet (a provider's callback id):
   * when it does, the answer is `callback_replayed` and nothing is written.
   */
  once?: { streamId: string; event: Omit<NewEvent, 'metadata'> };
}

/**
 * One command on a case: load the case and its owner's stream, decide, append the case's
 * events and the owner's new KYC status together; a conflict on either is decided again.
 */
async function runKycCommand(
  ports: Pick<KycPorts, 'store' | 'vault'>,
  caseId: string,
  userId: string,
  step: KycStep,
  metadata: EventMetadata,
  deadline?: AppendDeadline,
): Promise<KycOutcome<KycStepResult>> {
  const sealer = await ports.vault.sealer(userId);
  const aggregate = kycAggregateFor(sealer);
  const streamId = kycStreamId(caseId);
  return runCommand<KycOutcome<KycStepResult>>(
    ports.store,
    async () => {
      const [kyc, user] = await Promise.all([
        loadStream(ports.store, streamId, aggregate),
        loadStream(ports.store, userStreamId(userId), userAggregate),
      ]);
      if (user.state.status !== 'registered' || user.version === 'no_stream') {
        return { answer: { ok: false, rejection: 'user_not_found' } as const };
      }
      const command = await step.decide(kyc.state);
      if (typeof command === 'string') return { answer: { ok: false, rejection: command } as const };
      const decision = decideKyc(command, kyc.state);
      if (decision.rejection !== undefined)
        return { answer: { ok: false, rejection: decision.rejection } as const };
      const state = decision.events.reduce(evolveKyc, kyc.state);
      if (state.status === 'none') throw new Error('a KYC decision left no case');
      if (decision.events.length === 0)
        return { answer: { ok: true, value: { state, events: [], position: null } } };
      const toNew = (event: KycEvent): NewEvent => ({
        type: event.type,
        schemaVersion: kycEventSchemaVersion,
        data: aggregate.serialize?.(event) ?? event.data,
        metadata,
      });
      const status = userKycStatusAfter(decision.events);
      return {
        onConflict: (error: WrongExpectedVersion) =>
          error.streamId === step.once?.streamId
            ? ({ ok: false, rejection: 'callback_replayed' } as const)
            : undefined,
        writes: [
          { streamId, expectedVersion: kyc.version, events: decision.events.map(toNew) },
          ...(step.once === undefined
            ? []
            : [
                {
                  streamId: step.once.streamId,
                  expectedVersion: 'no_stream' as const,
                  events: [{ ...step.once.event, metadata }],
                },
              ]),
          ...(status === null || status === user.state.kycStatus
            ? []
            : [
                {
                  streamId: userStreamId(userId),
                  expectedVersion: user.version,
                  events: [
                    {
                      type: 'KycStatusChanged',
                      schemaVersion: identityEventSchemaVersion,
                      data: { userId, at: command.now.toISOString(), status },
                      metadata,
                    },
                  ],
                },
              ]),
        ],
        done: (result) => ({
          ok: true,
          value: { state, events: decision.events, position: result.position },
        }),
      };
    },
    { deadline },
  );
}

export interface UploadedFile {
  bytes: Buffer;
  /** Decided by the caller from the content (magic bytes), never from a name or a header. */
  contentType: DocumentContentType;
}

export interface SubmitVerificationRequest {
  caseId: string;
  userId: string;
  documentType: KycDocumentType;
  document: UploadedFile;
  selfie: UploadedFile | null;
  /** Who checks it: 'local' unless a provider is configured. */
  provider: string;
  now: Date;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Stores a file sealed with its owner's key; the log names it by the hash of its clear bytes. */
async function storeFile(ports: KycPorts, sealer: SubjectSealer, userId: string, file: UploadedFile) {
  const hash = sha256(file.bytes);
  await ports.documents.put(userId, hash, sealer.sealBytes(hash, file.bytes));
  return { sha256: hash, size: file.bytes.length, contentType: file.contentType } satisfies StoredFile;
}

/**
 * A customer submits a document (and maybe a selfie): stored, then the case opened and the
 * user's status `submitted`, in one append. Not while another case of theirs waits for its
 * check, nor once they are verified.
 */
export async function submitVerification(
  ports: KycPorts,
  request: SubmitVerificationRequest,
  metadata: EventMetadata,
  deadline?: AppendDeadline,
): Promise<KycOutcome<{ state: KycCase; position: bigint | null }>> {
  const { userId } = request;
  const user = await loadUser(ports.store, userId);
  if (user.status !== 'registered') return { ok: false, rejection: 'user_not_found' };
  if (user.role !== 'customer') return { ok: false, rejection: 'not_a_customer' };
  if (user.kycStatus === 'verified') return { ok: false, rejection: 'already_verified' };
  if (user.kycStatus === 'submitted') return { ok: false, rejection: 'verification_pending' };
  const sealer = await ports.vault.sealer(userId);
  const document = await storeFile(ports, sealer, userId, request.document);
  const selfie = request.selfie === null ? null : await storeFile(ports, sealer, userId, request.selfie);
  const result = await runKycCommand(
    ports,
    request.caseId,
    userId,
    {
      decide: () => ({
        type: 'SubmitDocument',
        now: request.now,
        caseId: request.caseId,
        userId,
        documentType: request.documentType,
        document,
        selfie,
        provider: request.provider,
      }),
    },
    metadata,
    deadline,
  );
  if (!result.ok) return result;
  return { ok: true, value: { state: result.value.state, position: result.value.position } };
}

/** A check attempt begins; 'already_checked' when the case was decided (the job has nothing to do). */
export function startKycCheck(
  ports: Pick<KycPorts, 'store' | 'vault'>,
  request: { caseId: string; userId: string; attempt: number; now: Date },
  metadata: EventMetadata,
) {
  return runKycCommand(
    ports,
    request.caseId,
    request.userId,
    { decide: () => ({ type: 'StartCheck', now: request.now, attempt: request.attempt }) },
    metadata,
  );
}

/** A file of a case, opened (null: no such file, or its owner was erased). */
export async function readKycFile(
  ports: KycPorts,
  kase: Pick<KycCase, 'userId' | 'document' | 'selfie'>,
  which: 'document' | 'selfie',
): Promise<{ bytes: Buffer; contentType: DocumentContentType } | null> {
  const file = which === 'document' ? kase.document : kase.selfie;
  if (file === null) return null;
  const sealed = await ports.documents.get(kase.userId, file.sha256);
  if (sealed === null) return null;
  const sealer = (await ports.vault.sealers([kase.userId])).get(kase.userId);
  const bytes = sealer?.openBytes(file.sha256, sealed) ?? null;
  return bytes === null ? null : { bytes, contentType: file.contentType };
}

/**
 * What the checker found, recorded with the outcome the rules give against the user's
 * profile (opened here); the user's status follows in the same append.
 */
export async function recordKycCheck(
  ports: Pick<KycPorts, 'store' | 'vault'>,
  request: { caseId: string; userId: string; findings: CheckFindings; checkedBy: string; now: Date },
  metadata: EventMetadata,
) {
  const user = await loadOpenedUser(ports, request.userId);
  if (user.status !== 'registered') return { ok: false as const, rejection: 'user_not_found' as const };
  const { firstName, lastName, dateOfBirth } = user.profile;
  return runKycCommand(
    ports,
    request.caseId,
    request.userId,
    {
      decide: () => ({
        type: 'RecordCheck',
        now: request.now,
        findings: request.findings,
        profile: { firstName, lastName, dateOfBirth },
        checkedBy: request.checkedBy,
      }),
    },
    metadata,
  );
}

/** A failed attempt; the last one sends the case to review. */
export function recordKycCheckFailure(
  ports: Pick<KycPorts, 'store' | 'vault'>,
  request: { caseId: string; userId: string; attempt: number; error: string; final: boolean; now: Date },
  metadata: EventMetadata,
) {
  const { now, attempt, error, final } = request;
  return runKycCommand(
    ports,
    request.caseId,
    request.userId,
    { decide: () => ({ type: 'RecordCheckFailure', now, attempt, error, final }) },
    metadata,
  );
}

/** An agent approves or rejects a case, with a reason. */
export async function reviewVerification(
  ports: Pick<KycPorts, 'store' | 'vault'>,
  request: { caseId: string; agentId: string; decision: 'verified' | 'rejected'; reason: string; now: Date },
  metadata: EventMetadata,
  deadline?: AppendDeadline,
): Promise<KycOutcome<{ state: KycCase; position: bigint | null }>> {
  const owner = await kycCaseOwner(ports.store, request.caseId);
  if (owner === null) return { ok: false, rejection: 'case_not_found' };
  const result = await runKycCommand(
    ports,
    request.caseId,
    owner,
    {
      decide: () => ({
        type: 'Review',
        now: request.now,
        by: request.agentId,
        decision: request.decision,
        reason: request.reason,
      }),
    },
    metadata,
    deadline,
  );
  if (!result.ok) return result;
  return { ok: true, value: { state: result.value.state, position: result.value.position } };
}

/** The stream that makes a provider's callback id single-use. */
export const providerCallbackStreamId = (provider: string, callbackId: string) =>
  `kyc-callback-${provider}-${callbackId}`;

/**
 * An external provider's result (a signed callback, checked by the caller): recorded like
 * the local check's, once per case and once per callback id (a replay is refused).
 */
export async function recordProviderCheck(
  ports: Pick<KycPorts, 'store' | 'vault'>,
  request: { provider: string; callbackId: string; caseId: string; findings: CheckFindings; now: Date },
  metadata: EventMetadata,
): Promise<KycOutcome<{ state: KycCase; position: bigint | null }>> {
  const callbackStream = providerCallbackStreamId(request.provider, request.callbackId);
  // Seen before: a replay, whatever became of the case since (the append's guard is for races).
  if ((await ports.store.readStream(callbackStream, { limit: 1 })).length > 0) {
    return { ok: false, rejection: 'callback_replayed' };
  }
  const owner = await kycCaseOwner(ports.store, request.caseId);
  if (owner === null) return { ok: false, rejection: 'case_not_found' };
  const user = await loadOpenedUser(ports, owner);
  if (user.status !== 'registered') return { ok: false, rejection: 'user_not_found' };
  const { firstName, lastName, dateOfBirth } = user.profile;
  const result = await runKycCommand(
    ports,
    request.caseId,
    owner,
    {
      decide: (state) =>
        state.status !== 'none' && state.provider !== request.provider
          ? 'wrong_provider'
          : {
              type: 'RecordCheck',
              now: request.now,
              findings: request.findings,
              profile: { firstName, lastName, dateOfBirth },
              checkedBy: request.provider,
            },
      once: {
        streamId: callbackStream,
        event: {
          type: 'KycProviderCallbackReceived',
          schemaVersion: kycEventSchemaVersion,
          data: { provider: request.provider, callbackId: request.callbackId, caseId: request.caseId },
        },
      },
    },
    metadata,
  );
  if (!result.ok) return result;
  return { ok: true, value: { state: result.value.state, position: result.value.position } };
}
