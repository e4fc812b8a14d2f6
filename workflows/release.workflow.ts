import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import {
  approveUpdate,
  messageDescriptions,
  pauseUpdate,
  resumeUpdate,
  rollbackUpdate,
  statusQuery,
  type OpsInput,
} from '../common/messages';
import type { ActionRecord, ReleaseSpec, ReleaseStatus, ReleaseTarget, Stage } from '../common/release';
import { awaitingApprovalKey, percentKey, stageKey } from '../common/searchAttributes';
import { ServerError } from '../common/errors';
import { checkApproveInput, checkOpsInput, checkReleaseSpec } from '../common/validation';
import { renderDetails } from './details';

type Activities = ReturnType<typeof createActivities>;

// Verification failures are permanent: retrying cannot make a bad artifact good.
const NON_RETRYABLE = ['INTAKE_MISMATCH', 'ARTIFACT_CORRUPT', 'VALIDATION_FAILED', 'INVALID_INPUT', 'REPOSITORY_CONFLICT', 'CONFIG_INVALID'];

const stageActs = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE },
});
const quickActs = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '500ms', maximumInterval: '10s', nonRetryableErrorTypes: NON_RETRYABLE },
});

const MAX_HISTORY = 100;
const MAX_SIGNING_ROUNDS = 5;

/**
 * One release, from intake to stable. Each stage is an activity; the workflow holds
 * only object keys, digests and the rollout state, never artifact bytes.
 */
