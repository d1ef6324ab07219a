import type { ChatSession, IntentName, Language, SessionStore } from '@ledger/chatbot';
import { migrateSchema } from '@ledger/readmodel';
import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Chatbot conversations (API.md, Chatbot: "kept, bounded, expiring"): rows in the
 * `chatbot` schema, beside the read models, so every API replica sees the same session.
 * A session expires after `sessionIdleMs` without a message; a user keeps at most
 * `sessionsPerUserMax` (the oldest goes); expired rows are swept, a bounded batch at a
 * time, whenever a session starts. Nothing here is a record: the log keeps the tickets.
 */

export const chatbotSchema = 'chatbot';
export const sessionIdleMs = 30 * 60 * 1000;
export const sessionsPerUserMax = 5;
const sweepBatchMax = 100;

export const chatbotMigrations: Record<string, Migration> = {
  '0001_sessions': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('unknown_streak', 'integer', (c) => c.notNull())
        .addColumn('intents', 'jsonb', (c) => c.notNull())
        .addColumn('ticket_id', 'uuid')
        .addColumn('turns', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('sessions_user_idx')
        .on('sessions')
        .columns(['user_id', 'created_at'])
        .execute();
      await db.schema.createIndex('sessions_expires_idx').on('sessions').column('expires_at').execute();
    },
  },
};

type Row = {
  id: string;
  user_id: string;
  language: string;
  unknown_streak: number;
  intents: IntentName[];
  ticket_id: string | null;
  turns: number;
};

const sessionOf = (row: Row): ChatSession => ({
  id: row.id,
  userId: row.user_id,
  language: row.language as Language,
  unknownStreak: row.unknown_streak,
  intents: row.intents,
  ticketId: row.ticket_id,
  turns: row.turns,
});

/** Sessions in PostgreSQL; the schema is migrated on first use (the API starts with the database down). */
export function postgresSessions(db: Kysely<any>, newId: () => string): SessionStore {
  let migrated: Promise<void> | undefined;
  const ready = () => {
    migrated ??= migrateSchema(db, chatbotSchema, chatbotMigrations).catch((error: unknown) => {
      migrated = undefined;
      throw error;
    });
    return migrated;
  };
  const t = () => db.withSchema(chatbotSchema);
  const expiry = (now: Date) => new Date(now.getTime() + sessionIdleMs).toISOString();
  return {
    async find(userId, sessionId, now) {
      await ready();
      const row = await t()
        .selectFrom('sessions')
        .select([
          sql<string>`id::text`.as('id'),
          sql<string>`user_id::text`.as('user_id'),
          'language',
          'unknown_streak',
          'intents',
          sql<string | null>`ticket_id::text`.as('ticket_id'),
          'turns',
        ])
        .where('id', '=', sessionId)
        .where('user_id', '=', userId)
        .where('expires_at', '>', now.toISOString())
        .executeTakeFirst();
      return row === undefined ? null : sessionOf(row as Row);
    },
    async create(userId, language, now) {
      await ready();
      const session: ChatSession = {
        id: newId(),
        userId,
        language,
        unknownStreak: 0,
        intents: [],
        ticketId: null,
        turns: 0,
      };
      await db.transaction().execute(async (tx) => {
        const s = tx.withSchema(chatbotSchema);
        await s
          .deleteFrom('sessions')
          .where(
            'id',
            'in',
            s
              .selectFrom('sessions')
              .select('id')
              .where('expires_at', '<=', now.toISOString())
              .limit(sweepBatchMax),
          )
          .execute();
        // Keep the user's newest sessionsPerUserMax - 1, then add this one.
        await s
          .deleteFrom('sessions')
          .where('user_id', '=', userId)
          .where(
            'id',
            'not in',
            s
              .selectFrom('sessions')
              .select('id')
              .where('user_id', '=', userId)
              .orderBy('created_at', 'desc')
              .limit(sessionsPerUserMax - 1),
          )
          .execute();
        await s
          .insertInto('sessions')
          .values({
            id: session.id,
            user_id: userId,
            language,
            unknown_streak: 0,
            intents: JSON.stringify([]),
            ticket_id: null,
            turns: 0,
            created_at: now.toISOString(),
            expires_at: expiry(now),
          })
          .execute();
      });
      return session;
    },
    async save(session, now) {
      await ready();
      await t()
        .updateTable('sessions')
        .set({
          language: session.language,
          unknown_streak: session.unknownStreak,
          intents: JSON.stringify(session.intents),
          ticket_id: session.ticketId,
          turns: session.turns,
          expires_at: expiry(now),
        })
        .where('id', '=', session.id)
        .where('user_id', '=', session.userId)
        .execute();
    },
  };
}
