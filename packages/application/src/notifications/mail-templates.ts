import type { NotificationIntent, NotificationType } from '@ledger/domain/notifications';

/**
 * The mail of each notification type, in English and French (API.md, Notifications): a
 * subject fixed per type and language (with the amount, which is checked to be one, never
 * user text), and a text and an HTML body built from the intent's facts.
 *
 * Facts are text as users typed it (a reference, a reason, a name): in the HTML part every
 * fact is escaped, in both parts control characters (CR, LF, ...) become spaces, and each
 * fact is cut at mailLimits.factLengthMax characters. Amounts are formatted from their
 * decimal string, never through a JS number.
 *
 * The facts each template reads (absent ones are left out of the mail):
 * - transfers: `amount`, `currency`, `reference`; `counterparty` (who sent or received it);
 *   `reason` (rejected, returned)
 * - kyc_rejected: `reason`
 * - login_new_device: `userAgent`, `ip`
 * - two_factor_changed: `change` (`enabled` or `disabled`)
 * - account_locked, account_frozen: `reason`; account_frozen: `accountNumber` (else `accountId`)
 * - pack_fee_charged, pack_fee_failed: `amount`, `currency`, `packName`
 */

export type MailLocale = 'en' | 'fr';

export interface MailRecipient {
  locale: MailLocale;
  firstName: string | null;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export const mailLimits = {
  /** A fact longer than this is cut (with "…"): a mail stays small whatever was typed. */
  factLengthMax: 500,
  /** Digits of an amount's integer part that the formatter accepts. */
  amountIntegerDigitsMax: 30,
} as const;

const htmlEscapes: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => htmlEscapes[c] ?? c);
}

/** Control characters (CR and LF among them) become spaces: nothing typed can break a line or a header. */
export function stripControl(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
}

/** A header value: on one line (CR and LF removed), trimmed. */
export function headerSafe(text: string): string {
  return stripControl(text).replace(/ {2,}/g, ' ').trim();
}

const clean = (text: string): string => {
  const oneLine = stripControl(text).trim();
  return oneLine.length > mailLimits.factLengthMax
    ? `${oneLine.slice(0, mailLimits.factLengthMax - 1)}…`
    : oneLine;
};

/** Minor-unit digits of the currencies that do not use 2. */
const fractionDigits: Record<string, number> = {
  JPY: 0,
  KRW: 0,
  ISK: 0,
  CLP: 0,
  VND: 0,
  BHD: 3,
  KWD: 3,
  OMR: 3,
  JOD: 3,
  TND: 3,
};

const amountPattern = new RegExp(`^(-?)(\\d{1,${mailLimits.amountIntegerDigitsMax}})(?:\\.(\\d{1,18}))?$`);
const currencyPattern = /^[A-Z]{3}$/;
const noBreakSpace = '\u00a0';

/**
 * Formats a decimal amount in major units for a locale, by string manipulation only:
 * `formatAmount('1234.5', 'EUR', 'en')` is "EUR 1,234.50", in French "1 234,50 EUR" (with
 * no-break spaces). Digits are never dropped (no rounding): a fraction longer than the
 * currency's is kept. Null when `amount` is not a decimal string or `currency` not a code.
 */
export function formatAmount(amount: string, currency: string, locale: MailLocale): string | null {
  const match = amountPattern.exec(amount.trim());
  if (!match || !currencyPattern.test(currency)) return null;
  const [, sign = '', integerDigits = '0', fractionGiven = ''] = match;
  const integer = integerDigits.replace(/^0+(?=\d)/, '');
  const digits = fractionDigits[currency] ?? 2;
  const fraction = fractionGiven.length >= digits ? fractionGiven : fractionGiven.padEnd(digits, '0');
  const groupSeparator = locale === 'fr' ? noBreakSpace : ',';
  const decimalSeparator = locale === 'fr' ? ',' : '.';
  const grouped = integer.replace(/\B(?=(\d{3})+$)/g, groupSeparator);
  const isZero = /^0*$/.test(integer + fraction);
  const number = `${sign && !isZero ? '-' : ''}${grouped}${fraction ? decimalSeparator + fraction : ''}`;
  return locale === 'fr' ? `${number}${noBreakSpace}${currency}` : `${currency}${noBreakSpace}${number}`;
}

