import { z } from 'zod';
import { freeText } from './text.js';

/**
 * Ledger HTTP bodies (API.md, Accounts and Transactions). Amounts are decimal strings here;
 * their exact form (decimals per currency, > 0, ≤ 999999999999999.99) is checked by
 * parseAmount at the edge, and currencies against the domain's ISO 4217 table, both 400.
 */

export const ledgerListLimits = { limitMin: 1, limitMax: 200, limitDefault: 50 } as const;
export const reasonLengthMax = 500;
export const referenceLengthMax = 140;

const limitSchema = z.coerce
  .number()
  .int()
  .min(ledgerListLimits.limitMin)
  .max(ledgerListLimits.limitMax)
  .default(ledgerListLimits.limitDefault);
const cursorSchema = z.string().max(128).optional();
const positionText = z.string().regex(/^[0-9]{1,19}$/, 'a global position');
/** A decimal string in major units: its exact form is checked by parseAmount (400). */
const amountText = z.string().max(64).describe('Decimal string in major units, e.g. "10.50"');
const currencyText = z.string().min(3).max(3).describe('ISO 4217 code');

export const idempotencyHeadersSchema = z.object({
  'idempotency-key': z.uuid().describe('A UUID; the transfer id is derived from (caller, key)'),
});

export const accountTypeSchema = z.enum(['checking', 'savings']);

export const openAccountBodySchema = z.strictObject({
  type: accountTypeSchema,
  currency: currencyText,
  userId: z.uuid().optional().describe('Staff only: the customer the account is for'),
});

export const accountSchema = z
  .object({
    id: z.uuid(),
    accountNumber: z.string().nullable(),
    userId: z.string().nullable(),
    type: z.string(),
    currency: z.string(),
    status: z.enum(['active', 'frozen', 'closed']),
    balance: z.string(),
    availableBalance: z.string(),
    pendingDebits: z.string(),
    pendingCredits: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: 'Account' });
export type AccountBody = z.infer<typeof accountSchema>;

export const accountResponseSchema = z.object({ account: accountSchema, position: z.string().nullable() });
export const accountPageSchema = z.object({
  items: z.array(accountSchema),
  nextCursor: z.string().nullable(),
});

export const listAccountsQuerySchema = z.object({
  limit: limitSchema,
  cursor: cursorSchema,
  userId: z.uuid().optional(),
  minPosition: positionText.optional(),
});

export const statementQuerySchema = z.object({
  limit: limitSchema,
  cursor: cursorSchema,
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  minPosition: positionText.optional(),
});

export const statementLineSchema = z
  .object({
    transactionId: z.uuid(),
    postedAt: z.string(),
    direction: z.enum(['debit', 'credit']),
    amount: z.string(),
    balanceAfter: z.string(),
    counterparty: z.string(),
    reference: z.string().nullable(),
    code: z.string(),
    position: z.string(),
  })
  .meta({ id: 'StatementLine' });
export const statementPageSchema = z.object({
  items: z.array(statementLineSchema),
  nextCursor: z.string().nullable(),
});

export const balanceQuerySchema = z.object({
  asOf: z.iso.datetime({ offset: true }).optional(),
  atPosition: positionText.optional(),
  minPosition: positionText.optional(),
});
export const balanceSchema = z.object({
  accountId: z.uuid(),
  currency: z.string(),
  balance: z.string(),
  availableBalance: z.string(),
  asOf: z.string(),
  position: z.string(),
});

export const reasonBodySchema = z.strictObject({ reason: freeText({ max: reasonLengthMax }) });

export const transferBodySchema = z.strictObject({
  type: z.literal('transfer'),
  fromAccountId: z.uuid(),
  toAccountId: z.uuid().optional(),
  toAccountNumber: z.string().max(64).optional(),
  amount: amountText,
  currency: currencyText,
  reference: freeText({ max: referenceLengthMax, min: 0 }).optional(),
  mode: z.enum(['immediate', 'pending']).optional(),
  timeoutSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 60 * 60)
    .optional()
    .describe('Mode "pending" only: seconds until the hold expires (1 s to 30 days); absent: 7 days'),
});
export const cashBodySchema = z.strictObject({
  type: z.enum(['deposit', 'withdrawal']),
  accountId: z.uuid(),
  amount: amountText,
  currency: currencyText,
  reference: freeText({ max: referenceLengthMax, min: 0 }).optional(),
});
/** ISO 13616; its check digits (mod 97) are checked at the edge (400). */
export const ibanLengthMax = 34;
export const beneficiaryNameLengthMax = 140;
export const externalBodySchema = z.strictObject({
  type: z.literal('external'),
  fromAccountId: z.uuid(),
  beneficiary: z.strictObject({
    iban: z
      .string()
      .min(1)
      .max(ibanLengthMax * 2)
      .describe('IBAN of the payee, spaces allowed ("GB82 WEST 1234 5698 7654 32")'),
    name: freeText({ max: beneficiaryNameLengthMax }),
  }),
  amount: amountText,
  currency: currencyText,
  reference: freeText({ max: referenceLengthMax, min: 0 }).optional(),
});
export const createTransactionBodySchema = z.discriminatedUnion('type', [
  transferBodySchema,
  externalBodySchema,
  cashBodySchema,
]);
export type CreateTransactionBody = z.infer<typeof createTransactionBodySchema>;

export const postTransactionBodySchema = z.strictObject({ amount: amountText.optional() }).optional();

export const transactionSchema = z
  .object({
    id: z.uuid(),
    type: z.string(),
    status: z.enum(['posted', 'pending', 'voided', 'rejected', 'held_for_review', 'returned']),
    fromAccountId: z.uuid(),
    toAccountId: z.uuid(),
    amount: z.string(),
    postedAmount: z.string().nullable(),
    currency: z.string(),
    reference: z.string().nullable(),
    reversalOf: z.string().nullable(),
    /** External transfers: the payee, IBAN normalised; null for every other transaction. */
    beneficiary: z.object({ iban: z.string(), name: z.string() }).nullable(),
    riskFlags: z.array(z.string()),
    createdAt: z.string(),
    position: z.string(),
  })
  .meta({ id: 'Transaction' });
export type TransactionBody = z.infer<typeof transactionSchema>;

export const transactionResponseSchema = z.object({ transaction: transactionSchema, position: z.string() });
export const transactionPageSchema = z.object({
  items: z.array(transactionSchema),
  nextCursor: z.string().nullable(),
});
export const listTransactionsQuerySchema = z.object({
  limit: limitSchema,
  cursor: cursorSchema,
  accountId: z.uuid().optional(),
  status: z.enum(['posted', 'pending', 'voided', 'rejected', 'held_for_review', 'returned']).optional(),
  minPosition: positionText.optional(),
});
