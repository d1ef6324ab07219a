/**
 * Support chatbot (issue #21): intent accuracy over the held-out set.
 *
 *   pnpm bench:chatbot
 *
 * Trains the classifier from packages/chatbot/kb/intents.json exactly as the API does at
 * start-up, then classifies every utterance of packages/chatbot/kb/heldout.json (never
 * learnt from: a test checks it), and detects its language. Prints the accuracy per
 * intent and per language, the confusion (expected → predicted, counts), and the misses.
 *
 * The last line of stdout is one JSON object. Target: accuracy ≥ 0.90.
 */
import {
  detectLanguage,
  IntentClassifier,
  intentNames,
  loadHeldOut,
  loadKnowledgeBase,
} from '@ledger/chatbot';
import { log, note } from './common.js';

const target = 0.9;

const kb = loadKnowledgeBase();
let t0 = performance.now();
const classifier = IntentClassifier.train(kb);
const trainMs = performance.now() - t0;
const heldOut = loadHeldOut();

const confusion = new Map<string, Map<string, number>>();
const misses: string[] = [];
let correct = 0;
let languageCorrect = 0;
const byLanguage = { en: { n: 0, correct: 0 }, fr: { n: 0, correct: 0 } };
t0 = performance.now();
for (const u of heldOut) {
  const result = classifier.classify(u.text);
  const row = confusion.get(u.intent) ?? new Map<string, number>();
  row.set(result.intent, (row.get(result.intent) ?? 0) + 1);
  confusion.set(u.intent, row);
  byLanguage[u.language].n++;
  if (result.intent === u.intent) {
    correct++;
    byLanguage[u.language].correct++;
  } else {
    misses.push(`  ${u.intent} → ${result.intent} (${result.confidence}) ${JSON.stringify(u.text)}`);
  }
  if (detectLanguage(u.text) === u.language) languageCorrect++;
}
const classifyMs = (performance.now() - t0) / heldOut.length;
note(`trained in ${Math.round(trainMs)} ms; ${classifyMs.toFixed(2)} ms per message`);

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
log(`held-out utterances: ${heldOut.length} (en ${byLanguage.en.n}, fr ${byLanguage.fr.n})`);
log('');
log('intent                    n  correct  accuracy  confused with');
const perIntent: Record<string, number> = {};
for (const intent of intentNames) {
  const row = confusion.get(intent) ?? new Map<string, number>();
  const n = [...row.values()].reduce((a, b) => a + b, 0);
  const ok = row.get(intent) ?? 0;
  perIntent[intent] = n === 0 ? 0 : Math.round((ok / n) * 1000) / 1000;
  const others = [...row]
    .filter(([predicted]) => predicted !== intent)
    .map(([predicted, count]) => `${predicted} ×${count}`)
    .join(', ');
  log(
    `${intent.padEnd(24)} ${String(n).padStart(2)}  ${String(ok).padStart(7)}  ${pct(n === 0 ? 0 : ok / n).padStart(8)}  ${others}`,
  );
}
log('');
log('misses (expected → predicted (confidence) text):');
for (const m of misses) log(m);
log('');
const accuracy = correct / heldOut.length;
log(
  `accuracy ${pct(accuracy)} (${correct}/${heldOut.length}); en ${pct(byLanguage.en.correct / byLanguage.en.n)}, fr ${pct(byLanguage.fr.correct / byLanguage.fr.n)}; language detected ${pct(languageCorrect / heldOut.length)}; target ≥ ${pct(target)}`,
);
const confusionJson = Object.fromEntries(
  [...confusion].map(([expected, row]) => [expected, Object.fromEntries(row)]),
);
log(
  JSON.stringify({
    accuracy: Math.round(accuracy * 1000) / 1000,
    n: heldOut.length,
    correct,
    accuracyEn: Math.round((byLanguage.en.correct / byLanguage.en.n) * 1000) / 1000,
    accuracyFr: Math.round((byLanguage.fr.correct / byLanguage.fr.n) * 1000) / 1000,
    languageAccuracy: Math.round((languageCorrect / heldOut.length) * 1000) / 1000,
    trainMs: Math.round(trainMs),
    classifyMsPerMessage: Math.round(classifyMs * 100) / 100,
    target,
    perIntent,
    confusion: confusionJson,
  }),
);
if (accuracy < target) process.exitCode = 1;
