import { join } from 'node:path';
import { parseIban } from '@ledger/domain/ledger';
import { z } from 'zod';
import { parseAuditSigningKey } from './kept-secrets.js';

/**
 * Configuration, read once from the environment at start-up and validated; a bad value
 * stops start-up with a message naming the variable (API.md, Operations).
 */

const rateLimitPattern = /^([1-9][0-9]{0,6})\/(second|minute|hour|day)$/;

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Bounds of HANDLER_TIMEOUT_MS: below 100 ms nothing would answer; above 10 minutes clients gave up long before. */
const handlerTimeoutMsMin = 100;
const handlerTimeoutMsMax = 600_000;

/**
 * Bounds of HOLD_SWEEP_INTERVAL_MS (the worker's sweep for overdue holds): often enough to
 * be a bound worth having, seldom enough not to load the database.
 */
const holdSweepIntervalMsMin = 100;
const holdSweepIntervalMsMax = 3_600_000;
const holdSweepIntervalMsMessage = `must be an integer from ${holdSweepIntervalMsMin} to ${holdSweepIntervalMsMax}`;

/**
 * Bounds of PACK_FEES_INTERVAL_MS (the worker's fee scheduler for packs): a fee is charged
 * at most this long after it is due; an hour at most, 100 ms for tests.
 */
const packFeesIntervalMsMin = 100;
const packFeesIntervalMsMax = 3_600_000;
const packFeesIntervalMsMessage = `must be an integer from ${packFeesIntervalMsMin} to ${packFeesIntervalMsMax}`;

/**
 * Bounds of JOB_LOCK_MS (BullMQ): a job whose worker died is taken back by another after its
 * lock lapses, within about this long; a live worker renews its lock at half of it.
 */
const jobLockMsMin = 1_000;
const jobLockMsMax = 600_000;
const jobLockMsMessage = `must be an integer from ${jobLockMsMin} to ${jobLockMsMax}`;

/** The simulated clearing rail's bounds (packages/application, clearing.ts, says the same). */
const clearingDelayMsMax = 86_400_000;
const clearingReturnIbansMax = 1000;

