import assert from 'node:assert/strict';
import { hasAtMostDecimals, isAccountEventType, ruleThresholdBounds } from '@ledger/contracts';
import {
  evaluateRules,
  isRuleId,
  type Payee,
  type RuleId,
  type RuleMode,
  type RulePolicy,
  type RuleThresholds,
  ruleIds,
  type WatchEntry,
} from '@ledger/domain';
import {
  type Account,
  type AccountState,
  type Currency,
  currencies,
  type DebitActivity,
  evolveAccount,
  exponentOf,
  formatAmount,
  fromMinorUnits,
  initialAccountState,
  isCurrency,
  isLimitedCode,
  parseAmount,
  type TransferEvent,
} from '@ledger/domain/ledger';
import { validateSettings } from '@ledger/domain/settings';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import { parseAccountEvent, parseTransferEvent } from '../ledger/index.js';

/**
 * Backtest of one fraud rule (`pnpm ledger rules:backtest`): replays the whole log and
 * answers how many customer debits (codes `transfer`, `external`) the rule, with the
 * thresholds given, would have held, with the first few as examples, next to what the
 * rules in force at the time actually recorded. It reads and writes nothing else.
 *
 * One pass over $all in pages of backtestPageSize. Memory: one page, plus each account's
 * folded state (evolveAccount, as the ledger folds it; its debit activity is bounded by the
 * domain's recentDebitsKept and knownPayeesKept), plus the examples.
 *
 * What the decider saw. It judges a create against the debit account as of the version the
 * append expects, so BEFORE the transfer's own legs; and the transfer's event is written
 * last in that append (runTransferCommand), after its legs. So when a debit leg that makes
 * a limited debit comes by (AccountLegPending, or AccountLegPosted of a single-phase
 * transfer: releasedPending "0"), the account's debit activity before it is kept under the
 * transfer's id, and the transfer's own event, a few positions later, is judged against it.
 * A refusal (TransferRefused) writes no leg: it is judged against the account as it is at
 * that point of the log.
 *
 * What is counted (`attempts`): every TransferPosted and TransferPending of code
 * `transfer` or `external` (a reversal is code `reversal`, never judged), and every
 * TransferRefused of those codes except the refusals the decider makes before it judges
 * (preJudgeRefusals: same_account, currency_mismatch, account_frozen, account_closed):
 * a debit refused for its limits, its funds, KYC or a watch-list hit was judged first, and
 * an attempt is what velocity and structuring are about. Creates refused without a record
 * (a 400, 404, 403, 409) never reach the log and are not seen.
 *
 * The rule under test runs `active`, every other rule `off`, so `fired` is exactly that
 * rule's. The history columns read what each event recorded (`risk`, `review`), under the
 * settings of its own time: `flagged` (an active rule fired), `shadow`, `held` (held for
 * review for this rule), `refused` (a watch-list refusal naming this rule).
 */

/** Events read per round trip. */
export const backtestPageSize = 1000;
/** Default and most examples kept. */
export const backtestExamplesDefault = 10;
export const backtestExamplesMax = 100;
/** How often (events read) onProgress is told by default. */
export const backtestProgressEvery = 100_000;

/** Refusals the decider makes before judging a create: no rule saw these. */
export const preJudgeRefusals: ReadonlySet<string> = new Set([
  'same_account',
  'currency_mismatch',
  'account_frozen',
  'account_closed',
]);

/** Which thresholds each rule reads (sanctioned_payee reads the watch list). */
export const ruleThresholdNames: Readonly<Record<RuleId, readonly BacktestThresholdName[]>> = {
  large_amount: ['reviewAmountMin'],
  velocity: ['velocityCount', 'velocityWindowMinutes'],
  structuring: ['structuringThreshold', 'structuringCount'],
  new_payee_large: ['newPayeeAmountMin'],
  dormant_account: ['dormantDays'],
  amount_outlier: ['outlierZ'],
  sanctioned_payee: [],
};

const amountNames = ['reviewAmountMin', 'structuringThreshold', 'newPayeeAmountMin'] as const;
const countNames = ['velocityCount', 'velocityWindowMinutes', 'structuringCount', 'dormantDays'] as const;
type AmountName = (typeof amountNames)[number];
type CountName = (typeof countNames)[number];
/** The thresholds a rule reads (reviewTimeoutHours is how long a hold waits, not a rule's). */
export type BacktestThresholdName = AmountName | CountName | 'outlierZ';
export const backtestThresholdNames: readonly BacktestThresholdName[] = [
  ...amountNames,
  ...countNames,
  'outlierZ',
];

