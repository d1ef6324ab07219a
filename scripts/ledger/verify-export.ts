import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  type ChainCheckpoint,
  ChainVerifier,
  chainCheckpointEventType,
  headsDigest,
  parseChainCheckpoint,
} from '@ledger/eventstore';
import type { CommandIo, LedgerCommand } from './cli.js';
import { progressLine, UsageError } from './cli.js';
import {
  eventsFileName,
  exportFormat,
  keyFingerprint,
  type Manifest,
  manifestFileName,
  parseEventLine,
  signatureHolds,
} from './export-format.js';

/**
 * `pnpm ledger verify-export <dir>`: checks an audit export with no database: the manifest's
 * signature, the events file's digest, every stream's chain recomputed from the lines (the
 * event store's own ChainVerifier), and each stream's count and head against the manifest.
 * Names every altered, removed or reordered line it can: file and line, stream and version.
 */

const usage = `Usage: pnpm ledger verify-export <dir> [options]

Checks a folder written by pnpm ledger export, offline: the Ed25519 signature of
${manifestFileName} by the public key it carries, the sha256 and line count of ${eventsFileName},
each stream's hash chain recomputed line by line, global positions in increasing order, and
each stream's event count and head hash against the manifest. Prints one line per problem
(file:line, stream and version) and the signer's key fingerprint. Needs no database.

Options:
  --public-key <file>   the bank's public key (PEM): the manifest's must be this one
  --checkpoints <file>  chain checkpoints published earlier (JSON lines: ChainCheckpointRecorded
                        events, e.g. an earlier export's ${eventsFileName}, or their data): every
                        stream's heads as of each checkpoint's position, folded from this export
                        (of --all), must give its digest, stream and event counts
  -h, --help            this text

Exit codes: 0 the export is intact, 1 a problem found (each one printed), 2 a bad argument.
`;

/** A manifest larger than this is not one this command wrote. */
const manifestBytesMax = 512 * 1024 * 1024;

const reasonText = {
  hash_mismatch: 'its hash is not the one its chain computes (the line was altered)',
  version_gap: 'its version does not follow the one before (a line removed or reordered)',
  stream_head_mismatch: 'the stream does not end where the manifest says',
} as const;

function isManifest(value: unknown): value is Manifest {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<Manifest>;
  return (
    m.format === exportFormat &&
    Array.isArray(m.files) &&
    Array.isArray(m.streams) &&
    typeof m.publicKey === 'string' &&
    typeof m.events === 'number'
  );
}

