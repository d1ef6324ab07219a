import assert from 'node:assert/strict';
import {
  type AccountBody,
  exportLimits,
  ledgerListLimits,
  parseIdentityEvent,
  type SecurityEventBody,
  type SecurityEventType,
  type StatementLineBody,
  securityEventTypes,
  userStreamId,
} from '@ledger/contracts';
import type { RegisteredUser } from '@ledger/domain';
import type { EventStore } from '@ledger/eventstore';
import { currentUser } from './auth.js';
import { foldStream } from './command-handler.js';
import type { PersonalDataPorts } from './identity.js';

/**
 * The caller's own data (API.md, Auth: GET /me/export): the profile opened from the log, the
 * security events of their stream, and their accounts and statements from the accounts read
 * model (through ExportReadModel, so this package does not depend on projections). Every
 * part is bounded by exportLimits and says when it was cut.
 */

/** A page of the read model: at most its list limit (API.md lists: 200). */
const readPageSizeMax = ledgerListLimits.limitMax;

export interface ExportReadView {
  /** The read model's checkpoint: the last global position this view includes (0 when none). */
  position(): Promise<bigint>;
  /** The user's accounts in opening order, at most `limit`, and whether the user has more. */
  accountsOf(userId: string, limit: number): Promise<{ items: AccountBody[]; more: boolean }>;
  /** A page of an account's statement, newest first; `cursor` continues the previous page. */
  statementPage(
    account: AccountBody,
    page: { limit: number; cursor: string | null },
  ): Promise<{ items: StatementLineBody[]; nextCursor: string | null }>;
}

export interface ExportReadModel {
  /**
   * Runs `read` on one snapshot of the read model, so that balances and statement lines
   * agree: a projector batch committed meanwhile is seen whole or not at all.
   */
  snapshot<T>(read: (view: ExportReadView) => Promise<T>): Promise<T>;
}

export interface DataExportPorts {
  identity: PersonalDataPorts;
  readModel: ExportReadModel;
}

export interface AccountStatement {
  accountId: string;
  /** Newest first. */
  lines: StatementLineBody[];
  /** Older lines exist beyond exportLimits.statementLinesPerAccountMax. */
  truncated: boolean;
}

export interface DataExport {
  exportedAt: Date;
  /** The signed-in user, personal fields opened. */
  user: RegisteredUser;
  /** Where the accounts read model stood when the accounts and statements were read. */
  position: bigint;
  accounts: AccountBody[];
  accountsTruncated: boolean;
  /** One per account, in the same order. */
  statements: AccountStatement[];
  /** Newest first. */
  securityEvents: SecurityEventBody[];
  securityEventsTruncated: boolean;
}

/** Everything held about `userId`, for that user only: the route passes the caller's own id. */
export async function exportUserData(ports: DataExportPorts, userId: string, now: Date): Promise<DataExport> {
  const [user, security, ledger] = await Promise.all([
    currentUser(ports.identity, userId),
    securityEventsOf(ports.identity.store, userId),
    ports.readModel.snapshot((view) => accountsAndStatements(view, userId)),
  ]);
  return { exportedAt: now, user, ...ledger, ...security };
}

async function accountsAndStatements(view: ExportReadView, userId: string) {
  const position = await view.position();
  const { items: accounts, more } = await view.accountsOf(userId, exportLimits.accountsMax);
  assert(accounts.length <= exportLimits.accountsMax, 'accountsOf returned more than asked');
  for (const account of accounts) {
    // A wrong query here would hand one customer another's statements: fail loudly instead.
    assert.equal(account.userId, userId, `account ${account.id} is not the user's`);
  }
  const statements: AccountStatement[] = [];
  for (const account of accounts) statements.push(await statementOf(view, account));
  return { position, accounts, accountsTruncated: more, statements };
}

/** The newest lines of an account's statement, page by page, up to the per-account bound. */
async function statementOf(view: ExportReadView, account: AccountBody): Promise<AccountStatement> {
  const lines: StatementLineBody[] = [];
  let cursor: string | null = null;
  do {
    const limit = Math.min(readPageSizeMax, exportLimits.statementLinesPerAccountMax - lines.length);
    const page = await view.statementPage(account, { limit, cursor });
    assert(page.items.length <= limit, 'statementPage returned more than asked');
    lines.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null && lines.length < exportLimits.statementLinesPerAccountMax);
  return { accountId: account.id, lines, truncated: cursor !== null };
}

const securityTypes: ReadonlySet<string> = new Set(securityEventTypes);
const isSecurityEventType = (type: string): type is SecurityEventType => securityTypes.has(type);

/**
 * The newest security events of the user's stream, newest first. The stream is read once
 * to its end (it has no backward read) keeping only the newest exportLimits.securityEventsMax.
 */
async function securityEventsOf(store: EventStore, userId: string) {
  const max = exportLimits.securityEventsMax;
  const { state } = await foldStream(
    store,
    userStreamId(userId),
    { state: { newest: [] as SecurityEventBody[], seen: 0 }, version: 'no_stream' },
    (kept, recorded) => {
      const { type } = recorded;
      if (!isSecurityEventType(type)) return kept;
      const event = parseIdentityEvent(type, recorded.data);
      assert('at' in event.data, `${type} has no time`);
      kept.newest.push({ type, at: event.data.at });
      if (kept.newest.length > max) kept.newest.shift();
      kept.seen++;
      return kept;
    },
  );
  return { securityEvents: state.newest.reverse(), securityEventsTruncated: state.seen > max };
}
