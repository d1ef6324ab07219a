import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, canDecide, fileAsDataUrl, get, isStaff, patch, post, type User } from './api';
import { daysBetween, VolumeChart } from './chart';
import { money, short, time, words } from './format';
import { type Freshness, fresh, usePoll } from './hooks';
import type {
  Account,
  AdminUser,
  DailyVolume,
  DeadLetter,
  Page,
  Readiness,
  Stats,
  Transaction,
  TrialBalance,
  Verification,
} from './types';

type Changed = (position: string | null) => void;
type Notice = { kind: 'ok' | 'error'; text: string } | null;

const messageOf = (error: unknown) =>
  error instanceof ApiError || error instanceof Error ? error.message : String(error);

function Panel(props: {
  id: string;
  title: string;
  wide?: boolean;
  extra?: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <section id={props.id} class={props.wide ? 'panel wide' : 'panel'} aria-labelledby={`${props.id}-title`}>
      <div class="panel-head">
        <h2 id={`${props.id}-title`}>{props.title}</h2>
        {props.extra}
      </div>
      {props.children}
    </section>
  );
}

function Status({
  error,
  loading,
  empty,
}: {
  error: string | null;
  loading: boolean;
  empty?: string | false;
}) {
  if (error)
    return (
      <p class="error" role="alert">
        {error}
      </p>
    );
  if (loading && empty !== undefined) return <p class="muted">Loading…</p>;
  if (empty) return <p class="muted">{empty}</p>;
  return null;
}

function Message({ notice }: { notice: Notice }) {
  if (notice === null) return null;
  return (
    <p class={notice.kind === 'ok' ? 'ok' : 'error'} role="status" aria-live="polite">
      {notice.text}
    </p>
  );
}

const badge = (status: string) => <span class={`badge ${status}`}>{words(status)}</span>;

// ------------------------------------------------------------------ review queue

export function ReviewPanel(props: {
  user: User;
  freshness: Freshness;
  changed: Changed;
  select: (t: Transaction) => void;
  selected: Transaction | null;
}) {
  const { user, freshness, changed, select, selected } = props;
  const queue = usePoll(
    () => get<Page<Transaction>>(fresh('/api/admin/transactions?status=held_for_review&limit=50', freshness)),
    5_000,
    String(freshness.tick),
  );
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const decider = canDecide(user.role);

  async function decide(t: Transaction, decision: 'approve' | 'reject') {
    const reason = (reasons[t.id] ?? '').trim();
    if (reason === '') {
      setNotice({ kind: 'error', text: 'Give a reason for the decision' });
      return;
    }
    setBusy(t.id);
    setNotice(null);
    try {
      const answer = await post<{ transaction: Transaction; position: string }>(
        `/api/admin/transactions/${t.id}/${decision}`,
        { reason },
      );
      setNotice({
        kind: 'ok',
        text: `${decision === 'approve' ? 'Approved' : 'Rejected'} ${money(t.amount, t.currency)}: now ${words(answer.transaction.status)}`,
      });
      select(answer.transaction);
      changed(answer.position);
    } catch (error) {
      setNotice({ kind: 'error', text: messageOf(error) });
    } finally {
      setBusy(null);
    }
  }

  const items = queue.data?.items ?? [];
  return (
    <Panel id="review" title={`Held for review (${queue.data ? items.length : '…'})`} wide>
      <Message notice={notice} />
      <Status
        error={queue.error}
        loading={queue.loading && !queue.data}
        empty={queue.data !== null && items.length === 0 && 'Nothing is held.'}
      />
      <ul class="cards">
        {items.map((t) => (
          <li
            key={t.id}
            class={selected?.id === t.id ? 'card held selected' : 'card held'}
            data-testid={`held-${t.id}`}
          >
            <div class="row">
              <strong class="amount">{money(t.amount, t.currency)}</strong>
              {badge(t.type)}
              <span class="muted">{time(t.createdAt)}</span>
            </div>
            <div class="row">
              <span title={t.fromAccountId}>from {short(t.fromAccountId)}</span>
              <span title={t.toAccountId}>
                to {t.beneficiary ? `${t.beneficiary.name} (${t.beneficiary.iban})` : short(t.toAccountId)}
              </span>
            </div>
            <div class="row">
              {t.riskFlags.map((flag) => (
                <span class="flag" key={flag}>
                  {words(flag)}
                </span>
              ))}
              {t.reference ? <span class="muted">“{t.reference}”</span> : null}
            </div>
            <div class="row actions">
              <button type="button" onClick={() => select(t)}>
                Show accounts
              </button>
              {decider ? (
                <>
                  <input
                    class="reason"
                    aria-label={`Reason for ${t.id}`}
                    placeholder="Reason (required)"
                    maxLength={500}
                    value={reasons[t.id] ?? ''}
                    onInput={(e) => setReasons({ ...reasons, [t.id]: e.currentTarget.value })}
                  />
                  <button
                    type="button"
                    class="primary"
                    disabled={busy !== null}
                    onClick={() => void decide(t, 'approve')}
                  >
                    Approve
                  </button>
                  <button
                    type="button"
                    class="danger"
                    disabled={busy !== null}
                    onClick={() => void decide(t, 'reject')}
                  >
                    Reject
                  </button>
                </>
              ) : (
                <span class="muted">A manager decides.</span>
              )}
            </div>
          </li>
        ))}
      </ul>
    </Panel>
  );
}

