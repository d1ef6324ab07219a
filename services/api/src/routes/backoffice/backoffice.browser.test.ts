import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { json, ledgerHarness, strongPassword } from '@ledger/api/testing';
import { accountsProjection, transactionsProjection } from '@ledger/projection-accounts';
import { kycProjection } from '@ledger/projection-kyc';
import { usersProjection } from '@ledger/projection-users';
import { chromium } from 'playwright-core';
import t from 'tap';

// Issue #20, "Done when": the back-office page driven in real headless Chromium (Debian's,
// through playwright-core; ../shared/TOOLCHAIN.md) against the real API listening on a port,
// on real PostgreSQL with the read models running. A manager signs in through the page, sees
// a transfer held for review, opens its accounts, approves it, and the payer's balance shown
// on the page goes from 20,000.00 to 17,000.00 EUR. Screenshots go to .artifacts/ (gitignored).

const chromiumPath = '/usr/bin/chromium';
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
const artifacts = fileURLToPath(new URL('../../../../../.artifacts/', import.meta.url));

const h = await ledgerHarness(t, 'api_backoffice_browser', {
  projections: [accountsProjection, transactionsProjection, usersProjection, kycProjection],
  customerPrefix: 'bo',
  roles: ['agent', 'manager'],
});
const { app, customer, openAccount, deposit, transfer } = h;
const { manager } = h.roles;

await app.listen({ host: '127.0.0.1', port: 0 });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

t.test('a manager approves a held transfer in the page; the balance shown changes', async (t) => {
  // A held transfer: a first payment of 3000.00 to a new payee (new_payee_large, default 2000.00).
  const ann = await customer();
  const from = await openAccount(ann);
  await deposit(from.id, '20000.00');
  const to = await openAccount(await customer());
  const held = await transfer(ann, { fromAccountId: from.id, toAccountId: to.id, amount: '3000.00' });
  t.equal(held.statusCode, 201, 'the transfer is answered');
  const heldId = json(held).transaction.id as string;
  t.equal(json(held).transaction.status, 'held_for_review');

  const userDataDir = await mkdtemp(join(tmpdir(), 'backoffice-chromium-'));
  t.teardown(() => rm(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 900 },
  });
  t.teardown(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // A failed request is reported below, with its address.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
      problems.push(`console: ${message.text()}`);
  });
  page.on('response', (response) => {
    // 503 read_model_behind may answer a read made right after a decision: the page retries.
    if (response.status() >= 400 && response.status() !== 503)
      problems.push(`${response.status()} ${response.url()}`);
  });
  // Nothing but this origin is ever asked for.
  const elsewhere: string[] = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(base) && !url.startsWith('data:')) elsewhere.push(url);
  });

  await page.goto(`${base}/backoffice`);
  await page.getByLabel('Username').fill(manager.username);
  await page.getByLabel('Password').fill(strongPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('who').waitFor({ timeout: 10_000 });
  t.match(await page.getByTestId('who').textContent(), `${manager.username} · manager`);

  const card = page.getByTestId(`held-${heldId}`);
  await card.waitFor({ timeout: 10_000 });
  t.match(await card.textContent(), /3,000\.00 EUR/);
  t.match(await card.textContent(), /new payee large/);

  await card.getByRole('button', { name: 'Show accounts' }).click();
  const balance = page.getByTestId(`balance-${from.id}`);
  const available = page.getByTestId(`available-${from.id}`);
  await balance.waitFor({ timeout: 10_000 });
  t.equal(await balance.textContent(), '20,000.00 EUR', 'the payer’s balance before');
  t.equal(await available.textContent(), '17,000.00 EUR', 'the held amount is reserved');

  await mkdir(artifacts, { recursive: true });
  const before = join(artifacts, 'backoffice-held.png');
  await page.screenshot({ path: before, fullPage: true });

  await card.getByLabel(`Reason for ${heldId}`).fill('called the customer');
  await card.getByRole('button', { name: 'Approve' }).click();
  await page
    .getByTestId(`balance-${from.id}`)
    .filter({ hasText: '17,000.00 EUR' })
    .waitFor({ timeout: 10_000 });
  t.equal(await balance.textContent(), '17,000.00 EUR', 'the payer’s balance after the approval');
  t.equal(await page.getByTestId(`balance-${to.id}`).textContent(), '3,000.00 EUR', 'the payee’s');
  await card.waitFor({ state: 'detached', timeout: 10_000 });
  t.pass('the transfer left the review queue');
  await page.getByTestId('trial-balance').filter({ hasText: 'Balanced' }).waitFor({ timeout: 10_000 });

  const shot = join(artifacts, 'backoffice-approved.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.ok((await stat(shot)).size > 10_000, `screenshot written: ${shot}`);
  t.ok((await stat(before)).size > 10_000, `screenshot written: ${before}`);

  // Tokens in memory only.
  t.equal(await page.evaluate('localStorage.length + sessionStorage.length'), 0, 'nothing in web storage');
  t.same(
    (await context.cookies()).map((c) => c.name),
    [],
    'no cookie',
  );

  // A phone: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole('button', { name: 'Sections' }).waitFor();
  t.equal(
    await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'),
    true,
    'no horizontal scrolling at 390 px',
  );
  const phone = join(artifacts, 'backoffice-phone.png');
  await page.screenshot({ path: phone, fullPage: true });
  t.ok((await stat(phone)).size > 5_000, `screenshot written: ${phone}`);

  t.same(problems, [], 'no script error, no CSP violation, no failed request');
  t.same(elsewhere, [], 'no request to another origin');
});
