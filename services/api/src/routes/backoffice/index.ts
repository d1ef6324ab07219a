import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { type BackofficeBundle, backofficeBundle } from './bundle.js';

/**
 * GET /backoffice (API.md, Operations): the staff page. A static HTML shell that loads
 * /backoffice/app.css and /backoffice/app.js (this origin only, no inline script or style),
 * within the API's content security policy (plugins/security.ts sets it on every answer).
 * The page signs in through /api/auth like any client and keeps its tokens in memory; every
 * figure it shows comes from the API's read-model endpoints, so this serves files only.
 */

export const backofficeHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Ledger back office</title>
<link rel="stylesheet" href="/backoffice/app.css">
<script type="module" src="/backoffice/app.js"></script>
</head>
<body>
<div id="app"><p class="boot">Loading the back office…</p></div>
<noscript><p class="boot">The back office needs JavaScript.</p></noscript>
</body>
</html>
`;

const backoffice: FastifyPluginAsync = async (app) => {
  const hide = { schema: { hide: true } };

  app.get('/backoffice', hide, async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      // The shell names no data, but is small: always the current one.
      .header('cache-control', 'no-cache')
      .send(backofficeHtml),
  );

  for (const name of ['app.js', 'app.css'] as const satisfies readonly (keyof BackofficeBundle)[]) {
    app.get(`/backoffice/${name}`, hide, async (request: FastifyRequest, reply: FastifyReply) => {
      const file = (await backofficeBundle())[name];
      reply.header('etag', file.etag).header('cache-control', 'no-cache');
      if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
      return reply.type(file.contentType).send(file.body);
    });
  }
};

export default backoffice;
