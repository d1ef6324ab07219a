import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  applyThresholdOverride,
  type BacktestReportView,
  backtestExamplesDefault,
  backtestExamplesMax,
  backtestReportView,
  backtestRule,
  loadSettings,
  parseWatchList,
  ruleThresholdNames,
  SettingsCache,
  settingsVersionText,
} from '@ledger/application';
import {
  defaultRuleThresholds,
  isRuleId,
  type RuleThresholds,
  ruleIds,
  type WatchEntry,
} from '@ledger/domain';
import { type CommandIo, type LedgerCommand, openReadOnlyStore, UsageError } from './cli.js';

/**
 * `pnpm ledger rules:backtest --rule <id> [--threshold name=value ...]`: how many customer
 * debits of the whole history one fraud rule would have held with these thresholds (the
 * settings in force, overridden), with the first ones as examples, next to what was
 * recorded at the time. Reads the log once (@ledger/application's backtestRule); writes
 * nothing.
 */

const watchListFileBytesMax = 8 * 1024 * 1024;

const usage = `Usage: pnpm ledger rules:backtest --rule <id> [options]

Replays the whole event log and reports how many customer transfers (codes transfer and
external: posted, held or refused after the rules would have judged them) the rule would
have held with the given thresholds, with examples. The rule runs active, every other rule
off. Reads DATABASE_URL, or else the embedded database under DATA_DIR (default ./.data);
writes nothing.

Options:
  --rule <id>                  one of: ${ruleIds.join(', ')}
  --threshold <name>=<value>   overrides a threshold of the settings in force (repeatable):
                               amounts per currency in major units (reviewAmountMin.EUR=3000.00,
                               structuringThreshold.EUR=1000.00, newPayeeAmountMin.EUR=2000.00),
                               counts (velocityCount=5, velocityWindowMinutes=60,
                               structuringCount=3, dormantDays=180), outlierZ=3.5
  --watch-list-file <file>     sanctioned_payee: a JSON array of {"name"?, "iban"?} instead of
                               the settings' watch list
  --examples <n>               examples to show, the first in the log (0-${backtestExamplesMax}, default ${backtestExamplesDefault})
  --json                       one JSON object on stdout (counts as numbers, amounts as strings)
  -h, --help                   this text

Exit codes: 0 done, 2 a bad argument or setting (the message says which), 1 anything else.
`;

interface Arguments {
  ruleId: (typeof ruleIds)[number];
  thresholds: string[];
  watchListFile: string | undefined;
  examples: number;
  json: boolean;
}

function parse(args: string[]): Arguments | 'help' {
  let values: ReturnType<typeof parseOptions>['values'];
  try {
    values = parseOptions(args).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(pnpm ledger rules:backtest --help for usage)`);
  }
  if (values.help) return 'help';
  const rule = values.rule;
  if (rule === undefined) throw new UsageError('--rule is required (pnpm ledger rules:backtest --help)');
  if (!isRuleId(rule)) throw new UsageError(`unknown rule "${rule}": one of ${ruleIds.join(', ')}`);
  let examples = backtestExamplesDefault;
  if (values.examples !== undefined) {
    examples = /^[0-9]{1,3}$/.test(values.examples) ? Number(values.examples) : Number.NaN;
    if (!(examples >= 0 && examples <= backtestExamplesMax))
      throw new UsageError(`--examples ${values.examples}: a whole number from 0 to ${backtestExamplesMax}`);
  }
  const thresholds = values.threshold ?? [];
  // Checked before anything is opened: the value's form does not depend on the settings.
  let checked: RuleThresholds = defaultRuleThresholds();
  for (const text of thresholds) {
    const applied = applyThresholdOverride(checked, text);
    if (!applied.ok) throw new UsageError(applied.message);
    checked = applied.value;
  }
  return {
    ruleId: rule,
    thresholds,
    watchListFile: values['watch-list-file'],
    examples,
    json: values.json ?? false,
  };
}

const parseOptions = (args: string[]) =>
  parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      rule: { type: 'string' },
      threshold: { type: 'string', multiple: true },
      'watch-list-file': { type: 'string' },
      examples: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });

async function readWatchList(file: string): Promise<WatchEntry[]> {
  let text: string;
  try {
    const size = (await stat(file)).size;
    if (size > watchListFileBytesMax)
      throw new UsageError(`--watch-list-file ${file}: larger than ${watchListFileBytesMax} bytes`);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--watch-list-file ${file}: ${(error as Error).message}`);
  }
  const parsed = parseWatchList(text);
  if (!parsed.ok) throw new UsageError(`--watch-list-file ${file}: ${parsed.message}`);
  return parsed.value;
}