// ------------------------------------------------------------------ accounts of a transaction

type AccountRead = { id: string; role: string; account: Account | null; error: string | null };

export function AccountsPanel({
  transaction,
  freshness,
}: {
  transaction: Transaction | null;
  freshness: Freshness;
}) {
  const ids = transaction
    ? [
        { id: transaction.fromAccountId, role: 'Payer' },
        ...(transaction.toAccountId === transaction.fromAccountId
          ? []
          : [{ id: transaction.toAccountId, role: 'Payee' }]),
      ]
    : [];
  const accounts = usePoll<AccountRead[]>(
    async () =>
      Promise.all(
        ids.map(async ({ id, role }) => {
          try {
            const { account } = await get<{ account: Account }>(fresh(`/api/accounts/${id}`, freshness));
            return { id, role, account, error: null };
          } catch (error) {
            return { id, role, account: null, error: messageOf(error) };
          }
        }),
      ),
    5_000,
    `${transaction?.id ?? ''}:${freshness.tick}`,
  );
  return (
    <Panel id="accounts" title="Accounts">
      {transaction === null ? (
        <p class="muted">Choose a transaction (review queue or feed) to see its accounts.</p>
      ) : (
        <>
          <p class="muted">
            Transaction <span title={transaction.id}>{short(transaction.id)}</span>:{' '}
            {money(transaction.amount, transaction.currency)}, {badge(transaction.status)}
          </p>
          <Status error={accounts.error} loading={accounts.loading && !accounts.data} />
          {(accounts.data ?? []).map((a) => (
            <div class="account" key={a.id} data-testid={`account-${a.id}`}>
              <h3>
                {a.role} <span class="muted mono">{a.account?.accountNumber ?? short(a.id)}</span>
              </h3>
              {a.error ? <p class="error">{a.error}</p> : null}
              {a.account ? (
                <dl>
                  <dt>Balance</dt>
                  <dd class="amount" data-testid={`balance-${a.id}`}>
                    {money(a.account.balance, a.account.currency)}
                  </dd>
                  <dt>Available</dt>
                  <dd data-testid={`available-${a.id}`}>
                    {money(a.account.availableBalance, a.account.currency)}
                  </dd>
                  <dt>Pending debits</dt>
                  <dd>{money(a.account.pendingDebits, a.account.currency)}</dd>
                  <dt>Status</dt>
                  <dd>{badge(a.account.status)}</dd>
                </dl>
              ) : null}
            </div>
          ))}
        </>
      )}
    </Panel>
  );
}

// ------------------------------------------------------------------ live feed

