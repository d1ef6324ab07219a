import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  type ChatbotIntentName as IntentName,
  chatbotIntentNames as intentNames,
  type ChatbotLanguage as Language,
  chatbotLanguages as languages,
} from '@ledger/contracts';

/** API.md, Chatbot: the closed lists of intents and languages, as the contracts define them. */
export { type IntentName, intentNames, type Language, languages };

type PerLanguage<T> = Record<Language, T>;

export interface IntentEntry {
  /** What the bot offers as a suggestion for this intent (also learnt as an example). */
  suggestion: PerLanguage<string>;
  /** Intents offered as suggestions after this one's answer. */
  related: IntentName[];
  examples: PerLanguage<string[]>;
  answer: PerLanguage<string>;
  /** Named message templates ({name} placeholders) for answers built from the user's data. */
  templates?: PerLanguage<Record<string, string>>;
}

export interface KnowledgeBase {
  version: number;
  intents: Record<IntentName, IntentEntry>;
}

export interface HeldOutUtterance {
  text: string;
  intent: IntentName;
  language: Language;
}

const kbDirectory = fileURLToPath(new URL('../kb/', import.meta.url));

const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');

/** Checks the knowledge base's shape: a broken data file stops start-up, loudly. */
export function checkKnowledgeBase(value: unknown): KnowledgeBase {
  assert.ok(typeof value === 'object' && value !== null, 'knowledge base: not an object');
  const kb = value as KnowledgeBase;
  assert.equal(typeof kb.version, 'number', 'knowledge base: version');
  assert.deepEqual(Object.keys(kb.intents).sort(), [...intentNames].sort(), 'knowledge base: intents');
  for (const name of intentNames) {
    const entry = kb.intents[name];
    assert.ok(
      Array.isArray(entry.related) &&
        entry.related.every((r) => (intentNames as readonly string[]).includes(r)),
      `${name}.related: intent names`,
    );
    for (const language of languages) {
      assert.equal(typeof entry.suggestion[language], 'string', `${name}.suggestion.${language}`);
      assert.equal(typeof entry.answer[language], 'string', `${name}.answer.${language}`);
      const examples = entry.examples[language];
      assert.ok(
        Array.isArray(examples) && examples.length >= 5 && examples.every((e) => typeof e === 'string'),
        `${name}.examples.${language}: at least five strings`,
      );
      if (entry.templates !== undefined) {
        assert.ok(isStringRecord(entry.templates[language]), `${name}.templates.${language}`);
      }
    }
  }
  return kb;
}

/** packages/chatbot/kb/intents.json, checked. */
export function loadKnowledgeBase(path = `${kbDirectory}intents.json`): KnowledgeBase {
  return checkKnowledgeBase(JSON.parse(readFileSync(path, 'utf8')));
}

/** packages/chatbot/kb/heldout.json: for the benchmark and its test only, never for training. */
export function loadHeldOut(path = `${kbDirectory}heldout.json`): HeldOutUtterance[] {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { utterances: HeldOutUtterance[] };
  for (const u of parsed.utterances) {
    assert.ok(typeof u.text === 'string' && u.text.length > 0, 'held-out text');
    assert.ok((intentNames as readonly string[]).includes(u.intent), `held-out intent ${u.intent}`);
    assert.ok((languages as readonly string[]).includes(u.language), `held-out language ${u.language}`);
  }
  return parsed.utterances;
}

/** Every utterance the classifier learns from: the examples and the suggestions. */
export function trainingUtterances(
  kb: KnowledgeBase,
): Array<{ text: string; intent: IntentName; language: Language }> {
  const out: Array<{ text: string; intent: IntentName; language: Language }> = [];
  for (const intent of intentNames) {
    const entry = kb.intents[intent];
    for (const language of languages) {
      for (const text of entry.examples[language]) out.push({ text, intent, language });
      if (entry.suggestion[language] !== '') out.push({ text: entry.suggestion[language], intent, language });
    }
  }
  return out;
}
