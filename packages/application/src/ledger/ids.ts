import assert from 'node:assert/strict';
import { createHash, randomInt } from 'node:crypto';
import {
  accountNumberFrom,
  accountNumberRandomDigits,
  type BankAccountType,
  type Currency,
} from '@ledger/domain/ledger';

/**
 * The ledger's ids: derived where a retry must find the same one (a request's transfer, a
 * bank-owned account), random where nothing may be guessed (account numbers).
 */

/** Fixed namespace of transfer ids derived from (caller, Idempotency-Key). */
const transferIdNamespace = '6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b';
/** Fixed namespace of the bank-owned accounts' ids. */
const bankAccountIdNamespace = '0b7e4c1d-9f2a-5b3c-8d4e-5f6a7b8c9d0e';

/** RFC 9562 UUIDv5 (SHA-1, name-based): the same inputs always give the same id. */
export function uuidv5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replaceAll('-', ''), 'hex');
  assert.equal(ns.length, 16, 'namespace is a UUID');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The transfer id of a money-moving request (API.md): scoped to the caller, so one
 * caller's key never reaches another caller's transfer.
 */
export function transferIdFor(callerId: string, idempotencyKey: string): string {
  return uuidv5(transferIdNamespace, `${callerId.toLowerCase()}:${idempotencyKey.toLowerCase()}`);
}

/** The bank-owned account of a type in a currency: one per (currency, type), fixed id. */
export function bankAccountId(currency: Currency, type: BankAccountType): string {
  return uuidv5(bankAccountIdNamespace, `${currency}:${type}`);
}

/** A new random account number (the domain adds the prefix and the check digits). */
export function makeAccountNumber(): string {
  let digits = '';
  for (let i = 0; i < accountNumberRandomDigits; i++) digits += String(randomInt(10));
  return accountNumberFrom(digits);
}
