import { z } from 'zod';
import { freeText } from './text.js';

/**
 * Identity: the events of `user-<id>` streams and of the username/email reservation
 * streams (versioned: `schemaVersion` 1), and the HTTP bodies of /api/auth and
 * /api/admin/users (API.md, Auth and Admin). The one source of these types.
 */

export const roles = ['customer', 'agent', 'manager', 'director', 'auditor'] as const;
export type Role = (typeof roles)[number];
export const roleSchema = z.enum(roles);

/** Staff = agent, manager, director; rights grow in that order (API.md, Conventions). */
export const staffRoles = ['agent', 'manager', 'director'] as const satisfies readonly Role[];

export const kycStatuses = ['none', 'submitted', 'verified', 'rejected', 'needs_review'] as const;
export type KycStatus = (typeof kycStatuses)[number];

/** The languages the bank writes to a user in (notifications); a user who never chose one reads `en`. */
export const userLocales = ['en', 'fr'] as const;
export type UserLocale = (typeof userLocales)[number];
export const defaultUserLocale: UserLocale = 'en';
export const userLocaleSchema = z.enum(userLocales);

export const identityLimits = {
  passwordLengthMin: 12,
  passwordLengthMax: 128,
  /** bcrypt reads at most 72 bytes: a longer password would be silently truncated. */
  passwordBytesMax: 72,
  /** Recovery codes a user holds at once (single use each). */
  recoveryCodeCount: 10,
  usernameLengthMin: 3,
  usernameLengthMax: 32,
  /**
   * RFC 5321 allows 254, but `email-<address>` must fit the event store's 256-character
   * stream ids; nobody has a real address between 251 and 254 characters.
   */
  emailLengthMax: 250,
  nameLengthMax: 100,
  /** Five failed logins within the window lock the user for lockDurationMs. */
  failedLoginsMax: 5,
  failedLoginWindowMs: 15 * 60_000,
  lockDurationMs: 15 * 60_000,
} as const;

export const identityEventSchemaVersion = 1;

export const userStreamId = (userId: string) => `user-${userId}`;
/**
 * Reservation streams are named by the keyed hash of the lower-cased name (the vault's
 * keyedHash), never by the name: one per name, case-insensitive, and nothing personal in ids.
 */
export const usernameStreamId = (keyedHash: string) => `username-${keyedHash}`;
export const emailStreamId = (keyedHash: string) => `email-${keyedHash}`;

const isoTime = z.iso.datetime();
const isoDate = z.iso.date();

/** A TOTP secret as the vault keeps it (credentials): AES-256-GCM under TOTP_KEY, never in clear. */
export const encryptedSecretSchema = z.object({
  alg: z.literal('A256GCM'),
  /** Which derived key sealed it, so the key can rotate. */
  keyId: z.string(),
  iv: z.string(),
  tag: z.string(),
  ciphertext: z.string(),
});
export type EncryptedSecret = z.infer<typeof encryptedSecretSchema>;

/**
 * A personal field as the log holds it (DESIGN §5): AES-256-GCM under the user's own key,
 * kept in the vault and destroyed by erasure. `pii1.<iv>.<ciphertext>.<tag>`, base64url.
 * The hash chain covers this form, so anyone can check it; only the bank can open it.
 */
export const sealedFieldSchema = z
  .string()
  .regex(/^pii1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}$/, 'a sealed personal field');

/** What an erased user's username and email read as, everywhere (their other fields read null). */
export const erasedMarker = '[erased]';

/** The personal fields of a user's events, sealed in the log, opened by the application. */
export const personalFieldsByEventType = {
  UserRegistered: ['username', 'email', 'firstName', 'lastName', 'dateOfBirth', 'phone'],
  ProfileUpdated: ['firstName', 'lastName', 'dateOfBirth', 'phone'],
} as const;

/** Fields that are never null: an erased one reads as erasedMarker. */
export const requiredPersonalFields: readonly string[] = ['username', 'email'];

