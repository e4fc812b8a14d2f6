import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

import { causeChain, ServerError } from '../common/errors';
import { RELEASE_TASK_QUEUE } from '../common/temporalNames';

/**
 * An idle worker renews its long poll on the release queue at least once a minute (the
 * Temporal server ends a long poll after 60 s), so a live worker was always seen less than
 * ~60 s ago; 15 s more absorb a loaded machine. Older than that, no worker has asked for
 * work: an update or query would wait for one (until the CLI gave up, and then apply later
 * with nobody told), so it is refused before anything is sent (S-19).
 */
export const POLLER_FRESH_MS = 75_000;

/**
 * An update carries `notAfter` = now + ACCEPT_WINDOW_MS and the workflow's validator refuses
 * it later than that, so an update no worker took in time can never apply when one returns.
 * A live worker accepts within a workflow task (well under a second unloaded).
 */
export const ACCEPT_WINDOW_MS = 10_000;
/** The API waits this much past `notAfter` for the acceptance: covers clock skew with Temporal. */
export const ACCEPT_GRACE_MS = 3_000;
/** The whole update, accepted and done, stays below the CLI's 60 s HTTP timeout (infra/adminApiClient.ts). */
export const UPDATE_DEADLINE_MS = 45_000;
/** A query needs a worker too (Temporal replays the workflow on one to answer it). */
export const QUERY_DEADLINE_MS = 10_000;

const NO_WORKER = 'no worker is serving releases (is the worker running? npm start)';

/** S-19: refuses with NO_WORKER unless a worker polled the release queue recently. */
export async function requireWorker(client: Client, now = Date.now()): Promise<void> {
  const { pollers } = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: RELEASE_TASK_QUEUE },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const last = Math.max(0, ...(pollers ?? []).map((p) => msOf(p.lastAccessTime)));
  if (now - last > POLLER_FRESH_MS) throw noWorker('nothing was changed');
}

export function noWorker(what: string): ServerError {
  return new ServerError('NO_WORKER', `${NO_WORKER}: ${what}`);
}

/** True for Temporal's "the call ran out of time" (our deadline), as opposed to a refusal. */
export function timedOut(err: unknown): boolean {
  for (const e of causeChain(err)) {
    if (e.name === 'WorkflowUpdateRPCTimeoutOrCancelledError') return true;
    // The SDK may end a call past its deadline as CANCELLED (1) rather than DEADLINE_EXCEEDED (4).
    if (e.code === 4 /* grpc DEADLINE_EXCEEDED */ || e.code === 1 /* grpc CANCELLED */) return true;
  }
  return false;
}

/** A protobuf Timestamp in ms since the epoch (0 when absent). */
function msOf(ts: { seconds?: { toNumber(): number } | null; nanos?: number | null } | null | undefined): number {
  if (!ts) return 0;
  return (ts.seconds?.toNumber() ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000);
}