export type BacktestParsed<T> = { ok: true; value: T } | { ok: false; message: string };

const isAmountName = (name: string): name is AmountName => (amountNames as readonly string[]).includes(name);
const isCountName = (name: string): name is CountName => (countNames as readonly string[]).includes(name);

/** A copy deep enough that an override never changes the thresholds it started from. */
function copyThresholds(t: RuleThresholds): RuleThresholds {
  return {
    ...t,
    reviewAmountMin: { ...t.reviewAmountMin },
    structuringThreshold: { ...t.structuringThreshold },
    newPayeeAmountMin: { ...t.newPayeeAmountMin },
  };
}

/**
 * One `--threshold name=value` over `thresholds` (not changed): amounts per currency in
 * major units (`reviewAmountMin.EUR=3000.00`), counts as whole numbers
 * (`velocityCount=5`), `outlierZ=3.0`; each within the bounds the settings accept.
 */
export function applyThresholdOverride(
  thresholds: RuleThresholds,
  text: string,
): BacktestParsed<RuleThresholds> {
  const equals = text.indexOf('=');
  if (equals <= 0) return { ok: false, message: `--threshold ${text}: expected name=value` };
  const name = text.slice(0, equals).trim();
  const value = text.slice(equals + 1).trim();
  const [base, currency, ...rest] = name.split('.');
  const known = backtestThresholdNames.join(', ');
  const next = copyThresholds(thresholds);
  if (base !== undefined && isAmountName(base)) {
    if (currency === undefined || rest.length > 0) {
      return {
        ok: false,
        message: `--threshold ${name}: an amount is per currency, e.g. ${base}.EUR=3000.00`,
      };
    }
    if (!isCurrency(currency)) {
      return {
        ok: false,
        message: `--threshold ${name}: unknown currency ${currency} (one of ${currencies.join(', ')})`,
      };
    }
    const parsed = parseAmount(value, currency);
    if (!parsed.ok) {
      return {
        ok: false,
        message: `--threshold ${name}=${value}: not an amount of ${currency} greater than 0 (${parsed.reason})`,
      };
    }
    next[base][currency] = parsed.amount;
    return { ok: true, value: next };
  }
  if (currency !== undefined)
    return { ok: false, message: `--threshold ${name}: unknown threshold (${known})` };
  if (isCountName(name)) {
    const { min, max } = ruleThresholdBounds[name];
    const count = /^[0-9]{1,9}$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isInteger(count) || count < min || count > max) {
      return { ok: false, message: `--threshold ${name}=${value}: a whole number from ${min} to ${max}` };
    }
    next[name] = count;
    return { ok: true, value: next };
  }
  if (name === 'outlierZ') {
    const { min, max, decimalsMax } = ruleThresholdBounds.outlierZ;
    const z = /^[0-9]{1,3}(\.[0-9]+)?$/.test(value) ? Number(value) : Number.NaN;
    // "3.0" is 3: trailing zeros are no extra precision.
    const decimals = value.includes('.') ? value.split('.')[1]!.replace(/0+$/, '').length : 0;
    if (
      !Number.isFinite(z) ||
      z < min ||
      z > max ||
      decimals > decimalsMax ||
      !hasAtMostDecimals(z, decimalsMax)
    ) {
      return {
        ok: false,
        message: `--threshold ${name}=${value}: a number from ${min} to ${max} with at most ${decimalsMax} decimals`,
      };
    }
    next.outlierZ = z;
    return { ok: true, value: next };
  }
  return { ok: false, message: `--threshold ${name}: unknown threshold (${known})` };
}

/** A watch list as a file holds it (JSON: an array of {name?, iban?}), checked as the settings check theirs. */
export function parseWatchList(json: string): BacktestParsed<WatchEntry[]> {
  let input: unknown;
  try {
    input = JSON.parse(json);
  } catch (error) {
    return { ok: false, message: `not JSON: ${(error as Error).message}` };
  }
  if (!Array.isArray(input)) return { ok: false, message: 'expected a JSON array of {"name"?, "iban"?}' };
  const checked = validateSettings({ limits: {}, watchList: input });
  if (!checked.ok) {
    const errors = checked.errors.slice(0, 5).map((e) => `${e.path}: ${e.message}`);
    return { ok: false, message: errors.join('; ') };
  }
  return { ok: true, value: [...checked.settings.watchList] };
}

