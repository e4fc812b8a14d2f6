import { heartbeat } from '@temporalio/activity';

/**
 * One long call with no progress of its own to report (a server-side copy, a download, the
 * qbsdiff CLI): a timer heartbeats while it runs, so a live worker is never timed out and a dead
 * one is noticed within the heartbeat timeout.
 */
export async function heartbeatingWhile<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => heartbeat(), 5000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
