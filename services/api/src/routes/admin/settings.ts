import { changeSettings, type LoadedSettings, loadSettings, settingsVersionText } from '@ledger/application';
import { settingsBodySchemaFor, settingsHeadersSchema, settingsResponseSchema } from '@ledger/contracts';
import { ruleIds } from '@ledger/domain';
import { currencies } from '@ledger/domain/ledger';
import { type BankSettings, settingsText } from '@ledger/domain/settings';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { bearerSecurity } from '../../plugins/swagger.js';
import { directorOnly, type Policy, principalOf } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';

/**
 * GET and PUT /api/admin/settings (API.md Admin: director; limits, cashApprovalMin, fees,
 * the fraud and AML rules' thresholds, modes and watch list).
 * The director reads and writes; the auditor reads (read-only everywhere). Other staff
 * neither: the limits are the director's policy, and customers meet them as 422s.
 *
 * Read from the settings stream itself, not a read model: one small, cached fold, and the
 * very settings the next transfer will be held to.
 */

const readPolicy: Policy = { roles: ['director', 'auditor'] };
const writePolicy: Policy = { roles: directorOnly };
const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema };

/** "0" before any change, then the number of changes: the settings' ETag. */
const versionText = settingsVersionText;

function body(
  settings: BankSettings,
  version: LoadedSettings['version'],
  changedAt: string | null,
  position: bigint | null,
) {
  return {
    settings: settingsText(settings),
    version: versionText(version),
    changedAt,
    position: position?.toString() ?? null,
  };
}

const withETag = (reply: FastifyReply, version: string) => reply.header('etag', `"${version}"`);

const settings: FastifyPluginAsyncZod = async (app) => {
  const tags = ['admin'];

  app.get(
    '/settings',
    {
      config: { policy: readPolicy },
      schema: {
        tags,
        summary:
          'The bank’s settings in force: limits, cashApprovalMin, fraud/AML rules and watch list (director, auditor)',
        security: bearerSecurity,
        response: { 200: settingsResponseSchema, ...errors },
      },
    },
    async (_request, reply) => {
      const { state, version, position } = await loadSettings(app.ledger);
      const answer = body(state.settings, version, state.status === 'set' ? state.changedAt : null, position);
      withETag(reply, answer.version);
      return answer;
    },
  );

  app.put(
    '/settings',
    {
      config: { policy: writePolicy },
      schema: {
        tags,
        summary: 'Replace the bank’s settings (director); If-Match for optimistic concurrency',
        security: bearerSecurity,
        headers: settingsHeadersSchema,
        body: settingsBodySchemaFor(currencies, ruleIds),
        response: { 200: settingsResponseSchema, ...errors, 412: problemSchema },
      },
    },
    async (request, reply) => {
      const ifMatch = request.headers['if-match'];
      const changes = ifMatch === undefined ? undefined : BigInt(ifMatch.slice(1, -1));
      const now = app.auth.now();
      const result = await changeSettings(
        app.ledger,
        {
          settings: request.body,
          now,
          ...(changes === undefined ? {} : { expectedVersion: changes === 0n ? 'no_stream' : changes - 1n }),
        },
        app.auth.metadata(request, principalOf(request).userId),
      );
      if (!result.ok && result.code === 'invalid_settings') {
        const errors = result.errors.map((e) => ({ path: `body.${e.path}`, message: e.message }));
        throw problem(400, 'validation_failed', 'The request body is not valid', { errors });
      }
      if (!result.ok) {
        throw problem(412, 'precondition_failed', 'The settings changed since this version was read', {
          version: versionText(result.actual),
        });
      }
      const answer = body(result.settings, result.version, result.changedAt, result.position);
      withETag(reply, answer.version);
      return answer;
    },
  );
};

export default settings;
