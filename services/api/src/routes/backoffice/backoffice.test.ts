import { authFixture } from '@ledger/api/testing';
import t, { type Test } from 'tap';
import { backofficeHtml } from './index.js';

// GET /backoffice (API.md, Operations) over HTTP: the shell and its two assets are served
// from this origin with the API's content security policy (scripts and styles from 'self'
// only, no inline script allowed), and hold no inline script, handler or style themselves.
// The page's behaviour is in backoffice.browser.test.ts (real Chromium).

const f = await authFixture('api_backoffice_http');
t.teardown(f.close);
const app = await f.newApp();

/** The CSP's directives by name. */
function directives(header: string | string[] | number | undefined): Map<string, string[]> {
  return new Map(
    String(header)
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...values]) => [name!, values]),
  );
}

function assertStrictCsp(t: Test, header: string | string[] | number | undefined) {
  const csp = directives(header);
  t.same(csp.get('script-src'), ["'self'"], 'scripts from this origin only');
  t.same(csp.get('script-src-attr'), ["'none'"], 'no inline event handler');
  t.same(csp.get('default-src'), ["'self'"]);
  t.same(csp.get('object-src'), ["'none'"]);
  t.same(csp.get('frame-ancestors'), ["'none'"]);
  t.notOk(
    csp.get('connect-src')?.some((s) => s !== "'self'"),
    'calls to this origin only',
  );
}

t.test('the shell: HTML with the CSP, no inline script or style', async (t) => {
  for (const url of ['/backoffice', '/backoffice/']) {
    const response = await app.inject({ method: 'GET', url });
    t.equal(response.statusCode, 200, url);
    t.match(response.headers['content-type'], /^text\/html; charset=utf-8/);
    assertStrictCsp(t, response.headers['content-security-policy']);
    t.equal(response.headers['x-content-type-options'], 'nosniff');
    t.equal(response.body, backofficeHtml);
  }
  const html = backofficeHtml;
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  t.equal(scripts.length, 1, 'one script');
  t.match(scripts[0]?.[1], /\bsrc="\/backoffice\/app\.js"/, 'loaded from this origin');
  t.equal(scripts[0]?.[2], '', 'with no inline body');
  t.notMatch(html, /<style\b|\sstyle=|\son[a-z]+=/i, 'no inline style, no inline handler');
  t.notMatch(html, /https?:\/\//, 'no other origin named');
});

t.test('the assets: the bundle and the stylesheet, from this origin, cached by ETag', async (t) => {
  const js = await app.inject({ method: 'GET', url: '/backoffice/app.js' });
  t.equal(js.statusCode, 200);
  t.match(js.headers['content-type'], /^text\/javascript/);
  assertStrictCsp(t, js.headers['content-security-policy']);
  t.ok(js.body.length > 10_000, 'the bundle, Preact included');
  t.match(js.body, /\/api\/auth\/login/, 'signs in through the API');
  const urls = js.body.match(/https?:\/\/[^"'`\s)]+/g) ?? [];
  t.same(
    urls.filter((u) => !u.startsWith('http://www.w3.org/')),
    [],
    'no address but XML namespaces: nothing fetched from elsewhere',
  );
  t.notMatch(js.body, /localStorage|sessionStorage|document\.cookie/, 'tokens are kept in memory only');

  const etag = js.headers.etag;
  t.match(etag, /^"[\w-]+"$/);
  const again = await app.inject({
    method: 'GET',
    url: '/backoffice/app.js',
    headers: { 'if-none-match': etag },
  });
  t.equal(again.statusCode, 304, 'unchanged: not sent again');

  const css = await app.inject({ method: 'GET', url: '/backoffice/app.css' });
  t.equal(css.statusCode, 200);
  t.match(css.headers['content-type'], /^text\/css/);
  assertStrictCsp(t, css.headers['content-security-policy']);
  t.notMatch(css.body, /@import|url\(\s*['"]?https?:/, 'no stylesheet or font from elsewhere');
  t.match(css.body, /@media\s*\(max-width:\s*720px\)/, 'a layout for phones');

  const missing = await app.inject({ method: 'GET', url: '/backoffice/other.js' });
  t.equal(missing.statusCode, 404);
});

t.test('the page is not in the OpenAPI document (it is no API)', async (t) => {
  const doc = JSON.parse((await app.inject({ method: 'GET', url: '/openapi.json' })).body);
  t.notOk(Object.keys(doc.paths).some((p) => p.startsWith('/backoffice')));
});
