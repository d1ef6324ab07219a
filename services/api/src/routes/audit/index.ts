import {
  auditLogPage,
  auditStreamPage,
  type LedgerTotalsReadModel,
  sharedVerifier,
  type TrialBalanceCut,
  trialBalance,
  trialBalanceFold,
  trialBalanceView,
} from '@ledger/application';
import {
  auditEventPageSchema,
  auditEventsQuerySchema,
  auditStreamPageSchema,
  auditStreamParamsSchema,
  auditStreamQuerySchema,
  trialBalanceQuerySchema,
  trialBalanceSchema,
  verifyResponseSchema,
} from '@ledger/contracts';
import { accountsProjection } from '@ledger/projection-accounts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { bearerSecurity } from '../../plugins/swagger.js';
import type { Policy } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { readModelBehindResponses, readYourWrites } from '../../read-your-writes.js';

/**
 * The Audit API (API.md, Audit): read-only, for the auditor and the director. Each route
 * parses, calls one query of @ledger/application (audit/) and maps its answer: the log and
 * the streams from the event store itself (never stale, so no `minPosition`), with secrets
 * redacted; the verifier recomputing every hash chain; the trial balance from the accounts
 * read model now, or folded from the log for a point in time.
 */

export interface AuditRoutesOptions {
  /** The accounts read model's totals, for the trial balance "now" (made by app.ts). */
  ledgerTotals: LedgerTotalsReadModel;
}

const auditPolicy: Policy = { roles: ['auditor', 'director'] };
const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema };

// Cursors: an opaque wrapper of the next page's first position (or version), so a client
// cannot mistake one list's cursor for another's.
function encodeCursor(tag: string, next: bigint): string {
  return Buffer.from(`${tag}:${next}`).toString('base64url');
}

function decodeCursor(tag: string, cursor: string): bigint {
  const match = new RegExp(`^${tag}:([0-9]{1,19})$`).exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw invalid('querystring.cursor', 'invalid cursor');
  return BigInt(match[1]!);
}

function invalid(path: string, message: string) {
  return problem(400, 'validation_failed', 'The request querystring is not valid', {
    errors: [{ path, message }],
  });
}

/** Where a page starts: `cursor` or the explicit start, not both. */
function startOf(tag: string, cursor: string | undefined, from: string | undefined, fromName: string) {
  if (cursor !== undefined && from !== undefined)
    throw invalid('querystring.cursor', `give cursor or ${fromName}, not both`);
  if (cursor !== undefined) return decodeCursor(tag, cursor);
  return from === undefined ? 0n : BigInt(from);
}

const audit: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, options) => {
  const tags = ['audit'];

  app.get(
    '/events',
    {
      config: { policy: auditPolicy },
      schema: {
        tags,
        summary: 'The global log, in position order, from the event store (secrets redacted)',
        security: bearerSecurity,
        querystring: auditEventsQuerySchema,
        response: { 200: auditEventPageSchema, ...errors },
      },
    },
    async (request) => {
      const { limit } = request.query;
      const from = startOf('ae1', request.query.cursor, request.query.fromPosition, 'fromPosition');
      const page = await auditLogPage(app.store, { fromPosition: from, limit });
      return {
        items: page.items,
        nextCursor: page.more ? encodeCursor('ae1', page.next) : null,
        nextPosition: page.next.toString(),
      };
    },
  );

  app.get(
    '/streams/:streamId',
    {
      config: { policy: auditPolicy },
      schema: {
        tags,
        summary: 'One stream’s events, in version order (secrets redacted)',
        description:
          'Stream ids are `<kind>-<id>`, e.g. `user-<uuid>`, `account-<uuid>`, `transfer-<uuid>`; at most 256 characters.',
        security: bearerSecurity,
        params: auditStreamParamsSchema,
        querystring: auditStreamQuerySchema,
        response: { 200: auditStreamPageSchema, ...errors, 404: problemSchema },
      },
    },
    async (request) => {
      const { streamId } = request.params;
      const { limit } = request.query;
      const from = startOf('se1', request.query.cursor, request.query.fromVersion, 'fromVersion');
      const page = await auditStreamPage(app.store, streamId, { fromVersion: from, limit });
      // Past the end of a stream is an empty page; a stream with no events does not exist.
      if (page === null) throw problem(404, 'not_found', 'No such stream');
      return {
        streamId,
        items: page.items,
        nextCursor: page.more ? encodeCursor('se1', page.next) : null,
        nextVersion: page.next.toString(),
      };
    },
  );

  // One verification at a time per process: concurrent callers share the run in flight.
  // Past the handler timeout the caller gets a 503 while the run finishes for whoever asks next.
  const verifyShared = sharedVerifier(app.store);

  app.get(
    '/verify',
    {
      config: { policy: auditPolicy },
      schema: {
        tags,
        summary: 'Recompute every stream’s hash chain; name the first bad event',
        description: 'Reads the whole event store (cost linear in its size); concurrent calls share one run.',
        security: bearerSecurity,
        response: { 200: verifyResponseSchema, 401: problemSchema, 403: problemSchema },
      },
    },
    async () => {
      const result = await verifyShared();
      const bad = result.firstBadEvent;
      return {
        ok: result.ok,
        checkedEvents: result.checkedEvents,
        firstBadEvent:
          bad === null
            ? null
            : {
                eventId: bad.eventId,
                streamId: bad.streamId,
                streamVersion: bad.streamVersion.toString(),
                position: bad.globalPosition.toString(),
                reason: bad.reason,
              },
      };
    },
  );

  let foldsRunning = 0;

  app.get(
    '/trial-balance',
    {
      config: { policy: auditPolicy },
      schema: {
        tags,
        summary: 'Per currency Σ debits and Σ credits over all accounts, and whether they balance',
        description:
          'Without asOf/atPosition: from the accounts read model (accepts minPosition; ' +
          '503 read_model_behind if it has not reached it within the wait). ' +
          'With asOf (legs recorded at or before it) or atPosition: folded from the event store, ' +
          'cost linear in the log up to that point.',
        security: bearerSecurity,
        querystring: trialBalanceQuerySchema,
        response: { 200: trialBalanceSchema, ...errors, 429: problemSchema, ...readModelBehindResponses },
      },
    },
    async (request, reply) => {
      const { asOf, atPosition } = request.query;
      if (asOf !== undefined && atPosition !== undefined)
        throw invalid('querystring.asOf', 'give asOf or atPosition, not both');

      if (asOf !== undefined || atPosition !== undefined) {
        if (foldsRunning >= trialBalanceFold.foldsConcurrentMax) {
          reply.header('retry-after', '1');
          throw problem(429, 'rate_limited', 'Other point-in-time trial balances are being computed');
        }
        const cut: TrialBalanceCut =
          asOf === undefined ? { atPosition: BigInt(atPosition!) } : { asOf: new Date(asOf) };
        foldsRunning++;
        try {
          return trialBalanceView(await trialBalance({ store: app.store, cut, signal: request.deadline }));
        } finally {
          foldsRunning--;
        }
      }

      await readYourWrites(app.database.db, request, accountsProjection.name, request.query.minPosition);
      return trialBalanceView(await trialBalance({ readModel: options.ledgerTotals }));
    },
  );
};

export default audit;
