import { readCheckpoint } from '@ledger/readmodel';
import type { Kysely } from 'kysely';
import { accountsProjection } from './projection.js';
import { type TrialBalanceTotals, trialBalanceTotals } from './queries.js';

/**
 * The accounts read model as the trial balance reads it: @ledger/application's
 * LedgerTotalsReadModel port, met structurally (this package does not depend on
 * application). The composition root (the API's app, the benchmark) makes one per database
 * and hands it to `trialBalance`.
 */
export interface LedgerTotalsSnapshot {
  totals: TrialBalanceTotals[];
  /** The accounts projection's checkpoint: the last global position the totals include. */
  position: bigint;
}

export function ledgerTotalsReadModel(db: Kysely<any>): { snapshot(): Promise<LedgerTotalsSnapshot> } {
  return {
    // One repeatable-read snapshot for the totals and the position they stand at: the
    // projector may commit a batch between two separate reads.
    snapshot: () =>
      db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => ({
          totals: await trialBalanceTotals(trx),
          position: (await readCheckpoint(trx, accountsProjection.name))?.position ?? 0n,
        })),
  };
}
