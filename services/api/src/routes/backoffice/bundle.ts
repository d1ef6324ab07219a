import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * The back-office page's front end (services/api/backoffice: Preact, TSX), bundled by
 * esbuild in memory from the sources shipped beside the API: nothing is fetched at run time
 * and no build step is needed before `pnpm start`. Bundled once per process, on the first
 * request for an asset (about a second on this machine's slowest), then served from memory.
 */

export interface BackofficeAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

export interface BackofficeBundle {
  'app.js': BackofficeAsset;
  'app.css': BackofficeAsset;
}

/** services/api/backoffice, the front end's sources. */
export const backofficeSourceDir = fileURLToPath(new URL('../../../backoffice/', import.meta.url));

function asset(text: Uint8Array, contentType: string): BackofficeAsset {
  const body = Buffer.from(text);
  return {
    body,
    contentType,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
  };
}

/** Bundles the front end now: app.js (an ES module) and app.css, minified, no source map. */
export async function buildBackoffice(): Promise<BackofficeBundle> {
  const result = await build({
    absWorkingDir: backofficeSourceDir,
    entryPoints: { app: 'main.tsx' },
    bundle: true,
    write: false,
    outdir: 'out',
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    // Only the sources and node_modules on disk: no plugin, no network.
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const byName = new Map(result.outputFiles.map((f) => [f.path.slice(f.path.lastIndexOf('/') + 1), f]));
  const js = byName.get('app.js');
  const css = byName.get('app.css');
  if (!js || !css) throw new Error(`back-office bundle incomplete: ${[...byName.keys()].join(', ')}`);
  return {
    'app.js': asset(js.contents, 'text/javascript; charset=utf-8'),
    'app.css': asset(css.contents, 'text/css; charset=utf-8'),
  };
}

let cached: Promise<BackofficeBundle> | null = null;

/** The bundle of this process, built on first use; a failed build is tried again next time. */
export function backofficeBundle(): Promise<BackofficeBundle> {
  if (cached === null) {
    cached = buildBackoffice();
    cached.catch(() => {
      cached = null;
    });
  }
  return cached;
}
