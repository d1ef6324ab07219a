import assert from 'node:assert/strict';
import type { RulePolicy } from '@ledger/domain';
import {
  type CashDesk,
  type Currency,
  isLimitedCode,
  type TransferCode,
  type TransferLimits,
} from '@ledger/domain/ledger';
import type { PackBenefits } from '@ledger/domain/packs';
import {
  type BankSettings,
  decideSettings,
  evolveSettings,
  initialSettingsState,
  type SettingsEvent,
  type SettingsFieldError,
  type SettingsInput,
  type SettingsState,
} from '@ledger/domain/settings';
import type { EventMetadata, EventStore, RecordedEvent } from '@ledger/eventstore';
import { foldStream, runCommand } from './command-handler.js';
import { loadUser } from './identity.js';
import { SingleFlight } from './single-flight.js';

/**
 * The bank's settings over the event store: one stream, `bank-settings`, of SettingsChanged
 * events, each holding the whole settings in force from its position on. Read on every
 * limited transfer, so the fold is cached (a SettingsCache, one per process, made at the
 * composition root) and a load reads only what is new.
 */

export const settingsStreamId = 'bank-settings';
export const settingsEventSchemaVersion = 1;

export interface LoadedSettings {
  state: SettingsState;
  /** Stream version of the last change; 'no_stream' while the defaults are in force. */
  version: bigint | 'no_stream';
  /** Global position of the last change, or null (defaults). */
  position: bigint | null;
}

/** Our own writer's events: anything else in this stream is a corrupt store. */
export function parseSettingsEvent(recorded: Pick<RecordedEvent, 'type' | 'data'>): SettingsEvent {
  assert.equal(recorded.type, 'SettingsChanged', `${recorded.type} is not a settings event`);
  assert(typeof recorded.data === 'object' && recorded.data !== null, 'settings event data is an object');
  return { type: 'SettingsChanged', data: recorded.data as unknown as SettingsEvent['data'] };
}

/**
 * The API's form of a version (GET /api/admin/settings' `version`, its ETag): "0" before any
 * change, then the number of changes. Also what a decision records as its settingsVersion.
 */
export function settingsVersionText(version: LoadedSettings['version']): string {
  return version === 'no_stream' ? '0' : (version + 1n).toString();
}

const newer = (a: bigint | 'no_stream', b: bigint | 'no_stream') =>
  a !== 'no_stream' && (b === 'no_stream' || a > b);

type CachedSettings = LoadedSettings & { loadedAt?: number | undefined };

/** The last fold of the settings stream this process made, and when its read started. */
export class SettingsCache {
  #cached: CachedSettings | undefined;
  /** The read of the stream in flight for callers that accept an age (see loadSettings). */
  readonly #reading = new SingleFlight<'settings', LoadedSettings>();

  get(): CachedSettings | undefined {
    return this.#cached;
  }

  /** Keeps `loaded` unless what is kept is newer (concurrent loads finish out of order). */
  offer(loaded: LoadedSettings, loadedAt: number): void {
    if (this.#cached === undefined || !newer(this.#cached.version, loaded.version)) {
      this.#cached = { ...loaded, loadedAt };
    }
  }