export const loginFailureReasons = [
  'invalid_credentials',
  'otp_required',
  'invalid_otp',
  'account_locked',
] as const;

/**
 * Where a password or one-time code was checked: wrong ones count towards the lockout
 * wherever they are sent (API.md, Auth), and the audit trail says where.
 */
export const credentialChecks = [
  'login',
  'two_factor_enable',
  'two_factor_disable',
  'password_change',
  'recovery_codes',
] as const;
export type CredentialCheck = (typeof credentialChecks)[number];

const sealed = sealedFieldSchema;

/**
 * The events as the log stores them. No secret is ever in them (password hashes and TOTP
 * secrets are in the vault, named here by id), and every personal field is sealed.
 */
export const identityEventSchemas = {
  UserRegistered: z.object({
    userId: z.uuid(),
    username: sealed,
    email: sealed,
    /** The password hash in the vault's credentials. */
    passwordId: z.uuid(),
    role: roleSchema,
    firstName: sealed.nullable(),
    lastName: sealed.nullable(),
    dateOfBirth: sealed.nullable(),
    phone: sealed.nullable(),
    registeredAt: isoTime,
    /** 'self' (POST /register), 'staff' (POST /api/admin/users), 'bootstrap' (BANK_DIRECTOR_*). */
    via: z.enum(['self', 'staff', 'bootstrap']),
  }),
  /** In `username-<keyed hash>`: the name is never in the log, only its keyed hash (the stream id). */
  UsernameReserved: z.object({ userId: z.uuid() }),
  /** In `email-<keyed hash>`. */
  EmailReserved: z.object({ userId: z.uuid() }),
  ProfileUpdated: z.object({
    userId: z.uuid(),
    at: isoTime,
    firstName: sealed.nullable().optional(),
    lastName: sealed.nullable().optional(),
    dateOfBirth: sealed.nullable().optional(),
    phone: sealed.nullable().optional(),
    /** Not personal, not sealed; absent from events written before it existed. */
    locale: userLocaleSchema.optional(),
  }),
  LoginSucceeded: z.object({
    userId: z.uuid(),
    at: isoTime,
    otpTimeStep: z.number().int().nullable(),
    /** The second factor was a recovery code (spent by this login). */
    recoveryCode: z.boolean().optional(),
  }),
  LoginFailed: z.object({
    userId: z.uuid(),
    at: isoTime,
    reason: z.enum(loginFailureReasons),
    /** Absent: a login. */
    during: z.enum(credentialChecks).optional(),
  }),
  UserLocked: z.object({
    userId: z.uuid(),
    at: isoTime,
    /** null: until a manager unlocks. */
    until: isoTime.nullable(),
    reason: z.enum(['too_many_failed_logins', 'staff']),
  }),
  UserUnlocked: z.object({ userId: z.uuid(), at: isoTime, reason: z.enum(['staff']) }),
  /** The pending secret is in the vault's credentials, sealed; `factorId` names it. */
  TwoFactorSetupStarted: z.object({ userId: z.uuid(), at: isoTime, factorId: z.uuid() }),
  TwoFactorEnabled: z.object({ userId: z.uuid(), at: isoTime, otpTimeStep: z.number().int() }),
  TwoFactorDisabled: z.object({ userId: z.uuid(), at: isoTime, otpTimeStep: z.number().int() }),
  PasswordChanged: z.object({ userId: z.uuid(), at: isoTime, passwordId: z.uuid() }),
  /** New recovery codes replace the old ones; the codes themselves are kept hashed, outside the log. */
  RecoveryCodesGenerated: z.object({
    userId: z.uuid(),
    at: isoTime,
    count: z.number().int(),
    otpTimeStep: z.number().int(),
  }),
  RoleChanged: z.object({ userId: z.uuid(), at: isoTime, from: roleSchema, to: roleSchema }),
  KycStatusChanged: z.object({ userId: z.uuid(), at: isoTime, status: z.enum(kycStatuses) }),
  RefreshTokenReused: z.object({ userId: z.uuid(), at: isoTime, familyId: z.uuid() }),
  LoggedOut: z.object({ userId: z.uuid(), at: isoTime, familyId: z.uuid().nullable() }),
  /**
   * Erasure (API.md, Admin): the user's key was destroyed; every personal field sealed under
   * it reads as erased from now on, in the log and in every read model.
   */
  PersonalDataErased: z.object({ userId: z.uuid(), at: isoTime, by: z.uuid() }),
} as const;

