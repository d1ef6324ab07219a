import type { PersonalData } from '@ledger/chatbot';
import type { KycStatus } from '@ledger/contracts';
import { getAccount, listAccounts, listTransactions } from '@ledger/projection-accounts';
import { listCases } from '@ledger/projection-kyc';
import { getPack, listSubscriptions } from '@ledger/projection-packs';
import type { Kysely } from 'kysely';

/** Bounds of what one answer reads. */
const accountsMax = 50;
const subscriptionsMax = 20;

/**
 * The chatbot's personal answers from the read models, always narrowed by the caller's
 * user id (the message is never used to pick an account or a user): balances per account,
 * the latest transactions on the caller's accounts, the latest verification case (or the
 * status on the caller's own stream), the caller's pack subscriptions.
 */
export function personalReadModels(db: Kysely<any>, caller: { kycStatus: KycStatus }): PersonalData {
  const ownAccounts = async (userId: string) =>
    (await listAccounts(db, { userId, limit: accountsMax })).items;
  return {
    async accounts(userId) {
      return (await ownAccounts(userId)).map((a) => ({
        accountNumber: a.accountNumber,
        type: a.type,
        currency: a.currency,
        balance: a.balance,
        availableBalance: a.availableBalance,
      }));
    },
    async recentTransactions(userId, limit) {
      const ids = new Set((await ownAccounts(userId)).map((a) => a.id));
      if (ids.size === 0) return [];
      const { items } = await listTransactions(db, { accountIds: [...ids], limit });
      return items.map((x) => ({
        createdAt: x.createdAt,
        type: x.type,
        status: x.status,
        amount: x.amount,
        currency: x.currency,
        direction: ids.has(x.fromAccountId) ? ('out' as const) : ('in' as const),
      }));
    },
    async verification(userId) {
      // No sealed field is opened: only the case's status is read.
      const { items } = await listCases(db, { userId, limit: 1, sealers: async () => new Map() });
      return items[0]?.status ?? caller.kycStatus;
    },
    async subscriptions(userId) {
      const { items } = await listSubscriptions(db, { userId, limit: subscriptionsMax });
      const out = [];
      for (const s of items) {
        const pack = await getPack(db, s.packId);
        const account = await getAccount(db, s.accountId);
        if (pack === null || account === null || account.userId !== userId) continue;
        out.push({
          packName: pack.name,
          accountNumber: account.accountNumber,
          status: s.status,
          monthlyFee: pack.monthlyFee,
          currency: pack.currency,
          nextFeeAt: s.status === 'cancelled' ? null : s.nextFeeAt,
        });
      }
      return out;
    },
  };
}
