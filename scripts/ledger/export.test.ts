import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLedger, runTransferCommand } from '@ledger/application';
import { createTransfer, fundedAccount } from '@ledger/application/testing';
import { canonicalJson } from '@ledger/eventstore';
import { openTestStore } from '@ledger/platform/testing';
import t from 'tap';
import { ledgerCli } from './testing.js';

// `pnpm ledger export` from PostgreSQL and `pnpm ledger verify-export` with no database: a
// clean export verifies, re-hashes offline by the documented algorithm, and carries a valid
// Ed25519 signature; an altered, removed or reordered line, or a changed manifest, is named.

const meta = { actorId: 'test' };

interface Line {
  streamId: string;
  streamVersion: number;
  globalPosition: string;
  hash: string;
  data: Record<string, unknown>;
  [key: string]: unknown;
}

t.test('export, verify-export, and tampered copies', async (t) => {
  const { store, url } = await openTestStore('scripts_ledger_export', t);
  const ledger = createLedger(store);
  const a = await fundedAccount(ledger, 100_00n, meta);
  const b = await fundedAccount(ledger, 0n, meta);
  for (const amount of [1_00n, 2_00n, 3_00n])
    t.equal((await runTransferCommand(ledger, createTransfer(a, b, amount), meta)).status, 'accepted');
  const work = await mkdtemp(join(tmpdir(), 'ledger-export-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const dataDir = join(work, 'data');
  const env = { DATABASE_URL: url, DATA_DIR: dataDir };
  const out = join(work, 'all');

  // The export reads what readers see: an event is visible once every older transaction on
  // the server has ended, and another test's may be open for a moment.
  const written = await store.lastWrittenPosition();
  for (let waited = 0; (await store.headPosition()) < written && waited < 10_000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const exported = await ledgerCli(['export', '--all', '--out', out], env);
  t.equal(exported.code, 0, exported.stderr);
  t.match(exported.stdout, /export: \d+ events of \d+ stream\(s\), positions \d+ to \d+/);
  t.ok((await stat(join(dataDir, 'audit-signing-key'))).isFile(), 'the key is kept in DATA_DIR');

  const text = await readFile(join(out, 'events.jsonl'), 'utf8');
  const lines = text.trimEnd().split('\n');
  const events = lines.map((l) => JSON.parse(l) as Line);
  const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
  t.equal(events.length, manifest.events);
  t.equal(manifest.positions.last, (await store.headPosition()).toString());

  // Offline, by docs/design.md alone: per stream, sha256(previous ‖ RFC 8785 JSON of the
  // covered fields); the heads are the manifest's, and each line's hash is the stored one.
  const heads = new Map<string, Buffer>();
  for (const e of events) {
    const { globalPosition: _p, hash, ...covered } = e;
    const next = createHash('sha256')
      .update(heads.get(e.streamId) ?? Buffer.alloc(0))
      .update(canonicalJson(covered), 'utf8')
      .digest();
    t.equal(next.toString('hex'), hash, `${e.streamId} ${e.streamVersion} re-hashes`);
    heads.set(e.streamId, next);
  }
  t.same(
    Object.fromEntries(
      manifest.streams.map((s: { streamId: string; headHash: string }) => [s.streamId, s.headHash]),
    ),
    Object.fromEntries([...heads].map(([id, h]) => [id, h.toString('hex')])),
  );
  const { signature, ...unsigned } = manifest;
  t.ok(
    verify(
      null,
      Buffer.from(canonicalJson(unsigned), 'utf8'),
      createPublicKey(manifest.publicKey),
      Buffer.from(signature.value, 'base64'),
    ),
    'the signature holds over the RFC 8785 JSON of the rest',
  );

  const clean = await ledgerCli(['verify-export', out], {});
  t.equal(clean.code, 0, clean.stdout);
  t.match(clean.stdout, /: intact\n$/);

  /** A copy of the export with its events file rewritten. */
  const tampered = async (name: string, change: (lines: string[]) => string[]) => {
    const dir = join(work, name);
    await cp(out, dir, { recursive: true });
    await writeFile(join(dir, 'events.jsonl'), `${change([...lines]).join('\n')}\n`);
    return ledgerCli(['verify-export', dir], {});
  };
  // Line numbers are 1-based; the target is a transfer's leg on account b.
  const index = events.findIndex((e) => e.streamId === `account-${b}` && e.streamVersion === 2);
  const target = events[index]!;
  const lineNo = index + 1;

  const altered = await tampered('altered', (ls) => {
    ls[index] = ls[index]!.replace(/"amount":"\d+"/, '"amount":"99900"');
    return ls;
  });
  t.equal(altered.code, 1);
  t.match(
    altered.stdout,
    `events.jsonl:${lineNo}: stream account-${b} version 2 position ${target.globalPosition}: its hash is not the one its chain computes (the line was altered)`,
  );
  t.match(altered.stdout, /events.jsonl: sha256 [0-9a-f]{64}, the manifest says/);

  const removed = await tampered('removed', (ls) => ls.filter((_, i) => i !== index));
  t.equal(removed.code, 1);
  const following = events.findIndex((e) => e.streamId === `account-${b}` && e.streamVersion === 3);
  t.match(
    removed.stdout,
    `events.jsonl:${following}: stream account-${b} version 3 position ${events[following]!.globalPosition}: its version does not follow`,
    'the line after the gap, numbered in the changed file',
  );
  t.match(removed.stdout, `events.jsonl: ${lines.length - 1} lines, the manifest says ${lines.length}`);
  t.match(removed.stdout, `stream account-${b}: `);

  const reordered = await tampered('reordered', (ls) => {
    const [x, y] = [ls[index - 1]!, ls[index]!];
    ls[index - 1] = y;
    ls[index] = x;
    return ls;
  });
  t.equal(reordered.code, 1);
  t.match(reordered.stdout, `events.jsonl:${lineNo}: stream `);
  t.match(reordered.stdout, /\(lines reordered\)/);

  const forged = join(work, 'forged');
  await cp(out, forged, { recursive: true });
  const changed = { ...manifest, events: manifest.events + 1 };
  await writeFile(join(forged, 'manifest.json'), JSON.stringify(changed));
  const forgedRun = await ledgerCli(['verify-export', forged], {});
  t.equal(forgedRun.code, 1);
  t.match(forgedRun.stdout, /manifest.json: the signature does not hold/);

  // One stream, signed by a key given as PEM; pinned to it, and to another one.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const one = join(work, 'one');
  const single = await ledgerCli(['export', `account-${a}`, '--out', one], {
    ...env,
    AUDIT_SIGNING_KEY: pem,
  });
  t.equal(single.code, 0, single.stderr);
  const oneManifest = JSON.parse(await readFile(join(one, 'manifest.json'), 'utf8'));
  t.match(oneManifest, { scope: { streamId: `account-${a}` }, streams: [{ streamId: `account-${a}` }] });
  t.equal(oneManifest.publicKey, publicKey.export({ format: 'pem', type: 'spki' }).toString());
  const pinnedFile = join(work, 'bank.pem');
  await writeFile(pinnedFile, oneManifest.publicKey);
  t.equal((await ledgerCli(['verify-export', one, '--public-key', pinnedFile], {})).code, 0);
  const otherFile = join(work, 'other.pem');
  await writeFile(otherFile, manifest.publicKey);
  const wrongKey = await ledgerCli(['verify-export', one, '--public-key', otherFile], {});
  t.equal(wrongKey.code, 1);
  t.match(wrongKey.stdout, /not by the given public key/);

  const again = await ledgerCli(['export', '--all', '--out', out], env);
  t.equal(again.code, 2, 'an existing export is not overwritten');
  t.match(again.stderr, /exists: export into a new folder/);
  const badKey = await ledgerCli(['export', '--all', '--out', join(work, 'x')], {
    ...env,
    AUDIT_SIGNING_KEY: 'not a key at all, but long enough to look like one',
  });
  t.equal(badKey.code, 2);
  t.match(badKey.stderr, /AUDIT_SIGNING_KEY: must be an Ed25519 private key/);
  const noStream = await ledgerCli(['export', 'account-nobody', '--out', join(work, 'none')], env);
  t.equal(noStream.code, 1);
  t.match(noStream.stderr, /no stream account-nobody/);
  const noDir = await ledgerCli(['verify-export', join(work, 'nowhere')], {});
  t.equal(noDir.code, 2);
});
