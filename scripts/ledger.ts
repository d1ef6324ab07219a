/**
 * `pnpm ledger <command> [options]`: the operators' and auditors' command line. The
 * commands are the table of scripts/ledger/main.ts; `pnpm ledger --help` lists them.
 */
import { main } from './ledger/main.js';

process.exitCode = await main(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  errIsTty: process.stderr.isTTY === true,
});
