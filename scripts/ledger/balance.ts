import { parseArgs } from 'node:util';
import { accountBalanceAt, trialBalance, trialBalanceView } from '@ledger/application';
import { formatAmount } from '@ledger/domain/ledger';
import {
  type CommandIo,
  type Cut,
  type LedgerCommand,
  openReadOnlyStore,
  parseCut,
  UsageError,
} from './cli.js';

/**
 * `pnpm ledger balance <accountId> [--as-of ...]` and `pnpm ledger trial-balance [--as-of ...]`:
 * the application's point-in-time reads (audit/balance-at.ts, audit/trial-balance.ts), both
 * folded from the event store itself, never from a read model.
 */

const cutHelp = `  --as-of <position|time>   a global position (digits) or an ISO 8601 time with its zone
                            (2026-01-31T23:59:59Z); default: the head of the log now`;

const balanceUsage = `Usage: pnpm ledger balance <accountId> [options]

One account's posted and available balance as of a global position or a time, folded from
the account's own stream. Reads DATABASE_URL, or else the embedded database under DATA_DIR
(default ./.data); writes nothing.

Options:
${cutHelp}
  --json                    one JSON object: {accountId, currency, balance, available, position}
  -h, --help                this text

Exit codes: 0 done, 1 no such account (or another failure), 2 a bad argument.
`;

const trialBalanceUsage = `Usage: pnpm ledger trial-balance [options]

Per currency, the sums of posted and pending debits and credits over every account, as of a
global position or a time, folded from the log; a cut never splits an append. Reads
DATABASE_URL, or else the embedded database under DATA_DIR (default ./.data); writes nothing.

Options:
${cutHelp}
  --json                    one JSON object, as GET /api/audit/trial-balance answers
  -h, --help                this text

Exit codes: 0 balanced, 1 a currency out of balance (or another failure), 2 a bad argument.
`;

interface Parsed {
  positionals: string[];
  cut: Cut | undefined;
  json: boolean;
}

function parse(args: string[], name: string): Parsed | 'help' {
  let parsed: { values: { 'as-of'?: string; json?: boolean; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        'as-of': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(pnpm ledger ${name} --help for usage)`);
  }
  if (parsed.values.help) return 'help';
  const asOf = parsed.values['as-of'];
  return {
    positionals: parsed.positionals,
    cut: asOf === undefined ? undefined : parseCut(asOf, '--as-of'),
    json: parsed.values.json ?? false,
  };
}

const cutText = (cut: Cut) => ('atPosition' in cut ? `position ${cut.atPosition}` : cut.asOf.toISOString());

async function runBalance(args: string[], io: CommandIo): Promise<number> {
  const parsed = parse(args, 'balance');
  if (parsed === 'help') {
    io.out(balanceUsage);
    return 0;
  }
  const [accountId, ...extra] = parsed.positionals;
  if (accountId === undefined || extra.length > 0)
    throw new UsageError('one account id (pnpm ledger balance --help)');
  const opened = await openReadOnlyStore(io.env);
  try {
    const cut = parsed.cut ?? { atPosition: await opened.store.headPosition() };
    const at = await accountBalanceAt(opened.store, accountId, cut);
    if (at === null) {
      io.err(`balance: no account ${accountId} in ${opened.source}\n`);
      return 1;
    }
    const view = {
      accountId,
      currency: at.currency,
      balance: formatAmount(at.balance, at.currency),
      available: formatAmount(at.available, at.currency),
      position: at.position.toString(),
    };
    if (parsed.json) io.out(`${JSON.stringify(view)}\n`);
    else
      io.out(
        `balance ${accountId} as of ${cutText(cut)}: ${view.balance} ${view.currency} (available ${view.available}), last event at position ${view.position}\n`,
      );
    return 0;
  } finally {
    await opened.close();
  }
}

async function runTrialBalance(args: string[], io: CommandIo): Promise<number> {
  const parsed = parse(args, 'trial-balance');
  if (parsed === 'help') {
    io.out(trialBalanceUsage);
    return 0;
  }
  if (parsed.positionals.length > 0)
    throw new UsageError(`unexpected argument "${parsed.positionals[0]}" (pnpm ledger trial-balance --help)`);
  const opened = await openReadOnlyStore(io.env);
  try {
    const cut = parsed.cut ?? { atPosition: await opened.store.headPosition() };
    const view = trialBalanceView(await trialBalance({ store: opened.store, cut }));
    if (parsed.json) {
      io.out(`${JSON.stringify(view)}\n`);
    } else {
      const lines = [
        `trial balance as of ${cutText(cut)} (log read to position ${view.position}): ${view.balanced ? 'balanced' : 'OUT OF BALANCE'}`,
        ...view.currencies.map(
          (c) =>
            `  ${c.currency}  debits ${c.debits}  credits ${c.credits}  pending debits ${c.pendingDebits}  pending credits ${c.pendingCredits}${c.balanced ? '' : '  OUT OF BALANCE'}`,
        ),
      ];
      io.out(`${lines.join('\n')}\n`);
    }
    return view.balanced ? 0 : 1;
  } finally {
    await opened.close();
  }
}

export const balanceCommand: LedgerCommand = { usage: balanceUsage, run: runBalance };
export const trialBalanceCommand: LedgerCommand = { usage: trialBalanceUsage, run: runTrialBalance };
