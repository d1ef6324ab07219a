import assert from 'node:assert/strict';
import { riskRuleIds } from '@ledger/contracts';
import type { limitedTransferCodes } from '../ledger/account.js';
import { type Currency, currencies, parseAmount } from '../ledger/money.js';

/**
 * The fraud and AML rules of API.md (Transactions), as pure functions: a customer-initiated
 * debit (codes `transfer`, `external`) and what the account did before it go in, the rules
 * that fire and the strongest outcome come out. No clock (`now` is on the command), no I/O,
 * no randomness, so a decision replays with the settings in force when it was made.
 *
 * Boundaries, read from API.md's wording:
 * - "≥" is inclusive (large_amount, new_payee_large, amount_outlier's z);
 * - "more than" is strict (velocity: count > velocityCount);
 * - "within" a window includes its edge: a debit exactly velocityWindowMinutes (or 24 h)
 *   before `now` is in it, one a millisecond older is not;
 * - "within 10 % below" the threshold is [0.9 × threshold, threshold): at the threshold itself
 *   the amount is no longer below it;
 * - "after dormantDays" is strict: idle for exactly dormantDays is not yet dormant.
 */

/** API.md's rules table, in its order; the ids events record, defined once with their schema. */
export const ruleIds = riskRuleIds;
export type RuleId = (typeof ruleIds)[number];

export const isRuleId = (value: unknown): value is RuleId =>
  typeof value === 'string' && (ruleIds as readonly string[]).includes(value);

/** `shadow` records what the rule would have done and changes nothing; `off` is not evaluated. */
export const ruleModes = ['active', 'shadow', 'off'] as const;
export type RuleMode = (typeof ruleModes)[number];

export const isRuleMode = (value: unknown): value is RuleMode =>
  typeof value === 'string' && (ruleModes as readonly string[]).includes(value);

export type RuleOutcome = 'review' | 'reject';
export type EvaluationOutcome = 'allow' | RuleOutcome;

/** API.md's "default outcome" column: only a watch-list hit refuses outright. */
export const defaultRuleOutcomes: Readonly<Record<RuleId, RuleOutcome>> = {
  large_amount: 'review',
  velocity: 'review',
  structuring: 'review',
  new_payee_large: 'review',
  dormant_account: 'review',
  amount_outlier: 'review',
  sanctioned_payee: 'reject',
};

export function defaultRuleModes(): Record<RuleId, RuleMode> {
  return Object.fromEntries(ruleIds.map((id) => [id, 'active'])) as Record<RuleId, RuleMode>;
}

// Bounds. The caller bounds the context it loads; evaluation caps what it reads all the same.

/** Newest debits read from the context: more than any account makes in 90 days by hand. */
export const recentDebitsMax = 10_000;
/** Watch-list entries a policy may hold: settings refuse more, so a longer one is a bug. */
export const watchListEntriesMax = 10_000;
/** The structuring window (API.md: "within 24 h"). */
export const structuringWindowHours = 24;
/** How far below structuringThreshold an amount still counts (API.md: "within 10 %"). */
export const structuringBandPercent = 10;
/** The history amount_outlier compares against (API.md: "the account's own last 90 days"). */
export const outlierWindowDays = 90;
/** Fewer debits than this say too little about an account's habits (API.md: "≥ 20 debits"). */
export const outlierSampleMin = 20;
/** Scales a MAD to a standard deviation's units (Iglewicz and Hoaglin's modified z-score). */
export const madScaleTenThousandths = 6745n;
/** Scales a mean absolute deviation likewise, when the MAD is 0 (≈ √(π/2)). */
export const meanAbsoluteDeviationScaleTenThousandths = 12533n;

const minuteMs = 60_000;
const hourMs = 60 * minuteMs;
const dayMs = 24 * hourMs;

/** The settings' `ruleThresholds`: amounts per currency in minor units. */
export interface RuleThresholds {
  /** large_amount: one debit of at least this. */
  reviewAmountMin: Record<Currency, bigint>;
  /** velocity: more than this many outgoing transfers within the window, this one counted. */
  velocityCount: number;
  velocityWindowMinutes: number;
  /** structuring: amounts in [90 %, 100 %) of this count toward the pattern. */
  structuringThreshold: Record<Currency, bigint>;
  /** structuring: this many such transfers within 24 h, this one counted. */
  structuringCount: number;
  /** new_payee_large: a first transfer to a payee of at least this. */
  newPayeeAmountMin: Record<Currency, bigint>;
  /** dormant_account: a debit after more than this many days without one. */
  dormantDays: number;
  /** amount_outlier: a robust z-score at least this. */
  outlierZ: number;
  /** A held transfer nobody decides on is voided after this (read by the review use case). */
  reviewTimeoutHours: number;
}

