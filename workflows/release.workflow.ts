import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  ContinueAsNew,
  continueAsNew,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { ServerError } from '../common/errors';
import {
  abortUpdate,
  approveUpdate,
  messageDescriptions,
  pauseUpdate,
  promoteUpdate,
  rejectUpdate,
  resumeUpdate,
  rollbackUpdate,
  statusQuery,
  type ApproveInput,
  type OpsInput,
} from '../common/messages';
import { lifecycleOf, type ActionRecord, type ChannelPolicy, type ReleaseSpec, type ReleaseStatus, type ReleaseTarget, type Stage } from '../common/release';
import { awaitingApprovalKey, percentKey, stageKey } from '../common/searchAttributes';
import { checkApproveInput, checkOpsInput, checkReleaseSpec } from '../common/validation';
import { renderDetails } from './details';
import { approvalRefusal, evaluateGate } from './governance';

type Activities = ReturnType<typeof createActivities>;

// Verification failures are permanent: retrying cannot make a bad artifact good.
const NON_RETRYABLE = [
  'INTAKE_MISMATCH',
  'ARTIFACT_CORRUPT',
  'VALIDATION_FAILED',
  'INVALID_INPUT',
  'REPOSITORY_CONFLICT',
  'CONFIG_INVALID',
  'ROLLBACK_NOT_ALLOWED',
  'NOT_FOUND',
];

const stageActs = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE },
});
// Short activities: a short timeout so an attempt lost with a crashed worker is retried soon.
const quickActs = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500ms', maximumInterval: '10s', nonRetryableErrorTypes: NON_RETRYABLE },
});

const MAX_HISTORY = 100;
const MAX_SIGNING_ROUNDS = 5;
/** How often a baking step looks at device health: 60 looks per bake, every 2 s to 15 min. */
const HEALTH_POLL_MS = 2000;
const MAX_HEALTH_POLL_MS = 15 * 60_000;
const TERMINAL: Stage[] = ['stable', 'rolled-back', 'rejected', 'aborted', 'failed'];
/** Events before continue-as-new (the server may suggest it earlier). */
const DEFAULT_HISTORY_LIMIT = 10_000;

/** What a release run hands to the next one when it continues as new. */
export interface CarriedState {
  status: ReleaseStatus;
  policy: ChannelPolicy;
  round: string;
  gateOverridden: boolean;
  /** An operator's promote that arrived just before the handover. */
  promoted: boolean;
  /** True when the current step's rollout state is already published. */
  stepStarted: boolean;
  remainingBakeMs?: number;
}

/**
 * One release, from intake to stable. Each stage is an activity; the workflow holds
 * only object keys, digests and the rollout state, never artifact bytes.
 */