export interface BacktestOptions {
  ruleId: RuleId;
  thresholds: RuleThresholds;
  watchList: readonly WatchEntry[];
  /** How many fired debits to keep as examples, the first ones in the log (0–backtestExamplesMax). */
  examplesMax: number;
  onProgress?: (progress: { events: number; position: bigint }) => void;
  /** Events between two onProgress calls (default backtestProgressEvery). */
  progressEvery?: number;
  /** Events per read (default backtestPageSize). */
  pageSize?: number;
}

/** How the log recorded a create: posted, a hold, held for review, or refused (with its code). */
export type RecordedOutcome = 'posted' | 'pending' | 'held' | `refused:${string}`;

export interface BacktestExample {
  transferId: string;
  debitAccountId: string;
  code: 'transfer' | 'external';
  at: string;
  /** Minor units. */
  amount: bigint;
  currency: Currency;
  recorded: RecordedOutcome;
  /** Whether the rule was among the active rules that fired when it was made. */
  flaggedInHistory: boolean;
  /** The rule's figures (rules.ts), amounts in minor units. */
  figures: Record<string, string>;
}

export interface BacktestReport {
  ruleId: RuleId;
  /** Last global position read: the history covered ends there (0 for an empty log). */
  position: bigint;
  /** Events read. */
  events: number;
  /** Customer debits judged (see the module's comment). */
  attempts: number;
  /** Refused before any rule saw them (preJudgeRefusals): not in `attempts`. */
  notJudged: number;
  /** Attempts the rule would have held (or refused: sanctioned_payee). */
  fired: number;
  /** Debit accounts with at least one fired attempt. */
  accounts: number;
  /** What the log recorded about the same attempts, under the settings of their time. */
  history: {
    /** Attempts that carry the rules' decision (made since the rules exist, with rules given). */
    judged: number;
    /** The rule was active and fired. */
    flagged: number;
    /** The rule was in shadow mode and would have fired. */
    shadow: number;
    /** Held for review with this rule among the reasons. */
    held: number;
    /** Refused by a watch-list hit of this rule. */
    refused: number;
  };
  /** Fired now and flagged then; fired now only; flagged then only. */
  firedAndFlagged: number;
  firedOnly: number;
  flaggedOnly: number;
  examples: BacktestExample[];
}

type Creation = Extract<TransferEvent, { type: 'TransferPosted' | 'TransferPending' | 'TransferRefused' }>;
const creationTypes: ReadonlySet<string> = new Set(['TransferPosted', 'TransferPending', 'TransferRefused']);

/** What the rules read of an account: its debit activity and when it was opened. */
type Before = { activity: DebitActivity; openedAt: string };

function recordedOutcome(event: Creation): RecordedOutcome {
  switch (event.type) {
    case 'TransferPosted':
      return 'posted';
    case 'TransferPending':
      return event.data.review === undefined ? 'pending' : 'held';
    case 'TransferRefused':
      return `refused:${event.data.rejection.code}`;
  }
}

/** Whether an account event makes a limited debit (rules.ts's "a debit when made"). */
function makesLimitedDebit(event: RecordedEvent, data: Record<string, unknown>): boolean {
  if (event.type !== 'AccountLegPending' && event.type !== 'AccountLegPosted') return false;
  if (data.side !== 'debit' || typeof data.code !== 'string') return false;
  if (!isLimitedCode(data.code as never)) return false;
  return event.type === 'AccountLegPending' || data.releasedPending === '0';
}