function summary(
  view: BacktestReportView,
  source: string,
  settingsVersion: string,
  overridden: boolean,
): string {
  const lines: string[] = [];
  lines.push(
    `rules:backtest ${view.ruleId}: ${source}, log read to position ${view.position} (${view.events} events)`,
  );
  const thresholds = Object.entries(view.thresholds).map(([name, value]) =>
    typeof value === 'string'
      ? `${name} ${value}`
      : `${name} ${Object.entries(value)
          .map(([currency, amount]) => `${currency} ${amount}`)
          .join(', ')}`,
  );
  if (view.ruleId === 'sanctioned_payee') thresholds.push(`watch list of ${view.watchListEntries} entries`);
  lines.push(
    `thresholds (settings version ${settingsVersion}${overridden ? ', overridden' : ''}): ${thresholds.join('; ') || 'none'}`,
  );
  lines.push(
    `customer transfers judged: ${view.attempts} (${view.notJudged} refused before the rules are not counted)`,
  );
  lines.push(`would be held by ${view.ruleId}: ${view.fired} on ${view.accounts} account(s)`);
  const h = view.history;
  lines.push(
    `as recorded at the time: ${h.judged} judged by the rules; ${view.ruleId} flagged ${h.flagged}, held ${h.held}, refused ${h.refused}, in shadow ${h.shadow}`,
  );
  lines.push(
    `difference: ${view.firedAndFlagged} both, ${view.firedOnly} only now, ${view.flaggedOnly} only then`,
  );
  if (view.examples.length > 0) {
    lines.push(`examples (the first ${view.examples.length} of ${view.fired}):`);
    for (const e of view.examples) {
      const figures = Object.entries(e.figures)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      lines.push(
        `  ${e.at}  ${e.transferId}  ${e.code} ${e.amount} ${e.currency}  ${e.recorded}${e.flaggedInHistory ? ' (flagged then)' : ''}  ${figures}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

async function run(args: string[], io: CommandIo): Promise<number> {
  const parsed = parse(args);
  if (parsed === 'help') {
    io.out(usage);
    return 0;
  }
  const fileWatchList =
    parsed.watchListFile === undefined ? undefined : await readWatchList(parsed.watchListFile);
  const unread = parsed.thresholds
    .map((text) => text.slice(0, text.indexOf('=')).split('.')[0]!)
    .filter((name) => !(ruleThresholdNames[parsed.ruleId] as readonly string[]).includes(name));
  for (const name of new Set(unread)) io.err(`note: ${parsed.ruleId} does not read ${name}\n`);
  if (fileWatchList !== undefined && parsed.ruleId !== 'sanctioned_payee')
    io.err(`note: ${parsed.ruleId} does not read the watch list\n`);

  const opened = await openReadOnlyStore(io.env);
  try {
    const { state, version } = await loadSettings({ store: opened.store, settings: new SettingsCache() });
    let thresholds: RuleThresholds = state.settings.ruleThresholds;
    for (const text of parsed.thresholds) {
      const applied = applyThresholdOverride(thresholds, text);
      if (!applied.ok) throw new UsageError(applied.message);
      thresholds = applied.value;
    }
    const watchList = fileWatchList ?? state.settings.watchList;
    const report = await backtestRule(opened.store, {
      ruleId: parsed.ruleId,
      thresholds,
      watchList,
      examplesMax: parsed.examples,
      onProgress: ({ events, position }) =>
        io.err(`rules:backtest: ${events} events read (position ${position})\n`),
    });
    const view = backtestReportView(report, { thresholds, watchList });
    if (parsed.json) io.out(`${JSON.stringify(view)}\n`);
    else io.out(summary(view, opened.source, settingsVersionText(version), parsed.thresholds.length > 0));
    return 0;
  } finally {
    await opened.close();
  }
}

export const command: LedgerCommand = { usage, run };
