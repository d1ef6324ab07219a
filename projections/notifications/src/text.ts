import type { NotificationType } from '@ledger/domain/notifications';

/**
 * The title and body of an in-app notification, in English or French, from the intent's
 * facts. Plain text: the client escapes it where it renders HTML. Facts are as users typed
 * them (a reference, a reason), cut to inAppFactLengthMax characters.
 */

export type InAppLocale = 'en' | 'fr';

export const inAppFactLengthMax = 200;

type Facts = Readonly<Record<string, string>>;

function fact(facts: Facts, key: string): string | null {
  const value = facts[key];
  if (value === undefined || value === '') return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters become spaces
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
  return clean.length > inAppFactLengthMax ? `${clean.slice(0, inAppFactLengthMax)}…` : clean;
}

const sentence = (...parts: (string | null | false)[]) =>
  parts.filter((p) => typeof p === 'string').join(' ');

interface Words {
  title: Record<NotificationType, string>;
  amount(facts: Facts): string;
  reference(value: string): string;
  counterpartyFrom(value: string): string;
  counterpartyTo(value: string): string;
  reason(value: string): string;
  body: Record<NotificationType, (facts: Facts, w: Words) => string>;
}

const amountOf = (facts: Facts) => sentence(fact(facts, 'amount'), fact(facts, 'currency'));

const en: Words = {
  title: {
    transfer_received: 'Money received',
    transfer_sent: 'Money sent',
    transfer_held: 'Transfer held for review',
    transfer_approved: 'Transfer approved',
    transfer_rejected: 'Transfer rejected',
    transfer_returned: 'Transfer returned',
    kyc_verified: 'Identity verified',
    kyc_rejected: 'Identity verification rejected',
    kyc_needs_review: 'Identity verification under review',
    login_new_device: 'New sign-in',
    password_changed: 'Password changed',
    two_factor_changed: 'Two-factor authentication changed',
    account_locked: 'Account locked',
    account_frozen: 'Account frozen',
    pack_fee_charged: 'Pack fee charged',
    pack_fee_failed: 'Pack fee not paid',
  },
  amount: amountOf,
  reference: (v) => `Reference: ${v}.`,
  counterpartyFrom: (v) => `from account ${v}`,
  counterpartyTo: (v) => `to account ${v}`,
  reason: (v) => `Reason: ${v}.`,
  body: {
    transfer_received: (f, w) =>
      sentence(
        `You received ${w.amount(f)}`,
        fact(f, 'counterparty') && w.counterpartyFrom(fact(f, 'counterparty')!),
      ) +
      '.' +
      optional(f, 'reference', w.reference),
    transfer_sent: (f, w) =>
      sentence(
        `You sent ${w.amount(f)}`,
        fact(f, 'counterparty') && w.counterpartyTo(fact(f, 'counterparty')!),
      ) +
      '.' +
      optional(f, 'reference', w.reference),
    transfer_held: (f, w) =>
      `Your transfer of ${w.amount(f)} is held for review; you will hear once it is decided.` +
      optional(f, 'reference', w.reference),
    transfer_approved: (f, w) =>
      `Your transfer of ${w.amount(f)} was approved.` + optional(f, 'reference', w.reference),
    transfer_rejected: (f, w) =>
      `Your transfer of ${w.amount(f)} was rejected; the money stays on your account.` +
      optional(f, 'reason', w.reason),
    transfer_returned: (f, w) =>
      `Your transfer of ${w.amount(f)} was returned by the receiving bank; the money is back on your account.` +
      optional(f, 'reason', w.reason),
    kyc_verified: () => 'Your identity is verified: every feature of your account is open.',
    kyc_rejected: (f, w) => 'We could not verify your identity.' + optional(f, 'reason', w.reason),
    kyc_needs_review: () => 'Your documents are being reviewed by our team.',
    login_new_device: (f) =>
      sentence(
        'A sign-in to your account from a new device',
        fact(f, 'userAgent') && `(${fact(f, 'userAgent')})`,
        fact(f, 'ip') && `at address ${fact(f, 'ip')}`,
      ) + '. If it was not you, change your password.',
    password_changed: () => 'Your password was changed. If it was not you, contact the bank at once.',
    two_factor_changed: (f) =>
      f.change === 'disabled'
        ? 'Two-factor authentication was turned off on your account.'
        : 'Two-factor authentication was turned on on your account.',
    account_locked: () => 'Your account was locked. Contact the bank if you need help.',
    account_frozen: (f, w) =>
      sentence('Your account', fact(f, 'accountNumber'), 'was frozen.') + optional(f, 'reason', w.reason),
    pack_fee_charged: (f, w) => `Your pack fee of ${w.amount(f)} was charged.`,
    pack_fee_failed: (f, w) => `Your pack fee of ${w.amount(f)} could not be charged.`,
  },
};

