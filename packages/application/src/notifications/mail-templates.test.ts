import type { NotificationIntent, NotificationType } from '@ledger/domain/notifications';
import { categoryOf, notificationTypes } from '@ledger/domain/notifications';
import t from 'tap';
import { escapeHtml, formatAmount, headerSafe, mailLimits, renderMail } from './mail-templates.js';

// The mail of every notification type in both languages: the subject fixed per type (with
// the amount where there is one), the facts in both bodies, user text escaped in HTML.

const nbsp = '\u00a0';

const factsOf: Record<NotificationType, Record<string, string>> = {
  transfer_received: {
    amount: '1234.56',
    currency: 'EUR',
    counterparty: 'Alice Martin',
    reference: 'Rent May',
  },
  transfer_sent: { amount: '1234.56', currency: 'EUR', counterparty: 'Bob Durand', reference: 'Rent May' },
  transfer_held: { amount: '1234.56', currency: 'EUR', reference: 'Rent May' },
  transfer_approved: { amount: '1234.56', currency: 'EUR', reference: 'Rent May' },
  transfer_rejected: { amount: '1234.56', currency: 'EUR', reference: 'Rent May', reason: 'Unusual payee' },
  transfer_returned: { amount: '1234.56', currency: 'EUR', reference: 'Rent May', reason: 'Account closed' },
  kyc_verified: {},
  kyc_rejected: { reason: 'Document expired' },
  kyc_needs_review: {},
  login_new_device: { userAgent: 'Firefox on Linux', ip: '203.0.113.7' },
  password_changed: {},
  two_factor_changed: { change: 'enabled' },
  account_locked: { reason: 'Too many attempts' },
  account_frozen: { accountId: 'acc-42', reason: 'Court order' },
  pack_fee_charged: { amount: '1234.56', currency: 'EUR', packName: 'Premium' },
  pack_fee_failed: { amount: '1234.56', currency: 'EUR', packName: 'Premium' },
};

const amountEn = `EUR${nbsp}1,234.56`;
const amountFr = `1${nbsp}234,56${nbsp}EUR`;

/** The subject of each type: [en, fr]. */
const subjects: Record<NotificationType, [string, string]> = {
  transfer_received: [`You received a transfer: ${amountEn}`, `Vous avez reçu un virement : ${amountFr}`],
  transfer_sent: [`Your transfer was sent: ${amountEn}`, `Votre virement a été envoyé : ${amountFr}`],
  transfer_held: [
    `Your transfer is being reviewed: ${amountEn}`,
    `Votre virement est en cours de vérification : ${amountFr}`,
  ],
  transfer_approved: [
    `Your transfer was approved: ${amountEn}`,
    `Votre virement a été approuvé : ${amountFr}`,
  ],
  transfer_rejected: [`Your transfer was rejected: ${amountEn}`, `Votre virement a été refusé : ${amountFr}`],
  transfer_returned: [
    `Your transfer was returned: ${amountEn}`,
    `Votre virement a été retourné : ${amountFr}`,
  ],
  kyc_verified: ['Your identity is verified', 'Votre identité est vérifiée'],
  kyc_rejected: ['Your identity could not be verified', "Votre identité n'a pas pu être vérifiée"],
  kyc_needs_review: [
    'Your identity documents are being reviewed',
    "Vos pièces d'identité sont en cours de vérification",
  ],
  login_new_device: ['New sign-in to your account', 'Nouvelle connexion à votre compte'],
  password_changed: ['Your password was changed', 'Votre mot de passe a été modifié'],
  two_factor_changed: ['Your two-factor authentication changed', 'Votre double authentification a changé'],
  account_locked: ['Your account is locked', 'Votre compte est verrouillé'],
  account_frozen: ['Your account is frozen', 'Votre compte est gelé'],
  pack_fee_charged: [
    `Your pack fee was charged: ${amountEn}`,
    `La cotisation de votre offre a été prélevée : ${amountFr}`,
  ],
  pack_fee_failed: [
    `Your pack fee could not be charged: ${amountEn}`,
    `La cotisation de votre offre n'a pas pu être prélevée : ${amountFr}`,
  ],
};

/** A sentence of each body that says what happened: [en, fr]. */
const says: Record<NotificationType, [string, string]> = {
  transfer_received: ['credited to your account', 'crédité sur votre compte'],
  transfer_sent: ['Your transfer has been sent', 'Votre virement a été envoyé'],
  transfer_held: ['held for review', 'retenu pour vérification'],
  transfer_approved: ['approved after review', 'approuvé après vérification'],
  transfer_rejected: ['rejected after review', 'refusé après vérification'],
  transfer_returned: ['returned by the receiving bank', 'retourné par la banque destinataire'],
  kyc_verified: ['have been verified', 'ont été vérifiées'],
  kyc_rejected: ['could not verify', "n'avons pas pu vérifier"],
  kyc_needs_review: ['need a review', 'doivent être vérifiées'],
  login_new_device: ['not seen before', 'appareil ou une adresse inconnus'],
  password_changed: [
    'password of your account has been changed',
    'mot de passe de votre compte a été modifié',
  ],
  two_factor_changed: ['turned on', 'activée'],
  account_locked: ['has been locked', 'a été verrouillé'],
  account_frozen: ['has been frozen', 'a été gelé'],
  pack_fee_charged: ['has been charged', 'a été prélevée'],
  pack_fee_failed: ['could not be charged', "n'a pas pu être prélevée"],
};

