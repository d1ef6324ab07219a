import { parseSupportEvent } from '@ledger/contracts';
import { migrateSchema, type Projection } from '@ledger/readmodel';
import type { Kysely } from 'kysely';
import { supportMigrations } from './migrations.js';
import type { SupportDatabase } from './schema.js';

export const supportProjectionHandles = ['SupportTicketOpened'] as const;

/**
 * Support tickets the chatbot opened, for staff (GET /api/chatbot/tickets and the
 * back-office). A ticket holds no customer text: ids, reason, language and intents.
 */
export const supportProjection: Projection = {
  name: 'support',
  version: 1,
  schema: 'support',
  handles: supportProjectionHandles,
  migrate: (db, schema) => migrateSchema(db, schema, supportMigrations),
  async apply(tx, recorded) {
    const db = tx as Kysely<SupportDatabase>;
    const event = parseSupportEvent(recorded.type, recorded.data);
    switch (event.type) {
      case 'SupportTicketOpened': {
        const d = event.data;
        // A ticket's stream is opened once (expected version no_stream): a second row for
        // one id would be a broken log, and the primary key says so.
        await db
          .insertInto('tickets')
          .values({
            id: d.ticketId,
            seq: recorded.globalPosition.toString(),
            user_id: d.userId,
            session_id: d.sessionId,
            reason: d.reason,
            language: d.language,
            intents: JSON.stringify(d.intents),
            status: 'open',
            created_at: d.at,
          })
          .execute();
        return;
      }
      default: {
        const unexpected: never = event.type;
        throw new Error(`support projection does not handle ${String(unexpected)}`);
      }
    }
  },
};