export async function backtestRule(
  store: Pick<EventStore, 'readAll'>,
  options: BacktestOptions,
): Promise<BacktestReport> {
  const { ruleId } = options;
  assert(isRuleId(ruleId), `unknown rule ${String(ruleId)}`);
  assert(
    Number.isSafeInteger(options.examplesMax) &&
      options.examplesMax >= 0 &&
      options.examplesMax <= backtestExamplesMax,
    `examplesMax ${options.examplesMax} is not from 0 to ${backtestExamplesMax}`,
  );
  const pageSize = options.pageSize ?? backtestPageSize;
  const progressEvery = options.progressEvery ?? backtestProgressEvery;
  const modes = Object.fromEntries(ruleIds.map((id) => [id, id === ruleId ? 'active' : 'off'])) as Record<
    RuleId,
    RuleMode
  >;
  const policy: RulePolicy = { thresholds: options.thresholds, modes, watchList: options.watchList };

  const accounts = new Map<string, AccountState>();
  /** Debit activity before a created transfer's debit leg, until its transfer event comes by. */
  const before = new Map<string, Before>();
  const firedAccounts = new Set<string>();
  const report: BacktestReport = {
    ruleId,
    position: 0n,
    events: 0,
    attempts: 0,
    notJudged: 0,
    fired: 0,
    accounts: 0,
    history: { judged: 0, flagged: 0, shadow: 0, held: 0, refused: 0 },
    firedAndFlagged: 0,
    firedOnly: 0,
    flaggedOnly: 0,
    examples: [],
  };

  const judge = (event: Creation, context: Before) => {
    const { data } = event;
    assert(data.code === 'transfer' || data.code === 'external');
    report.attempts += 1;
    const payee: Payee =
      data.beneficiary === undefined
        ? { accountId: data.creditAccountId }
        : { iban: data.beneficiary.iban, name: data.beneficiary.name };
    const amount = fromMinorUnits(data.amount);
    const evaluation = evaluateRules(
      { code: data.code, amount, currency: data.currency, payee, now: new Date(data.at) },
      {
        recentDebits: context.activity.recent,
        knownPayees: context.activity.knownPayees,
        lastDebitAt: context.activity.lastDebitAt,
        accountOpenedAt: context.openedAt,
      },
      policy,
    );
    const fired = evaluation.flags.includes(ruleId);
    const { risk } = data;
    const flagged = risk?.flags.includes(ruleId) ?? false;
    if (risk !== undefined) report.history.judged += 1;
    if (flagged) report.history.flagged += 1;
    if (risk?.shadow.includes(ruleId)) report.history.shadow += 1;
    if (event.type === 'TransferPending' && event.data.review?.reasons.includes(ruleId))
      report.history.held += 1;
    if (
      event.type === 'TransferRefused' &&
      event.data.rejection.code === 'transfer_rejected' &&
      event.data.rejection.rules.includes(ruleId)
    )
      report.history.refused += 1;
    if (fired && flagged) report.firedAndFlagged += 1;
    else if (fired) report.firedOnly += 1;
    else if (flagged) report.flaggedOnly += 1;
    if (!fired) return;
    report.fired += 1;
    firedAccounts.add(data.debitAccountId);
    if (report.examples.length < options.examplesMax) {
      const finding = evaluation.findings.find((f) => f.ruleId === ruleId);
      assert(finding !== undefined, `${ruleId} fired without a finding`);
      report.examples.push({
        transferId: data.transferId,
        debitAccountId: data.debitAccountId,
        code: data.code,
        at: data.at,
        amount,
        currency: data.currency,
        recorded: recordedOutcome(event),
        flaggedInHistory: flagged,
        figures: { ...finding.figures },
      });
    }
  };

  const apply = (event: RecordedEvent) => {
    if (isAccountEventType(event.type)) {
      const parsed = parseAccountEvent(event);
      const { accountId } = parsed.data;
      const state = accounts.get(accountId) ?? initialAccountState();
      if (
        state.status !== 'none' &&
        makesLimitedDebit(event, parsed.data as unknown as Record<string, unknown>)
      ) {
        assert('transferId' in parsed.data);
        const account: Account = state;
        before.set(parsed.data.transferId, { activity: account.debitActivity, openedAt: account.openedAt });
      }
      accounts.set(accountId, evolveAccount(state, parsed));
      return;
    }
    if (!creationTypes.has(event.type)) return;
    const parsed = parseTransferEvent(event) as Creation;
    const { data } = parsed;
    if (data.code !== 'transfer' && data.code !== 'external') return;
    if (parsed.type === 'TransferRefused') {
      if (preJudgeRefusals.has(parsed.data.rejection.code)) {
        report.notJudged += 1;
        return;
      }
      const account = accounts.get(data.debitAccountId);
      assert(
        account !== undefined && account.status !== 'none',
        `TransferRefused ${data.transferId} at ${event.globalPosition} debits unopened account ${data.debitAccountId}`,
      );
      judge(parsed, { activity: account.debitActivity, openedAt: account.openedAt });
      return;
    }
    const context = before.get(data.transferId);
    assert(
      context !== undefined,
      `${parsed.type} ${data.transferId} at ${event.globalPosition} without its debit leg before it`,
    );
    before.delete(data.transferId);
    judge(parsed, context);
  };

  let after = 0n;
  let nextProgress = progressEvery;
  for (;;) {
    const page = await store.readAll({ after, limit: pageSize });
    for (const event of page) {
      apply(event);
      after = event.globalPosition;
      report.events += 1;
      if (report.events >= nextProgress) {
        nextProgress += progressEvery;
        options.onProgress?.({ events: report.events, position: after });
      }
    }
    if (page.length < pageSize) break;
  }
  report.position = after;
  report.accounts = firedAccounts.size;
  return report;
}

