import { renderMail } from '@ledger/application/mail';
import { type NotificationIntent, type NotificationPreferences, wants } from '@ledger/domain/notifications';
import type { EventStore, RecordedEvent } from '@ledger/eventstore';
import { type DispatchRule, type Job, type JobHandler, type JobQueue, jobLimits } from '@ledger/jobs';
import type { Logger } from '@ledger/platform';
import type { Kysely } from 'kysely';
import { migrateMail, recordDeadLetter } from './dead-letters.js';
import { classifyMailError, MailDeliveryError, type Mailer, messageIdFor } from './mailer.js';

/**
 * The mail channel of notifications (issue #18), on queue `notifications`:
 *
 * 1. `notify.event`, one job per event of a notifying type (dispatch rule, job id from the
 *    event): decides the event's notifications and, for each one whose recipient wants it by
 *    email (security always), enqueues
 * 2. `notify.email`, one job per notification (job id from the notification's id, which
 *    comes from event, recipient and type): decides the event again to get the facts (the job
 *    data stays small: no personal data or user text sits in Redis), reads the recipient's
 *    address and language, renders and sends. The Message-ID comes from the notification's
 *    id: a job run twice (a worker killed after sending, before the queue heard of it) sends
 *    the same mail again, recognisable as such (at least once, never a different mail).
 *
 * Failures: a permanent one (a 5xx reply, an unfit address) is recorded as a dead letter and
 * the job ends there, not retried; a transient one fails the attempt, and the queue retries
 * with exponential backoff (RetryPolicy) until its last attempt, whose failure is recorded as
 * a dead letter too. The job ends (rather than throwing an UnrecoverableError) so both queue
 * implementations, BullMQ and the in-process one, stop retrying it alike.
 */

export const notificationsQueue = 'notifications';
export const notifyEventJob = 'notify.event';
export const notifyEmailJob = 'notify.email';
/** Mails sent at once per worker process: SMTP waits, it does not compute. */
const notificationsConcurrency = 4;

/** What the mail channel asks of the deciding side (packages/application, notifications). */
export interface NotificationPorts {
  /** The notifications of one event (their ids stable: the same event gives the same ids). */
  notificationsOf(event: RecordedEvent): Promise<NotificationIntent[]>;
  preferencesOf(userId: string): Promise<NotificationPreferences>;
  /** Where and how to write to the user; null for none (unknown, erased). */
  recipientOf(
    userId: string,
  ): Promise<{ email: string; locale: 'en' | 'fr'; firstName: string | null } | null>;
}

export interface MailJobsOptions {
  store: EventStore;
  /** For the dead letters (schema `mail`). */
  db: Kysely<any>;
  jobs: JobQueue;
  mailer: Mailer;
  ports: NotificationPorts;
  logger: Logger;
  /** The queue's attempts (RetryPolicy.attempts): the last one's failure is a dead letter. */
  attempts?: number;
  now?: () => Date;
}

/** One `notify.event` job per event of these types (the deciding side's notifyingEventTypes). */
export function mailDispatchRules(eventTypes: readonly string[]): DispatchRule[] {
  return eventTypes.map((eventType) => ({
    eventType,
    queue: notificationsQueue,
    job: notifyEventJob,
    toData: (event) => ({ eventId: event.eventId, globalPosition: event.globalPosition.toString() }),
  }));
}

/** The job id of a notification's mail: the same notification, the same job. */
export const emailJobId = (intentId: string) => `${notifyEmailJob}-${intentId}`;

interface EventRef {
  eventId: string;
  globalPosition: bigint;
}

function eventRefOf(job: Job): EventRef {
  const { eventId, globalPosition } = job.data;
  if (
    typeof eventId !== 'string' ||
    typeof globalPosition !== 'string' ||
    !/^\d{1,20}$/.test(globalPosition)
  ) {
    throw new MailDeliveryError(`job ${job.id}: bad event reference`, true, undefined, 'EJOB');
  }
  return { eventId, globalPosition: BigInt(globalPosition) };
}

/** The event at its position, checked by id; null when it is not there. */
async function loadEvent(store: EventStore, ref: EventRef): Promise<RecordedEvent | null> {
  if (ref.globalPosition < 1n) return null;
  const [event] = await store.readAll({ after: ref.globalPosition - 1n, limit: 1 });
  return event !== undefined && event.eventId === ref.eventId && event.globalPosition === ref.globalPosition
    ? event
    : null;
}

