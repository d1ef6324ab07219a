import winkNaiveBayes from 'wink-naive-bayes-text-classifier';
import { type IntentName, intentNames, type KnowledgeBase, trainingUtterances } from './kb.js';
import { charGrams, stem, stopWords, Vocabulary, words } from './text.js';

export interface Classification {
  intent: IntentName;
  /** 0–1: the share of the best intent among all (a softmax of the classifier's odds). */
  confidence: number;
  /** Every intent, best first, with its confidence. */
  ranked: Array<{ intent: IntentName; confidence: number }>;
}

export interface ClassifierOptions {
  /** Below this, the answer is a clarifying question (intent `unknown`) with suggestions. */
  confidenceMin?: number;
  /** How sharp the softmax over the odds is (per known feature). */
  temperature?: number;
}

export const confidenceMinDefault = 0.3;
const temperatureDefault = 1;

/**
 * Naive Bayes (wink-naive-bayes-text-classifier) trained at start-up from the knowledge
 * base's examples and suggestions, over three kinds of features of each message:
 * - `w:` the word's stem, after typo correction against the training vocabulary;
 * - `b:` pairs of consecutive stems ("mot passe", "how much");
 * - `c:` character 4-grams of each word, so an uncorrected typo still shares most of them.
 * Stop words are left out of `w:` and `b:` but still carry their character grams.
 */
export class IntentClassifier {
  private constructor(
    private readonly model: ReturnType<typeof winkNaiveBayes>,
    private readonly vocabulary: Vocabulary,
    private readonly options: Required<ClassifierOptions>,
    private readonly knownStems = new Set<string>(),
  ) {}

  static train(kb: KnowledgeBase, options: ClassifierOptions = {}): IntentClassifier {
    const vocabulary = new Vocabulary();
    const utterances = trainingUtterances(kb);
    for (const u of utterances) for (const w of words(u.text)) vocabulary.add(w);
    const model = winkNaiveBayes();
    model.defineConfig({ considerOnlyPresence: true, smoothingFactor: 0.5 });
    const classifier = new IntentClassifier(model, vocabulary, {
      confidenceMin: options.confidenceMin ?? confidenceMinDefault,
      temperature: options.temperature ?? temperatureDefault,
    });
    for (const u of utterances) {
      const features = classifier.features(u.text);
      for (const f of features) if (f.startsWith('w:')) classifier.knownStems.add(f);
      model.learn(features, u.intent);
    }
    model.consolidate();
    return classifier;
  }

  /** The features of a text (exposed for tests). */
  features(text: string): string[] {
    const corrected = words(text).map((w) => this.vocabulary.correct(w));
    const stems = corrected.filter((w) => !stopWords.has(w)).map(stem);
    const features = stems.map((s) => `w:${s}`);
    for (let i = 1; i < stems.length; i++) features.push(`b:${stems[i - 1]}_${stems[i]}`);
    for (const w of corrected) for (const g of charGrams(w)) features.push(`c:${g}`);
    return features;
  }

  classify(text: string): Classification {
    const features = this.features(text);
    const odds = this.model.computeOdds(features);
    const known = new Map<string, number>(odds.filter(([label]) => label !== 'unknown' || odds.length > 1));
    if (known.size === 0 || features.length === 0) {
      return {
        intent: 'unknown',
        confidence: 0,
        ranked: intentNames.map((intent) => ({ intent, confidence: 0 })),
      };
    }
    // Odds grow with the number of features: scale them so confidence means the same for
    // a two-word and a twenty-word message.
    const scale = this.options.temperature / Math.sqrt(features.length);
    const best = Math.max(...known.values());
    const weights = intentNames.map((intent) => {
      const o = known.get(intent);
      return [intent, o === undefined ? 0 : Math.exp((o - best) * scale)] as const;
    });
    const total = weights.reduce((sum, [, w]) => sum + w, 0);
    const ranked = weights
      .map(([intent, w]) => ({ intent, confidence: w / total }))
      .sort((a, b) => b.confidence - a.confidence);
    // Character grams alone can make a confident guess of words never seen ("script" shares
    // four grams with "subscription"): confidence shrinks with the share of the message's
    // words the training set knows (after typo correction).
    const stems = features.filter((f) => f.startsWith('w:'));
    const coverage =
      stems.length === 0 ? 0.5 : stems.filter((f) => this.knownStems.has(f)).length / stems.length;
    const top = ranked[0]!;
    const confidence = top.confidence * coverage;
    const confident = confidence >= this.options.confidenceMin;
    return {
      intent: confident ? top.intent : 'unknown',
      confidence: round(confidence),
      ranked: ranked.map((r) => ({ intent: r.intent, confidence: round(r.confidence) })),
    };
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;