export async function releaseWorkflow(spec: ReleaseSpec): Promise<ReleaseStatus> {
  const status: ReleaseStatus = {
    releaseId: workflowInfo().workflowId,
    version: spec.version,
    channel: spec.channel,
    hardwareIds: spec.hardwareIds,
    stage: 'intake',
    percent: 0,
    paused: false,
    withdrawn: false,
    awaitingApproval: false,
    waitingFor: 'build intake',
    steps: spec.steps,
    stepIndex: -1,
    approvals: [],
    history: [],
  };
  const now = () => new Date(Date.now()).toISOString();
  const record = (entry: Omit<ActionRecord, 'at'>) => {
    status.history.push({ at: now(), ...entry });
    if (status.history.length > MAX_HISTORY) status.history.splice(0, status.history.length - MAX_HISTORY);
  };
  const show = (stage: Stage, waitingFor: string) => {
    status.stage = stage;
    status.waitingFor = waitingFor;
    upsertSearchAttributes([
      { key: stageKey, value: stage },
      { key: percentKey, value: status.percent },
      { key: awaitingApprovalKey, value: status.awaitingApproval },
    ]);
    setCurrentDetails(renderDetails(status));
  };

  // Rollout metadata is published by one chain, always with the state as it is when the
  // write starts, so concurrent pause/resume/step changes land in order.
  let publishing: Promise<unknown> = Promise.resolve();
  const publishRollout = (): Promise<void> => {
    const next = publishing.then(() =>
      quickActs.publishRollout({
        target: status.target as ReleaseTarget,
        releaseId: status.releaseId,
        percent: status.percent,
        paused: status.paused,
        withdrawn: status.withdrawn,
      }),
    );
    publishing = next.catch(() => undefined);
    return next;
  };
  /** Changes a rollout flag and publishes it; if the publish fails the flag goes back. */
  const publishFlag = async (flag: 'paused' | 'withdrawn', value: boolean): Promise<void> => {
    const before = status[flag];
    status[flag] = value;
    try {
      await publishRollout();
    } catch (err) {
      status[flag] = before;
      throw err;
    }
  };
  const inRollout = () => status.stage === 'rollout';
  const wrongStage = (action: string) =>
    ApplicationFailure.nonRetryable(`cannot ${action} a release in stage ${status.stage}`, 'WRONG_STAGE');
  // Validators reject with a typed failure so callers see the code, not just a message.
  const checked = (check: () => void) => {
    try {
      check();
    } catch (err) {
      if (err instanceof ServerError) throw ApplicationFailure.nonRetryable(err.message, err.code);
      throw err;
    }
  };

  setHandler(statusQuery, () => status, { description: messageDescriptions.status });
  setHandler(
    approveUpdate,
    (input) => {
      status.approvals.push({ approver: input.approver, comment: input.comment ?? '', at: now() });
      status.awaitingApproval = false;
      record({ action: 'approve', actor: input.approver, detail: input.comment });
      return status;
    },
    {
      description: messageDescriptions.approve,
      validator: (input) => {
        checked(() => checkApproveInput(input));
        if (status.stage !== 'approval' || status.approvals.length > 0) throw wrongStage('approve');
      },
    },
  );
  setHandler(
    pauseUpdate,
    async (input: OpsInput) => {
      await publishFlag('paused', true);
      record({ action: 'pause', actor: input?.actor, detail: input?.reason });
      show('rollout', 'resume (paused by an operator)');
      return status;
    },
    {
      description: messageDescriptions.pause,
      validator: (input) => {
        checked(() => checkOpsInput(input));
        if (!inRollout() || status.paused) throw wrongStage(status.paused ? 'pause again' : 'pause');
      },
    },
  );
  setHandler(
    resumeUpdate,
    async (input: OpsInput) => {
      await publishFlag('paused', false);
      record({ action: 'resume', actor: input?.actor, detail: input?.reason });
      show('rollout', `bake time of the ${status.percent}% step`);
      return status;
    },
    {
      description: messageDescriptions.resume,
      validator: (input) => {
        checked(() => checkOpsInput(input));
        if (!inRollout() || !status.paused) throw wrongStage('resume');
      },
    },
  );
  setHandler(
    rollbackUpdate,
    async (input: OpsInput) => {
      // Before the rollout there is nothing signed to withdraw; the workflow just ends.
      if (status.stage === 'rollout') await publishFlag('withdrawn', true);
      else status.withdrawn = true;
      status.awaitingApproval = false;
      record({ action: 'rollback', actor: input?.actor, detail: input?.reason });
      return status;
    },
    {
      description: messageDescriptions.rollback,
      validator: (input) => {
        checked(() => checkOpsInput(input));
        if (!['approval', 'rollout'].includes(status.stage) || status.withdrawn) throw wrongStage('roll back');
      },
    },
  );

  try {
    // A start from the UI or another client skips the CLI's checks; the workflow repeats them.
    checked(() => checkReleaseSpec(spec));
    show('intake', 'build intake: size and sha256 of the uploaded build');
    const build = await stageActs.intakeBuild({ intakeKey: spec.intakeKey });
    show('preparation', 'content-addressed copy into the artifacts bucket');
    const artifact = await stageActs.prepareArtifact({ intakeKey: spec.intakeKey, ...build });
    show('manifest', 'TUF target with the release policy fields');
    status.target = await quickActs.createManifest({ spec, artifact });
    for (let round = 1; ; round++) {
      show('signing', 'HSM signature over the release targets');
      const staged = await quickActs.signRelease({ target: status.target });
      show('registration', 'publishing the signed metadata');
      try {
        await quickActs.registerRelease({ staged });
        break;
      } catch (err) {
        // Another release registered first: sign again on top of it.
        if (round >= MAX_SIGNING_ROUNDS || !isConflict(err)) throw err;
      }
    }
    record({ action: 'registered', detail: status.target.name });
    show('validation', 'download, re-hash and verify as a device would');
    await stageActs.validateRelease({ target: status.target });

    status.awaitingApproval = true;
    show('approval', 'an approval: {"approver", "comment"} via the approve update');
    await condition(() => status.approvals.length > 0 || status.withdrawn);

    for (let i = 0; i < spec.steps.length && !status.withdrawn; i++) {
      const step = spec.steps[i]!;
      status.stepIndex = i;
      status.percent = step.percent;
      record({ action: 'step', detail: `${step.percent}%` });
      show('rollout', `bake time of the ${step.percent}% step`);
      await publishRollout();
      await bake(step.bakeTimeMs, status);
    }
    // Let in-flight pause/resume/rollback handlers finish their publish before closing.
    await condition(allHandlersFinished);
    await publishing;
    if (status.withdrawn) {
      show('rolled-back', 'nothing: the release is withdrawn');
      return status;
    }
    show('stable', 'nothing: every device in the channel is offered the release');
    return status;
  } catch (err) {
    status.error = { code: failureCode(err), message: err instanceof Error ? err.message : String(err) };
    if (status.stage === 'rollout' && !status.withdrawn) {
      // A closed workflow takes no more updates: withdraw what is offered rather than leave it live.
      status.withdrawn = true;
      await publishRollout().catch(() => undefined);
    }
    show('failed', 'nothing: the release failed');
    throw err;
  }
}

/** Waits out a step's bake time; paused time does not count, a rollback ends it at once. */
async function bake(ms: number, status: ReleaseStatus): Promise<void> {
  let remaining = ms;
  while (remaining > 0 && !status.withdrawn) {
    if (status.paused) {
      await condition(() => !status.paused || status.withdrawn);
      continue;
    }
    const started = Date.now();
    await condition(() => status.paused || status.withdrawn, remaining);
    remaining -= Date.now() - started;
  }
}

function isConflict(err: unknown): boolean {
  return failureCode(err) === 'REPOSITORY_CONFLICT';
}

function failureCode(err: unknown): string {
  let e = err as { type?: string; cause?: unknown } | undefined;
  while (e) {
    if (e.type) return e.type;
    e = e.cause as typeof e;
  }
  return 'UNKNOWN';
}