const str = (value: unknown) => (typeof value === 'string' ? value : '');

/** The processor of queue `notifications`. */
export function mailProcessor(options: MailJobsOptions): {
  queue: string;
  concurrency: number;
  handler: JobHandler;
} {
  const { store, db, jobs, mailer, ports, logger } = options;
  const attempts = options.attempts ?? jobLimits.attemptsDefault;
  const now = options.now ?? (() => new Date());
  let migrated: Promise<void> | undefined;

  const deadLetter = async (job: Job, error: MailDeliveryError, intent?: NotificationIntent) => {
    migrated ??= migrateMail(db).catch((e) => {
      migrated = undefined;
      throw e;
    });
    await migrated;
    await recordDeadLetter(db, {
      intentId: intent?.id ?? (str(job.data.intentId) || job.id),
      jobId: job.id,
      type: intent?.type ?? (str(job.data.type) || job.name),
      recipientUserId: intent?.recipientUserId ?? str(job.data.recipientUserId),
      eventId: intent?.eventId ?? str(job.data.eventId),
      attempts: job.attempt,
      permanent: error.permanent,
      responseCode: error.responseCode ?? null,
      reason: error.message,
      failedAt: now(),
    });
    logger.error(
      { jobId: job.id, attempt: job.attempt, permanent: error.permanent, responseCode: error.responseCode },
      'notification mail not delivered: dead letter recorded',
    );
  };

  const fanOut = async (job: Job) => {
    const ref = eventRefOf(job);
    const event = await loadEvent(store, ref);
    if (event === null) {
      logger.warn({ jobId: job.id, eventId: ref.eventId }, 'notify.event: no such event; nothing to send');
      return;
    }
    for (const intent of await ports.notificationsOf(event)) {
      if (!wants(await ports.preferencesOf(intent.recipientUserId), 'email', intent.category)) continue;
      // Enqueueing an id already known is a no-op: a fan-out run twice sends each mail once.
      await jobs.enqueue(
        notificationsQueue,
        notifyEmailJob,
        {
          eventId: event.eventId,
          globalPosition: event.globalPosition.toString(),
          intentId: intent.id,
          recipientUserId: intent.recipientUserId,
          type: intent.type,
        },
        { jobId: emailJobId(intent.id) },
      );
    }
  };

  /** Sends one mail; resolves to the intent it was for (for a dead letter). */
  const sendOne = async (job: Job, found: { intent?: NotificationIntent }) => {
    const ref = eventRefOf(job);
    const intentId = str(job.data.intentId);
    const event = await loadEvent(store, ref);
    const intent =
      event === null ? undefined : (await ports.notificationsOf(event)).find((i) => i.id === intentId);
    if (intent === undefined) {
      logger.warn(
        { jobId: job.id, eventId: ref.eventId },
        'notify.email: notification not decided; nothing sent',
      );
      return;
    }
    found.intent = intent;
    const recipient = await ports.recipientOf(intent.recipientUserId);
    if (recipient === null) {
      logger.info({ jobId: job.id }, 'notify.email: no recipient (unknown or erased user); nothing sent');
      return;
    }
    const mail = renderMail(intent, recipient);
    await mailer.send({ messageId: messageIdFor(intent.id), to: recipient.email, ...mail });
  };

  const handler: JobHandler = async (job) => {
    const found: { intent?: NotificationIntent } = {};
    try {
      if (job.name === notifyEventJob) await fanOut(job);
      else if (job.name === notifyEmailJob) await sendOne(job, found);
      else throw new MailDeliveryError(`unknown job ${job.name}`, true, undefined, 'EJOB');
    } catch (thrown) {
      const error = thrown instanceof MailDeliveryError ? thrown : classifyMailError(thrown);
      if (error.permanent) {
        // Not retried: the job ends here, its dead letter recorded.
        await deadLetter(job, error, found.intent);
        return;
      }
      if (job.attempt >= attempts) await deadLetter(job, error, found.intent);
      throw thrown;
    }
  };

  return { queue: notificationsQueue, concurrency: notificationsConcurrency, handler };
}
