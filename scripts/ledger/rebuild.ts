import { parseArgs } from 'node:util';
import { defaultProjectionsFor } from '@ledger/projector';
import {
  type RebuildCheckResult,
  rebuildAndCompare,
  schemaExists,
  swapRebuiltSchema,
  type TableComparison,
} from '@ledger/readmodel';
import { type CommandIo, type LedgerCommand, openLedgerDatabase, progressLine, UsageError } from './cli.js';

/**
 * `pnpm ledger rebuild <projection>`: replays one read model from position 0 into a fresh
 * schema with the projector's own code, compares it table by table with the live one at the
 * live checkpoint (packages/readmodel, rebuild-check.ts), and drops it, keeps it, or swaps
 * it in (--swap). Unlike the other commands it writes: to the read models, never the log.
 */

const usage = `Usage: pnpm ledger rebuild <projection> [options]

Replays <projection> from the first event into a fresh schema (<schema>_rebuild), with the
projector's own migrations and code, up to the live projection's checkpoint, then compares
the two schemas table by table in one snapshot: columns, row counts and a sha256 digest of
the rows in primary-key order; a table that differs is named with its first differing keys.
If the live projection moves meanwhile, the rebuild catches up first: both are compared at
the same position. Reads DATABASE_URL, or else the embedded database under DATA_DIR (stop
pnpm start first); writes to the read models only, never to the event store.

Projections: the projector's (accounts, transactions, users, audit, kyc, packs, notifications).

Options:
  --swap           then swap the rebuilt schema in for the live one, in one transaction (the
                   live tables locked, the checkpoint set to the rebuild's position); a running
                   projector continues on the rebuilt tables. The live schema is dropped
  --keep           keep the fresh schema after the comparison (without --swap), or the
                   replaced live one as <schema>_previous (with --swap)
  --schema <name>  the fresh schema's name (default <schema>_rebuild); it must not exist
  --json           one JSON object on stdout
  --progress       a progress line on stderr (default: only when stderr is a terminal)
  -h, --help       this text

Exit codes: 0 the rebuild equals the live read model, 1 it differs (or another failure),
2 a bad argument.
`;

const short = (digest: string) => digest.slice(0, 16);

function tableLine(live: string, t: TableComparison): string {
  const name = `${live}.${t.table}`.padEnd(36);
  if (t.live === null) return `  ${name} only in the rebuild (${t.rebuilt?.rows} rows)  DIFFERS\n`;
  if (t.rebuilt === null) return `  ${name} missing from the rebuild (${t.live.rows} rows live)  DIFFERS\n`;
  if (!t.columnsEqual) return `  ${name} columns differ  DIFFERS\n`;
  if (t.equal) return `  ${name} ${t.live.rows} rows  sha256 ${short(t.live.digest)}  equal\n`;
  const keys = t.differingKeys
    .map(
      (k) =>
        `      ${typeof k.key === 'string' ? k.key : JSON.stringify(k.key)}: ${k.kind.replaceAll('_', ' ')}\n`,
    )
    .join('');
  return (
    `  ${name} ${t.live.rows} rows live, ${t.rebuilt.rows} rebuilt  ` +
    `sha256 ${short(t.live.digest)} / ${short(t.rebuilt.digest)}  DIFFERS\n${keys}`
  );
}

function report(result: RebuildCheckResult, source: string, action: string): string {
  let text =
    `rebuild ${result.projection}: ${source}: ${result.eventsApplied} events applied up to position ` +
    `${result.position} into ${result.rebuilt}\n`;
  if (result.liveVersion !== result.version) {
    text += `  note: the live checkpoint was written by version ${result.liveVersion} of the projection, this code is version ${result.version}\n`;
  }
  for (const table of result.tables) text += tableLine(result.live, table);
  if (!result.migrations.equal) {
    text += `  ${result.live}.migrations: live ran [${result.migrations.live.join(', ')}], the rebuild [${result.migrations.rebuilt.join(', ')}]  DIFFERS\n`;
  }
  const differing = result.tables.filter((t) => !t.equal).map((t) => `${result.live}.${t.table}`);
  if (!result.migrations.equal) differing.push(`${result.live}.migrations`);
  text += result.equal
    ? `equal: the rebuild reproduces every table of ${result.live} (${result.tables.length})\n`
    : `different: ${differing.length} of ${result.tables.length} tables differ: ${differing.join(', ')}\n`;
  return `${text}${action}\n`;
}