export type IdentityEventType = keyof typeof identityEventSchemas;
export type IdentityEvent = {
  [K in IdentityEventType]: { type: K; data: z.infer<(typeof identityEventSchemas)[K]> };
}[IdentityEventType];
export type UserEvent = Exclude<IdentityEvent, { type: 'UsernameReserved' | 'EmailReserved' }>;

/** Parses a stored event's data by its type; throws on a shape this version does not know. */
export function parseIdentityEvent(type: string, data: unknown): IdentityEvent {
  const schema = identityEventSchemas[type as IdentityEventType];
  if (!schema) throw new RangeError(`not an identity event type: ${type}`);
  return { type, data: schema.parse(data) } as IdentityEvent;
}

// ---------------------------------------------------------------- HTTP bodies

// Letters, digits and . _ - only: a username is shown in back-office pages and logs.
export const usernameSchema = z
  .string()
  .min(identityLimits.usernameLengthMin)
  .max(identityLimits.usernameLengthMax)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only');
export const emailSchema = z.email().max(identityLimits.emailLengthMax);
/**
 * Checked before any hashing: a 1 MB password is a 400 that costs nothing. At most 72 bytes
 * in UTF-8, bcrypt's limit: a longer one would be truncated without a word, so two passwords
 * sharing their first 72 bytes would both open the account.
 */
export const passwordSchema = z
  .string()
  .min(identityLimits.passwordLengthMin)
  .max(identityLimits.passwordLengthMax)
  .refine((p) => p.isWellFormed(), 'not valid Unicode')
  .refine(
    (p) => Buffer.byteLength(p, 'utf8') <= identityLimits.passwordBytesMax,
    `at most ${identityLimits.passwordBytesMax} bytes in UTF-8 (bcrypt's limit)`,
  );

/** Whether a password is the user's own name or address (case-insensitive): a 400. */
export function passwordIsIdentity(password: string, identity: { username: string; email: string }): boolean {
  const p = password.toLowerCase();
  return p === identity.username.toLowerCase() || p === identity.email.toLowerCase();
}

const notIdentity = (body: { username: string; email: string; password: string }) =>
  !passwordIsIdentity(body.password, body);
const notIdentityIssue = {
  message: 'the password must not be the username or the email',
  path: ['password'],
};

const nameSchema = freeText({ max: identityLimits.nameLengthMax });
const phoneSchema = z.string().regex(/^\+?[0-9][0-9 ()-]{3,22}$/, 'a phone number such as +213 555 12 34 56');
export const otpSchema = z.string().regex(/^[0-9]{6}$/, 'six digits');
/** xxxxx-xxxxx in a 32-letter alphabet (no 0/O, 1/I/L): 50 bits, typed by hand from paper. */
export const recoveryCodeSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z2-9]{5}-?[a-z2-9]{5}$/, 'a recovery code such as abcde-fghjk');

export const userSchema = z
  .object({
    id: z.uuid(),
    username: z.string(),
    email: z.string(),
    firstName: z.string().nullable(),
    lastName: z.string().nullable(),
    dateOfBirth: z.string().nullable().meta({ description: 'YYYY-MM-DD' }),
    phone: z.string().nullable(),
    role: roleSchema,
    twoFactorEnabled: z.boolean(),
    kycStatus: z.enum(kycStatuses),
    createdAt: z.string(),
    /** The language of the user's notifications (absent from lists built by read models). */
    locale: userLocaleSchema.optional(),
  })
  .meta({ id: 'User' });
