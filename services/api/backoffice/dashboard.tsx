import { useState } from 'preact/hooks';
import { canDecide, get, type User } from './api';
import { money, words } from './format';
import { type Freshness, fresh, usePoll } from './hooks';
import {
  AccountsPanel,
  DeadLettersPanel,
  FeedPanel,
  KycPanel,
  OperationsPanel,
  ReviewPanel,
  UsersPanel,
  VolumePanel,
} from './panels';
import type { Stats, Transaction } from './types';

const sections = [
  ['kpis', 'Figures'],
  ['review', 'Review'],
  ['accounts', 'Accounts'],
  ['feed', 'Feed'],
  ['volume', 'Volume'],
  ['kyc', 'KYC'],
  ['users', 'Users'],
  ['dead-letters', 'Dead letters'],
  ['operations', 'Operations'],
] as const;

function KpiPanel({ stats, error }: { stats: Stats | null; error: string | null }) {
  return (
    <section id="kpis" class="panel wide" aria-labelledby="kpis-title">
      <h2 id="kpis-title">Figures</h2>
      {error ? <p class="error">{error}</p> : null}
      {stats === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <div class="kpis">
          {stats.currencies.length === 0 ? <p class="muted">No accounts yet.</p> : null}
          {stats.currencies.map((c) => (
            <div class="kpi" key={c.currency} data-testid={`kpi-${c.currency}`}>
              <h3>{c.currency}</h3>
              <dl>
                <dt>Deposits</dt>
                <dd>{money(c.deposits, c.currency)}</dd>
                <dt>Volume today</dt>
                <dd>{money(c.volumeToday, c.currency)}</dd>
                <dt>Transactions today</dt>
                <dd>{c.transfersToday}</dd>
                <dt>Held for review</dt>
                <dd class={c.heldForReview > 0 ? 'warn' : ''}>{c.heldForReview}</dd>
              </dl>
            </div>
          ))}
          <div class="kpi">
            <h3>Users</h3>
            <dl>
              <dt>Total</dt>
              <dd>{stats.users.total}</dd>
              <dt>KYC verified</dt>
              <dd>{stats.users.kycVerified}</dd>
              {Object.entries(stats.users.byRole)
                .filter(([, n]) => n > 0)
                .map(([role, n]) => [
                  <dt key={`${role}-t`}>{words(role)}</dt>,
                  <dd key={`${role}-d`}>{n}</dd>,
                ])}
            </dl>
          </div>
        </div>
      )}
    </section>
  );
}

export function Dashboard({ user, onSignOut }: { user: User; onSignOut: () => void }) {
  const [freshness, setFreshness] = useState<Freshness>({ position: null, tick: 0 });
  const [selected, setSelected] = useState<Transaction | null>(null);
  const [menuOpen, setMenuOpen] = useState(false);
  const stats = usePoll(
    () => get<Stats>(fresh('/api/admin/stats', freshness)),
    10_000,
    String(freshness.tick),
  );

  /** After a command: every panel loads again once the read models reached its position. */
  const changed = (position: string | null) =>
    setFreshness((f) => ({ position: position ?? f.position, tick: f.tick + 1 }));

  return (
    <div class="shell">
      <header class="top">
        <button
          type="button"
          class="menu"
          aria-expanded={menuOpen}
          aria-controls="nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          ☰<span class="sr-only">Sections</span>
        </button>
        <h1>Ledger back office</h1>
        <span class="who" data-testid="who">
          {user.username} · {user.role}
          {canDecide(user.role) ? '' : ' (read-only decisions)'}
        </span>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <nav id="nav" class={menuOpen ? 'open' : ''} aria-label="Sections">
        {sections.map(([id, label]) => (
          <a key={id} href={`#${id}`} onClick={() => setMenuOpen(false)}>
            {label}
          </a>
        ))}
      </nav>
      <main class="grid">
        <KpiPanel stats={stats.data} error={stats.error} />
        <ReviewPanel
          user={user}
          freshness={freshness}
          changed={changed}
          select={setSelected}
          selected={selected}
        />
        <AccountsPanel transaction={selected} freshness={freshness} />
        <FeedPanel freshness={freshness} select={setSelected} selected={selected} />
        <VolumePanel freshness={freshness} />
        <KycPanel user={user} freshness={freshness} changed={changed} />
        <UsersPanel user={user} freshness={freshness} changed={changed} />
        <DeadLettersPanel count={stats.data?.deadLetters.notifications ?? null} freshness={freshness} />
        <OperationsPanel user={user} stats={stats.data} freshness={freshness} />
      </main>
    </div>
  );
}