function toJson(result: RebuildCheckResult, action: Record<string, unknown>): string {
  return `${JSON.stringify({
    projection: result.projection,
    live: result.live,
    rebuilt: result.rebuilt,
    position: result.position.toString(),
    eventsApplied: result.eventsApplied,
    version: result.version,
    liveVersion: result.liveVersion,
    equal: result.equal,
    differingTables: result.tables.filter((t) => !t.equal).map((t) => t.table),
    tables: result.tables,
    migrations: result.migrations,
    ...action,
  })}\n`;
}

async function run(args: string[], io: CommandIo): Promise<number> {
  let parsed: {
    values: {
      swap?: boolean;
      keep?: boolean;
      schema?: string;
      json?: boolean;
      progress?: boolean;
      help?: boolean;
    };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        swap: { type: 'boolean' },
        keep: { type: 'boolean' },
        schema: { type: 'string' },
        json: { type: 'boolean' },
        progress: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(pnpm ledger rebuild --help for usage)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(usage);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError('one projection to rebuild, e.g. pnpm ledger rebuild accounts (--help for usage)');
  const name = positionals[0]!;
  const progress = progressLine(io, values.progress ?? false, `rebuild ${name}`);
  const opened = await openLedgerDatabase(io.env, { writable: true });
  try {
    const projections = defaultProjectionsFor(opened.store);
    const projection = projections.find((p) => p.name === name);
    if (projection === undefined) {
      throw new UsageError(`no projection "${name}"; one of: ${projections.map((p) => p.name).join(', ')}`);
    }
    const schema = values.schema ?? `${projection.schema}_rebuild`;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema) || schema === projection.schema)
      throw new UsageError(`--schema ${schema}: a plain lower-case identifier, not the live schema`);
    if (await schemaExists(opened.db, schema))
      throw new UsageError(`schema "${schema}" exists: drop it, or name another with --schema`);
    const keepAs = values.swap && values.keep ? `${projection.schema}_previous` : undefined;
    if (keepAs !== undefined && (await schemaExists(opened.db, keepAs)))
      throw new UsageError(`schema "${keepAs}" exists: drop it before --swap --keep`);

    let swapped = false;
    try {
      const result = await rebuildAndCompare({
        db: opened.db,
        store: opened.store,
        projection,
        schema,
        onProgress: (position, to) => progress(`position ${position} of ${to}`),
      });
      let action: Record<string, unknown>;
      let line: string;
      if (values.swap) {
        const swap = await swapRebuiltSchema({
          db: opened.db,
          store: opened.store,
          projection,
          schema,
          position: result.position,
          ...(keepAs === undefined ? {} : { keepAs }),
        });
        swapped = true;
        action = {
          action: 'swapped',
          checkpoint: swap.position.toString(),
          ...(keepAs ? { previous: keepAs } : {}),
        };
        line =
          `swapped: ${schema} is now ${projection.schema}, checkpoint "${projection.name}" at ${swap.position}; ` +
          (keepAs ? `the replaced one kept as ${keepAs}` : 'the replaced one dropped');
      } else if (values.keep) {
        action = { action: 'kept' };
        line = `kept: ${schema} (drop it with DROP SCHEMA ${schema} CASCADE)`;
      } else {
        action = { action: 'dropped' };
        line = `dropped: ${schema}`;
      }
      io.out(values.json ? toJson(result, action) : report(result, opened.source, line));
      return result.equal ? 0 : 1;
    } finally {
      if (!swapped && !(values.keep && !values.swap) && (await schemaExists(opened.db, schema))) {
        await opened.db.schema.dropSchema(schema).ifExists().cascade().execute();
      }
    }
  } finally {
    await opened.close();
  }
}

export const command: LedgerCommand = { usage, run };
