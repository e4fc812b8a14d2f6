import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';

import {
  abortUpdate,
  approveUpdate,
  messageDescriptions,
  type OpsInput,
  pauseUpdate,
  promoteUpdate,
  rejectUpdate,
  resumeUpdate,
  rollbackUpdate,
  statusQuery,
} from '../common/messages';
import type { ReleaseSpec, ReleaseStatus } from '../common/release';
import { awaitingApprovalKey, percentKey, stageKey } from '../common/temporalNames';
import { renderDetails } from './details';
import {
  type CarriedState,
  type OpsAction,
  type ReleaseActivities,
  ReleaseRun,
  type WorkflowRuntime,
} from './releaseRun';
import { EVENT_RETRY, LONG_ACTIVITY_RETRY, SHORT_ACTIVITY_RETRY } from './retryPolicies';

export type { CarriedState } from './releaseRun';

// Long activities heartbeat at least every 5 s while alive, so a crashed worker's attempt is
// retried within 20 s (the fault-injection suite kills workers mid-stage). The heartbeat, not
// start-to-close, finds dead workers: 2 hours only caps a live attempt, and building the
// deltas of a 1 GiB image from two bases takes about 14 minutes of worker CPU on two cores.
const longActivities = proxyActivities<ReleaseActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '20 seconds',
  retry: LONG_ACTIVITY_RETRY,
});
// Short activities: a short timeout so an attempt lost with a crashed worker is retried soon.
const shortActivities = proxyActivities<ReleaseActivities>({
  startToCloseTimeout: '15 seconds',
  retry: SHORT_ACTIVITY_RETRY,
});

// Release events for webhooks: retried for about a day while the API is down, as deliveries are.
const eventActivities = proxyActivities<ReleaseActivities>({
  startToCloseTimeout: '15 seconds',
  retry: EVENT_RETRY,
});

/** Events before continue-as-new (the server may suggest it earlier). */
const DEFAULT_HISTORY_LIMIT = 10_000;

/**
 * One release, from intake to stable. Each stage is an activity; the workflow holds
 * only object keys, digests and the rollout state, never artifact bytes. The state and
 * its operations are in ReleaseRun; this function wires Temporal to it.
 */
export async function releaseWorkflow(spec: ReleaseSpec, carried?: CarriedState): Promise<ReleaseStatus> {
  const historyLimit = spec.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const runtime: WorkflowRuntime = {
    longActivities,
    shortActivities,
    condition: async (until, timeoutMs) =>
      timeoutMs === undefined ? (await condition(until), true) : condition(until, timeoutMs),
    allHandlersFinished,
    now: () => Date.now(),
    historyFull: () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit,
    historyLength: () => workflowInfo().historyLength,
    patched,
    publishView: (status) => {
      upsertSearchAttributes([
        { key: stageKey, value: status.stage },
        { key: percentKey, value: status.percent },
        { key: awaitingApprovalKey, value: status.awaitingApproval },
      ]);
      setCurrentDetails(renderDetails(status));
    },
    continueAsNew: (next) => continueAsNew<typeof releaseWorkflow>(spec, next),
    recordEvents: (input) => eventActivities.recordReleaseEvents(input),
  };
  const release = new ReleaseRun({ spec, runtime, releaseId: workflowInfo().workflowId, carried });

  setHandler(statusQuery, () => release.status, { description: messageDescriptions.status });
  const approval = { validator: (input: Parameters<ReleaseRun['checkApproval']>[0]) => release.checkApproval(input) };
  setHandler(approveUpdate, (input) => release.approve(input), {
    description: messageDescriptions.approve,
    ...approval,
  });
  setHandler(rejectUpdate, (input) => release.reject(input), { description: messageDescriptions.reject, ...approval });
  const ops = (action: OpsAction) => ({
    description: messageDescriptions[action],
    validator: (input: OpsInput) => release.checkOps(action, input),
  });
  setHandler(pauseUpdate, (input) => release.pause(input), ops('pause'));
  setHandler(resumeUpdate, (input) => release.resume(input), ops('resume'));
  setHandler(promoteUpdate, (input) => release.promote(input), ops('promote'));
  setHandler(rollbackUpdate, (input) => release.rollback(input), ops('rollback'));
  setHandler(abortUpdate, (input) => release.abort(input), ops('abort'));

  return release.run();
}
