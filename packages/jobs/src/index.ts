export { BullMqJobQueue, type BullMqJobQueueOptions } from './bullmq.js';
export {
  type DispatchRule,
  dispatcherName,
  dispatchJobId,
  EnqueueFailed,
  eventDispatcher,
  type RunDispatcherOptions,
  runDispatcher,
} from './dispatcher.js';
export { InProcessJobQueue, type InProcessJobQueueOptions } from './in-process.js';
export {
  backoffDelayMs,
  type EnqueueOptions,
  type Job,
  type JobHandler,
  type JobQueue,
  jobLimits,
  type RetryPolicy,
} from './queue.js';
