/**
 * `pnpm ledger <command> [options]`: the operators' and auditors' command line. Each
 * command is one entry of `commands` (scripts/ledger/*.ts), run with the arguments after
 * its name. A usage error (unknown command, rule, threshold, bad value) exits 2 with its
 * message and no stack trace; any other failure exits 1 with its message.
 */
import { type CommandIo, type LedgerCommand, UsageError } from './ledger/cli.js';
import { rulesBacktest } from './ledger/rules-backtest.js';

const commands: Readonly<Record<string, LedgerCommand>> = {
  'rules:backtest': rulesBacktest,
};

function help(): string {
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

async function main(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined || !Object.hasOwn(commands, name)) {
    io.err(`ledger: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
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

const io: CommandIo = {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};
process.exitCode = await main(process.argv.slice(2), io);