/** MAIL_FROM: the sender of notification mails (a header: no CR/LF, bounded). */
export const mailFromDefault = 'Ledger Bank <no-reply@ledger.local>';
const mailFromLengthMax = 320;
const mailFromPattern = /^(?:[^<>"\p{Cc}]{1,200} )?<[^\s<>@]+@[^\s<>@]+>$|^[^\s<>@]+@[^\s<>@]+$/u;

/**
 * Bounds of CHECKPOINT_EVERY (a chain checkpoint every this many events): below 10 the
 * checkpoints would be most of the log; 10^9 is "never" for any bank this runs.
 */
const checkpointEveryMin = 10;
const checkpointEveryMax = 1_000_000_000;
const checkpointEveryMessage = `must be an integer from ${checkpointEveryMin} to ${checkpointEveryMax}`;

/** Bounds of READY_LAG_MAX_SECONDS: a day behind is an outage, not a lag to tolerate. */
const readyLagMaxSecondsMax = 86_400;

const optionalString = z
  .string()
  .transform((s) => s.trim())
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const urlWithProtocols = (protocols: string[]) =>
  optionalString.refine(
    (value) => {
      if (value === undefined) return true;
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const envSchema = z
  .object({
    PORT: z.coerce
      .number({ message: 'must be an integer from 0 to 65535' })
      .int('must be an integer from 0 to 65535')
      .min(0, 'must be an integer from 0 to 65535')
      .max(65535, 'must be an integer from 0 to 65535')
      .default(3000),
    HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
    DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:']),
    DATA_DIR: z.string().min(1, 'must not be empty').default('./.data'),
    DOCUMENTS_DIR: optionalString,
    REDIS_URL: urlWithProtocols(['redis:', 'rediss:']),
    HOLD_SWEEP_INTERVAL_MS: z.coerce
      .number({ message: holdSweepIntervalMsMessage })
      .int(holdSweepIntervalMsMessage)
      .min(holdSweepIntervalMsMin, holdSweepIntervalMsMessage)
      .max(holdSweepIntervalMsMax, holdSweepIntervalMsMessage)
      .default(30_000),
    PACK_FEES_INTERVAL_MS: z.coerce
      .number({ message: packFeesIntervalMsMessage })
      .int(packFeesIntervalMsMessage)
      .min(packFeesIntervalMsMin, packFeesIntervalMsMessage)
      .max(packFeesIntervalMsMax, packFeesIntervalMsMessage)
      .default(60_000),
    JOB_LOCK_MS: z.coerce
      .number({ message: jobLockMsMessage })
      .int(jobLockMsMessage)
      .min(jobLockMsMin, jobLockMsMessage)
      .max(jobLockMsMax, jobLockMsMessage)
      .default(30_000),
    JWT_SECRET: optionalString.refine((s) => s === undefined || s.length >= 32, {
      message: 'must be at least 32 characters',
    }),
    TOTP_KEY: optionalString.refine((s) => s === undefined || s.length >= 32, {
      message: 'must be at least 32 characters',
    }),
    DATA_KEY: optionalString.refine((s) => s === undefined || s.length >= 32, {
      message: 'must be at least 32 characters',
    }),
    AUDIT_SIGNING_KEY: optionalString.refine(
      (s) => {
        if (s === undefined) return true;
        try {
          parseAuditSigningKey(s);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'must be an Ed25519 private key: PKCS#8 PEM, or its DER in base64' },
    ),
    SMTP_URL: urlWithProtocols(['smtp:', 'smtps:']),
    // A header: one line (no CR/LF), an address alone or a display name before <address>.
    MAIL_FROM: z
      .string()
      .transform((s) => s.trim())
      .transform((s) => (s === '' ? mailFromDefault : s))
      .refine((s) => s.length <= mailFromLengthMax && mailFromPattern.test(s), {
        message: `must be an address or "Name <address>" on one line, at most ${mailFromLengthMax} characters`,
      })
      .default(mailFromDefault),
    CORS_ORIGINS: optionalString.transform((value, ctx) => {
      const origins = (value ?? '')
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean);
      for (const origin of origins) {
        let ok = false;
        try {
          const url = new URL(origin);
          ok = (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin;
        } catch {}
        if (!ok)
          ctx.addIssue({ code: 'custom', message: `"${origin}" is not an origin like https://bank.example` });
      }
      return origins;
    }),
    LOG_LEVEL: z.enum(logLevels, { message: `must be one of ${logLevels.join(', ')}` }).default('info'),
    HANDLER_TIMEOUT_MS: z.coerce
      .number({ message: `must be an integer from ${handlerTimeoutMsMin} to ${handlerTimeoutMsMax}` })
      .int(`must be an integer from ${handlerTimeoutMsMin} to ${handlerTimeoutMsMax}`)
      .min(handlerTimeoutMsMin, `must be an integer from ${handlerTimeoutMsMin} to ${handlerTimeoutMsMax}`)
      .max(handlerTimeoutMsMax, `must be an integer from ${handlerTimeoutMsMin} to ${handlerTimeoutMsMax}`)
      .default(30_000),
    KYC_PROVIDER: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/, 'a provider name: lower-case letters, digits and "-"')
      .default('local'),
    KYC_PROVIDER_SECRETS: optionalString.transform((value, ctx) => {
      const message = 'must be a JSON object of provider name to a secret of at least 32 characters';
      if (value === undefined) return {} as Record<string, string>;
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
      const secrets: Record<string, string> = {};
      for (const [name, secret] of Object.entries(parsed)) {
        if (
          !/^[a-z][a-z0-9-]{0,31}$/.test(name) ||
          name === 'local' ||
          typeof secret !== 'string' ||
          secret.length < 32
        ) {
          ctx.addIssue({ code: 'custom', message: `"${name.slice(0, 40)}": ${message}` });
          continue;
        }
        secrets[name] = secret;
      }
      return secrets;
    }),
    RATE_LIMITS: optionalString.transform((value, ctx) => {
      if (value === undefined) return {} as Record<string, string>;
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object like {"login": "5/minute"}' });
        return z.NEVER;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object like {"login": "5/minute"}' });
        return z.NEVER;
      }
      const limits: Record<string, string> = {};
      for (const [name, limit] of Object.entries(parsed)) {
        if (typeof limit !== 'string' || !rateLimitPattern.test(limit)) {
          ctx.addIssue({ code: 'custom', message: `"${name}" must be "<count>/<second|minute|hour|day>"` });
          continue;
        }
        limits[name] = limit;
      }
      return limits;
    }),
    BANK_DIRECTOR_USERNAME: optionalString,
    BANK_DIRECTOR_EMAIL: optionalString,
    // bcrypt reads 72 bytes: a longer password would be cut without a word (API.md, Auth).
    BANK_DIRECTOR_PASSWORD: optionalString.refine((s) => s === undefined || Buffer.byteLength(s) <= 72, {
      message: 'must be at most 72 bytes in UTF-8',
    }),
    CLEARING_DELAY_MS: z.coerce
      .number({ message: `must be an integer from 0 to ${clearingDelayMsMax}` })
      .int(`must be an integer from 0 to ${clearingDelayMsMax}`)
      .min(0, `must be an integer from 0 to ${clearingDelayMsMax}`)
      .max(clearingDelayMsMax, `must be an integer from 0 to ${clearingDelayMsMax}`)
      .default(5000),
    CLEARING_RETURN_IBANS: optionalString.transform((value, ctx) => {
      const ibans: string[] = [];
      for (const entry of (value ?? '').split(',')) {
        if (entry.trim() === '') continue;
        const parsed = parseIban(entry.trim());
        if (!parsed.ok) {
          ctx.addIssue({
            code: 'custom',
            message: `"${entry.trim()}" is not a valid IBAN (${parsed.reason})`,
          });
          continue;
        }
        ibans.push(parsed.iban);
      }
      if (ibans.length > clearingReturnIbansMax) {
        ctx.addIssue({ code: 'custom', message: `at most ${clearingReturnIbansMax} IBANs` });
      }
      return ibans;
    }),
    READY_LAG_MAX_SECONDS: z.coerce
      .number({ message: `must be an integer from 1 to ${readyLagMaxSecondsMax}` })
      .int(`must be an integer from 1 to ${readyLagMaxSecondsMax}`)
      .min(1, `must be an integer from 1 to ${readyLagMaxSecondsMax}`)
      .max(readyLagMaxSecondsMax, `must be an integer from 1 to ${readyLagMaxSecondsMax}`)
      .default(30),
    CHECKPOINT_EVERY: z.coerce
      .number({ message: checkpointEveryMessage })
      .int(checkpointEveryMessage)
      .min(checkpointEveryMin, checkpointEveryMessage)
      .max(checkpointEveryMax, checkpointEveryMessage)
      .default(1000),
  })
  .superRefine((env, ctx) => {
    const director = [env.BANK_DIRECTOR_USERNAME, env.BANK_DIRECTOR_EMAIL, env.BANK_DIRECTOR_PASSWORD];
    const set = director.filter((v) => v !== undefined).length;
    if (set !== 0 && set !== 3) {
      ctx.addIssue({
        code: 'custom',
        path: ['BANK_DIRECTOR_USERNAME'],
        message:
          'BANK_DIRECTOR_USERNAME, BANK_DIRECTOR_EMAIL and BANK_DIRECTOR_PASSWORD go together: set all three or none',
      });
    }
  });

export interface RateLimit {
  max: number;
  timeWindowMs: number;
}

export interface Config {
  port: number;
  host: string;
  /** Unset: the embedded default, PGlite under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Identity documents, sealed (KYC): DOCUMENTS_DIR, or `<dataDir>/documents`. */
  documentsDir: string;
  /** Unset: in-process jobs and in-memory rate limits. */
  redisUrl: string | undefined;
  /**
   * How often the worker sweeps for pending transfers past their expiry (or clearing) time,
   * whatever its queue lost: no hold outlives its expiresAt by much more than this.
   */
  holdSweepIntervalMs: number;
  /** How often the worker settles the packs' due subscriptions (fees, dunning retries). */
  packFeesIntervalMs: number;
  /** BullMQ's job lock: a dead worker's job is taken back after about this long. */
  jobLockMs: number;
  /** Unset: generated once and kept in dataDir. */
  jwtSecret: string | undefined;
  /** Seals TOTP secrets at rest. Unset: generated once and kept in dataDir. */
  totpKey: string | undefined;
  /**
   * The master key of personal data: wraps each user's key (the vault). Unset: generated
   * once and kept in dataDir. A wrong one stops start-up before anything is written.
   */
  dataKey: string | undefined;
  /**
   * The bank's Ed25519 key signing audit exports (`pnpm ledger export`), PKCS#8 PEM or base64
   * DER. Unset: generated once and kept in dataDir.
   */
  auditSigningKey: string | undefined;
  smtpUrl: string | undefined;
  /** The From of notification mails (MAIL_FROM): one line, validated. */
  mailFrom: string;
  corsOrigins: string[];
  logLevel: (typeof logLevels)[number];
  /** The API's handler deadline: routing to answer, past it 503 `timeout` (plugins/deadline.ts). */
  handlerTimeoutMs: number;
  /** Per-route overrides by name, parsed. */
  rateLimits: Record<string, RateLimit>;
  /** Who checks new KYC cases: 'local' (OCR, MRZ, face in the worker) or an external provider. */
  kycProvider: string;
  /** Each external provider's callback secret (HMAC-SHA256 of its signed callbacks). */
  kycProviderSecrets: Record<string, string>;
  director: { username: string; email: string; password: string } | undefined;
  /**
   * The simulated clearing rail of external transfers: it answers `delayMs` after a
   * transfer is made, returning those to `returnIbans` (normalised) and settling the rest.
   */
  clearing: { delayMs: number; returnIbans: string[] };
  /** GET /health/ready answers 503 while a read model's lagSeconds is above this. */
  readyLagMaxSeconds: number;
  /** The projector records a chain checkpoint (a digest over every stream's head) every this many events. */
  checkpointEvery: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
  }
}

const windowMs = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

export function parseRateLimit(text: string): RateLimit {
  const match = rateLimitPattern.exec(text);
  if (!match) throw new RangeError(`bad rate limit "${text}"`);
  return { max: Number(match[1]), timeWindowMs: windowMs[match[2] as keyof typeof windowMs] };
}

/** Reads and validates the configuration; throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = envSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? 'environment'),
        message: issue.message,
      })),
    );
  }
  const e = result.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    documentsDir: e.DOCUMENTS_DIR ?? join(e.DATA_DIR, 'documents'),
    redisUrl: e.REDIS_URL,
    holdSweepIntervalMs: e.HOLD_SWEEP_INTERVAL_MS,
    packFeesIntervalMs: e.PACK_FEES_INTERVAL_MS,
    jobLockMs: e.JOB_LOCK_MS,
    jwtSecret: e.JWT_SECRET,
    totpKey: e.TOTP_KEY,
    dataKey: e.DATA_KEY,
    auditSigningKey: e.AUDIT_SIGNING_KEY,
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    corsOrigins: e.CORS_ORIGINS,
    logLevel: e.LOG_LEVEL,
    handlerTimeoutMs: e.HANDLER_TIMEOUT_MS,
    kycProvider: e.KYC_PROVIDER,
    kycProviderSecrets: e.KYC_PROVIDER_SECRETS,
    rateLimits: Object.fromEntries(Object.entries(e.RATE_LIMITS).map(([k, v]) => [k, parseRateLimit(v)])),
    director:
      e.BANK_DIRECTOR_USERNAME && e.BANK_DIRECTOR_EMAIL && e.BANK_DIRECTOR_PASSWORD
        ? {
            username: e.BANK_DIRECTOR_USERNAME,
            email: e.BANK_DIRECTOR_EMAIL,
            password: e.BANK_DIRECTOR_PASSWORD,
          }
        : undefined,
    clearing: { delayMs: e.CLEARING_DELAY_MS, returnIbans: e.CLEARING_RETURN_IBANS },
    readyLagMaxSeconds: e.READY_LAG_MAX_SECONDS,
    checkpointEvery: e.CHECKPOINT_EVERY,
  };
}