async function run(args: string[], io: CommandIo): Promise<number> {
  let parsed: {
    values: { 'public-key'?: string; checkpoints?: string; progress?: boolean; help?: boolean };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        'public-key': { type: 'string' },
        checkpoints: { type: 'string' },
        progress: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(pnpm ledger verify-export --help for usage)`);
  }
  if (parsed.values.help) {
    io.out(usage);
    return 0;
  }
  const [dirArg, ...extra] = parsed.positionals;
  if (dirArg === undefined || extra.length > 0)
    throw new UsageError('one export folder (pnpm ledger verify-export --help)');
  const dir = resolve(dirArg);
  const manifestPath = join(dir, manifestFileName);
  let manifest: Manifest;
  try {
    if ((await stat(manifestPath)).size > manifestBytesMax) throw new Error('too large');
    const value: unknown = JSON.parse(await readFile(manifestPath, 'utf8'));
    if (!isManifest(value)) throw new Error(`not a ${exportFormat} manifest`);
    manifest = value;
  } catch (error) {
    throw new UsageError(`${manifestPath}: ${(error as Error).message}`);
  }
  let pinned: string | undefined;
  if (parsed.values['public-key'] !== undefined) {
    try {
      pinned = keyFingerprint(await readFile(parsed.values['public-key'], 'utf8'));
    } catch (error) {
      throw new UsageError(`--public-key ${parsed.values['public-key']}: ${(error as Error).message}`);
    }
  }

  const checkpoints =
    parsed.values.checkpoints === undefined ? [] : await readCheckpoints(parsed.values.checkpoints);
  if (parsed.values.checkpoints !== undefined && !('all' in manifest.scope))
    throw new UsageError('--checkpoints: checkpoints cover the whole log; this export is of one stream');

  const problems: string[] = [];
  const problem = (text: string) => {
    problems.push(text);
    io.out(`${text}\n`);
  };
  let fingerprint = 'unreadable';
  try {
    fingerprint = keyFingerprint(manifest.publicKey);
  } catch {}
  if (!signatureHolds(manifest))
    problem(
      `${manifestFileName}: the signature does not hold (the manifest was changed, or signed by another key)`,
    );
  if (pinned !== undefined && pinned !== fingerprint)
    problem(`${manifestFileName}: signed by key ${fingerprint}, not by the given public key ${pinned}`);

  const file = manifest.files.find((f) => f.name === eventsFileName);
  if (file === undefined) problem(`${manifestFileName}: lists no ${eventsFileName}`);
  const path = join(dir, eventsFileName);
  const progress = progressLine(io, parsed.values.progress ?? false, 'verify-export');
  const sha256 = createHash('sha256');
  const chains = new Map<string, { verifier: ChainVerifier; broken: boolean }>();
  let lineNumber = 0;
  let previous: { position: bigint; line: number } | null = null;
  let firstPosition: bigint | null = null;
  // Every stream's last hash so far and the events so far: the heads a checkpoint is over.
  const heads = new Map<string, string>();
  let nextCheckpoint = 0;
  let checkedCheckpoints = 0;
  const checkCheckpoint = (c: Checkpointed) => {
    checkedCheckpoints++;
    const digest = headsDigest(heads);
    const where = `checkpoint at position ${c.position} (${c.where})`;
    if (digest !== c.headsDigest || heads.size !== c.streamCount || lineNumberBefore !== c.eventCount)
      problem(
        `${where}: this export gives ${lineNumberBefore} events, ${heads.size} streams, heads digest ${digest}; ` +
          `the checkpoint says ${c.eventCount} events, ${c.streamCount} streams, ${c.headsDigest} ` +
          '(an event at or before it was altered, removed or inserted)',
      );
  };
  let lineNumberBefore = 0;
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  try {
    for await (const text of lines) {
      lineNumber++;
      sha256.update(`${text}\n`, 'utf8');
      const where = `${eventsFileName}:${lineNumber}`;
      let event: ReturnType<typeof parseEventLine>;
      try {
        event = parseEventLine(text);
      } catch (error) {
        problem(`${where}: ${(error as Error).message}`);
        continue;
      }
      while (
        nextCheckpoint < checkpoints.length &&
        checkpoints[nextCheckpoint]!.position < event.globalPosition
      )
        checkCheckpoint(checkpoints[nextCheckpoint++]!);
      heads.set(event.streamId, event.hash);
      lineNumberBefore++;
      const named = `${where}: stream ${event.streamId} version ${event.streamVersion} position ${event.globalPosition}`;
      if (previous !== null && event.globalPosition <= previous.position)
        problem(
          `${named}: not after position ${previous.position} of line ${previous.line} (lines reordered)`,
        );
      previous = { position: event.globalPosition, line: lineNumber };
      firstPosition ??= event.globalPosition;
      let chain = chains.get(event.streamId);
      if (chain === undefined) {
        chain = { verifier: new ChainVerifier(), broken: false };
        chains.set(event.streamId, chain);
      }
      // After its first bad line a stream's chain is not checked further: one problem a stream.
      if (!chain.verifier.add(event) && !chain.broken) {
        chain.broken = true;
        const reason = chain.verifier.result().firstBadEvent?.reason ?? 'hash_mismatch';
        problem(`${named}: ${reasonText[reason]}`);
      }
      progress(`${lineNumber} lines checked`);
    }
  } catch (error) {
    // A missing or unreadable events file is a finding about the export, not a usage error.
    problem(`${eventsFileName}: cannot be read: ${(error as Error).message}`);
  }

  const last_ = previous?.position;
  while (
    nextCheckpoint < checkpoints.length &&
    last_ !== undefined &&
    checkpoints[nextCheckpoint]!.position <= last_
  )
    checkCheckpoint(checkpoints[nextCheckpoint++]!);
  const uncovered = checkpoints.length - nextCheckpoint;
  const digest = sha256.digest('hex');
  if (file !== undefined) {
    if (file.lines !== lineNumber)
      problem(
        `${eventsFileName}: ${lineNumber} lines, the manifest says ${file.lines} (lines removed or added)`,
      );
    if (file.sha256 !== digest)
      problem(`${eventsFileName}: sha256 ${digest}, the manifest says ${file.sha256}`);
  }
  const listed = new Set<string>();
  for (const head of manifest.streams) {
    listed.add(head.streamId);
    const chain = chains.get(head.streamId);
    if (chain === undefined) {
      problem(
        `stream ${head.streamId}: in the manifest (${head.events} events), no line in ${eventsFileName}`,
      );
      continue;
    }
    const stream = chain.verifier.stream;
    const events = chain.verifier.result().checkedEvents;
    if (events !== head.events)
      problem(
        `stream ${head.streamId}: ${events} lines, the manifest says ${head.events} (lines removed or added)`,
      );
    else if (
      !chain.broken &&
      (stream?.last.hash !== head.headHash || Number(stream.last.streamVersion) !== head.headVersion)
    )
      problem(
        `stream ${head.streamId}: ends at version ${stream?.last.streamVersion} hash ${stream?.last.hash}, the manifest says version ${head.headVersion} hash ${head.headHash}`,
      );
  }
  for (const streamId of chains.keys())
    if (!listed.has(streamId)) problem(`stream ${streamId}: in ${eventsFileName}, not in the manifest`);
  const range = manifest.positions;
  const last = previous?.position ?? null;
  if (
    (range === null) !== (firstPosition === null) ||
    (range !== null && (range.first !== String(firstPosition) || range.last !== String(last)))
  )
    problem(
      `${eventsFileName}: positions ${firstPosition ?? 'none'} to ${last ?? 'none'}, the manifest says ${range === null ? 'none' : `${range.first} to ${range.last}`}`,
    );

  io.out(
    `verify-export ${dir}: ${lineNumber} lines, ${chains.size} stream(s); signing key SPKI sha256 ${fingerprint}: ${
      problems.length === 0 ? 'intact' : `${problems.length} problem(s)`
    }\n`,
  );
  if (parsed.values.checkpoints !== undefined)
    io.out(
      `checkpoints: ${checkedCheckpoints} checked against this export` +
        (uncovered > 0 ? `, ${uncovered} after its last position (not covered)` : '') +
        '\n',
    );
  return problems.length === 0 ? 0 : 1;
}

interface Checkpointed extends ChainCheckpoint {
  /** file:line of the checkpoint. */
  where: string;
}

/** The checkpoints of a JSON-lines file, by position: events (of their type) or their data alone. */
async function readCheckpoints(path: string): Promise<Checkpointed[]> {
  const found = new Map<bigint, Checkpointed>();
  let lineNumber = 0;
  try {
    const lines = createInterface({
      input: createReadStream(path, { encoding: 'utf8' }),
      crlfDelay: Infinity,
    });
    for await (const text of lines) {
      lineNumber++;
      if (text.trim() === '') continue;
      const where = `${path}:${lineNumber}`;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw new Error(`${where}: not JSON`);
      }
      const record = value as Record<string, unknown> | null;
      let data: unknown = value;
      if (record !== null && typeof record === 'object' && 'type' in record) {
        if (record.type !== chainCheckpointEventType) continue;
        data = record.data;
      }
      try {
        const checkpoint = parseChainCheckpoint(data);
        found.set(checkpoint.position, { ...checkpoint, where });
      } catch (error) {
        throw new Error(`${where}: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    throw new UsageError(`--checkpoints ${path}: ${(error as Error).message}`);
  }
  if (found.size === 0) throw new UsageError(`--checkpoints ${path}: no checkpoint in it`);
  return [...found.values()].sort((a, b) => (a.position < b.position ? -1 : 1));
}

export const command: LedgerCommand = { usage, run };
