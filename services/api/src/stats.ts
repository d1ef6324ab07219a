import type { EventStore } from '@ledger/eventstore';
import { type CurrencyStats, currencyStats } from '@ledger/projection-accounts';
import { type UserStats, userStats } from '@ledger/projection-users';
import { readCheckpoints } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';

/** GET /api/admin/stats, as the read models answer it. */
export interface AdminStats {
  currencies: CurrencyStats[];
  users: UserStats;
  projections: { name: string; lagPositions: number }[];
  deadLetters: { notifications: number };
}

/**
 * Notification mails not delivered (refused for good, or out of attempts): the rows of the
 * worker's `mail.dead_letters` (services/worker/src/mail/dead-letters.ts), 0 until the worker
 * has made that table.
 */
async function notificationDeadLetters(db: Kysely<any>): Promise<number> {
  const { rows } = await sql<{
    table: string | null;
  }>`SELECT to_regclass('mail.dead_letters')::text AS table`.execute(db);
  if (!rows[0]?.table) return 0;
  const counted = await sql<{ count: string }>`SELECT count(*) AS count FROM mail.dead_letters`.execute(db);
  return Number(counted.rows[0]?.count ?? 0);
}

/** Midnight UTC of `now`'s day: "today" of the stats. */
export function utcDayStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/**
 * The bank's figures (API.md, Admin: GET /stats), one bounded query per part: the money per
 * currency (one aggregate over the accounts and transactions models), the users (one over the
 * users model), and each checkpoint's lag behind the head of the log (as /health/ready
 * computes it: head minus checkpoint, 0 when caught up). The parts are read one after the
 * other, not in one snapshot: each may be a moment apart from the others.
 */
export async function adminStats(db: Kysely<any>, store: EventStore, now: Date): Promise<AdminStats> {
  const [currencies, users, head, checkpoints, deadLetters] = await Promise.all([
    currencyStats(db, { dayStart: utcDayStart(now) }),
    userStats(db),
    store.headPosition(),
    readCheckpoints(db),
    notificationDeadLetters(db),
  ]);
  return {
    currencies,
    users,
    projections: checkpoints
      .map((c) => ({
        name: c.name,
        // As /health/ready reports it: a number (lags are far below 2^53).
        lagPositions: Number(head > c.position ? head - c.position : 0n),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    deadLetters: { notifications: deadLetters },
  };
}
