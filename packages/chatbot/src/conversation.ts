import { type Classification, IntentClassifier } from './classifier.js';
import { type IntentName, type KnowledgeBase, type Language, loadKnowledgeBase } from './kb.js';
import { detectLanguage } from './language.js';

/**
 * The conversation use case (API.md, Chatbot): one message in, one reply out. Everything
 * it reads or writes goes through ports the composition root wires (services/api): the
 * session store, the caller's OWN read models (asked by the caller's user id only, never by
 * anything the message says), and the support desk that opens tickets.
 *
 * Replies are built from the knowledge base's texts and the caller's data only. The
 * message itself is never put into a reply, so prompt-like or script input ("ignore
 * previous instructions", `<script>`) is just text to classify; every data value placed in
 * a template (a pack name staff typed, an account number) is HTML-escaped.
 */

export interface ChatSession {
  id: string;
  userId: string;
  language: Language;
  /** Messages in a row classified `unknown`. */
  unknownStreak: number;
  /** The conversation's intents, oldest first, the latest `sessionIntentsMax` only. */
  intents: IntentName[];
  /** The support ticket this conversation opened, if it did. */
  ticketId: string | null;
  turns: number;
}

export const sessionIntentsMax = 20;
/** `unknown` this many times in a row hands the conversation over to staff. */
export const unknownStreakHandoff = 2;
export const recentTransactionsMax = 5;
const suggestionsMax = 4;

export interface SessionStore {
  /** The caller's session by id, or null: unknown, expired, or another user's. */
  find(userId: string, sessionId: string, now: Date): Promise<ChatSession | null>;
  /** A new session of the caller (the store bounds how many a user keeps, and for how long). */
  create(userId: string, language: Language, now: Date): Promise<ChatSession>;
  save(session: ChatSession, now: Date): Promise<void>;
}

export interface AccountFacts {
  accountNumber: string | null;
  type: string;
  currency: string;
  balance: string;
  availableBalance: string;
}

export interface TransactionFacts {
  createdAt: string;
  /** The transfer code: transfer, deposit, withdrawal, external, fee, reversal. */
  type: string;
  status: string;
  amount: string;
  currency: string;
  /** Seen from the caller's accounts: money out of one of them, or into one. */
  direction: 'in' | 'out';
}

export interface SubscriptionFacts {
  packName: string;
  accountNumber: string | null;
  status: string;
  monthlyFee: string;
  currency: string;
  nextFeeAt: string | null;
}

/** The caller's own read models; every method takes the caller's id and nothing else. */
export interface PersonalData {
  accounts(userId: string): Promise<AccountFacts[]>;
  /** Newest first, at most `limit`. */
  recentTransactions(userId: string, limit: number): Promise<TransactionFacts[]>;
  /** The latest verification's status (`none` when there is none). */
  verification(userId: string): Promise<string>;
  subscriptions(userId: string): Promise<SubscriptionFacts[]>;
}

export interface TicketDesk {
  open(request: {
    ticketId: string;
    userId: string;
    sessionId: string;
    reason: 'asked' | 'unknown_twice';
    language: Language;
    intents: IntentName[];
    now: Date;
  }): Promise<void>;
}

export interface ChatbotPorts {
  sessions: SessionStore;
  personal: PersonalData;
  tickets: TicketDesk;
  newId(): string;
}

export interface ChatRequest {
  userId: string;
  message: string;
  sessionId?: string | undefined;
  now: Date;
}

export interface ChatAnswer {
  sessionId: string;
  reply: string;
  intent: IntentName;
  confidence: number;
  suggestions: string[];
  language: Language;
  ticketId: string | null;
}

const htmlEscapes: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
};

/**
 * HTML-escapes a data value placed into a reply (markup characters and double quotes: a
 * client shows replies as text, or in an element or a double-quoted attribute).
 */
export function escapeText(value: string): string {
  return value.replace(/[&<>"]/g, (c) => htmlEscapes[c]!);
}

/** `{name}` placeholders filled with escaped values; a missing value leaves an empty string. */
export function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-zA-Z]+)\}/g, (_, name: string) => escapeText(values[name] ?? ''));
}

/** The last four characters of an account number, enough for its owner to recognise it. */
export function maskAccountNumber(accountNumber: string | null): string {
  if (accountNumber === null) return '…';
  return `…${accountNumber.replace(/\s+/g, '').slice(-4)}`;
}

const day = (iso: string | null) => (iso === null ? '' : iso.slice(0, 10));

export class Chatbot {
  constructor(
    readonly kb: KnowledgeBase,
    readonly classifier: IntentClassifier,
    private readonly ports: ChatbotPorts,
  ) {}

  /** Trained from packages/chatbot/kb at start-up (about a second on two cores). */
  static create(
    ports: ChatbotPorts,
    kb: KnowledgeBase = loadKnowledgeBase(),
    classifier?: IntentClassifier,
  ): Chatbot {
    return new Chatbot(kb, classifier ?? IntentClassifier.train(kb), ports);
  }

