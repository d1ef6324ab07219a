import type { Currency } from '@ledger/domain/ledger';
import { benefitsApply, type PackBenefits, type Subscription } from '@ledger/domain/packs';
import { SingleFlight } from '../single-flight.js';

/**
 * This process's recent reads of which pack an account has: the transfer use cases read
 * the debit account's benefits on every limited transfer, so a read is kept for
 * benefitsMaxAgeMs (another process's subscribe, change or suspension applies here within
 * it; this process's own at once, by forget). Bounded: the oldest entries go first.
 */

export const benefitsMaxAgeMs = 1_000;
export const benefitsCacheSizeMax = 10_000;

export interface AccountPack {
  subscription: Subscription;
  benefits: PackBenefits;
  currency: Currency;
}

export class PackBenefitsCache {
  readonly #entries = new Map<string, { value: AccountPack | null; readAt: number }>();
  /** Reads in flight, by account: a burst on an account not read recently shares one. */
  readonly #reading = new SingleFlight<string, { value: AccountPack | null; readAt: number }>();
  readonly #sizeMax: number;

  constructor(sizeMax = benefitsCacheSizeMax) {
    this.#sizeMax = sizeMax;
  }

  /** The benefits that apply at `now` (null: none), read by `load` when not recent. */
  async get(
    accountId: string,
    now: Date,
    load: () => Promise<AccountPack | null>,
  ): Promise<{ benefits: PackBenefits; currency: Currency } | null> {
    const startedAt = performance.now();
    let entry = this.#entries.get(accountId);
    if (entry === undefined || startedAt - entry.readAt >= benefitsMaxAgeMs) {
      entry = await this.#reading.run(accountId, async () => {
        const read = { value: await load(), readAt: startedAt };
        this.#entries.delete(accountId);
        this.#entries.set(accountId, read);
        if (this.#entries.size > this.#sizeMax) {
          const oldest = this.#entries.keys().next().value;
          if (oldest !== undefined) this.#entries.delete(oldest);
        }
        return read;
      });
    }
    const { value } = entry;
    if (value === null || !benefitsApply(value.subscription, now)) return null;
    return { benefits: value.benefits, currency: value.currency };
  }

  /** This process changed the account's pack: its next read reads the store. */
  forget(accountId: string): void {
    this.#entries.delete(accountId);
    this.#reading.forget(accountId);
  }
}