  /** This process changed the settings: its next read reads the stream (no maxAgeMs wait). */
  expire(): void {
    if (this.#cached !== undefined) this.#cached = { ...this.#cached, loadedAt: undefined };
    // A read in flight may have started before the change: the next one starts after it.
    this.#reading.forget('settings');
  }

  /** `read`, or the read already in flight (for callers that accept an age). */
  shareRead(read: () => Promise<LoadedSettings>): Promise<LoadedSettings> {
    return this.#reading.run('settings', read);
  }
}

/** Where the settings are read from: the store, and this process's cache of them. */
export interface SettingsContext {
  readonly store: EventStore;
  readonly settings: SettingsCache;
}

/**
 * How old the settings a transfer is held to may be: another process's change (a director
 * lowering a limit) applies here within this; this process's own changes apply at once.
 * Saves a read of the settings stream on every transfer.
 */
export const settingsMaxAgeMs = 1_000;

/**
 * The settings in force: the cached fold plus whatever was appended since (one read when
 * nothing was). `maxAgeMs`: a cached fold read that recently is returned without reading.
 */
export async function loadSettings(
  context: SettingsContext,
  options: { maxAgeMs?: number } = {},
): Promise<LoadedSettings> {
  const startedAt = performance.now();
  const fresh = context.settings.get();
  if (
    fresh?.loadedAt !== undefined &&
    options.maxAgeMs !== undefined &&
    startedAt - fresh.loadedAt < options.maxAgeMs
  ) {
    return { state: fresh.state, version: fresh.version, position: fresh.position };
  }
  // A burst right after the cache aged shares one read instead of each reading the stream.
  // A caller without maxAgeMs wants a read that starts after its call: its own.
  if (options.maxAgeMs !== undefined)
    return context.settings.shareRead(() => readSettings(context, fresh, startedAt));
  return readSettings(context, fresh, startedAt);
}

/** One read of the settings stream after the cached fold (or from its start). */
async function readSettings(
  context: SettingsContext,
  fresh: CachedSettings | undefined,
  startedAt: number,
): Promise<LoadedSettings> {
  const cached = fresh ?? {
    state: initialSettingsState(),
    version: 'no_stream' as const,
    position: null,
  };
  const folded = await foldStream(
    context.store,
    settingsStreamId,
    { state: { state: cached.state, position: cached.position }, version: cached.version },
    (s, event) => ({
      state: evolveSettings(s.state, parseSettingsEvent(event)),
      position: event.globalPosition,
    }),
  );
  const loaded: LoadedSettings = { ...folded.state, version: folded.version };
  context.settings.offer(loaded, startedAt);
  return loaded;
}

export interface ChangeSettingsCommand {
  settings: SettingsInput;
  now: Date;
  /** Optimistic concurrency (If-Match): the version the change was based on. Absent: last writer wins. */
  expectedVersion?: bigint | 'no_stream';
}

export type ChangeSettingsResult =
  | {
      ok: true;
      settings: BankSettings;
      version: bigint | 'no_stream';
      /** When the settings in force were set (null: the defaults, never set). */
      changedAt: string | null;
      /** Global position of the settings in force (when they already were these: of their change). */
      position: bigint | null;
    }
  | { ok: false; code: 'invalid_settings'; errors: SettingsFieldError[] }
  | { ok: false; code: 'version_mismatch'; actual: bigint | 'no_stream' };

/** Replaces the settings (the decider validates them all first): one SettingsChanged, or nothing. */
export async function changeSettings(
  context: SettingsContext,
  command: ChangeSettingsCommand,
  metadata: EventMetadata,
): Promise<ChangeSettingsResult> {
  return runCommand<ChangeSettingsResult>(context.store, async () => {
    const { state, version, position } = await loadSettings(context);
    if (command.expectedVersion !== undefined && command.expectedVersion !== version) {
      return { answer: { ok: false, code: 'version_mismatch', actual: version } };
    }
    const decision = decideSettings(
      { type: 'ChangeSettings', settings: command.settings, now: command.now },
      state,
    );
    if (decision.status === 'rejected')
      return { answer: { ok: false, code: 'invalid_settings', errors: decision.rejection.errors } };
    if (decision.events.length === 0) {
      const changedAt = state.status === 'set' ? state.changedAt : null;
      return { answer: { ok: true, settings: decision.settings, version, changedAt, position } };
    }
    return {
      writes: [
        {
          streamId: settingsStreamId,
          expectedVersion: version,
          events: decision.events.map((event) => ({
            type: event.type,
            schemaVersion: settingsEventSchemaVersion,
            data: event.data,
            metadata,
          })),
        },
      ],
      done: (result) => {
        const written = result.streams[0]?.version;
        assert(written !== undefined, 'the append names the settings stream');
        context.settings.expire();
        return {
          ok: true,
          settings: decision.settings,
          version: written,
          changedAt: command.now.toISOString(),
          position: result.position,
        };
      },
      // Based on a version another director has since replaced: theirs is not silently undone.
      onConflict: (error) =>
        command.expectedVersion === undefined
          ? undefined
          : { ok: false, code: 'version_mismatch', actual: error.actual },
    };
  });
}

export interface TransferLimitsQuery {
  /** The owner of the debit account: their KYC decides the unverified cap. */
  ownerId: string;
  /** The owner's KYC when the caller has it at hand; absent: read from the owner's stream. */
  kycVerified?: boolean;
  currency: Currency;
  code: TransferCode;
  /**
   * The benefits of the debit account's pack (packBenefitsFor): a higher per-transfer or
   * daily limit replaces the settings' in the pack's currency.
   */
  pack?: { benefits: PackBenefits; currency: Currency } | null;
}

/**
 * The limits a customer's transfer is held to, for CreateTransfer's `limits`: the settings'
 * limits of the currency; an owner whose KYC is not `verified` is also held to
 * unverifiedDailyDebitMax (0 for `external`: money leaves the bank only for a known
 * customer), which answers kyc_required. Codes other than `transfer` and `external` are
 * not limited: undefined.
 */
export async function transferLimitsFor(
  context: SettingsContext,
  query: TransferLimitsQuery & { code: 'transfer' | 'external' },
): Promise<TransferLimits>;
export async function transferLimitsFor(
  context: SettingsContext,
  query: TransferLimitsQuery,
): Promise<TransferLimits | undefined>;
export async function transferLimitsFor(
  context: SettingsContext,
  query: TransferLimitsQuery,
): Promise<TransferLimits | undefined> {
  if (!isLimitedCode(query.code)) return undefined;
  const [{ state }, verified] = await Promise.all([
    loadSettings(context, { maxAgeMs: settingsMaxAgeMs }),
    query.kycVerified ??
      loadUser(context.store, query.ownerId).then(
        (owner) => owner.status === 'registered' && owner.kycStatus === 'verified',
      ),
  ]);
  const limits = state.settings.limits[query.currency];
  const benefits = query.pack?.currency === query.currency ? query.pack.benefits : undefined;
  const higher = (settings: bigint, pack: bigint | undefined) =>
    pack !== undefined && pack > settings ? pack : settings;
  return {
    transferAmountMax: higher(limits.transferAmountMax, benefits?.transferAmountMax),
    dailyDebitMax: higher(limits.dailyDebitMax, benefits?.dailyDebitMax),
    ...(verified
      ? {}
      : { unverifiedDailyDebitMax: query.code === 'external' ? 0n : limits.unverifiedDailyDebitMax }),
  };
}

/**
 * The cash desk's context for CreateTransfer's `desk`: who serves (never on their own
 * account) and the settings' cashApprovalMin of the currency, as recent as the limits.
 */
export async function cashDeskFor(
  context: SettingsContext,
  query: { staffId: string; currency: Currency },
): Promise<CashDesk> {
  const { state } = await loadSettings(context, { maxAgeMs: settingsMaxAgeMs });
  return { staffId: query.staffId, approvalMin: state.settings.cashApprovalMin[query.currency] };
}

/**
 * The fraud and AML rules' policy for CreateTransfer's `rules`: the thresholds, modes and
 * watch list in force, as recent as the limits (settingsMaxAgeMs), and their version in the
 * API's form, which the decision records so that it replays with these very settings
 * (settingsAtVersion).
 */
export async function rulePolicyFor(
  context: SettingsContext,
): Promise<{ policy: RulePolicy; settingsVersion: string }> {
  const { state, version } = await loadSettings(context, { maxAgeMs: settingsMaxAgeMs });
  const { ruleThresholds, rules, watchList } = state.settings;
  return {
    policy: { thresholds: ruleThresholds, modes: rules, watchList },
    settingsVersion: settingsVersionText(version),
  };
}

/** A version as the API writes it: "0" or a count of changes without leading zeros. */
const versionTextPattern = /^(0|[1-9][0-9]{0,18})$/;

/**
 * The settings in force at a version in the API's form (a decision's settingsVersion, a GET's
 * `version`): "0" is the defaults, "n" the n-th change. Each SettingsChanged holds the whole
 * settings, so folding the stream up to that version is folding its last event: one read,
 * whatever the stream's length. A version the stream has not reached (or not a version at
 * all) is a caller's error: nothing was ever decided under it.
 */
export async function settingsAtVersion(store: EventStore, version: string): Promise<BankSettings> {
  assert(versionTextPattern.test(version), `settings version ${JSON.stringify(version)} is not a version`);
  const changes = BigInt(version);
  if (changes === 0n) return initialSettingsState().settings;
  const [event] = await store.readStream(settingsStreamId, { fromVersion: changes - 1n, limit: 1 });
  assert(
    event !== undefined && event.streamVersion === changes - 1n,
    `settings version ${version} does not exist yet`,
  );
  return evolveSettings(initialSettingsState(), parseSettingsEvent(event)).settings;
}