export async function releaseWorkflow(spec: ReleaseSpec, carried?: CarriedState): Promise<ReleaseStatus> {
  const status: ReleaseStatus = carried?.status ?? {
    releaseId: workflowInfo().workflowId,
    version: spec.version,
    channel: spec.channel,
    hardwareIds: spec.hardwareIds,
    stage: 'intake',
    lifecycle: 'draft',
    percent: 0,
    paused: false,
    withdrawn: false,
    awaitingApproval: false,
    waitingFor: 'build intake',
    steps: spec.steps,
    stepIndex: -1,
    approvals: [],
    approvalsRequired: 1,
    createdBy: spec.createdBy,
    plan: spec.plan,
    history: [],
  };
  let policy: ChannelPolicy | undefined = carried?.policy;
  /** Which approval the release waits for: 'release', or 'step-N' for a gated step. */
  let round = carried?.round ?? 'release';
  let ended: Stage | undefined; // set by reject/abort: the release ends at the next safe point
  let promoted = carried?.promoted ?? false;
  let gateOverridden = carried?.gateOverridden ?? false;
  const historyLimit = spec.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const historyFull = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit;

  const now = () => new Date(Date.now()).toISOString();
  const record = (entry: Omit<ActionRecord, 'at'>) => {
    status.history.push({ at: now(), ...entry });
    if (status.history.length > MAX_HISTORY) status.history.splice(0, status.history.length - MAX_HISTORY);
  };
  const show = (stage: Stage, waitingFor: string) => {
    status.stage = stage;
    status.lifecycle = lifecycleOf(stage, status.percent);
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
        approvals: status.approvals.filter((a) => a.decision === 'approve').map((a) => ({ approver: a.approver, at: a.at })),
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
  const closed = () => TERMINAL.includes(status.stage) || ended !== undefined;
  const refuse = (message: string, code = 'WRONG_STAGE') => ApplicationFailure.nonRetryable(message, code);
  // Validators reject with a typed failure so callers see the code, not just a message.
  const checked = (check: () => void) => {
    try {
      check();
    } catch (err) {
      if (err instanceof ServerError) throw refuse(err.message, err.code);
      throw err;
    }
  };
  const approvalValidator = (input: ApproveInput) => {
    checked(() => checkApproveInput(input));
    if (!policy) throw refuse('the release is not ready for approvals yet');
    const why = approvalRefusal(status, policy, input, round);
    if (why) throw refuse(why, status.awaitingApproval ? 'APPROVAL_REFUSED' : 'WRONG_STAGE');
  };
  const opsValidator = (allowed: (s: ReleaseStatus) => boolean, action: string) => (input: OpsInput) => {
    checked(() => checkOpsInput(input));
    if (closed() || !allowed(status)) throw refuse(`cannot ${action} a release in stage ${status.stage}${status.paused ? ' (paused)' : ''}`);
  };

  setHandler(statusQuery, () => status, { description: messageDescriptions.status });
  setHandler(
    approveUpdate,
    (input) => {
      status.approvals.push({ approver: input.approver, comment: input.comment ?? '', at: now(), round, decision: 'approve' });
      record({ action: 'approve', actor: input.approver, detail: [round, input.comment].filter(Boolean).join(': ') });
      return status;
    },
    { description: messageDescriptions.approve, validator: approvalValidator },
  );
  setHandler(
    rejectUpdate,
    (input) => {
      status.approvals.push({ approver: input.approver, comment: input.comment ?? '', at: now(), round, decision: 'reject' });
      record({ action: 'reject', actor: input.approver, detail: input.comment });
      ended = 'rejected';
      return status;
    },
    { description: messageDescriptions.reject, validator: approvalValidator },
  );
  setHandler(
    pauseUpdate,
    async (input: OpsInput) => {
      await publishFlag('paused', true);
      record({ action: 'pause', actor: input?.actor, detail: input?.reason });
      show('rollout', 'resume (paused by an operator)');
      return status;
    },
    { description: messageDescriptions.pause, validator: opsValidator((s) => inRollout() && !s.paused, 'pause') },
  );
  setHandler(
    resumeUpdate,
    async (input: OpsInput) => {
      // Resuming after a tripped gate is the operator's override for this step.
      if (status.gate?.result === 'tripped' && status.gate.step === status.stepIndex) gateOverridden = true;
      await publishFlag('paused', false);
      record({ action: 'resume', actor: input?.actor, detail: input?.reason });
      show('rollout', `bake time of the ${status.percent}% step`);
      return status;
    },
    { description: messageDescriptions.resume, validator: opsValidator((s) => inRollout() && s.paused, 'resume') },
  );
  setHandler(
    promoteUpdate,
    (input: OpsInput) => {
      promoted = true;
      record({ action: 'promote', actor: input?.actor, detail: input?.reason });
      return status;
    },
    { description: messageDescriptions.promote, validator: opsValidator((s) => inRollout() && !s.paused && !s.awaitingApproval, 'promote') },
  );
  const withdraw = async (action: 'rollback' | 'abort', input: OpsInput) => {
    let detail = input?.reason;
    if (action === 'rollback' && input?.to) {
      // Checked and published first: if the earlier release may not be offered, nothing changes.
      const previous = await quickActs.offerPrevious({ current: status.target!, toVersion: input.to });
      detail = [`offering ${previous.targetName} again`, input.reason].filter(Boolean).join(': ');
    }
    // Before the rollout there is nothing signed to withdraw; the workflow just ends.
    if (status.stage === 'rollout') await publishFlag('withdrawn', true);
    else status.withdrawn = true;
    status.awaitingApproval = false;
    if (action === 'abort') ended = 'aborted';
    record({ action, actor: input?.actor, detail });
    return status;
  };
  setHandler(rollbackUpdate, (input: OpsInput) => withdraw('rollback', input), {
    description: messageDescriptions.rollback,
    validator: (input: OpsInput) => {
      opsValidator((s) => ['approval', 'rollout'].includes(s.stage) && !s.withdrawn, 'roll back')(input);
      if (input?.to && status.stage !== 'rollout') throw refuse('rollback --to needs a release in rollout');
    },
  });
  setHandler(abortUpdate, (input: OpsInput) => withdraw('abort', input), {
    description: messageDescriptions.abort,
    validator: opsValidator(() => true, 'abort'),
  });

  /**
   * Continue-as-new at a safe point (no handler running, no publish in flight), so a
   * month-long rollout with thousands of messages keeps a bounded history.
   */
  const rollOver = async (resume: Pick<CarriedState, 'remainingBakeMs' | 'stepStarted'>): Promise<never> => {
    await condition(allHandlersFinished);
    await publishing;
    record({ action: 'continue-as-new', detail: `after ${workflowInfo().historyLength} history events` });
    return continueAsNew<typeof releaseWorkflow>(spec, { status, policy: policy!, round, gateOverridden, promoted, ...resume });
  };

  /** Waits for the approvals a round needs; false when the release ended instead. */
  const awaitApprovals = async (which: string, needed: number, waitingFor: string, stepStarted = false): Promise<boolean> => {
    round = which;
    status.approvalsRequired = needed;
    status.awaitingApproval = true;
    show(status.stage === 'rollout' ? 'rollout' : 'approval', waitingFor);
    const approvedIn = () => status.approvals.filter((a) => a.round === which && a.decision === 'approve').length;
    const done = () => approvedIn() >= needed || status.withdrawn || ended !== undefined;
    await condition(() => done() || historyFull());
    if (!done()) await rollOver({ stepStarted });
    status.awaitingApproval = false;
    return !status.withdrawn && ended === undefined;
  };

  /** Bake time and health gate of one step. Paused time does not count. */
  const bakeAndGate = async (i: number, remainingMs?: number): Promise<void> => {
    const step = status.steps[i]!;
    let remaining = remainingMs ?? step.bakeTimeMs;
    if (remainingMs === undefined) {
      promoted = false;
      gateOverridden = false;
    }
    // Long bakes look at health less often: bounded history per hour of baking.
    const pollMs = Math.min(MAX_HEALTH_POLL_MS, Math.max(HEALTH_POLL_MS, Math.floor(step.bakeTimeMs / 60)));
    for (;;) {
      if (status.withdrawn || ended) return;
      if (historyFull()) await rollOver({ stepStarted: true, remainingBakeMs: remaining });
      if (status.paused) {
        await condition(() => !status.paused || status.withdrawn || ended !== undefined);
        continue;
      }
      const gate = evaluateGate(i, step, await quickActs.rolloutHealth({ targetName: status.target!.name }));
      status.gate = gate;
      if (gate.result === 'tripped' && !gateOverridden) {
        record({ action: 'gate-tripped', detail: `${gate.failures}/${gate.reports} failed (${(gate.failureRate * 100).toFixed(1)}% > ${step.maxFailureRate * 100}%)` });
        if (policy?.onBreach === 'rollback') {
          await publishFlag('withdrawn', true);
          return;
        }
        await publishFlag('paused', true);
        show('rollout', `an operator: the ${step.percent}% health gate tripped (${gate.failures} of ${gate.reports} failed)`);
        continue;
      }
      const baked = remaining <= 0 || promoted;
      if (baked && (gate.result === 'passed' || gateOverridden)) return;
      show('rollout', baked ? `${step.minDevices - gate.reports} more device reports for the ${step.percent}% gate` : `bake time of the ${step.percent}% step`);
      const started = Date.now();
      const wait = baked ? pollMs : Math.min(remaining, pollMs);
      await condition(() => status.paused || status.withdrawn || ended !== undefined || promoted, wait);
      if (!baked) remaining -= Date.now() - started;
    }
  };

  /** Steps from `first` on: approval gate, publish, bake and health gate; then the end state. */
  const rollout = async (first: number, resume?: Pick<CarriedState, 'remainingBakeMs' | 'stepStarted'>): Promise<ReleaseStatus> => {
    for (let i = first; i < status.steps.length && !status.withdrawn && !ended; i++) {
      const step = status.steps[i]!;
      const resuming = resume !== undefined && i === first;
      status.stepIndex = i;
      if (!(resuming && resume.stepStarted)) {
        if (step.gate === 'approval' && !(await awaitApprovals(`step-${i}`, 1, `an owner's approval to start the ${step.percent}% step`))) break;
        status.percent = step.percent;
        record({ action: 'step', detail: `${step.percent}%` });
        show('rollout', `bake time of the ${step.percent}% step`);
        await publishRollout();
      }
      await bakeAndGate(i, resuming ? resume.remainingBakeMs : undefined);
    }
    // Let in-flight handlers finish their publish before closing.
    await condition(allHandlersFinished);
    await publishing;
    if (ended) {
      show(ended, `nothing: the release was ${ended}`);
      return status;
    }
    if (status.withdrawn) {
      show('rolled-back', 'nothing: the release is withdrawn');
      return status;
    }
    show('stable', 'nothing: every device in the channel is offered the release');
    return status;
  };

  /** After continue-as-new: pick up at the approval wait or the step where the last run stopped. */
  const resumeRollout = async (): Promise<ReleaseStatus> => {
    const c = carried!;
    if (status.stage === 'approval') {
      const approved = await awaitApprovals('release', c.policy.approvals, status.waitingFor);
      return rollout(approved ? 0 : status.steps.length);
    }
    if (status.awaitingApproval && !c.stepStarted) {
      // The step's own approval gate was pending; rollout() waits for it again.
      return rollout(status.stepIndex);
    }
    return rollout(status.stepIndex, { stepStarted: c.stepStarted, remainingBakeMs: c.remainingBakeMs });
  };

  try {
    if (carried) return await resumeRollout();
    // A start from the UI or another client skips the CLI's checks; the workflow repeats them.
    checked(() => checkReleaseSpec(spec));
    policy = await quickActs.loadChannelPolicy({ channel: spec.channel });
    status.approvalsRequired = policy.approvals;
    show('intake', 'build intake: size and sha256 of the uploaded build');
    const build = await stageActs.intakeBuild({ intakeKey: spec.intakeKey });
    show('preparation', 'content-addressed copy into the artifacts bucket');
    const artifact = await stageActs.prepareArtifact({ intakeKey: spec.intakeKey, ...build });
    show('manifest', 'TUF target with the release policy fields');
    status.target = await quickActs.createManifest({ spec, artifact });
    for (let attempt = 1; ; attempt++) {
      show('signing', 'HSM signature over the release targets');
      const staged = await quickActs.signRelease({ target: status.target });
      show('registration', 'publishing the signed metadata');
      try {
        await quickActs.registerRelease({ staged });
        break;
      } catch (err) {
        // Another release registered first: sign again on top of it.
        if (attempt >= MAX_SIGNING_ROUNDS || !isConflict(err)) throw err;
      }
    }
    record({ action: 'registered', detail: status.target.name });
    show('validation', 'download, re-hash and verify as a device would');
    await stageActs.validateRelease({ target: status.target });

    const approved = await awaitApprovals('release', policy.approvals, `${policy.approvals} approval(s) from release owners of ${spec.channel}: {"approver", "comment"} via the approve update`);
    // patched(): releases recorded before superseding existed replay without it.
    if (approved && patched('supersede')) {
      // One active rollout per channel: the newest release wins (see activities/supersede.ts).
      const sup = await quickActs.supersede({ channel: spec.channel, version: spec.version, releaseId: status.releaseId });
      for (const id of sup.aborted) record({ action: 'superseded', detail: id });
      if (sup.supersededBy) {
        record({ action: 'abort', actor: 'supersede', detail: `superseded by ${sup.supersededBy}` });
        ended = 'aborted';
      }
    }
    return await rollout(approved && !ended ? 0 : status.steps.length);
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err; // not a failure: the next run carries on
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
