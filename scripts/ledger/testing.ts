import { main } from './main.js';

/**
 * Tests only: `pnpm ledger <args>` run in this process (scripts/ledger.ts's main), with only
 * `env`; stdout and stderr kept apart.
 */

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export async function ledgerCli(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    env,
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

/** The JSON lines of a command's stdout, parsed. */
export const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
