export {
  type Classification,
  type ClassifierOptions,
  confidenceMinDefault,
  IntentClassifier,
} from './classifier.js';
export {
  type AccountFacts,
  type ChatAnswer,
  Chatbot,
  type ChatbotPorts,
  type ChatRequest,
  type ChatSession,
  escapeText,
  type PersonalData,
  recentTransactionsMax,
  type SessionStore,
  type SubscriptionFacts,
  sessionIntentsMax,
  type TicketDesk,
  type TransactionFacts,
  unknownStreakHandoff,
} from './conversation.js';
export {
  checkKnowledgeBase,
  type HeldOutUtterance,
  type IntentEntry,
  type IntentName,
  intentNames,
  type KnowledgeBase,
  type Language,
  languages,
  loadHeldOut,
  loadKnowledgeBase,
  trainingUtterances,
} from './kb.js';
export { detectLanguage } from './language.js';
export { words } from './text.js';
