import assert from 'node:assert/strict';
import type { DataExport, ExportReadModel, ExportReadView } from '@ledger/application';
import type { AccountBody, DataExportBody } from '@ledger/contracts';
import { isCurrency } from '@ledger/domain/ledger';
import { accountsProjection, listAccounts, listStatement } from '@ledger/projection-accounts';
import { readCheckpoint } from '@ledger/readmodel';
import type { Kysely } from 'kysely';
import { userView } from '../../plugins/auth.js';

/**
 * The accounts read model as GET /me/export reads it (@ledger/application's ExportReadModel):
 * one read-only repeatable-read transaction, so the balances, the statement lines and the
 * checkpoint they are reported at all come from the same moment of the projector's work.
 */
export function exportReadModel(db: Kysely<any>): ExportReadModel {
  return {
    snapshot: (read) =>
      db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute((trx) => read(exportReadView(trx))),
  };
}

function exportReadView(db: Kysely<any>): ExportReadView {
  return {
    position: async () => (await readCheckpoint(db, accountsProjection.name))?.position ?? 0n,
    async accountsOf(userId, limit) {
      const page = await listAccounts(db, { userId, limit });
      return { items: page.items.map(accountOf), more: page.nextCursor !== null };
    },
    async statementPage(account, page) {
      const { currency } = account;
      assert(isCurrency(currency), `read model account ${account.id} has currency ${currency}`);
      return listStatement(db, {
        accountId: account.id,
        currency,
        limit: page.limit,
        ...(page.cursor === null ? {} : { cursor: page.cursor }),
      });
    },
  };
}

/** The contract's account: the read model's row without its bookkeeping totals. */
function accountOf(view: AccountBody): AccountBody {
  return {
    id: view.id,
    accountNumber: view.accountNumber,
    userId: view.userId,
    type: view.type,
    currency: view.currency,
    status: view.status,
    balance: view.balance,
    availableBalance: view.availableBalance,
    pendingDebits: view.pendingDebits,
    pendingCredits: view.pendingCredits,
    createdAt: view.createdAt,
  };
}

/** The JSON document: notifications and consents are not kept by this bank yet. */
export function exportBody(data: DataExport): DataExportBody {
  return {
    exportedAt: data.exportedAt.toISOString(),
    position: data.position.toString(),
    profile: userView(data.user),
    accounts: data.accounts,
    accountsTruncated: data.accountsTruncated,
    statements: data.statements,
    notifications: [],
    consents: [],
    securityEvents: data.securityEvents,
    securityEventsTruncated: data.securityEventsTruncated,
  };
}

/** Content-Disposition of the export: a download named after the user (a UUID: no quoting needed). */
export const exportDisposition = (userId: string) => `attachment; filename="ledger-export-${userId}.json"`;
