export {
  type Classification,
  type ClassifierOptions,
  confidenceMinDefault,
  IntentClassifier,
} from './classifier.js';
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