/** One line of a mail: text (already clean) and what of it is a fact (escaped in HTML). */
type Part = string | { fact: string };
type Line = Part[];

interface Template {
  subject: string;
  lines: Line[];
}

/** Facts of one intent, cleaned; `amount` is the formatted amount when there is one. */
interface Facts {
  get(key: string): string | undefined;
  amount: string | undefined;
}

const f = (fact: string): Part => ({ fact });

/** `line` when every fact it needs is there, else nothing. */
const when = (...values: (string | undefined)[]) =>
  values.every((v) => v !== undefined && v !== '') ? (line: Line) => [line] : () => [];

const withAmount = (subject: string, amount: string | undefined, joiner = ': ') =>
  amount === undefined ? subject : `${subject}${joiner}${amount}`;

type Templates = Record<NotificationType, (facts: Facts) => Template>;

/** The account as the customer knows it: its number, else its id. */
const accountOf = (facts: Facts) => facts.get('accountNumber') ?? facts.get('accountId');

const transferLines = (
  facts: Facts,
  labels: { amount: string; reference: string; counterparty?: string; reason?: string },
): Line[] => {
  const reference = facts.get('reference');
  const counterparty = facts.get('counterparty');
  const reason = facts.get('reason');
  return [
    ...when(facts.amount)([labels.amount, f(facts.amount ?? '')]),
    ...(labels.counterparty ? when(counterparty)([labels.counterparty, f(counterparty ?? '')]) : []),
    ...when(reference)([labels.reference, f(reference ?? '')]),
    ...(labels.reason ? when(reason)([labels.reason, f(reason ?? '')]) : []),
  ];
};

