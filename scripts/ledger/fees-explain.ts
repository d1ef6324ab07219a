import { parseArgs } from 'node:util';
import {
  bankAccountId,
  feeTransferId,
  parseTransferEvent,
  readWholeStream,
  transferStreamId,
} from '@ledger/application';
import { type PackEvent, packStreamId, parsePackEvent, subscriptionStreamId } from '@ledger/contracts';
import {
  type Currency,
  evolveTransfer,
  formatAmount,
  fromMinorUnits,
  initialTransferState,
  isCurrency,
} from '@ledger/domain/ledger';
import {
  calendarDaysBetween,
  evolvePack,
  initialPackState,
  type Pack,
  type PackState,
  periodFeeOf,
  periodOf,
  proRata,
} from '@ledger/domain/packs';
import type { EventStore } from '@ledger/eventstore';
import { type CommandIo, type LedgerCommand, openReadOnlyStore, UsageError } from './cli.js';

/**
 * `pnpm ledger fees:explain --subscription <id>`: a subscription's fee schedule recomputed
 * from the events alone, period by period: the pack and version in force, the fee its
 * definition at that version gives (periodFeeOf: the monthly fee or its waiver), each pack
 * change's pro-rata from its inputs (proRata), each charge's attempts and the fee transfer
 * each one made (posted or refused, from the transfer's stream: its derived id, its accounts
 * and amount checked), next to what was recorded.
 * Exit 1 when a recomputed amount (or a date, a day count, a transfer's amount) differs.
 */

const usage = `Usage: pnpm ledger fees:explain --subscription <id> [options]

Recomputes a subscription's fees from the events alone and prints them period by period:
the period's dates, the pack id, name and version in force, the fee that version's
definition gives (its monthly fee, or 0 under a waiver), the recorded fee; each pack change
with its pro-rata inputs (days left, days in the period, fee basis, new fee) and result;
each charge's attempts with the fee transfer they made (posted or refused). A "≠" marks a
recomputed value that differs from the recorded one. Reads DATABASE_URL, or else the
embedded database under DATA_DIR (default ./.data); writes nothing.

Options:
  --subscription <id>   the subscription (a UUID)
  --json                one JSON line per period instead (amounts as decimal strings)
  -h, --help            this text

Exit codes: 0 every recomputed amount equals the recorded one, 1 one differs (or the
subscription does not exist, or another failure), 2 a bad argument.
`;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type SubscriptionEvent = Extract<PackEvent, { type: `Subscription${string}` }>;
type Data<T extends PackEvent['type']> = Extract<PackEvent, { type: T }>['data'];

/** A recomputed value next to the recorded one. */
export interface Checked<T> {
  recorded: T;
  recomputed: T;
  matches: boolean;
}

const checked = <T>(recorded: T, recomputed: T): Checked<T> => ({
  recorded,
  recomputed,
  matches: recorded === recomputed,
});

export interface PackRef {
  packId: string;
  packVersion: number;
  /** The pack's name at that version (null: the version is not in the pack's stream). */
  packName: string | null;
}

export interface AttemptView {
  attempt: number;
  at: string;
  outcome: 'paid' | 'failed';
  /** Failed: why (the transfer's refusal code), and when the next attempt is due (null: none). */
  reason: string | null;
  nextAttemptAt: string | null;
  transferId: string;
  /** The fee transfer as its stream holds it: posted, refused (rejected), or missing. */
  transfer: { status: string; amount: string | null; refusal: string | null };
  /**
   * The transfer is the attempt's (its id derived from subscription, charge and attempt),
   * between the account and fee income, of the charge's amount: posted for a paid attempt,
   * refused for a failed one.
   */
  matches: boolean;
}

export interface ChargeView {
  key: string;
  /** What the charge collects: > 0 from the account, < 0 a refund to it. */
  amount: string;
  attempts: AttemptView[];
  state: 'paid' | 'due' | 'given_up' | 'suspended';
}

export interface ChangeView {
  change: number;
  at: string;
  from: PackRef;
  to: PackRef;
  daysLeft: Checked<number>;
  periodDays: Checked<number>;
  feeBasis: Checked<string>;
  newFee: Checked<string>;
  adjustment: Checked<string>;
  charge: ChargeView | null;
  matches: boolean;
}

export interface PeriodView {
  subscriptionId: string;
  period: number;
  start: Checked<string>;
  end: Checked<string>;
  pack: PackRef;
  monthlyFee: string | null;
  waiver: Checked<string | null>;
  fee: Checked<string>;
  charge: ChargeView | null;
  changes: ChangeView[];
  suspended: { at: string; key: string } | null;
  cancelled: { at: string; endsAt: string } | null;
  /** Every recomputed value of the period (its changes and transfers too) equals the recorded one. */
  matches: boolean;
}

