import {
  getNotificationPreferences,
  type Ledger,
  notificationsOf,
  notifyingEventTypes,
  type PersonalDataVault,
  recipientOf,
} from '@ledger/application';
import type { EventStore } from '@ledger/eventstore';
import type { DispatchRule, JobQueue } from '@ledger/jobs';
import type { Logger } from '@ledger/platform';
import type { Kysely } from 'kysely';
import { mailDispatchRules, mailProcessor, type NotificationPorts } from './mail-jobs.js';
import { createMailer, type Mailer } from './mailer.js';

export { countDeadLetters, listDeadLetters, type MailDeadLetter, migrateMail } from './dead-letters.js';
export {
  emailJobId,
  mailDispatchRules,
  mailProcessor,
  type NotificationPorts,
  notificationsQueue,
  notifyEmailJob,
  notifyEventJob,
} from './mail-jobs.js';
export {
  classifyMailError,
  createMailer,
  MailDeliveryError,
  type Mailer,
  type MailerConfig,
  type MailMessage,
  messageIdFor,
  outboxFileName,
  smtpOptionsOf,
} from './mailer.js';

/** What the worker needs to send notification mails (issue #18). */
export interface MailOptions {
  /** Opens the recipient's address (a sealed personal field). */
  vault: PersonalDataVault;
  /** DATA_DIR: without SMTP_URL, mails go to DATA_DIR/outbox. */
  dataDir: string;
  /** MAIL_FROM. */
  from: string;
  /** Default: createMailer from SMTP_URL (StartWorkerOptions.smtpUrl), dataDir and from. */
  mailer?: Mailer;
}

/** The deciding side of packages/application, bound to this worker's store, ledger and vault. */
export function notificationPorts(context: {
  store: EventStore;
  ledger: Ledger;
  vault: PersonalDataVault;
}): NotificationPorts {
  const { store, ledger, vault } = context;
  return {
    notificationsOf: (event) => notificationsOf({ ledger }, event),
    preferencesOf: (userId) => getNotificationPreferences({ store }, userId),
    recipientOf: (userId) => recipientOf({ store, vault }, userId),
  };
}

/** The dispatch rules of the mail channel: one notify.event job per event of a notifying type. */
export function notificationDispatchRules(): DispatchRule[] {
  return mailDispatchRules(notifyingEventTypes);
}

/** The mail channel's processor and mailer, for startWorker. */
export function mailChannel(
  options: MailOptions & {
    smtpUrl: string | undefined;
    store: EventStore;
    ledger: Ledger;
    db: Kysely<any>;
    jobs: JobQueue;
    logger: Logger;
    attempts: number | undefined;
  },
) {
  const mailer =
    options.mailer ??
    createMailer({ smtpUrl: options.smtpUrl, dataDir: options.dataDir, from: options.from });
  const processor = mailProcessor({
    store: options.store,
    db: options.db,
    jobs: options.jobs,
    mailer,
    ports: notificationPorts(options),
    logger: options.logger,
    ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
  });
  return { processor, mailer };
}
