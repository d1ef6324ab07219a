import { z } from 'zod';
import { ledgerListLimits } from './ledger.js';
import { freeText } from './text.js';

/**
 * Support (API.md, Chatbot): the chatbot's intents, the support ticket it opens when the
 * customer asks for a person (or after two messages it could not place), and the HTTP
 * bodies of /api/chatbot. A ticket carries no text the customer typed: the log keeps no
 * personal data in clear (issue #15), only who, when, why, and the intents of the talk.
 */

export const chatbotIntentNames = [
  'greeting',
  'balance',
  'recent_transactions',
  'transfer_howto',
  'transfer_status',
  'external_transfer_howto',
  'packs',
  'fees',
  'kyc_status',
  'kyc_howto',
  'two_factor_howto',
  'password_reset',
  'card_lost',
  'fraud_report',
  'contact',
  'complaint',
  'handoff',
  'thanks',
  'goodbye',
  'unknown',
] as const;
export type ChatbotIntentName = (typeof chatbotIntentNames)[number];

export const chatbotLanguages = ['en', 'fr'] as const;
export type ChatbotLanguage = (typeof chatbotLanguages)[number];

export const chatbotMessageLengthMax = 1000;
/** The intents a ticket carries: the conversation's latest, at most this many. */
export const ticketIntentsMax = 20;

export const supportEventSchemaVersion = 1;

/** One stream per ticket: opened once, whatever the retries. */
export const supportTicketStreamId = (ticketId: string) => `support-ticket-${ticketId}`;

/** `asked`: the customer asked for a person; `unknown_twice`: two messages in a row not understood. */
export const supportTicketReasons = ['asked', 'unknown_twice'] as const;
export type SupportTicketReason = (typeof supportTicketReasons)[number];

const isoTime = z.iso.datetime();

export const supportEventSchemas = {
  SupportTicketOpened: z.object({
    ticketId: z.uuid(),
    userId: z.uuid(),
    /** The chatbot conversation it came from. */
    sessionId: z.uuid(),
    reason: z.enum(supportTicketReasons),
    language: z.enum(chatbotLanguages),
    /** The conversation's intents, oldest first (what the customer was after). */
    intents: z.array(z.enum(chatbotIntentNames)).max(ticketIntentsMax),
    at: isoTime,
  }),
} as const;

export type SupportEventType = keyof typeof supportEventSchemas;
export type SupportEvent = {
  [K in SupportEventType]: { type: K; data: z.infer<(typeof supportEventSchemas)[K]> };
}[SupportEventType];

export function parseSupportEvent(type: string, data: unknown): SupportEvent {
  const schema = supportEventSchemas[type as SupportEventType];
  if (!schema) throw new RangeError(`not a support event type: ${type}`);
  return { type, data: schema.parse(data) } as SupportEvent;
}

// ---------------------------------------------------------------- HTTP bodies

export const chatbotMessageBodySchema = z.strictObject({
  message: freeText({ max: chatbotMessageLengthMax, multiLine: true }),
  sessionId: z.uuid().optional(),
});

export const chatbotReplySchema = z
  .object({
    sessionId: z.uuid(),
    reply: z.string(),
    intent: z.enum(chatbotIntentNames),
    confidence: z.number().min(0).max(1),
    suggestions: z.array(z.string()),
    language: z.enum(chatbotLanguages),
    /** Not in API.md's minimum: the support ticket this message opened (or had opened), else null. */
    ticketId: z.uuid().nullable(),
  })
  .meta({ id: 'ChatbotReply' });
export type ChatbotReply = z.infer<typeof chatbotReplySchema>;

export const supportTicketSchema = z
  .object({
    id: z.uuid(),
    userId: z.uuid(),
    sessionId: z.uuid(),
    reason: z.enum(supportTicketReasons),
    language: z.enum(chatbotLanguages),
    intents: z.array(z.enum(chatbotIntentNames)),
    status: z.enum(['open']),
    createdAt: z.string(),
    position: z.string(),
  })
  .meta({ id: 'SupportTicket' });
export type SupportTicketView = z.infer<typeof supportTicketSchema>;

export const supportTicketPageSchema = z.object({
  items: z.array(supportTicketSchema),
  nextCursor: z.string().nullable(),
});

export const listSupportTicketsQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(ledgerListLimits.limitMin)
    .max(ledgerListLimits.limitMax)
    .default(ledgerListLimits.limitDefault),
  cursor: z.string().max(128).optional(),
  userId: z.uuid().optional(),
});
