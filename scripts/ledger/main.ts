import type { CommandIo, LedgerCommand } from './cli.js';
import { UsageError } from './cli.js';

/**
 * `pnpm ledger`'s commands: one entry each, its one-line summary and the module that runs
 * it (loaded only when it runs, so `--help` opens nothing). Another command is one more
 * entry here and one module under scripts/ledger/ exporting a LedgerCommand as `command`.
 */
export const commands: Readonly<Record<string, { summary: string; load(): Promise<LedgerCommand> }>> = {
  balance: {
    summary: "one account's balance as of a global position or a time, folded from its stream",
    load: async () => (await import('./balance.js')).balanceCommand,
  },
  export: {
    summary: 'every event of a stream or of the log as stored, with a manifest the bank signs',
    load: async () => (await import('./export.js')).command,
  },
  'fees:explain': {
    summary: "a subscription's fees recomputed from the events, period by period; exit 1 if one differs",
    load: async () => (await import('./fees-explain.js')).command,
  },
  rebuild: {
    summary: 'replay one projection into a fresh schema, diff it with the live one; swap when asked',
    load: async () => (await import('./rebuild.js')).command,
  },
  replay: {
    summary: 'one stream folded by the domain: its state after each event, as JSON lines',
    load: async () => (await import('./replay.js')).command,
  },
  'rules:backtest': {
    summary: 'replay history: how many customer transfers one fraud rule would have held',
    load: async () => (await import('./rules-backtest.js')).command,
  },
  'trial-balance': {
    summary: 'per currency Σ debits and Σ credits as of a position or a time; exit 1 if unbalanced',
    load: async () => (await import('./balance.js')).trialBalanceCommand,
  },
  verify: {
    summary: 'recompute every hash chain of the event store; name the first bad event',
    load: async () => (await import('./verify.js')).command,
  },
  'verify-export': {
    summary: "check an export offline: every chain, the manifest's heads and its signature",
    load: async () => (await import('./verify-export.js')).command,
  },
};

export function help(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const list = Object.entries(commands)
    .map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`)
    .join('\n');
  return `Usage: pnpm ledger <command> [options]

Commands:
${list}

pnpm ledger <command> --help shows a command's options.
`;
}

/**
 * Runs one command line (the arguments after `pnpm ledger`); answers the exit code: 0 done,
 * 2 a usage error (its message alone, no stack trace), 1 anything else (its message; the
 * stack too with LEDGER_DEBUG set).
 */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.err : io.out)(help());
    return name === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (entry === undefined) {
    io.err(`ledger: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`ledger ${name}: ${error.message}\n`);
      return 2;
    }
    io.err(`ledger ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    if (io.env.LEDGER_DEBUG && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
    return 1;
  }
}
