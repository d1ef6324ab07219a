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
import { formatAmount } from '@ledger/domain/ledger';
import type { VerifyResult } from '@ledger/eventstore';
import { accountsProjection, type TrialBalanceTotals, trialBalanceTotals } from '@ledger/projection-accounts';
import { readCheckpoint } from '@ledger/readmodel';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { bearerSecurity } from '../../plugins/swagger.js';
import type { Policy } from '../../policy.js';
import { problem, problemSchema } from '../../problem.js';
import { minPositionOf, waitForProjection } from '../../read-your-writes.js';
import { auditView } from './redact.js';
import { type Cut, type TrialBalanceLine, trialBalanceAt, trialBalanceFold } from './trial-balance.js';

/**
 * The Audit API (API.md, Audit): read-only, for the auditor and the director. The log and
 * the streams come from the event store itself (never stale, so no `minPosition`), with
 * secrets redacted (./redact.ts); the verifier recomputes every hash chain; the trial
 * balance comes from the accounts read model now, or is folded from the log for a point in
 * time (./trial-balance.ts).
 */

/** Re-reads of an unbalanced read model (see the trial balance route), and the pause between. */
const readModelRetriesMax = 3;
const readModelRetryMs = 50;

const isBalanced = (t: TrialBalanceTotals) =>
  t.debitsPosted === t.creditsPosted && t.debitsPending === t.creditsPending;

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

const audit: FastifyPluginAsyncZod = async (app) => {
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
      // readAll is exclusive of `after`; fromPosition is inclusive. Positions start above 0.
      const events = await app.store.readAll({ after: from > 0n ? from - 1n : 0n, limit: limit + 1 });
      const page = events.slice(0, limit);
      const last = page[page.length - 1];
      const next = last === undefined ? from : last.globalPosition + 1n;
      return {
        items: page.map(auditView),
        nextCursor: events.length > limit ? encodeCursor('ae1', next) : null,
        nextPosition: next.toString(),
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
      const events = await app.store.readStream(streamId, { fromVersion: from, limit: limit + 1 });
      if (events.length === 0) {
        // Past the end of a stream is an empty page; a stream with no events does not exist.
        const exists = from > 0n && (await app.store.readStream(streamId, { limit: 1 })).length > 0;
        if (!exists) throw problem(404, 'not_found', 'No such stream');
      }
      const page = events.slice(0, limit);
      const last = page[page.length - 1];
      const next = last === undefined ? from : last.streamVersion + 1n;
      return {
        streamId,
        items: page.map(auditView),
        nextCursor: events.length > limit ? encodeCursor('se1', next) : null,
        nextVersion: next.toString(),
      };
    },
  );

  // One verification at a time per process: concurrent callers share the run in flight.
  // It reads every event of the store (pages of 1000) and recomputes its sha256: linear in
  // the size of the log. Past the handler timeout the caller gets a 503 while the run
  // finishes for whoever asks next.
  let verifying: Promise<VerifyResult> | null = null;
  const verifyShared = () => {
    verifying ??= app.store.verify().finally(() => {
      verifying = null;
    });
    return verifying;
  };

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
          'Without asOf/atPosition: from the accounts read model (accepts minPosition). ' +
          'With asOf (legs recorded at or before it) or atPosition: folded from the event store, ' +
          'cost linear in the log up to that point.',
        security: bearerSecurity,
        querystring: trialBalanceQuerySchema,
        response: { 200: trialBalanceSchema, ...errors, 429: problemSchema },
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
        const asOfDate = asOf === undefined ? null : new Date(asOf);
        const cut: Cut = asOfDate === null ? { atPosition: BigInt(atPosition!) } : { asOf: asOfDate };
        foldsRunning++;
        try {
          const { lines, position } = await trialBalanceAt(app.store, cut, request.deadline);
          return body('events', asOfDate?.toISOString() ?? null, position, lines);
        } finally {
          foldsRunning--;
        }
      }

      const minPosition = minPositionOf(request, request.query.minPosition);
      if (minPosition !== undefined)
        await waitForProjection(app.database.db, accountsProjection.name, minPosition);
      // One snapshot for the totals and the position they stand at. The projector commits in
      // batches of a fixed count, so a snapshot can fall between the two legs of a transfer:
      // an imbalance is read again a few times before it is reported.
      const snapshot = () =>
        app.database.db
          .transaction()
          .setIsolationLevel('repeatable read')
          .execute(async (trx) => ({
            totals: await trialBalanceTotals(trx),
            position: (await readCheckpoint(trx, accountsProjection.name))?.position ?? 0n,
          }));
      let { totals, position } = await snapshot();
      for (let retry = 0; retry < readModelRetriesMax && !totals.every(isBalanced); retry++) {
        await new Promise((resolve) => setTimeout(resolve, readModelRetryMs));
        ({ totals, position } = await snapshot());
      }
      const lines = totals.map(
        (t): TrialBalanceLine => ({
          currency: t.currency,
          debits: formatAmount(t.debitsPosted, t.currency),
          credits: formatAmount(t.creditsPosted, t.currency),
          pendingDebits: formatAmount(t.debitsPending, t.currency),
          pendingCredits: formatAmount(t.creditsPending, t.currency),
          balanced: isBalanced(t),
        }),
      );
      return body('read_model', null, position, lines);
    },
  );
};

function body(
  source: 'read_model' | 'events',
  asOf: string | null,
  position: bigint,
  lines: TrialBalanceLine[],
) {
  return {
    source,
    asOf,
    position: position.toString(),
    balanced: lines.every((l) => l.balanced),
    currencies: lines,
  };
}

export default audit;
