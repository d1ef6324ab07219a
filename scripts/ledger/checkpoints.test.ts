import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedger, runTransferCommand } from '@ledger/application';
import { createTransfer, fundedAccount } from '@ledger/application/testing';
import {
  chainCheckpointEventType,
  chainCheckpointStreamId,
  headsDigest,
  parseChainCheckpoint,
  type RecordedEvent,
} from '@ledger/eventstore';
import { createLogger } from '@ledger/platform';
import { openTestStore } from '@ledger/platform/testing';
import { startProjector } from '@ledger/projector';
import { readCheckpoints } from '@ledger/readmodel';
import t from 'tap';
import { ledgerCli } from './testing.js';

// Chain checkpoints: two projectors recording every 10 events write each checkpoint once,
// each with the digest of every stream's head at its position; `verify-export --checkpoints`
// checks an export against checkpoints published earlier and names a tampered one.

const meta = { actorId: 'test' };
const logger = createLogger({ level: 'silent', name: 'scripts-ledger-checkpoints' });
const every = 10;

t.setTimeout(180_000);

t.test('checkpoints recorded once each; verify-export --checkpoints', async (t) => {
  const { store, url, db } = await openTestStore('scripts_ledger_checkpoints', t);
  const options = { db, store, logger, projections: [], chainCheckpointEvery: every, lingerMs: 0 };
  const first = startProjector(options);
  const second = startProjector(options);
  t.teardown(async () => {
    await first.stop();
    await second.stop();
  });
  const ledger = createLedger(store);
  const a = await fundedAccount(ledger, 100_00n, meta);
  const b = await fundedAccount(ledger, 0n, meta);
  for (let i = 1; i <= 8; i++)
    t.equal((await runTransferCommand(ledger, createTransfer(a, b, BigInt(i)), meta)).status, 'accepted');

  // Until the recorder has seen the whole log, its own checkpoint events included.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const head = await store.headPosition();
    const at = (await readCheckpoints(db)).find((c) => c.name === 'chain-checkpoints')?.position;
    if (at === head) break;
    if (Date.now() > deadline) throw new Error(`recorder at ${at}, head ${head}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const all: RecordedEvent[] = [];
  for (let after = 0n; ; ) {
    const page = await store.readAll({ after, limit: 1000 });
    if (page.length === 0) break;
    all.push(...page);
    after = page.at(-1)!.globalPosition;
  }
  const recorded = (await store.readStream(chainCheckpointStreamId)).map((e) => {
    t.equal(e.type, chainCheckpointEventType);
    return parseChainCheckpoint(e.data);
  });
  t.equal(
    recorded.length,
    Math.floor(all.length / every),
    `one checkpoint per ${every} events (${all.length})`,
  );
  t.equal(new Set(recorded.map((c) => c.position)).size, recorded.length, 'none recorded twice');
  for (const checkpoint of recorded) {
    const upTo = all.filter((e) => e.globalPosition <= checkpoint.position);
    const heads = new Map(upTo.map((e) => [e.streamId, e.hash]));
    t.equal(checkpoint.eventCount % every, 0);
    t.same(
      checkpoint,
      {
        position: checkpoint.position,
        headsDigest: headsDigest(heads),
        streamCount: heads.size,
        eventCount: upTo.length,
      },
      `checkpoint at ${checkpoint.position}: the heads of the log there`,
    );
  }

  // Published earlier: an export's events.jsonl carries the checkpoints.
  const work = await mkdtemp(join(tmpdir(), 'ledger-checkpoints-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const env = { DATABASE_URL: url, DATA_DIR: join(work, 'data') };
  const out = join(work, 'all');
  t.equal((await ledgerCli(['export', '--all', '--out', out], env)).code, 0);
  const published = join(work, 'published.jsonl');
  await copyFile(join(out, 'events.jsonl'), published);
  const clean = await ledgerCli(['verify-export', out, '--checkpoints', published]);
  t.equal(clean.code, 0, clean.stdout);
  t.match(clean.stdout, new RegExp(`checkpoints: ${recorded.length} checked against this export\\n`));

  // Their data alone, as JSON lines, works too; one after the export is not covered.
  const later = { ...recorded.at(-1)!, position: (all.at(-1)!.globalPosition + 100n).toString() };
  const records = join(work, 'records.jsonl');
  await writeFile(
    records,
    [
      ...recorded.map((c) => JSON.stringify({ ...c, position: c.position.toString() })),
      JSON.stringify(later),
    ].join('\n'),
  );
  const data = await ledgerCli(['verify-export', out, '--checkpoints', records]);
  t.equal(data.code, 0, data.stdout);
  t.match(data.stdout, /1 after its last position \(not covered\)/);

  // A line altered before the first checkpoint: the checkpoints no longer hold.
  const lines = (await readFile(join(out, 'events.jsonl'), 'utf8')).trimEnd().split('\n');
  const victim = JSON.parse(lines[2]!);
  victim.hash = 'f'.repeat(64);
  lines[2] = JSON.stringify(victim);
  await writeFile(join(out, 'events.jsonl'), `${lines.join('\n')}\n`);
  const tampered = await ledgerCli(['verify-export', out, '--checkpoints', published]);
  t.equal(tampered.code, 1);
  t.match(
    tampered.stdout,
    new RegExp(
      `checkpoint at position ${recorded[0]!.position} \\(.*published\\.jsonl:\\d+\\): this export gives`,
    ),
  );

  const single = join(work, 'one');
  t.equal((await ledgerCli(['export', chainCheckpointStreamId, '--out', single], env)).code, 0);
  const wrongScope = await ledgerCli(['verify-export', single, '--checkpoints', published]);
  t.equal(wrongScope.code, 2);
  t.match(wrongScope.stderr, /the whole log/);
});
