import type { StoredAccountEvent, StoredLedgerCurrency, StoredTransferEvent } from '@ledger/contracts';
import type { AccountEvent } from './account.js';
import type { Currency } from './money.js';
import type { TransferEvent } from './transfer.js';

/**
 * The ledger's events as stored are @ledger/contracts' zod schemas (ledger-events.ts); the
 * deciders' AccountEvent and TransferEvent are written here, with their meaning. The checks
 * below make the two the same type, field by field, at compile time: a field added, dropped,
 * renamed, made optional or given another type on one side only fails `tsc`, naming what
 * differs. So what the deciders write is what every reader parses back, with
 * parseAccountEvent and parseTransferEvent (re-exported here: one parser for every reader).
 */
export {
  CorruptLedgerEvent,
  parseAccountEvent,
  parseLedgerEvent,
  parseTransferEvent,
  type StoredEventInput,
} from '@ledger/contracts';

/** One spelling of a type: intersections flattened, deeply (unions stay unions). */
type Flat<T> = T extends object ? { [K in keyof T]: Flat<T[K]> } : T;
/** True when A and B are the same type (not merely assignable either way: `?:` and readonly count). */
type Same<A, B> =
  (<X>() => X extends Flat<A> ? 1 : 2) extends <X>() => X extends Flat<B> ? 1 : 2 ? true : false;
/** `true`, or what only one side has (shown by the compiler when the check fails). */
type Check<Domain, Stored> =
  Same<Domain, Stored> extends true
    ? true
    : { onlyInDomain: Flat<Exclude<Domain, Stored>>; onlyStored: Flat<Exclude<Stored, Domain>> };

const _accountEventsAsStored: Check<AccountEvent, StoredAccountEvent> = true;
const _transferEventsAsStored: Check<TransferEvent, StoredTransferEvent> = true;
const _currenciesAsStored: Check<Currency, StoredLedgerCurrency> = true;
