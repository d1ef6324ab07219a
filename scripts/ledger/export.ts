import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import { ConfigError, loadConfig, resolveAuditSigningKey } from '@ledger/platform';
import { type CommandIo, type LedgerCommand, openReadOnlyStore, progressLine, UsageError } from './cli.js';
import {
  eventLine,
  eventsFileName,
  exportFormat,
  keyFingerprint,
  manifestFileName,
  publicKeyPem,
  type StreamHead,
  signManifest,
  type UnsignedManifest,
} from './export-format.js';

/**
 * `pnpm ledger export <streamId|--all> --out <dir>`: every event as stored, with a manifest
 * signed by the bank's Ed25519 key (export-format.ts says what the folder holds), for an
 * auditor to check offline with `pnpm ledger verify-export` or a script of their own.
 */

const usage = `Usage: pnpm ledger export <streamId> --out <dir>
       pnpm ledger export --all --out <dir>

Writes every event of one stream, or of the whole log up to its head when the export starts,
as stored (the fields the hash covers, its global position and its hash) to <dir>/${eventsFileName},
one RFC 8785 JSON object a line in global position order, and <dir>/${manifestFileName}: each
stream's event count and head hash, the position range, the file's sha256, and an Ed25519
signature by the bank's key (AUDIT_SIGNING_KEY, or else the key kept in
DATA_DIR/audit-signing-key, generated on first use) with its public key. The re-hashing
algorithm is in docs/design.md. Reads DATABASE_URL, or else the embedded database under
DATA_DIR (default ./.data); writes nothing there.

Options:
  --out <dir>    the folder to write (created; its ${eventsFileName} and ${manifestFileName} must not exist)
  --all          every stream, instead of one
  --progress     a progress line on stderr (default: only when stderr is a terminal)
  -h, --help     this text

Exit codes: 0 written, 1 no such stream (or another failure), 2 a bad argument.
`;

/** Events read per round trip. */
const exportPageSize = 1000;

async function* streamEvents(store: EventStore, streamId: string): AsyncGenerator<RecordedEvent> {
  let fromVersion = 0n;
  for (;;) {
    const page = await store.readStream(streamId, { fromVersion, limit: exportPageSize });
    yield* page;
    if (page.length < exportPageSize) return;
    fromVersion = page[page.length - 1]!.streamVersion + 1n;
  }
}

/** The whole log up to `head`: a fixed end, so the manifest describes one moment. */
async function* allEvents(store: EventStore, head: bigint): AsyncGenerator<RecordedEvent> {
  let after = 0n;
  while (after < head) {
    const page = await store.readAll({ after, limit: exportPageSize });
    for (const event of page) {
      if (event.globalPosition > head) return;
      yield event;
    }
    if (page.length === 0) return;
    after = page[page.length - 1]!.globalPosition;
  }
}

async function run(args: string[], io: CommandIo): Promise<number> {
  let parsed: {
    values: { out?: string; all?: boolean; progress?: boolean; help?: boolean };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        all: { type: 'boolean' },
        progress: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(pnpm ledger export --help for usage)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(usage);
    return 0;
  }
  const all = values.all ?? false;
  if (all ? positionals.length > 0 : positionals.length !== 1)
    throw new UsageError('one stream id, or --all (pnpm ledger export --help)');
  if (values.out === undefined) throw new UsageError('--out <dir> is required (pnpm ledger export --help)');
  const dir = resolve(values.out);
  for (const name of [eventsFileName, manifestFileName]) {
    if (existsSync(join(dir, name)))
      throw new UsageError(`${join(dir, name)} exists: export into a new folder`);
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(io.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  const privateKey = await resolveAuditSigningKey(config);
  const publicKey = publicKeyPem(privateKey);
  const progress = progressLine(io, values.progress ?? false, 'export');

  const opened = await openReadOnlyStore(io.env);
  try {
    const streamId = positionals[0];
    const events =
      streamId === undefined
        ? allEvents(opened.store, await opened.store.headPosition())
        : streamEvents(opened.store, streamId);
    await mkdir(dir, { recursive: true });
    const path = join(dir, eventsFileName);
    const file = createWriteStream(path, { flags: 'wx', mode: 0o644 });
    const sha256 = createHash('sha256');
    const heads = new Map<string, StreamHead>();
    let count = 0;
    let first: bigint | null = null;
    let last: bigint | null = null;
    try {
      for await (const event of events) {
        const line = `${eventLine(event)}\n`;
        sha256.update(line, 'utf8');
        if (!file.write(line, 'utf8')) await once(file, 'drain');
        count++;
        first ??= event.globalPosition;
        last = event.globalPosition;
        const head = heads.get(event.streamId);
        if (head === undefined)
          heads.set(event.streamId, {
            streamId: event.streamId,
            events: 1,
            headVersion: Number(event.streamVersion),
            headHash: event.hash,
          });
        else {
          head.events++;
          head.headVersion = Number(event.streamVersion);
          head.headHash = event.hash;
        }
        progress(`${count} events written (position ${event.globalPosition})`);
      }
    } finally {
      file.end();
      await once(file, 'close');
    }
    if (streamId !== undefined && count === 0) {
      await rm(path, { force: true });
      io.err(`export: no stream ${streamId} in ${opened.source}\n`);
      return 1;
    }
    const unsigned: UnsignedManifest = {
      format: exportFormat,
      createdAt: new Date().toISOString(),
      scope: streamId === undefined ? { all: true } : { streamId },
      positions: first === null || last === null ? null : { first: first.toString(), last: last.toString() },
      events: count,
      files: [{ name: eventsFileName, lines: count, sha256: sha256.digest('hex') }],
      streams: [...heads.values()].sort((a, b) =>
        a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0,
      ),
      publicKey,
    };
    const manifest = signManifest(unsigned, privateKey);
    await writeFile(join(dir, manifestFileName), `${JSON.stringify(manifest, null, 2)}\n`, {
      flag: 'wx',
      mode: 0o644,
    });
    io.out(
      `export: ${count} events of ${heads.size} stream(s)${unsigned.positions === null ? '' : `, positions ${unsigned.positions.first} to ${unsigned.positions.last}`}, from ${opened.source}, to ${dir}\n` +
        `signed by the Ed25519 key with SPKI sha256 ${keyFingerprint(publicKey)}\n`,
    );
    return 0;
  } finally {
    await opened.close();
  }
}

export const command: LedgerCommand = { usage, run };
