import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ChainVerifier } from '@ledger/eventstore';
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
    values: { 'public-key'?: string; progress?: boolean; help?: boolean };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        'public-key': { type: 'string' },
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
  return problems.length === 0 ? 0 : 1;
}

export const command: LedgerCommand = { usage, run };
