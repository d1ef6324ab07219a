import {
  type Account,
  type AccountType,
  bankAccountTypes,
  customerAccountTypes,
  isCurrency,
} from '@ledger/domain/ledger';
import type { JsonObject, JsonValue } from '@ledger/eventstore';

/**
 * An account's folded state as a snapshot's JSON (see load.ts): every amount a decimal
 * string of minor units, so bigints come back exactly; the daily debit holds as pairs.
 *
 * `accountSnapshotSchema` names this encoding and the fold that made it: change it whenever
 * Account or evolveAccount changes what a fold yields, and the snapshots of the old fold are
 * ignored (and written again) instead of being read as if they were the new one's.
 */
export const accountSnapshotSchema = 'account/2';

const accountTypes: readonly AccountType[] = [...customerAccountTypes, ...bankAccountTypes];
const minorUnitsPattern = /^(0|[1-9][0-9]{0,39})$/;
const dayPattern = /^\d{4}-\d{2}-\d{2}$/;

/** A snapshot that is not what accountSnapshotSchema encodes: it is ignored. */
export class BadAccountSnapshot extends Error {
  override readonly name = 'BadAccountSnapshot';
}

export function encodeAccountState(account: Account): JsonObject {
  return {
    status: account.status,
    id: account.id,
    kind: account.kind,
    accountType: account.accountType,
    ownerId: account.ownerId,
    currency: account.currency,
    flags: {
      debitsMustNotExceedCredits: account.flags.debitsMustNotExceedCredits,
      overdraftLimit: account.flags.overdraftLimit.toString(),
    },
    debitsPosted: account.debitsPosted.toString(),
    creditsPosted: account.creditsPosted.toString(),
    debitsPending: account.debitsPending.toString(),
    creditsPending: account.creditsPending.toString(),
    dailyDebits: {
      day: account.dailyDebits.day,
      total: account.dailyDebits.total.toString(),
      holds: [...account.dailyDebits.holds].map(([transferId, amount]) => [transferId, amount.toString()]),
    },
    debitActivity: {
      recent: account.debitActivity.recent.map((d) => [d.amount.toString(), d.at, d.payeeKey]),
      knownPayees: [...account.debitActivity.knownPayees],
      lastDebitAt: account.debitActivity.lastDebitAt,
    },
    openedAt: account.openedAt,
  };
}

function fail(what: string): never {
  throw new BadAccountSnapshot(`account snapshot: ${what}`);
}

function objectAt(value: JsonValue | undefined, what: string, keys: readonly string[]): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} is not an object`);
  const extra = Object.keys(value).find((key) => !keys.includes(key));
  if (extra !== undefined) fail(`${what} has an unknown field ${extra}`);
  return value;
}

function stringAt(value: JsonValue | undefined, what: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(`${what} is not a non-empty string`);
  return value;
}

function oneOf<T extends string>(value: JsonValue | undefined, what: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    fail(`${what} is unknown`);
  return value as T;
}

function minorUnitsAt(value: JsonValue | undefined, what: string): bigint {
  if (typeof value !== 'string' || !minorUnitsPattern.test(value)) fail(`${what} is not minor units`);
  return BigInt(value);
}

const accountKeys = [
  'status',
  'id',
  'kind',
  'accountType',
  'ownerId',
  'currency',
  'flags',
  'debitsPosted',
  'creditsPosted',
  'debitsPending',
  'creditsPending',
  'dailyDebits',
  'debitActivity',
  'openedAt',
] as const;

function debitActivityAt(value: JsonValue | undefined): Account['debitActivity'] {
  const activity = objectAt(value, 'debitActivity', ['recent', 'knownPayees', 'lastDebitAt']);
  if (!Array.isArray(activity.recent)) fail('debitActivity.recent is not a list');
  if (!Array.isArray(activity.knownPayees)) fail('debitActivity.knownPayees is not a list');
  const recent = activity.recent.map((debit) => {
    if (!Array.isArray(debit) || debit.length !== 3 || typeof debit[2] !== 'string')
      fail('a recent debit is not [amount, at, payee]');
    return {
      amount: minorUnitsAt(debit[0], 'a recent debit amount'),
      at: stringAt(debit[1], 'a recent debit time'),
      payeeKey: debit[2],
    };
  });
  const knownPayees = new Set(activity.knownPayees.map((payee) => stringAt(payee, 'a known payee')));
  const { lastDebitAt } = activity;
  if (lastDebitAt !== null && typeof lastDebitAt !== 'string') fail('debitActivity.lastDebitAt');
  return { recent, knownPayees, lastDebitAt };
}

/**
 * The account a snapshot's state encodes (encodeAccountState's inverse). Anything else (a
 * field missing, unknown or of the wrong type, an amount that is not minor units) throws
 * BadAccountSnapshot: a snapshot is a cache, and a cache that does not parse is refolded.
 */
export function decodeAccountState(json: JsonValue): Account {
  const o = objectAt(json, 'state', accountKeys);
  for (const key of accountKeys) if (!(key in o)) fail(`state has no ${key}`);
  const flags = objectAt(o.flags, 'flags', ['debitsMustNotExceedCredits', 'overdraftLimit']);
  if (typeof flags.debitsMustNotExceedCredits !== 'boolean') fail('flags.debitsMustNotExceedCredits');
  const daily = objectAt(o.dailyDebits, 'dailyDebits', ['day', 'total', 'holds']);
  if (daily.day !== null && (typeof daily.day !== 'string' || !dayPattern.test(daily.day)))
    fail('dailyDebits.day is not a date');
  if (!Array.isArray(daily.holds)) fail('dailyDebits.holds is not a list');
  const holds = new Map<string, bigint>();
  for (const hold of daily.holds) {
    if (!Array.isArray(hold) || hold.length !== 2) fail('a daily debit hold is not a pair');
    holds.set(stringAt(hold[0], 'a hold transfer id'), minorUnitsAt(hold[1], 'a hold amount'));
  }
  if (!isCurrency(o.currency)) fail('currency is unknown');
  const kind = oneOf(o.kind, 'kind', ['customer', 'bank'] as const);
  if (o.ownerId !== null && typeof o.ownerId !== 'string') fail('ownerId');
  return {
    status: oneOf(o.status, 'status', ['active', 'frozen', 'closed'] as const),
    id: stringAt(o.id, 'id'),
    kind,
    accountType: oneOf(o.accountType, 'accountType', accountTypes),
    ownerId: o.ownerId,
    currency: o.currency,
    flags: {
      debitsMustNotExceedCredits: flags.debitsMustNotExceedCredits,
      overdraftLimit: minorUnitsAt(flags.overdraftLimit, 'flags.overdraftLimit'),
    },
    debitsPosted: minorUnitsAt(o.debitsPosted, 'debitsPosted'),
    creditsPosted: minorUnitsAt(o.creditsPosted, 'creditsPosted'),
    debitsPending: minorUnitsAt(o.debitsPending, 'debitsPending'),
    creditsPending: minorUnitsAt(o.creditsPending, 'creditsPending'),
    dailyDebits: {
      day: daily.day,
      total: minorUnitsAt(daily.total, 'dailyDebits.total'),
      holds,
    },
    debitActivity: debitActivityAt(o.debitActivity),
    openedAt: stringAt(o.openedAt, 'openedAt'),
  };
}
