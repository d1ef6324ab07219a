import { z } from 'zod';
import { type IdentityEventType, userSchema } from './identity.js';
import { accountSchema, statementLineSchema } from './ledger.js';

/**
 * GET /api/auth/me/export (API.md, Auth): everything the bank holds about the caller, as one
 * JSON document. Bounded, so that the largest export stays a sane size: the newest lines of
 * each statement and the newest security events, each part saying whether it was cut.
 */

export const exportLimits = {
  /** Accounts exported; a user holding more gets the first ones opened and accountsTruncated. */
  accountsMax: 100,
  /** Newest statement lines per account; older ones are left out (`truncated`). */
  statementLinesPerAccountMax: 10_000,
  /** Newest security events of the user's stream. */
  securityEventsMax: 1_000,
} as const;

/**
 * The user's own security events (DESIGN, Identity: logins, lockouts, 2FA, password and role
 * changes, token reuse, logouts, profile changes), as their stream records them.
 */
export const securityEventTypes = [
  'LoginSucceeded',
  'LoginFailed',
  'UserLocked',
  'UserUnlocked',
  'TwoFactorSetupStarted',
  'TwoFactorEnabled',
  'TwoFactorDisabled',
  'RecoveryCodesGenerated',
  'PasswordChanged',
  'RoleChanged',
  'RefreshTokenReused',
  'LoggedOut',
  'ProfileUpdated',
] as const satisfies readonly IdentityEventType[];
export type SecurityEventType = (typeof securityEventTypes)[number];

export const securityEventSchema = z.object({
  type: z.enum(securityEventTypes),
  at: z.string().describe('ISO 8601 UTC'),
});
export type SecurityEventBody = z.infer<typeof securityEventSchema>;

export type StatementLineBody = z.infer<typeof statementLineSchema>;

export const accountStatementSchema = z.object({
  accountId: z.uuid(),
  lines: z
    .array(statementLineSchema)
    .describe(`Newest first, at most ${exportLimits.statementLinesPerAccountMax}`),
  truncated: z.boolean().describe('Older lines exist and were left out'),
});

export const dataExportSchema = z
  .object({
    exportedAt: z.string().describe('ISO 8601 UTC'),
    position: z
      .string()
      .describe('Global position the accounts and statements stand at (the accounts read model)'),
    profile: userSchema,
    accounts: z.array(accountSchema).describe('In opening order'),
    accountsTruncated: z.boolean().describe(`More than ${exportLimits.accountsMax} accounts`),
    statements: z.array(accountStatementSchema).describe('One per exported account, in the same order'),
    notifications: z
      .array(z.never())
      .max(0)
      .describe('Notifications sent to the user: none are kept yet, so always empty'),
    consents: z
      .array(z.never())
      .max(0)
      .describe('Consents the user gave: none are recorded yet, so always empty'),
    securityEvents: z
      .array(securityEventSchema)
      .describe(`The user's own security events, newest first, at most ${exportLimits.securityEventsMax}`),
    securityEventsTruncated: z.boolean().describe('Older security events exist and were left out'),
  })
  .meta({ id: 'DataExport' });
export type DataExportBody = z.infer<typeof dataExportSchema>;
