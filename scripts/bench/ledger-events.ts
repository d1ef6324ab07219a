/**
 * Micro-benchmark of the stored ledger events' parser (@ledger/contracts, on the hot path of
 * every fold and projection batch): PARSE_EVENTS AccountLegPosted events (default 100,000),
 * as JSON.parse gives them (as the store does), parsed PARSE_ROUNDS times (default 7).
 * Reports each round, and the best, in ms and ns per event. No database.
 *
 *   node --import tsx scripts/bench/ledger-events.ts
 */
import { randomUUID } from 'node:crypto';
import { parseAccountEvent } from '@ledger/contracts';
import { envInt, log } from './common.js';

const count = envInt('PARSE_EVENTS', 100_000, 1, 10_000_000);
const rounds = envInt('PARSE_ROUNDS', 7, 1, 100);

const accounts = Array.from({ length: 1000 }, () => randomUUID());
const events = Array.from({ length: count }, (_, i) => ({
  type: 'AccountLegPosted',
  data: JSON.parse(
    JSON.stringify({
      accountId: accounts[i % accounts.length],
      transferId: randomUUID(),
      side: i % 2 === 0 ? 'debit' : 'credit',
      counterpartyAccountId: accounts[(i + 1) % accounts.length],
      code: 'transfer',
      reference: i % 3 === 0 ? 'rent' : null,
      at: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      amount: String(1 + (i % 100_000)),
      releasedPending: '0',
    }),
  ) as unknown,
}));

let best = Number.POSITIVE_INFINITY;
let checksum = 0;
for (let round = 1; round <= rounds; round++) {
  const start = process.hrtime.bigint();
  for (const event of events) checksum += parseAccountEvent(event).data.accountId.length;
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  best = Math.min(best, ms);
  log(
    `round ${round}: ${count} AccountLegPosted parsed in ${ms.toFixed(1)} ms (${((ms * 1e6) / count).toFixed(0)} ns/event)`,
  );
}
log(
  JSON.stringify({
    events: count,
    rounds,
    bestMs: Number(best.toFixed(1)),
    nsPerEvent: Math.round((best * 1e6) / count),
    checksum,
  }),
);