const en: Templates = {
  transfer_received: (x) => ({
    subject: withAmount('You received a transfer', x.amount),
    lines: [
      ['A transfer has been credited to your account.'],
      ...transferLines(x, { amount: 'Amount: ', counterparty: 'From: ', reference: 'Reference: ' }),
    ],
  }),
  transfer_sent: (x) => ({
    subject: withAmount('Your transfer was sent', x.amount),
    lines: [
      ['Your transfer has been sent.'],
      ...transferLines(x, { amount: 'Amount: ', counterparty: 'To: ', reference: 'Reference: ' }),
    ],
  }),
  transfer_held: (x) => ({
    subject: withAmount('Your transfer is being reviewed', x.amount),
    lines: [
      ['Your transfer is held for review by our team. We will let you know once it is decided.'],
      ...transferLines(x, { amount: 'Amount: ', counterparty: 'To: ', reference: 'Reference: ' }),
    ],
  }),
  transfer_approved: (x) => ({
    subject: withAmount('Your transfer was approved', x.amount),
    lines: [
      ['Your transfer has been approved after review.'],
      ...transferLines(x, { amount: 'Amount: ', counterparty: 'To: ', reference: 'Reference: ' }),
    ],
  }),
  transfer_rejected: (x) => ({
    subject: withAmount('Your transfer was rejected', x.amount),
    lines: [
      ['Your transfer has been rejected after review. The money was not debited.'],
      ...transferLines(x, {
        amount: 'Amount: ',
        counterparty: 'To: ',
        reference: 'Reference: ',
        reason: 'Reason: ',
      }),
    ],
  }),
  transfer_returned: (x) => ({
    subject: withAmount('Your transfer was returned', x.amount),
    lines: [
      ['Your external transfer was returned by the receiving bank. The money is back on your account.'],
      ...transferLines(x, {
        amount: 'Amount: ',
        counterparty: 'To: ',
        reference: 'Reference: ',
        reason: 'Reason: ',
      }),
    ],
  }),
  kyc_verified: () => ({
    subject: 'Your identity is verified',
    lines: [['Your identity documents have been verified. Your account limits are lifted.']],
  }),
  kyc_rejected: (x) => ({
    subject: 'Your identity could not be verified',
    lines: [
      ['We could not verify your identity documents. You can submit new ones from the app.'],
      ...when(x.get('reason'))(['Reason: ', f(x.get('reason') ?? '')]),
    ],
  }),
  kyc_needs_review: () => ({
    subject: 'Your identity documents are being reviewed',
    lines: [['Your identity documents need a review by our team. We will let you know once it is done.']],
  }),
  login_new_device: (x) => ({
    subject: 'New sign-in to your account',
    lines: [
      ['Your account was signed in to from a device or address we had not seen before.'],
      ...when(x.get('userAgent'))(['Device: ', f(x.get('userAgent') ?? '')]),
      ...when(x.get('ip'))(['Address: ', f(x.get('ip') ?? '')]),
      ['If this was not you, change your password at once and contact us.'],
    ],
  }),
  password_changed: () => ({
    subject: 'Your password was changed',
    lines: [['The password of your account has been changed.'], ['If this was not you, contact us at once.']],
  }),
  two_factor_changed: (x) => ({
    subject: 'Your two-factor authentication changed',
    lines: [
      [
        x.get('change') === 'enabled'
          ? 'Two-factor authentication has been turned on for your account.'
          : x.get('change') === 'disabled'
            ? 'Two-factor authentication has been turned off for your account.'
            : 'The two-factor authentication of your account has been changed.',
      ],
      ['If this was not you, contact us at once.'],
    ],
  }),
  account_locked: (x) => ({
    subject: 'Your account is locked',
    lines: [
      ['Your account has been locked. Contact us to unlock it.'],
      ...when(x.get('reason'))(['Reason: ', f(x.get('reason') ?? '')]),
    ],
  }),
  account_frozen: (x) => ({
    subject: 'Your account is frozen',
    lines: [
      ['One of your accounts has been frozen: no money can leave it for now. Contact us for details.'],
      ...when(accountOf(x))(['Account: ', f(accountOf(x) ?? '')]),
      ...when(x.get('reason'))(['Reason: ', f(x.get('reason') ?? '')]),
    ],
  }),
  pack_fee_charged: (x) => ({
    subject: withAmount('Your pack fee was charged', x.amount),
    lines: [
      ['The monthly fee of your pack has been charged.'],
      ...when(x.get('packName'))(['Pack: ', f(x.get('packName') ?? '')]),
      ...when(x.amount)(['Amount: ', f(x.amount ?? '')]),
    ],
  }),
  pack_fee_failed: (x) => ({
    subject: withAmount('Your pack fee could not be charged', x.amount),
    lines: [
      [
        'The monthly fee of your pack could not be charged. We will try again; if it still fails, the pack is suspended.',
      ],
      ...when(x.get('packName'))(['Pack: ', f(x.get('packName') ?? '')]),
      ...when(x.amount)(['Amount: ', f(x.amount ?? '')]),
    ],
  }),
};