export interface Explanation {
  subscriptionId: string;
  accountId: string;
  ownerId: string;
  currency: Currency;
  periods: PeriodView[];
  matches: boolean;
}

/** Each pack's definition at each version, folded from its stream once. */
async function packVersions(store: EventStore, packId: string): Promise<Pack[]> {
  const events = await readWholeStream(store, packStreamId(packId));
  const versions: Pack[] = [];
  let state: PackState = initialPackState();
  for (const recorded of events) {
    const event = parsePackEvent(recorded.type, recorded.data);
    if (event.type !== 'PackCreated' && event.type !== 'PackChanged') continue;
    state = evolvePack(state, event);
    if (state.status === 'defined') versions.push(state.pack);
  }
  return versions;
}

/** The subscription's fee schedule recomputed from its events, its packs' and its fee transfers'. */
export async function explainFees(store: EventStore, subscriptionId: string): Promise<Explanation | null> {
  const recorded = await readWholeStream(store, subscriptionStreamId(subscriptionId));
  const events = recorded.map((e) => parsePackEvent(e.type, e.data) as SubscriptionEvent);
  const first = events[0];
  if (first?.type !== 'SubscriptionStarted') return null;
  const started = first.data;
  if (!isCurrency(started.currency)) throw new Error(`subscription currency ${started.currency}`);
  const currency = started.currency;
  const money = (minor: bigint) => formatAmount(minor, currency);
  const feeIncome = bankAccountId(currency, 'fee-income');

  const packs = new Map<string, Promise<Pack[]>>();
  const packAt = async (packId: string, version: number): Promise<Pack | null> => {
    let versions = packs.get(packId);
    if (versions === undefined) {
      versions = packVersions(store, packId);
      packs.set(packId, versions);
    }
    return (await versions)[version - 1] ?? null;
  };
  const ref = async (packId: string, packVersion: number): Promise<PackRef> => ({
    packId,
    packVersion,
    packName: (await packAt(packId, packVersion))?.name ?? null,
  });

  const attemptsOf = new Map<
    string,
    Array<Data<'SubscriptionChargePaid'> | Data<'SubscriptionChargeFailed'>>
  >();
  const suspensions = new Map<string, Data<'SubscriptionSuspended'>>();
  for (const event of events) {
    if (event.type === 'SubscriptionChargePaid' || event.type === 'SubscriptionChargeFailed') {
      const list = attemptsOf.get(event.data.key) ?? [];
      list.push(event.data);
      attemptsOf.set(event.data.key, list);
    } else if (event.type === 'SubscriptionSuspended') {
      suspensions.set(event.data.key, event.data);
    }
  }

  const chargeOf = async (key: string, amount: bigint): Promise<ChargeView | null> => {
    const attempts = attemptsOf.get(key) ?? [];
    if (amount === 0n && attempts.length === 0) return null;
    const views: AttemptView[] = [];
    let state: ChargeView['state'] = 'due';
    for (const a of attempts) {
      const paid = !('reason' in a);
      const transferEvents = await readWholeStream(store, transferStreamId(a.transferId));
      const transfer = transferEvents.map(parseTransferEvent).reduce(evolveTransfer, initialTransferState());
      const status =
        transfer.status === 'rejected' ? 'refused' : transfer.status === 'none' ? 'missing' : transfer.status;
      const transferAmount = transfer.status === 'none' ? null : transfer.amount;
      const size = amount < 0n ? -amount : amount;
      views.push({
        attempt: a.attempt,
        at: a.at,
        outcome: paid ? 'paid' : 'failed',
        reason: paid ? null : a.reason,
        nextAttemptAt: paid ? null : a.nextAttemptAt,
        transferId: a.transferId,
        transfer: {
          status,
          amount: transferAmount === null ? null : money(transferAmount),
          refusal: transfer.status === 'rejected' ? transfer.refusal.code : null,
        },
        matches:
          fromMinorUnits(a.amount) === amount &&
          transferAmount === size &&
          a.transferId === feeTransferId(subscriptionId, key, a.attempt) &&
          (transfer.status === 'none' ||
            (transfer.debitAccountId === (amount < 0n ? feeIncome : started.accountId) &&
              transfer.creditAccountId === (amount < 0n ? started.accountId : feeIncome))) &&
          (paid ? status === 'posted' : status === 'refused'),
      });
      if (paid) state = 'paid';
      else if (a.nextAttemptAt === null) state = suspensions.has(key) ? 'suspended' : 'given_up';
    }
    return { key, amount: money(amount), attempts: views, state };
  };

  const periods: PeriodView[] = [];
  const startedAt = new Date(started.startedAt);
  // The fee basis as recomputed: the period's fee, then each change's new fee.
  let basis = 0n;
  let bounds = { start: startedAt, end: new Date(started.periodEnd) };
  const beginPeriod = async (
    period: number,
    recordedBounds: { start: string; end: string },
    packId: string,
    packVersion: number,
    recordedFee: string,
    recordedWaiver: string | null,
  ) => {
    const pack = await packAt(packId, packVersion);
    const derived = pack === null ? null : periodFeeOf(pack, period);
    const expected = periodOf(startedAt, period);
    basis = derived?.fee ?? 0n;
    bounds = { start: new Date(recordedBounds.start), end: new Date(recordedBounds.end) };
    const fee = checked(money(fromMinorUnits(recordedFee)), derived === null ? '?' : money(derived.fee));
    const view: PeriodView = {
      subscriptionId,
      period,
      start: checked(recordedBounds.start, expected.start.toISOString()),
      end: checked(recordedBounds.end, expected.end.toISOString()),
      pack: await ref(packId, packVersion),
      monthlyFee: pack === null ? null : money(pack.monthlyFee),
      waiver: checked(recordedWaiver, derived?.waiver ?? null),
      fee,
      charge: await chargeOf(`p${period}`, fromMinorUnits(recordedFee)),
      changes: [],
      suspended: null,
      cancelled: null,
      matches: false,
    };
    periods.push(view);
  };

  for (const event of events) {
    const current = periods.at(-1);
    switch (event.type) {
      case 'SubscriptionStarted': {
        const d = event.data;
        await beginPeriod(
          0,
          { start: d.startedAt, end: d.periodEnd },
          d.packId,
          d.packVersion,
          d.fee,
          d.waiver,
        );
        break;
      }
      case 'SubscriptionPeriodStarted': {
        const d = event.data;
        await beginPeriod(
          d.period,
          { start: d.periodStart, end: d.periodEnd },
          d.packId,
          d.packVersion,
          d.fee,
          d.waiver,
        );
        break;
      }
      case 'SubscriptionPackChanged': {
        const d = event.data;
        const at = new Date(d.at);
        const periodDays = calendarDaysBetween(bounds.start, bounds.end);
        const daysLeft = Math.max(0, Math.min(periodDays, calendarDaysBetween(at, bounds.end)));
        const to = await packAt(d.toPackId, d.toPackVersion);
        const newFee = to?.monthlyFee ?? null;
        const adjustment =
          newFee === null || periodDays < 1 ? null : proRata(basis, newFee, daysLeft, periodDays);
        const view: ChangeView = {
          change: d.change,
          at: d.at,
          from: await ref(d.fromPackId, d.fromPackVersion),
          to: await ref(d.toPackId, d.toPackVersion),
          daysLeft: checked(d.daysLeft, daysLeft),
          periodDays: checked(d.periodDays, periodDays),
          feeBasis: checked(money(fromMinorUnits(d.fromFee)), money(basis)),
          newFee: checked(money(fromMinorUnits(d.toFee)), newFee === null ? '?' : money(newFee)),
          adjustment: checked(
            money(fromMinorUnits(d.adjustment)),
            adjustment === null ? '?' : money(adjustment),
          ),
          charge: await chargeOf(`c${d.change}`, fromMinorUnits(d.adjustment)),
          matches: false,
        };
        view.matches =
          view.daysLeft.matches &&
          view.periodDays.matches &&
          view.feeBasis.matches &&
          view.newFee.matches &&
          view.adjustment.matches &&
          (view.charge?.attempts.every((a) => a.matches) ?? true);
        basis = newFee ?? basis;
        current?.changes.push(view);
        break;
      }
      case 'SubscriptionSuspended':
        if (current !== undefined) current.suspended = { at: event.data.at, key: event.data.key };
        break;
      case 'SubscriptionCancelled':
        if (current !== undefined) current.cancelled = { at: event.data.at, endsAt: event.data.endsAt };
        break;
      default:
        break;
    }
  }
  for (const p of periods) {
    p.matches =
      p.start.matches &&
      p.end.matches &&
      p.waiver.matches &&
      p.fee.matches &&
      (p.charge?.attempts.every((a) => a.matches) ?? true) &&
      p.changes.every((c) => c.matches);
  }
  return {
    subscriptionId,
    accountId: started.accountId,
    ownerId: started.ownerId,
    currency,
    periods,
    matches: periods.every((p) => p.matches),
  };
}