const fr: Words = {
  title: {
    transfer_received: 'Argent reçu',
    transfer_sent: 'Argent envoyé',
    transfer_held: 'Virement en attente de vérification',
    transfer_approved: 'Virement approuvé',
    transfer_rejected: 'Virement refusé',
    transfer_returned: 'Virement retourné',
    kyc_verified: 'Identité vérifiée',
    kyc_rejected: 'Vérification d’identité refusée',
    kyc_needs_review: 'Vérification d’identité en cours',
    login_new_device: 'Nouvelle connexion',
    password_changed: 'Mot de passe modifié',
    two_factor_changed: 'Double authentification modifiée',
    account_locked: 'Compte verrouillé',
    account_frozen: 'Compte gelé',
    pack_fee_charged: 'Frais de pack prélevés',
    pack_fee_failed: 'Frais de pack impayés',
  },
  amount: amountOf,
  reference: (v) => `Référence : ${v}.`,
  counterpartyFrom: (v) => `du compte ${v}`,
  counterpartyTo: (v) => `vers le compte ${v}`,
  reason: (v) => `Motif : ${v}.`,
  body: {
    transfer_received: (f, w) =>
      sentence(
        `Vous avez reçu ${w.amount(f)}`,
        fact(f, 'counterparty') && w.counterpartyFrom(fact(f, 'counterparty')!),
      ) +
      '.' +
      optional(f, 'reference', w.reference),
    transfer_sent: (f, w) =>
      sentence(
        `Vous avez envoyé ${w.amount(f)}`,
        fact(f, 'counterparty') && w.counterpartyTo(fact(f, 'counterparty')!),
      ) +
      '.' +
      optional(f, 'reference', w.reference),
    transfer_held: (f, w) =>
      `Votre virement de ${w.amount(f)} est en attente de vérification.` +
      optional(f, 'reference', w.reference),
    transfer_approved: (f, w) =>
      `Votre virement de ${w.amount(f)} a été approuvé.` + optional(f, 'reference', w.reference),
    transfer_rejected: (f, w) =>
      `Votre virement de ${w.amount(f)} a été refusé ; l’argent reste sur votre compte.` +
      optional(f, 'reason', w.reason),
    transfer_returned: (f, w) =>
      `Votre virement de ${w.amount(f)} a été retourné par la banque destinataire ; l’argent est de retour sur votre compte.` +
      optional(f, 'reason', w.reason),
    kyc_verified: () => 'Votre identité est vérifiée : toutes les fonctions de votre compte sont ouvertes.',
    kyc_rejected: (f, w) => 'Nous n’avons pas pu vérifier votre identité.' + optional(f, 'reason', w.reason),
    kyc_needs_review: () => 'Vos documents sont examinés par notre équipe.',
    login_new_device: (f) =>
      sentence(
        'Une connexion à votre compte depuis un nouvel appareil',
        fact(f, 'userAgent') && `(${fact(f, 'userAgent')})`,
        fact(f, 'ip') && `à l’adresse ${fact(f, 'ip')}`,
      ) + '. Si ce n’était pas vous, changez votre mot de passe.',
    password_changed: () =>
      'Votre mot de passe a été modifié. Si ce n’était pas vous, contactez la banque immédiatement.',
    two_factor_changed: (f) =>
      f.change === 'disabled'
        ? 'La double authentification a été désactivée sur votre compte.'
        : 'La double authentification a été activée sur votre compte.',
    account_locked: () => 'Votre compte a été verrouillé. Contactez la banque si besoin.',
    account_frozen: (f, w) =>
      sentence('Votre compte', fact(f, 'accountNumber'), 'a été gelé.') + optional(f, 'reason', w.reason),
    pack_fee_charged: (f, w) => `Les frais de votre pack (${w.amount(f)}) ont été prélevés.`,
    pack_fee_failed: (f, w) => `Les frais de votre pack (${w.amount(f)}) n’ont pas pu être prélevés.`,
  },
};

function optional(facts: Facts, key: string, render: (value: string) => string): string {
  const value = fact(facts, key);
  return value === null ? '' : ` ${render(value)}`;
}

/** The title and body of a notification in `locale`. */
export function inAppText(
  type: NotificationType,
  facts: Facts,
  locale: InAppLocale,
): { title: string; body: string } {
  const words = locale === 'fr' ? fr : en;
  return { title: words.title[type], body: words.body[type](facts, words) };
}
