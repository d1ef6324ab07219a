import {
  erasedMarker,
  personalFieldsByEventType,
  requiredPersonalFields,
  type UserEvent,
} from '@ledger/contracts';

/**
 * The vault as the use cases see it (DESIGN §5; implemented by @ledger/vault): a key per
 * subject that seals personal fields, keyed hashes that stand in for names in stream ids,
 * and the credentials (password hashes, TOTP secrets) that never enter the log.
 */

/** Seals and opens one subject's personal fields. */
export interface SubjectSealer {
  readonly subjectId: string;
  /** False once the subject was erased: open gives null, seal throws. */
  readonly readable: boolean;
  seal(field: string, value: string): string;
  open(field: string, sealed: string): string | null;
  sealBytes(name: string, bytes: Buffer): Buffer;
  openBytes(name: string, sealed: Buffer): Buffer | null;
}

export type CredentialKind = 'password' | 'totp';

export interface CredentialStore {
  put(userId: string, kind: CredentialKind, value: string): Promise<string>;
  get(userId: string, id: string): Promise<string | null>;
  retire(userId: string, kind: CredentialKind, currentId: string): Promise<void>;
  /** Every credential of the user, or those of one kind. */
  removeAll(userId: string, kind?: CredentialKind): Promise<void>;
}

export interface PersonalDataVault {
  keyedHash(kind: 'username' | 'email', value: string): string;
  createSubject(subjectId: string): Promise<SubjectSealer>;
  sealer(subjectId: string): Promise<SubjectSealer>;
  sealers(subjectIds: readonly string[]): Promise<Map<string, SubjectSealer>>;
  erase(subjectId: string, now: Date): Promise<void>;
  readonly credentials: CredentialStore;
}

type PersonalEventType = keyof typeof personalFieldsByEventType;

function personalFieldsOf(type: string): readonly string[] | undefined {
  return Object.hasOwn(personalFieldsByEventType, type)
    ? personalFieldsByEventType[type as PersonalEventType]
    : undefined;
}

/** The stored form of a user event: its personal fields sealed under the user's key. */
export function sealUserEvent(sealer: SubjectSealer | null, event: UserEvent): unknown {
  const fields = personalFieldsOf(event.type);
  if (fields === undefined) return event.data;
  if (sealer === null) throw new Error(`${event.type} carries personal fields: it needs the user's key`);
  const data: Record<string, unknown> = { ...event.data };
  for (const field of fields) {
    const value = data[field];
    if (typeof value === 'string') data[field] = sealer.seal(field, value);
  }
  return data;
}

/**
 * A stored user event with its personal fields opened: clear values, or, once the user was
 * erased, erasedMarker (username, email) and null (the others). Without a sealer the fields
 * stay sealed: what a check of roles, locks or sessions needs has nothing personal in it.
 */
export function openUserEvent(sealer: SubjectSealer | null, event: UserEvent): UserEvent {
  const fields = personalFieldsOf(event.type);
  if (fields === undefined || sealer === null) return event;
  const data: Record<string, unknown> = { ...event.data };
  for (const field of fields) {
    const value = data[field];
    if (typeof value !== 'string') continue;
    data[field] = sealer.open(field, value) ?? (requiredPersonalFields.includes(field) ? erasedMarker : null);
  }
  return { ...event, data } as UserEvent;
}