const mark = <T>(c: Checked<T>, show: (value: T) => string = String) =>
  c.matches ? show(c.recomputed) : `${show(c.recomputed)} ≠ recorded ${show(c.recorded)}`;

const packText = (p: PackRef) => `${p.packName ?? '(unknown version)'} v${p.packVersion} (${p.packId})`;
const day = (iso: string) => iso.slice(0, 10);

function chargeLines(charge: ChargeView, indent: string): string[] {
  const lines = [`${indent}charge ${charge.key} ${charge.amount}: ${charge.state.replace('_', ' ')}`];
  for (const a of charge.attempts) {
    const outcome =
      a.outcome === 'paid'
        ? 'paid'
        : `failed (${a.reason})${a.nextAttemptAt === null ? ', no retry left' : `, next attempt ${a.nextAttemptAt}`}`;
    const transfer = `transfer ${a.transferId} ${a.transfer.status}${a.transfer.amount === null ? '' : ` ${a.transfer.amount}`}${a.transfer.refusal === null ? '' : ` (${a.transfer.refusal})`}`;
    lines.push(
      `${indent}  attempt ${a.attempt} ${a.at}: ${outcome}; ${transfer}${a.matches ? '' : '  ≠ the charge'}`,
    );
  }
  return lines;
}

function text(explanation: Explanation, source: string): string {
  const e = explanation;
  const lines = [
    `fees:explain subscription ${e.subscriptionId}: account ${e.accountId}, ${e.currency}; ${source}`,
  ];
  for (const p of e.periods) {
    lines.push('');
    lines.push(
      `period ${p.period}: ${mark(p.start, day)} → ${mark(p.end, day)}  ${packText(p.pack)}, monthly fee ${p.monthlyFee ?? '?'}`,
    );
    lines.push(
      `  fee ${mark(p.fee)}${p.waiver.recomputed === null && p.waiver.matches ? '' : ` (waiver ${mark(p.waiver, (w) => w ?? 'none')})`}${p.fee.matches && p.waiver.matches ? ', as recorded' : ''}`,
    );
    if (p.charge !== null) lines.push(...chargeLines(p.charge, '  '));
    for (const c of p.changes) {
      lines.push(`  change ${c.change} on ${c.at}: ${packText(c.from)} → ${packText(c.to)}`);
      lines.push(
        `    pro-rata (new fee ${mark(c.newFee)} − fee basis ${mark(c.feeBasis)}) × days left ${mark(c.daysLeft)} ÷ days in period ${mark(c.periodDays)} = ${mark(c.adjustment)}${c.matches ? ', as recorded' : ''}`,
      );
      if (c.charge !== null) lines.push(...chargeLines(c.charge, '    '));
    }
    if (p.suspended !== null) lines.push(`  suspended ${p.suspended.at} (charge ${p.suspended.key} unpaid)`);
    if (p.cancelled !== null) lines.push(`  cancelled ${p.cancelled.at}, effective ${p.cancelled.endsAt}`);
  }
  const differing = e.periods.filter((p) => !p.matches).map((p) => p.period);
  lines.push('');
  lines.push(
    differing.length === 0
      ? `every recomputed amount equals the recorded one (${e.periods.length} period(s))`
      : `DIFFERS from the record in period(s) ${differing.join(', ')}`,
  );
  return `${lines.join('\n')}\n`;
}