export type RuleAmountName = 'reviewAmountMin' | 'structuringThreshold' | 'newPayeeAmountMin';
export const ruleAmountNames = [
  'reviewAmountMin',
  'structuringThreshold',
  'newPayeeAmountMin',
] as const satisfies readonly RuleAmountName[];

/**
 * Per currency, in major units as a director would type them: retail values about the same
 * in every currency (EUR 5 000 reviewed, 900–999.99 structuring band, 2 000 to a new payee),
 * scaled like the settings' default limits.
 */
export const defaultRuleAmountsText: Readonly<Record<Currency, Record<RuleAmountName, string>>> = {
  CHF: { reviewAmountMin: '5000.00', structuringThreshold: '1000.00', newPayeeAmountMin: '2000.00' },
  DZD: { reviewAmountMin: '750000.00', structuringThreshold: '150000.00', newPayeeAmountMin: '300000.00' },
  EUR: { reviewAmountMin: '5000.00', structuringThreshold: '1000.00', newPayeeAmountMin: '2000.00' },
  GBP: { reviewAmountMin: '5000.00', structuringThreshold: '1000.00', newPayeeAmountMin: '2000.00' },
  JPY: { reviewAmountMin: '750000', structuringThreshold: '150000', newPayeeAmountMin: '300000' },
  KWD: { reviewAmountMin: '1500.000', structuringThreshold: '300.000', newPayeeAmountMin: '600.000' },
  MAD: { reviewAmountMin: '50000.00', structuringThreshold: '10000.00', newPayeeAmountMin: '20000.00' },
  TND: { reviewAmountMin: '15000.000', structuringThreshold: '3000.000', newPayeeAmountMin: '6000.000' },
  USD: { reviewAmountMin: '5000.00', structuringThreshold: '1000.00', newPayeeAmountMin: '2000.00' },
};

/** A trusted constant (the defaults) in minor units: no user input reaches this. */
function minorOfText(text: string, currency: Currency): bigint {
  const parsed = parseAmount(text, currency);
  assert(parsed.ok, `default rule amount ${text} ${currency} is not an amount`);
  return parsed.amount;
}

export function defaultRuleThresholds(): RuleThresholds {
  const perCurrency = (name: RuleAmountName) =>
    Object.fromEntries(
      currencies.map((currency) => [currency, minorOfText(defaultRuleAmountsText[currency][name], currency)]),
    ) as Record<Currency, bigint>;
  return {
    reviewAmountMin: perCurrency('reviewAmountMin'),
    velocityCount: 10,
    velocityWindowMinutes: 60,
    structuringThreshold: perCurrency('structuringThreshold'),
    structuringCount: 3,
    newPayeeAmountMin: perCurrency('newPayeeAmountMin'),
    dormantDays: 180,
    outlierZ: 3.5,
    reviewTimeoutHours: 72,
  };
}

/**
 * One entry of the settings' `watchList`. Matching is exact after normalisation (see
 * normalizeWatchName, normalizeWatchIban); fuzzy matching (transliteration, typos, word
 * order, aliases) is out of scope: a screening provider's job, not this list's.
 */
export type WatchEntry = { name?: string; iban?: string };

/** IBANs as printed or typed: every whitespace character dropped, upper case. */
export function normalizeWatchIban(iban: string): string {
  return iban.replace(/\s+/gu, '').toUpperCase();
}

/**
 * Names: compatibility forms folded (NFKD: "ﬁ" → "fi"), accents dropped, case folded
 * (lower then upper, so "ß" and "ẞ" both become "SS"), runs of whitespace one space,
 * ends trimmed. Letters of every script are kept: a name in Arabic matches itself only.
 */
export function normalizeWatchName(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .toUpperCase()
    .replace(/\s+/gu, ' ')
    .trim();
}

export type Payee = { accountId?: string; iban?: string; name?: string };

/** How knownPayees and recentDebits name a payee: `acct:<id>` inside the bank, else `iban:<IBAN>`. */
export function payeeKey(payee: Payee): string {
  if (payee.accountId !== undefined) return `acct:${payee.accountId}`;
  assert(payee.iban !== undefined, 'a payee has an account id or an IBAN');
  return `iban:${normalizeWatchIban(payee.iban)}`;
}

export type RuleCommand = {
  code: (typeof limitedTransferCodes)[number];
  /** Minor units of `currency`, the debited account's currency. */
  amount: bigint;
  currency: Currency;
  payee: Payee;
  now: Date;
};