const fr: Templates = {
  transfer_received: (x) => ({
    subject: withAmount('Vous avez reçu un virement', x.amount, ' : '),
    lines: [
      ['Un virement a été crédité sur votre compte.'],
      ...transferLines(x, { amount: 'Montant : ', counterparty: 'De : ', reference: 'Référence : ' }),
    ],
  }),
  transfer_sent: (x) => ({
    subject: withAmount('Votre virement a été envoyé', x.amount, ' : '),
    lines: [
      ['Votre virement a été envoyé.'],
      ...transferLines(x, { amount: 'Montant : ', counterparty: 'À : ', reference: 'Référence : ' }),
    ],
  }),
  transfer_held: (x) => ({
    subject: withAmount('Votre virement est en cours de vérification', x.amount, ' : '),
    lines: [
      ['Votre virement est retenu pour vérification par nos équipes. Nous vous informerons de la décision.'],
      ...transferLines(x, { amount: 'Montant : ', counterparty: 'À : ', reference: 'Référence : ' }),
    ],
  }),
  transfer_approved: (x) => ({
    subject: withAmount('Votre virement a été approuvé', x.amount, ' : '),
    lines: [
      ['Votre virement a été approuvé après vérification.'],
      ...transferLines(x, { amount: 'Montant : ', counterparty: 'À : ', reference: 'Référence : ' }),
    ],
  }),
  transfer_rejected: (x) => ({
    subject: withAmount('Votre virement a été refusé', x.amount, ' : '),
    lines: [
      ["Votre virement a été refusé après vérification. L'argent n'a pas été débité."],
      ...transferLines(x, {
        amount: 'Montant : ',
        counterparty: 'À : ',
        reference: 'Référence : ',
        reason: 'Motif : ',
      }),
    ],
  }),
  transfer_returned: (x) => ({
    subject: withAmount('Votre virement a été retourné', x.amount, ' : '),
    lines: [
      [
        "Votre virement externe a été retourné par la banque destinataire. L'argent est de retour sur votre compte.",
      ],
      ...transferLines(x, {
        amount: 'Montant : ',
        counterparty: 'À : ',
        reference: 'Référence : ',
        reason: 'Motif : ',
      }),
    ],
  }),
  kyc_verified: () => ({
    subject: 'Votre identité est vérifiée',
    lines: [["Vos pièces d'identité ont été vérifiées. Les limites de votre compte sont levées."]],
  }),
  kyc_rejected: (x) => ({
    subject: "Votre identité n'a pas pu être vérifiée",
    lines: [
      [
        "Nous n'avons pas pu vérifier vos pièces d'identité. Vous pouvez en envoyer de nouvelles depuis l'application.",
      ],
      ...when(x.get('reason'))(['Motif : ', f(x.get('reason') ?? '')]),
    ],
  }),
  kyc_needs_review: () => ({
    subject: "Vos pièces d'identité sont en cours de vérification",
    lines: [
      [
        "Vos pièces d'identité doivent être vérifiées par nos équipes. Nous vous informerons dès que ce sera fait.",
      ],
    ],
  }),
  login_new_device: (x) => ({
    subject: 'Nouvelle connexion à votre compte',
    lines: [
      ['Une connexion à votre compte a eu lieu depuis un appareil ou une adresse inconnus.'],
      ...when(x.get('userAgent'))(['Appareil : ', f(x.get('userAgent') ?? '')]),
      ...when(x.get('ip'))(['Adresse : ', f(x.get('ip') ?? '')]),
      ["Si ce n'était pas vous, changez immédiatement votre mot de passe et contactez-nous."],
    ],
  }),
  password_changed: () => ({
    subject: 'Votre mot de passe a été modifié',
    lines: [
      ['Le mot de passe de votre compte a été modifié.'],
      ["Si ce n'était pas vous, contactez-nous immédiatement."],
    ],
  }),
  two_factor_changed: (x) => ({
    subject: 'Votre double authentification a changé',
    lines: [
      [
        x.get('change') === 'enabled'
          ? 'La double authentification a été activée sur votre compte.'
          : x.get('change') === 'disabled'
            ? 'La double authentification a été désactivée sur votre compte.'
            : 'La double authentification de votre compte a été modifiée.',
      ],
      ["Si ce n'était pas vous, contactez-nous immédiatement."],
    ],
  }),
  account_locked: (x) => ({
    subject: 'Votre compte est verrouillé',
    lines: [
      ['Votre compte a été verrouillé. Contactez-nous pour le déverrouiller.'],
      ...when(x.get('reason'))(['Motif : ', f(x.get('reason') ?? '')]),
    ],
  }),
  account_frozen: (x) => ({
    subject: 'Votre compte est gelé',
    lines: [
      [
        "Un de vos comptes a été gelé : aucun argent ne peut en sortir pour l'instant. Contactez-nous pour en savoir plus.",
      ],
      ...when(accountOf(x))(['Compte : ', f(accountOf(x) ?? '')]),
      ...when(x.get('reason'))(['Motif : ', f(x.get('reason') ?? '')]),
    ],
  }),
  pack_fee_charged: (x) => ({
    subject: withAmount('La cotisation de votre offre a été prélevée', x.amount, ' : '),
    lines: [
      ['La cotisation mensuelle de votre offre a été prélevée.'],
      ...when(x.get('packName'))(['Offre : ', f(x.get('packName') ?? '')]),
      ...when(x.amount)(['Montant : ', f(x.amount ?? '')]),
    ],
  }),
  pack_fee_failed: (x) => ({
    subject: withAmount("La cotisation de votre offre n'a pas pu être prélevée", x.amount, ' : '),
    lines: [
      [
        "La cotisation mensuelle de votre offre n'a pas pu être prélevée. Nous réessaierons ; en cas de nouvel échec, l'offre sera suspendue.",
      ],
      ...when(x.get('packName'))(['Offre : ', f(x.get('packName') ?? '')]),
      ...when(x.amount)(['Montant : ', f(x.amount ?? '')]),
    ],
  }),
};