function parse(args: string[]): { subscriptionId: string; json: boolean } | 'help' {
  let values: { subscription?: string; json?: boolean; help?: boolean };
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        subscription: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n(pnpm ledger fees:explain --help for usage)`);
  }
  if (values.help) return 'help';
  const id = values.subscription;
  if (id === undefined) throw new UsageError('--subscription is required (pnpm ledger fees:explain --help)');
  if (!uuidPattern.test(id)) throw new UsageError(`--subscription ${id}: not a UUID`);
  return { subscriptionId: id.toLowerCase(), json: values.json ?? false };
}

async function run(args: string[], io: CommandIo): Promise<number> {
  const parsed = parse(args);
  if (parsed === 'help') {
    io.out(usage);
    return 0;
  }
  const opened = await openReadOnlyStore(io.env);
  try {
    const explanation = await explainFees(opened.store, parsed.subscriptionId);
    if (explanation === null) {
      io.err(
        `fees:explain: no subscription ${parsed.subscriptionId} (no subscription-${parsed.subscriptionId} stream)\n`,
      );
      return 1;
    }
    if (parsed.json) for (const period of explanation.periods) io.out(`${JSON.stringify(period)}\n`);
    else io.out(text(explanation, opened.source));
    if (!explanation.matches) {
      if (parsed.json) io.err('fees:explain: a recomputed amount differs from the recorded one\n');
      return 1;
    }
    return 0;
  } finally {
    await opened.close();
  }
}

export const command: LedgerCommand = { usage, run };
