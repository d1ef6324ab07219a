import { type Kysely, sql } from 'kysely';

/** One undelivered notification mail, as GET /api/admin/dead-letters shows it. */
export interface NotificationDeadLetterView {
  intentId: string;
  type: string;
  recipientUserId: string;
  attempts: number;
  permanent: boolean;
  responseCode: number | null;
  reason: string;
  failedAt: string;
}

/**
 * The worker's `mail.dead_letters` (services/worker/src/mail/dead-letters.ts), most recent
 * first, at most `limit`; none until the worker has made that table. Read by name, as
 * stats.ts counts them: the API does not depend on the worker. No personal data is in it.
 */
export async function listNotificationDeadLetters(
  db: Kysely<any>,
  limit: number,
): Promise<NotificationDeadLetterView[]> {
  const { rows: exists } = await sql<{
    table: string | null;
  }>`SELECT to_regclass('mail.dead_letters')::text AS table`.execute(db);
  if (!exists[0]?.table) return [];
  const { rows } = await sql<{
    intent_id: string;
    type: string;
    recipient_user_id: string;
    attempts: number;
    permanent: boolean;
    response_code: number | null;
    reason: string;
    failed_at: Date | string;
  }>`SELECT intent_id, type, recipient_user_id, attempts, permanent, response_code, reason, failed_at
     FROM mail.dead_letters ORDER BY failed_at DESC, intent_id LIMIT ${limit}`.execute(db);
  return rows.map((r) => ({
    intentId: r.intent_id,
    type: r.type,
    recipientUserId: r.recipient_user_id,
    attempts: r.attempts,
    permanent: r.permanent,
    responseCode: r.response_code,
    reason: r.reason,
    failedAt: new Date(r.failed_at).toISOString(),
  }));
}
