import {
  type ChatbotIntentName,
  type ChatbotLanguage,
  parseSupportEvent,
  type SupportTicketReason,
  supportEventSchemaVersion,
  supportTicketStreamId,
  ticketIntentsMax,
} from '@ledger/contracts';
import { type EventMetadata, type EventStore, WrongExpectedVersion } from '@ledger/eventstore';

/**
 * Opens a support ticket from a chatbot conversation (API.md, Chatbot): one
 * SupportTicketOpened in its own `support-ticket-<id>` stream, which the `support` read
 * model projects for staff. The id comes from the caller (the conversation keeps it), so a
 * retry of the same hand-off appends nothing and answers the same ticket.
 */

export interface OpenTicketRequest {
  ticketId: string;
  userId: string;
  sessionId: string;
  reason: SupportTicketReason;
  language: ChatbotLanguage;
  intents: readonly ChatbotIntentName[];
  now: Date;
  metadata: EventMetadata;
}

export interface OpenTicketOutcome {
  ticketId: string;
  /** Global position of the SupportTicketOpened; null when the ticket was already open. */
  position: bigint | null;
}

export async function openSupportTicket(
  context: { store: EventStore },
  request: OpenTicketRequest,
): Promise<OpenTicketOutcome> {
  const data = parseSupportEvent('SupportTicketOpened', {
    ticketId: request.ticketId,
    userId: request.userId,
    sessionId: request.sessionId,
    reason: request.reason,
    language: request.language,
    intents: request.intents.slice(-ticketIntentsMax),
    at: request.now.toISOString(),
  }).data;
  try {
    const result = await context.store.append([
      {
        streamId: supportTicketStreamId(request.ticketId),
        expectedVersion: 'no_stream',
        events: [
          {
            type: 'SupportTicketOpened',
            schemaVersion: supportEventSchemaVersion,
            data,
            metadata: { ...request.metadata, actorId: request.userId },
          },
        ],
      },
    ]);
    return { ticketId: request.ticketId, position: result.position };
  } catch (error) {
    if (error instanceof WrongExpectedVersion) return { ticketId: request.ticketId, position: null };
    throw error;
  }
}
