/** The ledger's stream names (DESIGN.md §4), and the schema version of the events it writes. */

export const ledgerEventSchemaVersion = 1;

export const accountStreamId = (accountId: string) => `account-${accountId}`;
export const transferStreamId = (transferId: string) => `transfer-${transferId}`;
/** Reserves an account number for one account: created with expected no_stream. */
export const accountNumberStreamId = (accountNumber: string) => `account-number-${accountNumber}`;
/** One event per account a customer opens: makes "second account needs KYC" race-free. */
export const customerAccountsStreamId = (userId: string) => `customer-accounts-${userId}`;
/**
 * Records one post or void request under its (caller, Idempotency-Key) id, created with
 * no_stream in the same append as the transfer's event: a retry of the request finds it.
 */
export const requestStreamId = (requestId: string) => `request-${requestId}`;
