import { parseArgs } from 'node:util';
import type { BadEvent } from '@ledger/eventstore';
import { type CommandIo, type LedgerCommand, openReadOnlyStore, progressLine, UsageError } from './cli.js';

/**
 * `pnpm ledger verify`: recomputes every stream's hash chain in the event store (the store's
 * own verifier, packages/eventstore/src/verify.ts) and names the first bad event: the one
 * with the lowest global position among those that break a chain.
 */

const usage = `Usage: pnpm ledger verify [options]

Recomputes every stream's hash chain (sha256 of the previous hash and the RFC 8785 JSON of
the event, docs/design.md) and checks that each stream ends where the store says it does.
Reads DATABASE_URL, or else the embedded database under DATA_DIR (default ./.data); writes
nothing.

Options:
  --json        one JSON object on stdout: {ok, checkedEvents, firstBadEvent}
  --progress    a progress line on stderr (default: only when stderr is a terminal)
  -h, --help    this text

Exit codes: 0 every chain intact, 1 a bad event (the first one is named) or another failure,
2 a bad argument.
`;

const reasons: Record<BadEvent['reason'], string> = {
  hash_mismatch: 'its hash is not the one its chain computes (altered)',
  version_gap: 'its version does not follow the one before (an event removed or moved)',
  stream_head_mismatch: 'the stream does not end where the store says it does',
};

async function run(args: string[], io: CommandIo): Promise<number> {
  let values: { json?: boolean; progress?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        json: { type: 'boolean' },
        progress: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(pnpm ledger verify --help for usage)`);
  }
  if (values.help) {
    io.out(usage);
    return 0;
  }
  const progress = progressLine(io, values.progress ?? false, 'verify');
  const opened = await openReadOnlyStore(io.env);
  try {
    const result = await opened.store.verify({
      onProgress: (checked) => progress(`${checked} events checked`),
    });
    const bad = result.firstBadEvent;
    if (values.json) {
      io.out(
        `${JSON.stringify({
          ok: result.ok,
          checkedEvents: result.checkedEvents,
          firstBadEvent:
            bad === null
              ? null
              : {
                  ...bad,
                  streamVersion: bad.streamVersion.toString(),
                  globalPosition: bad.globalPosition.toString(),
                },
        })}\n`,
      );
    } else if (bad === null) {
      io.out(`verify: ${opened.source}: ${result.checkedEvents} events, every hash chain intact\n`);
    } else {
      io.out(
        `verify: ${opened.source}: ${result.checkedEvents} events checked; first bad event:\n` +
          `  stream ${bad.streamId} version ${bad.streamVersion} global position ${bad.globalPosition} (event ${bad.eventId})\n` +
          `  ${bad.reason}: ${reasons[bad.reason]}\n`,
      );
    }
    return result.ok ? 0 : 1;
  } finally {
    await opened.close();
  }
}

export const command: LedgerCommand = { usage, run };