export function FeedPanel(props: {
  freshness: Freshness;
  select: (t: Transaction) => void;
  selected: Transaction | null;
}) {
  const { freshness, select, selected } = props;
  const feed = usePoll(
    () => get<Page<Transaction>>(fresh('/api/admin/transactions?limit=15', freshness)),
    3_000,
    String(freshness.tick),
  );
  const items = feed.data?.items ?? [];
  return (
    <Panel
      id="feed"
      title="Latest transactions"
      wide
      extra={<span class="muted live">live · every 3 s</span>}
    >
      <Status
        error={feed.error}
        loading={feed.loading && !feed.data}
        empty={feed.data !== null && items.length === 0 && 'No transactions yet.'}
      />
      {items.length > 0 ? (
        <div class="table">
          <table>
            <thead>
              <tr>
                <th>Time (UTC)</th>
                <th class="opt">Type</th>
                <th>Status</th>
                <th class="num">Amount</th>
                <th class="opt">From → to</th>
                <th class="opt">Flags</th>
                <th>
                  <span class="sr-only">Accounts</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => (
                <tr key={t.id} class={selected?.id === t.id ? 'selected' : ''}>
                  <td>
                    <span class="opt">{time(t.createdAt).slice(0, 11)}</span>
                    {time(t.createdAt).slice(11)}
                  </td>
                  <td class="opt">{words(t.type)}</td>
                  <td>{badge(t.status)}</td>
                  <td class="num">{money(t.postedAmount ?? t.amount, t.currency)}</td>
                  <td class="opt mono">
                    {short(t.fromAccountId)} → {t.beneficiary ? t.beneficiary.iban : short(t.toAccountId)}
                  </td>
                  <td class="opt wrap">{t.riskFlags.map(words).join(', ')}</td>
                  <td>
                    <button type="button" class="link" onClick={() => select(t)}>
                      Accounts
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Panel>
  );
}

// ------------------------------------------------------------------ daily volume

export function VolumePanel({ freshness }: { freshness: Freshness }) {
  const volume = usePoll(() => get<DailyVolume>('/api/admin/volume?days=14'), 60_000, String(freshness.tick));
  const currencies = [...new Set((volume.data?.items ?? []).map((i) => i.currency))].sort();
  const [chosen, setChosen] = useState<string | null>(null);
  const currency = chosen !== null && currencies.includes(chosen) ? chosen : (currencies[0] ?? 'EUR');
  const points = volume.data
    ? daysBetween(volume.data.from, volume.data.to).map((day) => {
        const found = volume.data?.items.find((i) => i.day === day && i.currency === currency);
        return { day, volume: found?.volume ?? '0', transactions: found?.transactions ?? 0 };
      })
    : [];
  return (
    <Panel
      id="volume"
      title="Daily volume, 14 days"
      extra={
        currencies.length > 1 ? (
          <select aria-label="Currency" value={currency} onChange={(e) => setChosen(e.currentTarget.value)}>
            {currencies.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        ) : (
          <span class="muted">{currency}</span>
        )
      }
    >
      <Status error={volume.error} loading={volume.loading && !volume.data} />
      {volume.data ? <VolumeChart points={points} currency={currency} /> : null}
    </Panel>
  );
}

// ------------------------------------------------------------------ KYC queue

const kycStatuses = ['needs_review', 'submitted', 'processing', 'rejected', 'verified'] as const;

function KycDocument({ kase }: { kase: Verification }) {
  const [files, setFiles] = useState<{ which: string; url: string; type: string }[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setFiles([]);
    setError(null);
    const which = kase.hasSelfie ? ['document', 'selfie'] : ['document'];
    Promise.all(
      which.map(async (w) => ({ which: w, ...(await fileAsDataUrl(`/api/verification/${kase.id}/${w}`)) })),
    ).then(
      (loaded) => live && setFiles(loaded),
      (failure: unknown) => live && setError(messageOf(failure)),
    );
    return () => {
      live = false;
    };
  }, [kase.id, kase.hasSelfie]);
  return (
    <div class="documents">
      {error ? <p class="error">{error}</p> : null}
      {files.map((f) =>
        f.type.startsWith('image/') ? (
          <img key={f.which} src={f.url} alt={`The ${f.which} submitted`} class="document" />
        ) : (
          <p key={f.which} class="muted">
            The {f.which} is a PDF ({Math.round((f.url.length * 3) / 4 / 1024)} KB): not previewed here.
          </p>
        ),
      )}
    </div>
  );
}

export function KycPanel({
  user,
  freshness,
  changed,
}: {
  user: User;
  freshness: Freshness;
  changed: Changed;
}) {
  const [status, setStatus] = useState<(typeof kycStatuses)[number]>('needs_review');
  const [open, setOpen] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  const [notice, setNotice] = useState<Notice>(null);
  const [busy, setBusy] = useState(false);
  const cases = usePoll(
    () => get<Page<Verification>>(fresh(`/api/verification?status=${status}&limit=50`, freshness)),
    10_000,
    `${status}:${freshness.tick}`,
  );
  const items = cases.data?.items ?? [];
  const kase = items.find((k) => k.id === open) ?? null;

  async function decide(decision: 'approve' | 'reject') {
    if (kase === null) return;
    if (reason.trim() === '') {
      setNotice({ kind: 'error', text: 'Give a reason for the decision' });
      return;
    }
    setBusy(true);
    try {
      const answer = await post<{ verification: Verification; position: string | null }>(
        `/api/verification/${kase.id}/${decision}`,
        { reason: reason.trim() },
      );
      setNotice({ kind: 'ok', text: `Case ${short(kase.id)}: ${words(answer.verification.status)}` });
      setReason('');
      setOpen(null);
      changed(answer.position);
    } catch (error) {
      setNotice({ kind: 'error', text: messageOf(error) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Panel
      id="kyc"
      title="KYC queue"
      wide
      extra={
        <select
          aria-label="KYC status"
          value={status}
          onChange={(e) => setStatus(e.currentTarget.value as typeof status)}
        >
          {kycStatuses.map((s) => (
            <option key={s} value={s}>
              {words(s)}
            </option>
          ))}
        </select>
      }
    >
      <Message notice={notice} />
      <Status
        error={cases.error}
        loading={cases.loading && !cases.data}
        empty={cases.data !== null && items.length === 0 && `No case ${words(status)}.`}
      />
      <div class="split">
        <ul class="list">
          {items.map((k) => (
            <li key={k.id}>
              <button
                type="button"
                class={k.id === open ? 'item selected' : 'item'}
                onClick={() => setOpen(k.id)}
              >
                <span>
                  {k.extracted ? `${k.extracted.surname}, ${k.extracted.givenNames}` : words(k.documentType)}
                </span>
                <span class="muted">
                  {time(k.createdAt)} · {k.reasons.map(words).join(', ') || words(k.status)}
                </span>
              </button>
            </li>
          ))}
        </ul>
        {kase ? (
          <div class="case">
            <h3>
              {words(kase.documentType)} {badge(kase.status)}
            </h3>
            <KycDocument kase={kase} />
            {kase.extracted ? (
              <dl class="fields">
                <dt>Surname</dt>
                <dd>{kase.extracted.surname}</dd>
                <dt>Given names</dt>
                <dd>{kase.extracted.givenNames}</dd>
                <dt>Document number</dt>
                <dd class="mono">{kase.extracted.documentNumber}</dd>
                <dt>Nationality</dt>
                <dd>{kase.extracted.nationality}</dd>
                <dt>Date of birth</dt>
                <dd>{kase.extracted.dateOfBirth}</dd>
                <dt>Expiry</dt>
                <dd>{kase.extracted.expiryDate}</dd>
                <dt>MRZ check digits</dt>
                <dd class={kase.extracted.mrzValid ? 'ok' : 'error'}>
                  {kase.extracted.mrzValid ? 'valid' : 'invalid'}
                </dd>
                {kase.faceMatch ? (
                  <>
                    <dt>Face match</dt>
                    <dd>
                      {kase.faceMatch.matched ? 'matched' : 'no match'} (distance{' '}
                      {kase.faceMatch.distance.toFixed(3)})
                    </dd>
                  </>
                ) : null}
              </dl>
            ) : (
              <p class="muted">No fields read from the document (yet).</p>
            )}
            {kase.reasons.length > 0 ? <p>Reasons: {kase.reasons.map(words).join(', ')}</p> : null}
            {isStaff(user.role) && kase.status !== 'verified' && kase.status !== 'rejected' ? (
              <div class="row actions">
                <input
                  class="reason"
                  aria-label="Reason for the KYC decision"
                  placeholder="Reason (required)"
                  maxLength={500}
                  value={reason}
                  onInput={(e) => setReason(e.currentTarget.value)}
                />
                <button type="button" class="primary" disabled={busy} onClick={() => void decide('approve')}>
                  Verify
                </button>
                <button type="button" class="danger" disabled={busy} onClick={() => void decide('reject')}>
                  Reject
                </button>
              </div>
            ) : null}
          </div>
        ) : null}
      </div>
    </Panel>
  );
}

// ------------------------------------------------------------------ users

const rank: Record<string, number> = { customer: 0, agent: 1, auditor: 2, manager: 2, director: 3 };

/** API.md: `locked` manager+ for customers and agents, director for anyone but themself. */
function mayLock(actor: User, target: AdminUser): boolean {
  if (actor.id === target.id) return false;
  if (actor.role === 'director') return true;
  return actor.role === 'manager' && (rank[target.role] ?? 9) <= 1;
}

export function UsersPanel({
  user,
  freshness,
  changed,
}: {
  user: User;
  freshness: Freshness;
  changed: Changed;
}) {
  const [role, setRole] = useState('');
  const [pages, setPages] = useState(1);
  const [notice, setNotice] = useState<Notice>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const users = usePoll(
    async () => {
      const items: AdminUser[] = [];
      let cursor: string | null = null;
      let more = false;
      for (let page = 0; page < pages; page++) {
        const query = `/api/admin/users?limit=50${role ? `&role=${role}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const answer: Page<AdminUser> = await get<Page<AdminUser>>(fresh(query, freshness));
        items.push(...answer.items);
        cursor = answer.nextCursor;
        more = cursor !== null;
        if (!more) break;
      }
      return { items, more };
    },
    30_000,
    `${role}:${pages}:${freshness.tick}`,
  );

  async function setLocked(target: AdminUser, locked: boolean) {
    setBusy(target.id);
    setNotice(null);
    try {
      const answer = await patch<{ user: AdminUser; position: string | null }>(
        `/api/admin/users/${target.id}`,
        { locked },
      );
      setNotice({ kind: 'ok', text: `${target.username} ${answer.user.locked ? 'locked' : 'unlocked'}` });
      changed(answer.position);
    } catch (error) {
      setNotice({ kind: 'error', text: messageOf(error) });
    } finally {
      setBusy(null);
    }
  }

  const items = users.data?.items ?? [];
  return (
    <Panel
      id="users"
      title="Users"
      wide
      extra={
        <select
          aria-label="Role"
          value={role}
          onChange={(e) => {
            setRole(e.currentTarget.value);
            setPages(1);
          }}
        >
          <option value="">every role</option>
          {['customer', 'agent', 'manager', 'director', 'auditor'].map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      }
    >
      <Message notice={notice} />
      <Status
        error={users.error}
        loading={users.loading && !users.data}
        empty={users.data !== null && items.length === 0 && 'No users.'}
      />
      {items.length > 0 ? (
        <div class="table">
          <table>
            <thead>
              <tr>
                <th>User</th>
                <th>Role</th>
                <th class="opt">KYC</th>
                <th class="opt">Since</th>
                <th>State</th>
                <th>
                  <span class="sr-only">Lock</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((u) => (
                <tr key={u.id} data-testid={`user-${u.id}`}>
                  <td>
                    {u.username}
                    <div class="muted small opt">{u.email}</div>
                  </td>
                  <td>{u.role}</td>
                  <td class="opt">{words(u.kycStatus)}</td>
                  <td class="opt">{time(u.createdAt).slice(0, 10)}</td>
                  <td>{u.erasedAt ? badge('erased') : u.locked ? badge('locked') : badge('active')}</td>
                  <td>
                    {mayLock(user, u) && !u.erasedAt ? (
                      <button
                        type="button"
                        disabled={busy !== null}
                        onClick={() => void setLocked(u, !u.locked)}
                      >
                        {u.locked ? 'Unlock' : 'Lock'}
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {users.data?.more ? (
        <button type="button" onClick={() => setPages(pages + 1)}>
          More users
        </button>
      ) : null}
    </Panel>
  );
}

// ------------------------------------------------------------------ dead letters

export function DeadLettersPanel({ count, freshness }: { count: number | null; freshness: Freshness }) {
  const letters = usePoll(
    () => get<{ items: DeadLetter[] }>('/api/admin/dead-letters?limit=20'),
    30_000,
    String(freshness.tick),
  );
  const items = letters.data?.items ?? [];
  return (
    <Panel id="dead-letters" title={`Undelivered notifications (${count ?? '…'})`}>
      <Status
        error={letters.error}
        loading={letters.loading && !letters.data}
        empty={letters.data !== null && items.length === 0 && 'Every mail went out.'}
      />
      <ul class="list">
        {items.map((d) => (
          <li key={d.intentId} class="item">
            <span>
              {words(d.type)} to{' '}
              <span class="mono" title={d.recipientUserId}>
                {short(d.recipientUserId)}
              </span>
            </span>
            <span class="muted">
              {time(d.failedAt)} · {d.permanent ? 'refused' : `${d.attempts} attempts`}
              {d.responseCode ? ` · ${d.responseCode}` : ''} · {d.reason}
            </span>
          </li>
        ))}
      </ul>
    </Panel>
  );
}

// ------------------------------------------------------------------ operations

export function OperationsPanel(props: { user: User; stats: Stats | null; freshness: Freshness }) {
  const { user, stats, freshness } = props;
  const seesTotals = user.role !== 'agent';
  const ready = usePoll(
    () => fetch('/health/ready', { cache: 'no-store' }).then((r) => r.json() as Promise<Readiness>),
    10_000,
    String(freshness.tick),
  );
  const balance = usePoll(
    async () => (seesTotals ? get<TrialBalance>(fresh('/api/admin/trial-balance', freshness)) : null),
    15_000,
    String(freshness.tick),
  );
  const lagSeconds = new Map((ready.data?.checks.projections ?? []).map((p) => [p.name, p.lagSeconds]));
  return (
    <Panel id="operations" title="Operations">
      <h3>Trial balance</h3>
      {seesTotals ? null : <p class="muted">Managers, the director and the auditor see it.</p>}
      <Status error={balance.error} loading={balance.loading && !balance.data} />
      {balance.data ? (
        <div data-testid="trial-balance">
          <p class={balance.data.balanced ? 'ok' : 'error'}>
            {balance.data.balanced ? 'Balanced' : 'NOT balanced'} at position {balance.data.position}
          </p>
          <ul class="plain">
            {balance.data.currencies.map((c) => (
              <li key={c.currency}>
                {c.currency}: debits {money(c.debits)} · credits {money(c.credits)} {c.balanced ? '✓' : '✗'}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <h3>Read models</h3>
      {ready.data ? (
        <p class={ready.data.status === 'ok' ? 'ok' : 'error'}>
          {ready.data.status === 'ok' ? 'Ready' : 'Not ready'} · PostgreSQL{' '}
          {ready.data.checks.postgres.ok ? 'up' : 'down'}
          {ready.data.checks.redis ? ` · Redis ${ready.data.checks.redis.ok ? 'up' : 'down'}` : ''}
        </p>
      ) : null}
      {stats ? (
        <table class="compact">
          <thead>
            <tr>
              <th>Projection</th>
              <th class="num">Behind (events)</th>
              <th class="num">Behind (s)</th>
            </tr>
          </thead>
          <tbody>
            {stats.projections.map((p) => (
              <tr key={p.name}>
                <td>{p.name}</td>
                <td class={p.lagPositions > 0 ? 'num warn' : 'num'}>{p.lagPositions}</td>
                <td class="num">{lagSeconds.get(p.name)?.toFixed(1) ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Panel>
  );
}