export type RecentDebit = { amount: bigint /** ISO 8601 */; at: string; payeeKey: string };

export type RuleContext = {
  /**
   * The account's outgoing limited debits (codes `transfer`, `external`) before this one,
   * newest last, at most 90 days old, bounded by the caller; all in the account's currency,
   * which is the command's. Only the newest recentDebitsMax are read.
   */
  recentDebits: readonly RecentDebit[];
  /** Payee keys (payeeKey) this account has paid before, ever. */
  knownPayees: ReadonlySet<string>;
  /** The account's last debit ever, ISO 8601; null if it never had one. */
  lastDebitAt: string | null;
  accountOpenedAt: string;
};

export type RulePolicy = {
  thresholds: RuleThresholds;
  modes: Readonly<Record<RuleId, RuleMode>>;
  watchList: readonly WatchEntry[];
};

export type RuleFinding = {
  ruleId: RuleId;
  mode: Exclude<RuleMode, 'off'>;
  outcome: RuleOutcome;
  /** What fired it, as text: amounts in minor units, counts, days, z. No personal data. */
  figures: Record<string, string>;
};

export type RuleEvaluation = {
  /** The strongest outcome of the active rules that fired (reject > review > allow). */
  outcome: EvaluationOutcome;
  /** Active rules that fired, in ruleIds order: the transfer's riskFlags. */
  flags: RuleId[];
  /** Shadow rules that would have fired, in ruleIds order. */
  shadow: RuleId[];
  /** One per fired rule, active or shadow, in ruleIds order. */
  findings: RuleFinding[];
};

const outcomeRank: Readonly<Record<EvaluationOutcome, number>> = { allow: 0, review: 1, reject: 2 };

/** The stricter of two outcomes. */
export const stricterOutcome = (a: EvaluationOutcome, b: EvaluationOutcome): EvaluationOutcome =>
  outcomeRank[a] >= outcomeRank[b] ? a : b;

function timeOf(iso: string, what: string): number {
  const ms = Date.parse(iso);
  assert(Number.isFinite(ms), `${what} ${JSON.stringify(iso)} is not a date`);
  return ms;
}

/** Debits at or after `sinceMs` ("within" includes the window's edge). */
function countSince(debits: readonly { ms: number }[], sinceMs: number): number {
  let count = 0;
  for (const d of debits) if (d.ms >= sinceMs) count += 1;
  return count;
}

/** [0.9 × threshold, threshold), in exact integer arithmetic. */
function inStructuringBand(amount: bigint, threshold: bigint): boolean {
  const scale = 100n;
  const below = BigInt(100 - structuringBandPercent);
  return amount * scale >= threshold * below && amount < threshold;
}

const ascending = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
const abs = (v: bigint) => (v < 0n ? -v : v);

/** Twice the median of sorted values: exact in integers, whatever the count's parity. */
function doubledMedian(sorted: readonly bigint[]): bigint {
  assert(sorted.length > 0, 'the median of nothing');
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle]!;
  return sorted.length % 2 === 1 ? 2n * upper : sorted[middle - 1]! + upper;
}