const templates: Record<MailLocale, Templates> = { en, fr };

const greeting = (locale: MailLocale, firstName: string | null): Line => {
  const name = firstName === null ? '' : clean(firstName);
  const hello = locale === 'fr' ? 'Bonjour' : 'Hello';
  return name === '' ? [`${hello},`] : [`${hello} `, f(name), ','];
};

const signature: Record<MailLocale, string[]> = {
  en: [
    'Ledger Bank',
    'You receive this mail because of your notification settings; security mails are always sent.',
  ],
  fr: [
    'Ledger Bank',
    'Vous recevez ce message selon vos préférences de notification ; les messages de sécurité sont toujours envoyés.',
  ],
};

const asText = (line: Line) => line.map((p) => (typeof p === 'string' ? p : p.fact)).join('');
const asHtml = (line: Line) => line.map((p) => escapeHtml(typeof p === 'string' ? p : p.fact)).join('');

/**
 * The mail of `intent` for `recipient`, in the recipient's language (English for anything
 * but 'fr'). Pure: the same intent and recipient always give the same mail.
 */
export function renderMail(intent: NotificationIntent, recipient: MailRecipient): RenderedMail {
  const locale: MailLocale = recipient.locale === 'fr' ? 'fr' : 'en';
  const raw = intent.facts;
  const get = (key: string): string | undefined => {
    const value = Object.hasOwn(raw, key) ? raw[key] : undefined;
    if (typeof value !== 'string') return undefined;
    const cleaned = clean(value);
    return cleaned === '' ? undefined : cleaned;
  };
  const amountFact = get('amount');
  const currencyFact = get('currency');
  const amount =
    amountFact === undefined || currencyFact === undefined
      ? undefined
      : (formatAmount(amountFact, currencyFact, locale) ?? undefined);
  const template = templates[locale][intent.type]({ get, amount });
  const lines: Line[] = [greeting(locale, recipient.firstName), ...template.lines];
  const [bank, footer] = signature[locale];
  const text = `${[...lines.map(asText), '', '--', bank, footer].join('\n')}\n`;
  const html = [
    '<!doctype html>',
    `<html lang="${locale}"><head><meta charset="utf-8"><title>${escapeHtml(template.subject)}</title></head>`,
    '<body style="font-family: sans-serif; line-height: 1.5; color: #1a1a1a">',
    ...lines.map((line) => `<p>${asHtml(line)}</p>`),
    `<hr><p style="color: #666; font-size: small">${escapeHtml(bank ?? '')}<br>${escapeHtml(footer ?? '')}</p>`,
    '</body></html>',
    '',
  ].join('\n');
  return { subject: headerSafe(template.subject), text, html };
}