/** Keys of the rules' figures that are money, in minor units (rules.ts). */
const moneyFigures: ReadonlySet<string> = new Set([
  'amount',
  'reviewAmountMin',
  'structuringThreshold',
  'newPayeeAmountMin',
  'median',
  'mad',
  'meanAbsoluteDeviation',
]);

/** A decimal string of minor units (maybe with decimals of its own: a median) in major units. */
export function minorTextToMajor(text: string, currency: Currency): string {
  const match = /^(-?)([0-9]+)(?:\.([0-9]+))?$/.exec(text);
  if (match === null) return text;
  const [, sign, integer, fraction = ''] = match;
  const exponent = exponentOf(currency);
  const digits = integer!.padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent).replace(/^0+(?=[0-9])/, '');
  let decimals = digits.slice(digits.length - exponent) + fraction;
  while (decimals.length > exponent && decimals.endsWith('0')) decimals = decimals.slice(0, -1);
  return decimals === '' ? `${sign}${whole}` : `${sign}${whole}.${decimals}`;
}

export interface BacktestExampleView {
  transferId: string;
  debitAccountId: string;
  code: string;
  at: string;
  /** Major units. */
  amount: string;
  currency: string;
  recorded: string;
  flaggedInHistory: boolean;
  /** Money in major units of `currency`; counts, days and z as the rule wrote them. */
  figures: Record<string, string>;
}

export interface BacktestReportView {
  ruleId: string;
  /** The thresholds the rule read, amounts per currency in major units. */
  thresholds: Record<string, string | Record<string, string>>;
  watchListEntries: number;
  position: string;
  events: number;
  attempts: number;
  notJudged: number;
  fired: number;
  accounts: number;
  history: BacktestReport['history'];
  firedAndFlagged: number;
  firedOnly: number;
  flaggedOnly: number;
  examples: BacktestExampleView[];
}

/** The thresholds a rule reads, as text: amounts per currency in major units. */
export function ruleThresholdsView(
  ruleId: RuleId,
  thresholds: RuleThresholds,
): Record<string, string | Record<string, string>> {
  const view: Record<string, string | Record<string, string>> = {};
  for (const name of ruleThresholdNames[ruleId]) {
    if (isAmountName(name)) {
      view[name] = Object.fromEntries(
        currencies.map((currency) => [currency, formatAmount(thresholds[name][currency], currency)]),
      );
    } else view[name] = String(thresholds[name]);
  }
  return view;
}

/** The report as JSON: counts as numbers, the position and amounts as decimal strings. */
export function backtestReportView(
  report: BacktestReport,
  options: Pick<BacktestOptions, 'thresholds' | 'watchList'>,
): BacktestReportView {
  return {
    ruleId: report.ruleId,
    thresholds: ruleThresholdsView(report.ruleId, options.thresholds),
    watchListEntries: options.watchList.length,
    position: report.position.toString(),
    events: report.events,
    attempts: report.attempts,
    notJudged: report.notJudged,
    fired: report.fired,
    accounts: report.accounts,
    history: { ...report.history },
    firedAndFlagged: report.firedAndFlagged,
    firedOnly: report.firedOnly,
    flaggedOnly: report.flaggedOnly,
    examples: report.examples.map((e) => ({
      transferId: e.transferId,
      debitAccountId: e.debitAccountId,
      code: e.code,
      at: e.at,
      amount: formatAmount(e.amount, e.currency),
      currency: e.currency,
      recorded: e.recorded,
      flaggedInHistory: e.flaggedInHistory,
      figures: Object.fromEntries(
        Object.entries(e.figures).map(([key, value]) => [
          key,
          moneyFigures.has(key) ? minorTextToMajor(value, e.currency) : value,
        ]),
      ),
    })),
  };
}