/** `numerator / denominator` as a decimal string, `places` decimals, rounded toward zero. */
function decimal(numerator: bigint, denominator: bigint, places: number): string {
  const scale = 10n ** BigInt(places);
  const scaled = (numerator * scale) / denominator;
  const sign = scaled < 0n ? '-' : '';
  const digits = abs(scaled)
    .toString()
    .padStart(places + 1, '0');
  const whole = digits.slice(0, -places);
  const fraction = digits.slice(-places).replace(/0+$/, '');
  return `${sign}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

/** Decimals kept of z and of the outlier threshold (z is compared exactly at this grain). */
const zPlaces = 4;
const zScale = 10n ** BigInt(zPlaces);

export type RobustZ = {
  /** In minor units, as decimal strings (a median of an even count may end in .5). */
  median: string;
  mad: string;
  meanAbsoluteDeviation: string;
  /** The z-score, rounded toward zero at 4 decimals, or 'Infinity'. */
  z: string;
  /** Whether z ≥ `threshold` (taken at 4 decimals), decided exactly. */
  atLeast(threshold: number): boolean;
};

/**
 * The modified z-score of `amount` against `sample` (Iglewicz and Hoaglin):
 * 0.6745 × (x − median) / MAD; when the MAD is 0 (more than half the sample at the median),
 * (x − median) / (1.2533 × mean absolute deviation from the median); when that is 0 too
 * (every value at the median), +∞ above the median, else 0. All in integers: money stays
 * bigint minor units, and z is held as a fraction (numerator / denominator), compared with
 * the threshold by cross-multiplication. Medians are kept doubled (and the MAD quadrupled)
 * so that halves stay exact.
 */
export function robustZ(amount: bigint, sample: readonly bigint[]): RobustZ {
  assert(sample.length > 0, 'a z-score needs a sample');
  const values = [...sample].sort(ascending);
  const median2 = doubledMedian(values);
  const deviations2 = values.map((v) => abs(2n * v - median2)).sort(ascending);
  const mad4 = doubledMedian(deviations2);
  const deviationSum2 = deviations2.reduce((sum, d) => sum + d, 0n);
  const count = BigInt(values.length);
  const difference2 = 2n * amount - median2;
  // z = numerator / denominator (denominator > 0), or ±∞ / 0 when there is no spread at all.
  let numerator: bigint;
  let denominator: bigint;
  if (mad4 > 0n) {
    // 0.6745 × (Δ2 / 2) / (mad4 / 4)
    numerator = madScaleTenThousandths * 2n * difference2;
    denominator = zScale * mad4;
  } else if (deviationSum2 > 0n) {
    // (Δ2 / 2) / (1.2533 × deviationSum2 / (2n))
    numerator = zScale * difference2 * count;
    denominator = meanAbsoluteDeviationScaleTenThousandths * deviationSum2;
  } else {
    numerator = difference2 > 0n ? 1n : 0n;
    denominator = 0n;
  }
  const infinite = denominator === 0n && numerator > 0n;
  return {
    median: decimal(median2, 2n, 1),
    mad: decimal(mad4, 4n, 2),
    meanAbsoluteDeviation: decimal(deviationSum2, 2n * count, zPlaces),
    z: infinite ? 'Infinity' : denominator === 0n ? '0' : decimal(numerator, denominator, zPlaces),
    atLeast(threshold) {
      const t = BigInt(Math.round(threshold * 10 ** zPlaces));
      if (infinite) return true;
      if (denominator === 0n) return t <= 0n;
      return numerator * zScale >= t * denominator;
    },
  };
}

/** The index of the first watch-list entry the payee matches, and on what; null if none. */
export function watchListMatch(
  payee: Payee,
  watchList: readonly WatchEntry[],
): { index: number; on: 'iban' | 'name' } | null {
  const iban = payee.iban === undefined ? '' : normalizeWatchIban(payee.iban);
  const name = payee.name === undefined ? '' : normalizeWatchName(payee.name);
  for (const [index, entry] of watchList.entries()) {
    // An empty value (a blank entry, a payee without one) matches nothing.
    if (iban !== '' && entry.iban !== undefined && normalizeWatchIban(entry.iban) === iban) {
      return { index, on: 'iban' };
    }
    if (name !== '' && entry.name !== undefined && normalizeWatchName(entry.name) === name) {
      return { index, on: 'name' };
    }
  }
  return null;
}

type Figures = Record<string, string>;
type Check = (input: Inputs) => Figures | null;
type Inputs = {
  command: RuleCommand;
  context: RuleContext;
  policy: RulePolicy;
  nowMs: number;
  /** The newest recentDebitsMax debits, with their times parsed. */
  debits: readonly { amount: bigint; ms: number }[];
};

/** Each rule: the figures that fired it, or null. One function per row of API.md's table. */
const checks: Readonly<Record<RuleId, Check>> = {
  large_amount: ({ command, policy }) => {
    const min = policy.thresholds.reviewAmountMin[command.currency];
    return command.amount >= min ? { amount: String(command.amount), reviewAmountMin: String(min) } : null;
  },

  velocity: ({ policy, nowMs, debits }) => {
    const { velocityCount, velocityWindowMinutes } = policy.thresholds;
    const count = countSince(debits, nowMs - velocityWindowMinutes * minuteMs) + 1;
    return count > velocityCount
      ? {
          count: String(count),
          velocityCount: String(velocityCount),
          windowMinutes: String(velocityWindowMinutes),
        }
      : null;
  },

  // The transfer that completes the pattern, and each in the band after it, is flagged; an
  // amount outside the band is not part of it, whatever the account did before.
  structuring: ({ command, policy, nowMs, debits }) => {
    const threshold = policy.thresholds.structuringThreshold[command.currency];
    const { structuringCount } = policy.thresholds;
    if (!inStructuringBand(command.amount, threshold)) return null;
    const sinceMs = nowMs - structuringWindowHours * hourMs;
    let count = 1;
    for (const d of debits) if (d.ms >= sinceMs && inStructuringBand(d.amount, threshold)) count += 1;
    return count >= structuringCount
      ? {
          count: String(count),
          structuringCount: String(structuringCount),
          amount: String(command.amount),
          structuringThreshold: String(threshold),
        }
      : null;
  },

  new_payee_large: ({ command, context, policy }) => {
    const min = policy.thresholds.newPayeeAmountMin[command.currency];
    if (command.amount < min || context.knownPayees.has(payeeKey(command.payee))) return null;
    return { amount: String(command.amount), newPayeeAmountMin: String(min) };
  },

  dormant_account: ({ context, policy, nowMs }) => {
    const { dormantDays } = policy.thresholds;
    const since = context.lastDebitAt ?? context.accountOpenedAt;
    const idleMs = nowMs - timeOf(since, context.lastDebitAt === null ? 'accountOpenedAt' : 'lastDebitAt');
    if (idleMs <= dormantDays * dayMs) return null;
    return {
      idleDays: String(Math.floor(idleMs / dayMs)),
      dormantDays: String(dormantDays),
      since: context.lastDebitAt === null ? 'opened' : 'last_debit',
    };
  },

  amount_outlier: ({ command, policy, nowMs, debits }) => {
    const sinceMs = nowMs - outlierWindowDays * dayMs;
    const sample = debits.filter((d) => d.ms >= sinceMs).map((d) => d.amount);
    if (sample.length < outlierSampleMin) return null;
    const { outlierZ } = policy.thresholds;
    const stats = robustZ(command.amount, sample);
    if (!stats.atLeast(outlierZ)) return null;
    return {
      amount: String(command.amount),
      median: stats.median,
      mad: stats.mad,
      meanAbsoluteDeviation: stats.meanAbsoluteDeviation,
      z: stats.z,
      outlierZ: String(outlierZ),
      sampleSize: String(sample.length),
    };
  },

  // The entry's index, not the name: findings go into the log, names are personal data.
  sanctioned_payee: ({ command, policy }) => {
    const match = watchListMatch(command.payee, policy.watchList);
    return match === null ? null : { matchedOn: match.on, watchListEntry: String(match.index) };
  },
};

function assertPolicy(policy: RulePolicy): void {
  const t = policy.thresholds;
  for (const [name, value] of Object.entries({
    velocityCount: t.velocityCount,
    velocityWindowMinutes: t.velocityWindowMinutes,
    structuringCount: t.structuringCount,
    dormantDays: t.dormantDays,
  })) {
    assert(Number.isSafeInteger(value) && value >= 0, `ruleThresholds.${name} ${value} is not a count`);
  }
  assert(Number.isFinite(t.outlierZ), `ruleThresholds.outlierZ ${t.outlierZ} is not a number`);
  assert(
    policy.watchList.length <= watchListEntriesMax,
    `watch list of ${policy.watchList.length} entries, more than ${watchListEntriesMax}`,
  );
}

/**
 * Runs every rule that is not off against one debit. Active rules that fire set the outcome
 * and the flags; shadow rules only leave a finding. A programmer's error (an amount not > 0,
 * a date that does not parse, thresholds settings would have refused) is an assertion.
 */
export function evaluateRules(
  command: RuleCommand,
  context: RuleContext,
  policy: RulePolicy,
): RuleEvaluation {
  assert(command.amount > 0n, `a debit of ${command.amount}`);
  const nowMs = command.now.getTime();
  assert(Number.isFinite(nowMs), 'now is not a date');
  assertPolicy(policy);

  let debits: { amount: bigint; ms: number }[] | undefined;
  const inputs: Inputs = {
    command,
    context,
    policy,
    nowMs,
    // Parsed once, and only if a rule that reads the history is evaluated.
    get debits() {
      debits ??= context.recentDebits
        .slice(-recentDebitsMax)
        .map((d) => ({ amount: d.amount, ms: timeOf(d.at, 'recentDebits[].at') }));
      return debits;
    },
  };

  const evaluation: RuleEvaluation = { outcome: 'allow', flags: [], shadow: [], findings: [] };
  for (const ruleId of ruleIds) {
    const mode = policy.modes[ruleId];
    if (mode === 'off') continue;
    const figures = checks[ruleId](inputs);
    if (figures === null) continue;
    const outcome = defaultRuleOutcomes[ruleId];
    evaluation.findings.push({ ruleId, mode, outcome, figures });
    switch (mode) {
      case 'active':
        evaluation.flags.push(ruleId);
        evaluation.outcome = stricterOutcome(evaluation.outcome, outcome);
        break;
      case 'shadow':
        evaluation.shadow.push(ruleId);
        break;
      default: {
        const unexpected: never = mode;
        throw new assert.AssertionError({ message: `unknown rule mode ${JSON.stringify(unexpected)}` });
      }
    }
  }
  return evaluation;
}