export type UserView = z.infer<typeof userSchema>;

export const registerBodySchema = z
  .object({
    username: usernameSchema,
    email: emailSchema,
    password: passwordSchema,
    firstName: nameSchema.optional(),
    lastName: nameSchema.optional(),
    dateOfBirth: isoDate.optional(),
    phone: phoneSchema.optional(),
  })
  .refine(notIdentity, notIdentityIssue);

export const loginBodySchema = z
  .object({
    // What registration accepts: anything else cannot be a user, and never reaches a query.
    username: usernameSchema.optional(),
    email: emailSchema.optional(),
    // Login checks length only: the policy is the register's, and a wrong one is just wrong.
    password: z.string().min(1).max(identityLimits.passwordLengthMax),
    otp: otpSchema.optional(),
    /** Instead of `otp` when the authenticator is lost: one of the user's recovery codes, spent by use. */
    recoveryCode: recoveryCodeSchema.optional(),
  })
  .refine((b) => (b.username === undefined) !== (b.email === undefined), {
    message: 'give either username or email',
    path: ['username'],
  })
  .refine((b) => b.otp === undefined || b.recoveryCode === undefined, {
    message: 'give otp or recoveryCode, not both',
    path: ['recoveryCode'],
  });

export const tokenPairSchema = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int(),
});
export const loginResponseSchema = tokenPairSchema.extend({ user: userSchema });

export const refreshBodySchema = z.object({ refreshToken: z.string().min(1).max(256) });
export const logoutBodySchema = z.object({ refreshToken: z.string().min(1).max(256).optional() });

export const patchMeBodySchema = z.object({
  firstName: nameSchema.nullable().optional(),
  lastName: nameSchema.nullable().optional(),
  dateOfBirth: isoDate.nullable().optional(),
  phone: phoneSchema.nullable().optional(),
  locale: userLocaleSchema.optional(),
});

export const twoFactorSetupResponseSchema = z.object({ secret: z.string(), otpauthUrl: z.string() });
/** 2FA changes take the password too: a stolen access token alone cannot enroll or remove one. */
export const otpBodySchema = z.object({
  otp: otpSchema,
  password: z.string().min(1).max(identityLimits.passwordLengthMax),
});
export const recoveryCodesResponseSchema = z.object({ recoveryCodes: z.array(z.string()) });
export const changePasswordBodySchema = z.object({
  currentPassword: z.string().min(1).max(identityLimits.passwordLengthMax),
  newPassword: passwordSchema,
});

export const adminUserSchema = userSchema
  .extend({
    locked: z.boolean(),
    lockedUntil: z.string().nullable(),
    /** When the user's personal data was erased (their fields then read as erased); null: never. */
    erasedAt: z.string().nullable(),
  })
  .meta({ id: 'AdminUser' });
export type AdminUserView = z.infer<typeof adminUserSchema>;

export const createStaffBodySchema = z
  .object({
    username: usernameSchema,
    email: emailSchema,
    password: passwordSchema,
    role: z.enum(['agent', 'manager', 'director', 'auditor']),
    firstName: nameSchema.optional(),
    lastName: nameSchema.optional(),
  })
  .refine(notIdentity, notIdentityIssue);

export const patchUserBodySchema = z
  .object({ role: roleSchema.optional(), locked: z.boolean().optional() })
  .refine((b) => b.role !== undefined || b.locked !== undefined, { message: 'give role or locked' });

export const listLimits = { limitMin: 1, limitMax: 200, limitDefault: 50 } as const;

export const listUsersQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(listLimits.limitMin)
    .max(listLimits.limitMax)
    .default(listLimits.limitDefault),
  cursor: z.string().max(128).optional(),
  role: roleSchema.optional(),
});
export const userPageSchema = z.object({
  items: z.array(adminUserSchema),
  nextCursor: z.string().nullable(),
});
