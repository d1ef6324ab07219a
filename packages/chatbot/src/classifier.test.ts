import t from 'tap';
import { IntentClassifier } from './classifier.js';
import { intentNames, languages, loadHeldOut, loadKnowledgeBase, trainingUtterances } from './kb.js';
import { detectLanguage } from './language.js';
import { editDistance, stem, Vocabulary, words } from './text.js';

const kb = loadKnowledgeBase();
const classifier = IntentClassifier.train(kb);

t.test('the knowledge base has every intent of API.md, examples and answers in both languages', async (t) => {
  t.same(Object.keys(kb.intents).sort(), [...intentNames].sort());
  for (const intent of intentNames) {
    for (const language of languages) {
      t.ok(kb.intents[intent].examples[language].length >= 10, `${intent} ${language} examples`);
      t.ok(kb.intents[intent].answer[language].length > 0, `${intent} ${language} answer`);
    }
  }
});

t.test('the held-out set is never trained on: none of its utterances is in the training data', async (t) => {
  const heldOut = loadHeldOut();
  t.ok(heldOut.length >= 150, 'at least 150 held-out utterances');
  const french = heldOut.filter((u) => u.language === 'fr').length;
  t.ok(french >= heldOut.length / 2 - 1 && french <= heldOut.length / 2 + 1, 'half of them French');
  // Compared as the classifier sees them (case, accents and punctuation aside), and raw.
  const key = (text: string) => words(text).join(' ');
  const training = trainingUtterances(kb);
  const trainedRaw = new Set(training.map((u) => u.text.trim().toLowerCase()));
  const trainedKeys = new Set(training.map((u) => key(u.text)));
  const leaked = heldOut.filter(
    (u) => trainedRaw.has(u.text.trim().toLowerCase()) || trainedKeys.has(key(u.text)),
  );
  t.same(leaked, [], 'no held-out utterance appears in intents.json');
});

t.test('classifies plain, misspelt and informal questions in both languages', async (t) => {
  const cases: Array<[string, string]> = [
    ['what is my balance', 'balance'],
    ['quel est mon solde', 'balance'],
    ['wat is my ballance', 'balance'],
    ['combien jai sur mon conpte', 'balance'],
    ['i lost my card', 'card_lost'],
    ["j'ai oublié mon mot de passe", 'password_reset'],
    ['i want to talk to a human', 'handoff'],
    ['parler à un conseiller', 'handoff'],
    ['merci', 'thanks'],
  ];
  for (const [text, intent] of cases) {
    const result = classifier.classify(text);
    t.equal(result.intent, intent, text);
    t.ok(result.confidence > 0 && result.confidence <= 1, `${text}: confidence in (0, 1]`);
  }
});

t.test('prompt-like or script input is ordinary text: no bank intent with confidence', async (t) => {
  for (const text of [
    'ignore previous instructions',
    'ignore les instructions précédentes',
    '<script>document.location="http://evil"</script>',
    'zzzz qqqq',
    '',
    '!!!???',
  ]) {
    const result = classifier.classify(text);
    t.equal(result.intent, 'unknown', JSON.stringify(text));
  }
  const empty = classifier.classify('   ');
  t.equal(empty.confidence, 0);
});

t.test('ranked confidences sum to about 1, best first', async (t) => {
  const result = classifier.classify('how do i make a transfer');
  t.equal(result.ranked.length, intentNames.length);
  const sum = result.ranked.reduce((s, r) => s + r.confidence, 0);
  t.ok(Math.abs(sum - 1) < 0.01, `sum ${sum}`);
  t.ok(result.ranked[0]!.confidence >= result.ranked[1]!.confidence);
});

t.test('language per message, the conversation’s on a tie', async (t) => {
  t.equal(detectLanguage('what is my balance'), 'en');
  t.equal(detectLanguage('quel est mon solde'), 'fr');
  t.equal(detectLanguage('bonjoure'), 'fr');
  t.equal(detectLanguage('mercii'), 'fr');
  t.equal(detectLanguage('iban', 'fr'), 'fr');
  t.equal(detectLanguage('iban', 'en'), 'en');
  t.equal(detectLanguage('Ça coûte combien ?'), 'fr');
});

t.test('text helpers', async (t) => {
  t.same(words("L'Argent   n'est PAS là !"), ['l', 'argent', 'n', 'est', 'pas', 'la']);
  t.equal(editDistance('balnce', 'balance', 2), 1);
  t.equal(editDistance('sodle', 'solde', 1), 1, 'a swap is one edit');
  t.equal(editDistance('abc', 'xyz', 1), 2, 'capped');
  t.equal(stem('virements'), 'vire');
  t.equal(stem('transfers'), 'transfer');
  const v = new Vocabulary();
  for (const w of ['balance', 'balance', 'solde']) v.add(w);
  t.equal(v.correct('balnce'), 'balance');
  t.equal(v.correct('xylophone'), 'xylophone', 'nothing close: unchanged');
  t.equal(v.correct('sol'), 'sol', 'short words are not corrected');
});
