import { parseArgs } from 'node:util';
import { kycAggregateFor, parseAccountEvent, parseTransferEvent, userAggregate } from '@ledger/application';
import {
  type AccountState,
  availableBalanceOf,
  balanceOf,
  evolveAccount,
  evolveTransfer,
  formatAmount,
  initialAccountState,
  initialTransferState,
  type TransferState,
} from '@ledger/domain/ledger';
import type { RecordedEvent } from '@ledger/eventstore';
import {
  type CommandIo,
  type Cut,
  type LedgerCommand,
  openReadOnlyStore,
  parseCut,
  UsageError,
} from './cli.js';

/**
 * `pnpm ledger replay <streamId> [--to <position|time>]`: one stream folded event by event with
 * the domain's own evolve (accounts, transfers, users, KYC cases), printing the state after
 * each event as one JSON line: what the aggregate looked like at every step.
 */

const usage = `Usage: pnpm ledger replay <streamId> [options]

Folds one stream from its first event with the domain's evolve and prints, per event, one
JSON line: {"position", "version", "type", "recordedAt", "state"}, the state a summary of the
aggregate after that event, amounts as decimal strings. Known stream kinds: account-<id>,
transfer-<id>, user-<id> (personal fields stay sealed), kyc-<id>; any other stream is listed
with "state": null. Reads DATABASE_URL, or else the embedded database under DATA_DIR
(default ./.data); writes nothing.

Options:
  --to <position|time>   stop after the last event at or before a global position (digits)
                         or an ISO 8601 time with its zone (2026-01-31T23:59:59Z)
  -h, --help             this text

Exit codes: 0 done, 1 the stream does not exist (or another failure), 2 a bad argument.
`;

/** Events read per round trip: memory stays one page however long the stream. */
const replayPageSize = 1000;

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Folds one stream kind: the next state, and its summary as JSON (money as decimal strings). */
interface Replayer {
  step(event: RecordedEvent): Json;
}

function accountReplayer(): Replayer {
  let state: AccountState = initialAccountState();
  return {
    step(event) {
      state = evolveAccount(state, parseAccountEvent(event));
      if (state.status === 'none') return { status: 'none' };
      const currency = state.currency;
      const money = (amount: bigint) => formatAmount(amount, currency);
      return {
        status: state.status,
        id: state.id,
        kind: state.kind,
        accountType: state.accountType,
        ownerId: state.ownerId,
        currency: state.currency,
        balance: money(balanceOf(state)),
        available: money(availableBalanceOf(state)),
        debitsPosted: money(state.debitsPosted),
        creditsPosted: money(state.creditsPosted),
        debitsPending: money(state.debitsPending),
        creditsPending: money(state.creditsPending),
        overdraftLimit: money(state.flags.overdraftLimit),
      };
    },
  };
}

function transferReplayer(): Replayer {
  let state: TransferState = initialTransferState();
  return {
    step(event) {
      state = evolveTransfer(state, parseTransferEvent(event));
      if (state.status === 'none') return { status: 'none' };
      const s = state;
      const summary: { [key: string]: Json } = {
        status: s.status,
        id: s.id,
        code: s.code,
        mode: s.mode,
        debitAccountId: s.debitAccountId,
        creditAccountId: s.creditAccountId,
        currency: s.currency,
        amount: formatAmount(s.amount, s.currency),
        reversalOf: s.reversalOf,
        review:
          s.review === null
            ? null
            : { reasons: [...s.review.reasons], decision: s.review.decision?.decision ?? null },
      };
      if (s.status === 'posted') {
        summary.postedAmount = formatAmount(s.postedAmount, s.currency);
        summary.reversedBy = s.reversedBy;
      }
      if (s.status === 'rejected') summary.refusal = s.refusal.code;
      return summary;
    },
  };
}

function userReplayer(): Replayer {
  let state = userAggregate.initialState();
  return {
    step(event) {
      state = userAggregate.evolve(state, userAggregate.parse(event.type, event.data));
      if (state.status !== 'registered') return { status: state.status };
      // Personal fields (sealed in the log) are left out: the auditor sees roles and locks.
      return {
        status: state.status,
        id: state.id,
        role: state.role,
        kycStatus: state.kycStatus,
        twoFactor: state.twoFactor.status,
        lock: state.lock === null ? null : { until: state.lock.until, reason: state.lock.reason },
        sessionsEndedAt: state.sessionsEndedAt,
        erasedAt: state.erasedAt,
      };
    },
  };
}

function kycReplayer(): Replayer {
  const aggregate = kycAggregateFor(null);
  let state = aggregate.initialState();
  return {
    step(event) {
      state = aggregate.evolve(state, aggregate.parse(event.type, event.data));
      if (state.status === 'none') return { status: 'none' };
      return {
        status: state.status,
        caseId: state.caseId,
        userId: state.userId,
        documentType: state.documentType,
        provider: state.provider,
        attempts: state.attempts,
        checked: state.checked,
        mrzValid: state.mrzValid,
        reasons: [...state.reasons],
        decidedAt: state.decidedAt,
        decidedBy: state.decidedBy,
      };
    },
  };
}

const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** By stream id: `account-number-…` is a reservation, not an account, hence the uuid. */
const kinds: { pattern: RegExp; replayer: () => Replayer }[] = [
  { pattern: new RegExp(`^account-${uuid}$`), replayer: accountReplayer },
  { pattern: new RegExp(`^transfer-${uuid}$`), replayer: transferReplayer },
  { pattern: new RegExp(`^user-${uuid}$`), replayer: userReplayer },
  { pattern: /^kyc-/, replayer: kycReplayer },
];

const past = (cut: Cut | undefined, event: RecordedEvent) =>
  cut !== undefined &&
  ('atPosition' in cut
    ? event.globalPosition > cut.atPosition
    : Date.parse(event.recordedAt) > cut.asOf.getTime());

async function run(args: string[], io: CommandIo): Promise<number> {
  let parsed: { values: { to?: string; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { to: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(pnpm ledger replay --help for usage)`);
  }
  if (parsed.values.help) {
    io.out(usage);
    return 0;
  }
  const [streamId, ...extra] = parsed.positionals;
  if (streamId === undefined || extra.length > 0)
    throw new UsageError('one stream id, e.g. account-<id> (pnpm ledger replay --help)');
  const cut = parsed.values.to === undefined ? undefined : parseCut(parsed.values.to, '--to');
  const kind = kinds.find((k) => k.pattern.test(streamId));
  const replayer = kind?.replayer();
  if (kind === undefined) io.err(`replay: no evolve for ${streamId}'s kind: events listed without state\n`);

  const opened = await openReadOnlyStore(io.env);
  try {
    let fromVersion = 0n;
    let seen = 0;
    for (;;) {
      const page = await opened.store.readStream(streamId, { fromVersion, limit: replayPageSize });
      for (const event of page) {
        if (past(cut, event)) return 0;
        seen++;
        const state = replayer === undefined ? null : replayer.step(event);
        io.out(
          `${JSON.stringify({
            position: event.globalPosition.toString(),
            version: event.streamVersion.toString(),
            type: event.type,
            recordedAt: event.recordedAt,
            state,
          })}\n`,
        );
      }
      if (page.length < replayPageSize) break;
      fromVersion = page[page.length - 1]!.streamVersion + 1n;
    }
    if (seen === 0 && fromVersion === 0n) {
      io.err(`replay: no stream ${streamId} in ${opened.source}\n`);
      return 1;
    }
    return 0;
  } finally {
    await opened.close();
  }
}

export const command: LedgerCommand = { usage, run };
