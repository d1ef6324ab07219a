import { migrateSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';

/**
 * Mails that were not delivered: refused for good (a 5xx reply, an unfit address) or out of
 * attempts. A row each, in the worker's own schema `mail`, keyed by the notification intent,
 * so recording one twice (a job that ran again) keeps one row. GET /api/admin/stats counts
 * them (services/api/src/stats.ts reads this table by name).
 *
 * A table, not an event: a dead letter is the state of a delivery channel, not a fact of
 * the bank. It holds no personal data (a user id, the reply code, the server's words with
 * addresses taken out), is counted with one query from any process, and can be cleared
 * once the mails are sent again, none of which the hash-chained log is for.
 */

export const mailSchema = 'mail';
export const deadLetterTable = 'dead_letters';

export const deadLetterLimits = {
  reasonLengthMax: 300,
} as const;

export interface MailDeadLetter {
  intentId: string;
  jobId: string;
  type: string;
  recipientUserId: string;
  eventId: string;
  /** The runs made, the failing one included. */
  attempts: number;
  /** Refused for good (not retried), else out of attempts. */
  permanent: boolean;
  responseCode: number | null;
  reason: string;
  failedAt: Date;
}

const migrations = {
  '0001_dead_letters': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable(deadLetterTable)
        .addColumn('intent_id', 'text', (c) => c.primaryKey())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('recipient_user_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('permanent', 'boolean', (c) => c.notNull())
        .addColumn('response_code', 'integer')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('failed_at', 'timestamptz', (c) => c.notNull())
        .execute();
    },
  },
};

/** Creates (or brings up to date) the `mail` schema; the worker runs it at start. */
export async function migrateMail(db: Kysely<any>): Promise<void> {
  await migrateSchema(db, mailSchema, migrations);
}

/** Records a dead letter; one already recorded for the intent is kept as it was. */
export async function recordDeadLetter(db: Kysely<any>, letter: MailDeadLetter): Promise<void> {
  await db
    .withSchema(mailSchema)
    .insertInto(deadLetterTable)
    .values({
      intent_id: letter.intentId,
      job_id: letter.jobId,
      type: letter.type,
      recipient_user_id: letter.recipientUserId,
      event_id: letter.eventId,
      attempts: letter.attempts,
      permanent: letter.permanent,
      response_code: letter.responseCode,
      reason: letter.reason.slice(0, deadLetterLimits.reasonLengthMax),
      failed_at: letter.failedAt,
    })
    .onConflict((oc) => oc.column('intent_id').doNothing())
    .execute();
}

/** How many dead letters there are (0 before the worker made the table). */
export async function countDeadLetters(db: Kysely<any>): Promise<number> {
  const exists = await sql<{
    table: string | null;
  }>`SELECT to_regclass('mail.dead_letters')::text AS table`.execute(db);
  if (!exists.rows[0]?.table) return 0;
  const { rows } = await sql<{ count: string }>`SELECT count(*) AS count FROM mail.dead_letters`.execute(db);
  return Number(rows[0]?.count ?? 0);
}

/** The dead letters, most recent first, at most `limit`. */
export async function listDeadLetters(db: Kysely<any>, limit = 100): Promise<MailDeadLetter[]> {
  const rows = await db
    .withSchema(mailSchema)
    .selectFrom(deadLetterTable)
    .selectAll()
    .orderBy('failed_at', 'desc')
    .limit(Math.min(Math.max(1, limit), 1000))
    .execute();
  return rows.map((r) => ({
    intentId: r.intent_id,
    jobId: r.job_id,
    type: r.type,
    recipientUserId: r.recipient_user_id,
    eventId: r.event_id,
    attempts: r.attempts,
    permanent: r.permanent,
    responseCode: r.response_code,
    reason: r.reason,
    failedAt: new Date(r.failed_at),
  }));
}