export function intentOf(type: NotificationType, facts: Record<string, string>): NotificationIntent {
  return {
    id: `intent-${type}`,
    type,
    category: categoryOf(type),
    recipientUserId: 'user-1',
    eventId: '00000000-0000-7000-8000-000000000001',
    globalPosition: 1n,
    at: '2026-12-06T04:00:00.000Z',
    facts,
  };
}

t.test('every type, in English and in French', async (t) => {
  t.equal(Object.keys(subjects).length, notificationTypes.length, 'a subject for every type of the catalog');
  for (const type of notificationTypes) {
    for (const [i, locale] of (['en', 'fr'] as const).entries()) {
      const facts = factsOf[type];
      const mail = renderMail(intentOf(type, facts), { locale, firstName: 'Zoé' });
      t.equal(mail.subject, subjects[type][i], `${type} ${locale}: subject`);
      for (const [part, body, as] of [
        ['text', mail.text, (s: string) => s],
        ['html', mail.html, escapeHtml],
      ] as const) {
        const at = `${type} ${locale} ${part}`;
        t.match(body, locale === 'fr' ? 'Bonjour Zoé,' : 'Hello Zoé,', `${at}: greeting`);
        t.match(body, as(says[type][i] ?? ''), `${at}: says what happened`);
        for (const [key, value] of Object.entries(facts)) {
          if (key === 'amount' || key === 'currency' || key === 'change') continue;
          t.match(body, as(value), `${at}: ${key}`);
        }
        if (facts.amount) t.match(body, locale === 'fr' ? amountFr : amountEn, `${at}: amount`);
      }
      t.match(mail.html, `<html lang="${locale}">`);
    }
  }
});

t.test('account_frozen: the account number when there is one', async (t) => {
  const facts = { accountId: 'acc-42', accountNumber: '7300 0277', reason: 'Court order' };
  const mail = renderMail(intentOf('account_frozen', facts), { locale: 'en', firstName: null });
  t.match(mail.text, 'Account: 7300 0277');
  t.notMatch(mail.text, 'acc-42');
});

t.test('no first name: a plain greeting', async (t) => {
  t.match(renderMail(intentOf('kyc_verified', {}), { locale: 'en', firstName: null }).text, /^Hello,\n/);
  t.match(renderMail(intentOf('kyc_verified', {}), { locale: 'fr', firstName: '  ' }).text, /^Bonjour,\n/);
});

t.test('user text: escaped in HTML, on one line, never in the subject', async (t) => {
  const reference = `<script>alert("x")</script> & 'quoted'`;
  const mail = renderMail(
    intentOf('transfer_received', {
      amount: '10.00',
      currency: 'EUR',
      reference,
      counterparty: 'Eve\r\nBcc: victim@example.com',
    }),
    { locale: 'en', firstName: 'Mallory\r\nX-Evil: 1' },
  );
  t.notMatch(mail.html, '<script>');
  t.match(mail.html, '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;');
  t.match(mail.text, reference, 'the text part says it as typed');
  t.notMatch(mail.text, /\r|Eve\nBcc/, 'no CR/LF from a fact');
  t.match(mail.text, 'Hello Mallory  X-Evil: 1,');
  t.equal(mail.subject, `You received a transfer: EUR${nbsp}10.00`);
  t.equal(headerSafe('a\r\nb\nc\rd'), 'a b c d');
  t.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&quot;&#39;');
});

t.test('a fact that is no amount, or a long one', async (t) => {
  const bad = renderMail(intentOf('transfer_sent', { amount: '1e9', currency: 'EUR' }), {
    locale: 'en',
    firstName: null,
  });
  t.equal(bad.subject, 'Your transfer was sent', 'no amount in the subject when it is none');
  const injected = renderMail(intentOf('transfer_sent', { amount: '10.00', currency: 'EUR\r\nBcc: x' }), {
    locale: 'en',
    firstName: null,
  });
  t.equal(injected.subject, 'Your transfer was sent');
  const long = renderMail(intentOf('kyc_rejected', { reason: 'x'.repeat(10_000) }), {
    locale: 'en',
    firstName: null,
  });
  t.ok(long.text.length < mailLimits.factLengthMax + 1000, 'a long fact is cut');
});

t.test('amounts formatted from the decimal string', async (t) => {
  const cases: [string, string, 'en' | 'fr', string | null][] = [
    ['1234.56', 'EUR', 'en', `EUR${nbsp}1,234.56`],
    ['1234.56', 'EUR', 'fr', `1${nbsp}234,56${nbsp}EUR`],
    ['0.5', 'EUR', 'en', `EUR${nbsp}0.50`],
    ['12', 'USD', 'fr', `12,00${nbsp}USD`],
    ['-1000000.1', 'EUR', 'en', `EUR${nbsp}-1,000,000.10`],
    ['1500', 'JPY', 'en', `JPY${nbsp}1,500`],
    ['1.5', 'KWD', 'fr', `1,500${nbsp}KWD`],
    ['0001.234', 'EUR', 'en', `EUR${nbsp}1.234`],
    ['-0.00', 'EUR', 'en', `EUR${nbsp}0.00`],
    // Beyond 2^53: digits kept, no rounding.
    ['90071992547409931.99', 'EUR', 'en', `EUR${nbsp}90,071,992,547,409,931.99`],
    ['1e3', 'EUR', 'en', null],
    ['12.', 'EUR', 'en', null],
    ['12.00', 'eur', 'en', null],
    ['', 'EUR', 'en', null],
  ];
  for (const [amount, currency, locale, expected] of cases) {
    t.equal(formatAmount(amount, currency, locale), expected, `${amount} ${currency} ${locale}`);
  }
});
