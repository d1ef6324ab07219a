// wink-naive-bayes-text-classifier ships no types: the part of its API used here.
declare module 'wink-naive-bayes-text-classifier' {
  interface NaiveBayesTextClassifier {
    defineConfig(config: { considerOnlyPresence?: boolean; smoothingFactor?: number }): boolean;
    definePrepTasks(tasks: Array<(input: any) => any>): number;
    learn(input: string | string[], label: string): boolean;
    consolidate(): boolean;
    /** [label, log2 odds] pairs, highest first; [['unknown', 0]] when no token is known. */
    computeOdds(input: string | string[]): Array<[string, number]>;
    predict(input: string | string[]): string;
  }
  export default function winkNaiveBayesTextClassifier(): NaiveBayesTextClassifier;
}