  async answer(request: ChatRequest): Promise<ChatAnswer> {
    const { userId, now } = request;
    const found =
      request.sessionId === undefined ? null : await this.ports.sessions.find(userId, request.sessionId, now);
    const session = found ?? (await this.ports.sessions.create(userId, detectLanguage(request.message), now));
    const language = detectLanguage(request.message, session.language);
    const classification = this.classifier.classify(request.message);
    let intent = classification.intent;
    session.unknownStreak = intent === 'unknown' ? session.unknownStreak + 1 : 0;
    session.intents = [...session.intents, intent].slice(-sessionIntentsMax);

    let reply: string;
    let suggestions: string[];
    if (intent === 'handoff' || session.unknownStreak >= unknownStreakHandoff) {
      const reason = intent === 'handoff' ? 'asked' : 'unknown_twice';
      reply = await this.handOff(session, reason, language, now);
      intent = 'handoff';
      suggestions = [];
      session.unknownStreak = 0;
    } else if (intent === 'unknown') {
      suggestions = this.clarifyingSuggestions(classification, language);
      reply = `${this.kb.intents.unknown.answer[language]} ${suggestions.join(' · ')}`;
    } else {
      reply = await this.answerFor(intent, userId, language);
      suggestions = this.kb.intents[intent].related
        .map((r) => this.kb.intents[r].suggestion[language])
        .filter((s) => s !== '');
    }

    session.language = language;
    session.turns += 1;
    await this.ports.sessions.save(session, now);
    return {
      sessionId: session.id,
      reply,
      intent,
      confidence: classification.confidence,
      suggestions,
      language,
      ticketId: session.ticketId,
    };
  }

  /** Opens the conversation's ticket, once: asked again, the same ticket is named. */
  private async handOff(
    session: ChatSession,
    reason: 'asked' | 'unknown_twice',
    language: Language,
    now: Date,
  ): Promise<string> {
    const entry = this.kb.intents.handoff;
    const templates = entry.templates?.[language] ?? {};
    if (session.ticketId !== null) {
      return fill(templates.already ?? entry.answer[language], { ticket: session.ticketId });
    }
    const ticketId = this.ports.newId();
    await this.ports.tickets.open({
      ticketId,
      userId: session.userId,
      sessionId: session.id,
      reason,
      language,
      intents: session.intents,
      now,
    });
    session.ticketId = ticketId;
    const template =
      reason === 'asked' ? entry.answer[language] : (templates.unknown ?? entry.answer[language]);
    return fill(template, { ticket: ticketId });
  }

  /** The best guesses (when any is plausible) or the most asked intents, then a person. */
  private clarifyingSuggestions(classification: Classification, language: Language): string[] {
    const notOffered = new Set<IntentName>(['unknown', 'greeting', 'thanks', 'goodbye', 'handoff']);
    const guesses = classification.ranked
      .filter((r) => !notOffered.has(r.intent) && r.confidence >= 0.1)
      .slice(0, suggestionsMax - 1)
      .map((r) => r.intent);
    const intents = guesses.length > 0 ? [...guesses, 'handoff' as const] : this.kb.intents.unknown.related;
    return intents.map((i) => this.kb.intents[i].suggestion[language]).filter((s) => s !== '');
  }

  private async answerFor(intent: IntentName, userId: string, language: Language): Promise<string> {
    const entry = this.kb.intents[intent];
    const t = entry.templates?.[language] ?? {};
    const personal = this.ports.personal;
    const lines = (header: string | undefined, body: string[], none: string | undefined) =>
      body.length === 0
        ? (none ?? entry.answer[language])
        : [header ?? entry.answer[language], ...body].join('\n');
    switch (intent) {
      case 'balance': {
        const accounts = await personal.accounts(userId);
        const body = accounts.map((a) =>
          fill(t.line ?? '', {
            account: maskAccountNumber(a.accountNumber),
            type: a.type,
            balance: a.balance,
            available: a.availableBalance,
            currency: a.currency,
          }),
        );
        return lines(t.header, body, t.none);
      }
      case 'recent_transactions': {
        const transactions = await personal.recentTransactions(userId, recentTransactionsMax);
        const body = transactions.map((x) =>
          fill(t.line ?? '', {
            date: day(x.createdAt),
            direction: t[x.direction] ?? x.direction,
            amount: x.amount,
            currency: x.currency,
            kind: x.type,
            status: x.status,
          }),
        );
        return lines(t.header, body, t.none);
      }
      case 'transfer_status': {
        const transfers = (await personal.recentTransactions(userId, recentTransactionsMax)).filter(
          (x) => x.direction === 'out' && (x.type === 'transfer' || x.type === 'external'),
        );
        const body = transfers.slice(0, 3).map((x) =>
          fill(t.line ?? '', {
            date: day(x.createdAt),
            amount: x.amount,
            currency: x.currency,
            status: t[x.status] ?? x.status,
          }),
        );
        return lines(t.header, body, t.none);
      }
      case 'packs': {
        const subscriptions = await personal.subscriptions(userId);
        const body = subscriptions.map((s) =>
          fill(t.line ?? '', {
            pack: s.packName,
            account: maskAccountNumber(s.accountNumber),
            status: t[s.status] ?? s.status,
            fee: s.monthlyFee,
            currency: s.currency,
            nextFee: day(s.nextFeeAt),
          }),
        );
        return lines(t.header, body, t.none);
      }
      case 'fees': {
        const due = (await personal.subscriptions(userId)).filter((s) => s.nextFeeAt !== null);
        const body = due.map((s) =>
          fill(t.line ?? '', {
            fee: s.monthlyFee,
            currency: s.currency,
            pack: s.packName,
            nextFee: day(s.nextFeeAt),
          }),
        );
        return [entry.answer[language], ...body].join('\n');
      }
      case 'kyc_status': {
        const status = await personal.verification(userId);
        return fill(t.line ?? '{status}', { status: t[status] ?? status });
      }
      default:
        return entry.answer[language];
    }
  }
}
