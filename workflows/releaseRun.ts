import { ApplicationFailure } from '@temporalio/common';
import { ContinueAsNew } from '@temporalio/workflow';

import type { createActivities } from '../activities';
import type { ReleaseEventsInput } from '../activities/releaseEvents';
import { failureCodeOf, failureMessageOf, ServerError, type ServerErrorCode } from '../common/errors';
import type { ApproveInput, Expiring, OpsInput } from '../common/messages';
import { OPS_RULES, TERMINAL_STAGES } from '../common/opsRules';
import {
  type ActionRecord,
  type ChannelPolicy,
  type DeltaTarget,
  lifecycleOf,
  type ReleaseSpec,
  type ReleaseStatus,
  type ReleaseTarget,
  type Stage,
} from '../common/release';
import { checkApproveInput, checkOpsInput, checkReleaseSpec } from '../common/validation';
import type { ReleaseEvent, ReleaseEventType } from '../common/webhookEvents';
import { approvalRefusal, evaluateGate } from './governance';

export type ReleaseActivities = ReturnType<typeof createActivities>;

/**
 * What a release needs from Temporal, passed in so the release logic can be unit-tested
 * without a server (releaseWorkflow.ts gives the real one). Every call that becomes a
 * history event goes through here or through the activities, in the order the code makes it.
 */
export interface WorkflowRuntime {
  /**
   * Long activities (they heartbeat; build intake, preparation, validation) and short ones, with
   * their retry policies.
   */
  longActivities: ReleaseActivities;
  shortActivities: ReleaseActivities;
  /** False when the timeout (a timer, in history) ended the wait, true when `until` did. */
  condition(until: () => boolean, timeoutMs?: number): Promise<boolean>;
  allHandlersFinished(): boolean;
  /** Workflow time: the current workflow task's start, as history recorded it. */
  now(): number;
  /** True once the run should hand over to a new one (size, or the server's suggestion). */
  historyFull(): boolean;
  historyLength(): number;
  patched(patchId: string): boolean;
  /** Search attributes and the UI's current details. */
  publishView(status: ReleaseStatus): void;
  continueAsNew(carried: CarriedState): Promise<never>;
  /** Records release events for webhooks (an activity retried for a day; see `emit`). */
  recordEvents(input: ReleaseEventsInput): Promise<void>;
}

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
  /** Release events queued but not yet recorded when the previous run handed over. */
  events?: ReleaseEvent[];
}

/** Where a run that continued as new picks up a step: already published or not, and the bake left. */
type Handover = Pick<CarriedState, 'remainingBakeMs' | 'stepStarted'>;

/** Action records a release keeps in its status (Temporal's own event history is another thing). */
const MAX_ACTION_RECORDS = 100;
const MAX_SIGNING_ROUNDS = 5;
/** Release events sent in one activity: those that queued while the previous batch was out. */
const MAX_EVENTS_PER_BATCH = 50;
/** The longest text an event field may carry (api/schemas.ts RecordEvents). */
const MAX_EVENT_TEXT = 1000;
/** How often a baking step looks at device health: 60 looks per bake, every 2 s to 15 min. */
const HEALTH_POLL_MS = 2000;
const MAX_HEALTH_POLL_MS = 15 * 60_000;
export type OpsAction = keyof typeof OPS_RULES;

/** A refusal the caller sees with its code (an update validator's or the workflow's). */
function refuse(message: string, code: ServerErrorCode = 'WRONG_STAGE'): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, code);
}

/**
 * S-19: an update that reaches the workflow after its `notAfter` (no worker ran while the API
 * waited, and the API answered NO_WORKER) is refused, so it never applies late. Workflow time
 * is the workflow task's start, so a worker that returns later sees it expired.
 */
function refuseLate(input: Expiring | undefined, now: number): void {
  if (input?.notAfter !== undefined && now > input.notAfter) {
    throw refuse(
      `no worker took this update before ${new Date(input.notAfter).toISOString()}; the operator was told nothing changed`,
      'NO_WORKER',
    );
  }
}

/**
 * One release's state and every operation on it: approval rounds, the publish chain, bake
 * and health gate, withdrawal, and the continue-as-new hand-over. The workflow function
 * wires message handlers to the public methods and calls `run()`.
 */
export class ReleaseRun {
  readonly status: ReleaseStatus;
  private channelPolicy: ChannelPolicy | undefined;
  /** Which approval the release waits for: 'release', or 'step-N' for a gated step. */
  private round: string;
  /** Set by reject/abort: the release ends at the next safe point. */
  private ended: Stage | undefined;
  private promoted: boolean;
  private gateOverridden: boolean;
  /** Rollout metadata is published by one chain, so concurrent pause/resume/step changes land in order. */
  private publishing: Promise<unknown> = Promise.resolve();
  /** Release events not yet recorded, and the one chain that records them in order. */
  private readonly queuedEvents: ReleaseEvent[] = [];
  private recordingEvents: Promise<void> | undefined;
  /** Set once the run hands over: no new batch of events starts; what is queued goes to the next run. */
  private handingOver = false;
  /** The approval round the previous run was waiting in when it handed over, if any. */
  private resumedRound: string | undefined;

  private readonly spec: ReleaseSpec;
  private readonly runtime: WorkflowRuntime;
  private readonly carried: CarriedState | undefined;

  /** `carried`: what the previous run handed over when it continued as new. */
  constructor(run: { spec: ReleaseSpec; runtime: WorkflowRuntime; releaseId: string; carried?: CarriedState }) {
    const { spec, releaseId, carried } = run;
    this.spec = spec;
    this.runtime = run.runtime;
    this.carried = carried;
    this.status = carried?.status ?? {
      releaseId,
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
    this.channelPolicy = carried?.policy;
    this.round = carried?.round ?? 'release';
    this.promoted = carried?.promoted ?? false;
    this.gateOverridden = carried?.gateOverridden ?? false;
    this.resumedRound = carried?.status.awaitingApproval ? carried.round : undefined;
  }

  // ---- validators: refuse before anything enters history ----

  checkApproval(input: ApproveInput): void {
    asRefusal(() => checkApproveInput(input));
    refuseLate(input, this.runtime.now());
    if (!this.channelPolicy) throw refuse('the release is not ready for approvals yet');
    const why = approvalRefusal(this.status, { policy: this.channelPolicy, round: this.round }, input);
    if (why) throw refuse(why, this.status.awaitingApproval ? 'APPROVAL_REFUSED' : 'WRONG_STAGE');
  }

  checkOps(action: OpsAction, input: OpsInput): void {
    asRefusal(() => checkOpsInput(input));
    refuseLate(input, this.runtime.now());
    const s = this.status;
    if (this.closed() || !OPS_RULES[action].allowed(s)) {
      throw refuse(`cannot ${OPS_RULES[action].verb} a release in stage ${s.stage}${s.paused ? ' (paused)' : ''}`);
    }
    if (action === 'rollback' && input?.to && s.stage !== 'rollout')
      throw refuse('rollback --to needs a release in rollout');
  }

  // ---- message handlers ----

  approve(input: ApproveInput): ReleaseStatus {
    this.status.approvals.push({
      approver: input.approver,
      comment: input.comment ?? '',
      at: this.now(),
      round: this.round,
      decision: 'approve',
    });
    this.recordAction({
      action: 'approve',
      actor: input.approver,
      detail: [this.round, input.comment].filter(Boolean).join(': '),
    });
    this.emit('release.approved', { approver: input.approver, round: this.round, comment: input.comment });
    return this.status;
  }

  reject(input: ApproveInput): ReleaseStatus {
    this.status.approvals.push({
      approver: input.approver,
      comment: input.comment ?? '',
      at: this.now(),
      round: this.round,
      decision: 'reject',
    });
    this.recordAction({ action: 'reject', actor: input.approver, detail: input.comment });
    this.emit('release.rejected', { approver: input.approver, round: this.round, comment: input.comment });
    this.ended = 'rejected';
    return this.status;
  }

  async pause(input: OpsInput): Promise<ReleaseStatus> {
    await this.publishFlag('paused', true);
    this.recordAction({ action: 'pause', actor: input?.actor, detail: input?.reason });
    this.emit('release.paused', { actor: input?.actor, reason: input?.reason, percent: this.status.percent });
    this.setStage('rollout', 'resume (paused by an operator)');
    return this.status;
  }

  async resume(input: OpsInput): Promise<ReleaseStatus> {
    // Resuming after a tripped gate is the operator's override for this step.
    if (this.status.gate?.result === 'tripped' && this.status.gate.step === this.status.stepIndex)
      this.gateOverridden = true;
    await this.publishFlag('paused', false);
    this.recordAction({ action: 'resume', actor: input?.actor, detail: input?.reason });
    this.emit('release.resumed', { actor: input?.actor, reason: input?.reason, percent: this.status.percent });
    this.setStage('rollout', `bake time of the ${this.status.percent}% step`);
    return this.status;
  }

  promote(input: OpsInput): ReleaseStatus {
    this.promoted = true;
    this.recordAction({ action: 'promote', actor: input?.actor, detail: input?.reason });
    return this.status;
  }

  rollback(input: OpsInput): Promise<ReleaseStatus> {
    return this.withdraw('rollback', input);
  }

  abort(input: OpsInput): Promise<ReleaseStatus> {
    return this.withdraw('abort', input);
  }

  // ---- the main loop ----

  /** From intake to stable, or from where the previous run handed over. */
  async run(): Promise<ReleaseStatus> {
    try {
      if (this.carried) return await this.eventsRecorded(await this.continueCarriedRun(this.carried));
      this.emit('release.created', { createdBy: this.spec.createdBy, hardwareIds: this.spec.hardwareIds.join(',') });
      await this.prepare();
      const approved = await this.awaitApprovals(
        'release',
        this.channelPolicy!.approvals,
        `${this.channelPolicy!.approvals} approval(s) from release owners of ${this.spec.channel}: {"approver", "comment"} via the approve update`,
      );
      // patched(): a release whose history has no supersede step replays without it.
      if (approved && this.runtime.patched('supersede')) await this.supersedeOthers();
      return await this.eventsRecorded(await this.rollout(approved && !this.ended ? 0 : this.status.steps.length));
    } catch (err) {
      if (err instanceof ContinueAsNew) throw err; // not a failure: the next run carries on
      await this.fail(err);
      await this.eventsRecorded(this.status);
      throw err;
    }
  }

  /** Intake, preparation, manifest, signing, registration and validation. */
  private async prepare(): Promise<void> {
    const { spec, status, runtime } = this;
    // A start from the UI or another client skips the CLI's checks; the workflow repeats them.
    asRefusal(() => checkReleaseSpec(spec));
    this.channelPolicy = await runtime.shortActivities.loadChannelPolicy({ channel: spec.channel });
    status.approvalsRequired = this.channelPolicy.approvals;
    this.setStage('intake', 'build intake: size and sha256 of the uploaded build');
    const build = await runtime.longActivities.intakeBuild({ intakeKey: spec.intakeKey });
    this.setStage('preparation', 'content-addressed copy into the artifacts bucket');
    const artifact = await runtime.longActivities.prepareArtifact({ intakeKey: spec.intakeKey, ...build });
    // patched(): a release whose history has no delta step replays without it.
    let deltas: DeltaTarget[] = [];
    if (runtime.patched('deltas')) {
      this.setStage('preparation', 'delta updates from earlier releases of the channel (bsdiff per segment)');
      deltas = await runtime.longActivities.buildDeltas({ spec, artifact });
    }
    this.setStage('manifest', 'TUF target with the release policy fields');
    status.target = await runtime.shortActivities.createManifest({
      spec,
      artifact,
      ...(deltas.length > 0 ? { deltas } : {}),
    });
    for (let attempt = 1; ; attempt++) {
      this.setStage('signing', 'HSM signature over the release targets');
      const staged = await runtime.shortActivities.signRelease({ target: status.target });
      this.setStage('registration', 'publishing the signed metadata');
      try {
        await runtime.shortActivities.registerRelease({ staged });
        break;
      } catch (err) {
        // Another release registered first: sign again on top of it.
        if (attempt >= MAX_SIGNING_ROUNDS || failureCodeOf(err) !== 'REPOSITORY_CONFLICT') throw err;
      }
    }
    this.recordAction({ action: 'registered', detail: status.target.name });
    this.setStage('validation', 'download, re-hash and verify as a device would');
    await runtime.longActivities.validateRelease({ target: status.target });
  }

  /** One active rollout per channel: the newest release wins (see activities/supersede.ts). */
  private async supersedeOthers(): Promise<void> {
    const outcome = await this.runtime.shortActivities.supersede({
      channel: this.spec.channel,
      version: this.spec.version,
      releaseId: this.status.releaseId,
    });
    for (const id of outcome.aborted) this.recordAction({ action: 'superseded', detail: id });
    if (outcome.supersededBy) {
      this.recordAction({ action: 'abort', actor: 'supersede', detail: `superseded by ${outcome.supersededBy}` });
      this.ended = 'aborted';
    }
  }

  /** After continue-as-new: pick up at the approval wait or the step where the last run stopped. */
  private async continueCarriedRun(c: CarriedState): Promise<ReleaseStatus> {
    const { status } = this;
    if (c.events?.length) {
      this.queuedEvents.push(...c.events);
      this.recordingEvents ??= this.recordQueuedEvents();
    }
    if (status.stage === 'approval') {
      const approved = await this.awaitApprovals('release', c.policy.approvals, status.waitingFor);
      return this.rollout(approved ? 0 : status.steps.length);
    }
    // The step's own approval gate was pending; rollout() waits for it again.
    if (status.awaitingApproval && !c.stepStarted) return this.rollout(status.stepIndex);
    return this.rollout(status.stepIndex, { stepStarted: c.stepStarted, remainingBakeMs: c.remainingBakeMs });
  }

  /** Steps from `first` on: approval gate, publish, bake and health gate; then the end state. */
  private async rollout(first: number, handover?: Handover): Promise<ReleaseStatus> {
    const { status } = this;
    for (let i = first; i < status.steps.length && !status.withdrawn && !this.ended; i++) {
      const step = status.steps[i]!;
      const continuing = handover !== undefined && i === first;
      status.stepIndex = i;
      if (!(continuing && handover.stepStarted)) {
        if (
          step.gate === 'approval' &&
          !(await this.awaitApprovals(`step-${i}`, 1, `an owner's approval to start the ${step.percent}% step`))
        )
          break;
        status.percent = step.percent;
        this.recordAction({ action: 'step', detail: `${step.percent}%` });
        this.setStage('rollout', `bake time of the ${step.percent}% step`);
        await this.queuePublish();
        this.emit('release.step-published', { step: i, percent: step.percent });
      }
      await this.bakeAndGate(i, continuing ? handover.remainingBakeMs : undefined);
    }
    // Let in-flight handlers finish their publish before closing.
    await this.runtime.condition(() => this.runtime.allHandlersFinished());
    await this.publishing;
    if (this.ended) this.setStage(this.ended, `nothing: the release was ${this.ended}`);
    else if (status.withdrawn) this.setStage('rolled-back', 'nothing: the release is withdrawn');
    else this.setStage('stable', 'nothing: every device in the channel is offered the release');
    return status;
  }

  /** Waits for the approvals a round needs; false when the release ended instead. */
  private async awaitApprovals(which: string, needed: number, waitingFor: string): Promise<boolean> {
    const { status } = this;
    this.round = which;
    status.approvalsRequired = needed;
    status.awaitingApproval = true;
    this.setStage(status.stage === 'rollout' ? 'rollout' : 'approval', waitingFor);
    // A run that took over this very wait has told of it already.
    if (this.resumedRound !== which) this.emit('release.approval-requested', { round: which, needed });
    this.resumedRound = undefined;
    const approvedIn = () => status.approvals.filter((a) => a.round === which && a.decision === 'approve').length;
    const done = () => approvedIn() >= needed || status.withdrawn || this.ended !== undefined;
    await this.runtime.condition(() => done() || this.runtime.historyFull());
    // Every approval round starts before its step publishes anything.
    if (!done()) await this.handOver({ stepStarted: false });
    status.awaitingApproval = false;
    return !status.withdrawn && this.ended === undefined;
  }

  /** Bake time and health gate of one step. Paused time does not count. */
  private async bakeAndGate(i: number, remainingMs?: number): Promise<void> {
    const { status } = this;
    const step = status.steps[i]!;
    let remaining = remainingMs ?? step.bakeTimeMs;
    // patched(): releases recorded before let the clock end a bake; they replay that way.
    const byTimers = this.runtime.patched('bake-ends-on-timers');
    if (remainingMs === undefined) {
      this.promoted = false;
      this.gateOverridden = false;
    }
    // Long bakes look at health less often: bounded history per hour of baking.
    const pollMs = Math.min(MAX_HEALTH_POLL_MS, Math.max(HEALTH_POLL_MS, Math.floor(step.bakeTimeMs / 60)));
    for (;;) {
      if (status.withdrawn || this.ended) return;
      if (this.runtime.historyFull()) await this.handOver({ stepStarted: true, remainingBakeMs: remaining });
      if (status.paused) {
        await this.runtime.condition(() => !status.paused || status.withdrawn || this.ended !== undefined);
        continue;
      }
      const gate = evaluateGate(
        i,
        step,
        await this.runtime.shortActivities.rolloutHealth({ targetName: status.target!.name }),
      );
      status.gate = gate;
      if (gate.result === 'tripped' && !this.gateOverridden) {
        const reason = `${gate.failures}/${gate.reports} failed (${(gate.failureRate * 100).toFixed(1)}% > ${step.maxFailureRate * 100}%)`;
        this.recordAction({ action: 'gate-tripped', detail: reason });
        const tripped = { step: i, percent: step.percent, failures: gate.failures, reports: gate.reports, reason };
        if (this.channelPolicy?.onBreach === 'rollback') {
          await this.publishFlag('withdrawn', true);
          this.emit('release.gate-rolled-back', tripped);
          return;
        }
        await this.publishFlag('paused', true);
        this.emit('release.gate-paused', tripped);
        this.setStage(
          'rollout',
          `an operator: the ${step.percent}% health gate tripped (${gate.failures} of ${gate.reports} failed)`,
        );
        continue;
      }
      const baked = remaining <= 0 || this.promoted;
      if (baked && (gate.result === 'passed' || this.gateOverridden)) return;
      this.setStage(
        'rollout',
        baked
          ? `${step.minDevices - gate.reports} more device reports for the ${step.percent}% gate`
          : `bake time of the ${step.percent}% step`,
      );
      const started = this.runtime.now();
      const wait = baked ? pollMs : Math.min(remaining, pollMs);
      const woken = await this.runtime.condition(
        () => status.paused || status.withdrawn || this.ended !== undefined || this.promoted,
        wait,
      );
      if (!baked) remaining = bakeLeft({ remaining, wait, woken, elapsed: this.runtime.now() - started, byTimers });
    }
  }

  private async withdraw(action: 'rollback' | 'abort', input: OpsInput): Promise<ReleaseStatus> {
    const { status } = this;
    let detail = input?.reason;
    if (action === 'rollback' && input?.to) {
      // Checked and published first: if the earlier release may not be offered, nothing changes.
      const previous = await this.runtime.shortActivities.offerPrevious({
        current: status.target!,
        toVersion: input.to,
      });
      detail = [`offering ${previous.targetName} again`, input.reason].filter(Boolean).join(': ');
    }
    // Before the rollout there is nothing signed to withdraw; the workflow just ends.
    if (status.stage === 'rollout') await this.publishFlag('withdrawn', true);
    else status.withdrawn = true;
    status.awaitingApproval = false;
    if (action === 'abort') this.ended = 'aborted';
    this.recordAction({ action, actor: input?.actor, detail });
    this.emit(action === 'abort' ? 'release.aborted' : 'release.rolled-back', {
      actor: input?.actor,
      reason: input?.reason,
      to: input?.to,
    });
    return status;
  }

  /** A failed release: anything offered is withdrawn, since a closed workflow takes no more updates. */
  private async fail(err: unknown): Promise<void> {
    const { status } = this;
    status.error = { code: failureCodeOf(err) ?? 'INTERNAL', message: failureMessageOf(err) };
    if (status.stage === 'rollout' && !status.withdrawn) {
      status.withdrawn = true;
      await this.queuePublish().catch(() => undefined);
    }
    this.setStage('failed', 'nothing: the release failed');
  }

  /**
   * Continue-as-new at a safe point (no handler running, no publish in flight), so a
   * month-long rollout with thousands of messages keeps a bounded history.
   */
  private async handOver(handover: Handover): Promise<never> {
    // Handlers and event recording both quiet at once: an update admitted while events were
    // still being recorded would otherwise be cut off by the hand-over. No new batch starts once
    // it begins (messages arriving back to back would keep one going for ever): the batch out
    // finishes, and what queued meanwhile is carried to the next run, which records it.
    // patched(): releases that handed over before replay the wait for every event.
    this.handingOver = this.runtime.patched('handover-carries-events');
    await this.runtime.condition(() => this.runtime.allHandlersFinished() && this.recordingEvents === undefined);
    await this.publishing;
    this.recordAction({ action: 'continue-as-new', detail: `after ${this.runtime.historyLength()} history events` });
    return this.runtime.continueAsNew({
      status: this.status,
      policy: this.channelPolicy!,
      round: this.round,
      gateOverridden: this.gateOverridden,
      promoted: this.promoted,
      ...handover,
      ...(this.queuedEvents.length > 0 && { events: this.queuedEvents.splice(0) }),
    });
  }

  // ---- publishing and bookkeeping ----

  /**
   * Publishes the rollout state as it is when the write starts, after any write in flight.
   * Once the signed metadata is in storage, `status.published` says what devices are offered
   * (status.percent may be ahead of it while storage is down and the write is retried).
   */
  private queuePublish(): Promise<void> {
    const { status } = this;
    const next = this.publishing.then(async () => {
      const sent = { percent: status.percent, paused: status.paused, withdrawn: status.withdrawn };
      await this.runtime.shortActivities.publishRollout({
        target: status.target as ReleaseTarget,
        releaseId: status.releaseId,
        ...sent,
        approvals: status.approvals
          .filter((a) => a.decision === 'approve')
          .map((a) => ({ approver: a.approver, at: a.at })),
      });
      status.published = { ...sent, at: this.now() };
    });
    this.publishing = next.catch(() => undefined);
    return next;
  }

  /** Changes a rollout flag and publishes it; if the publish fails the flag goes back. */
  private async publishFlag(flag: 'paused' | 'withdrawn', value: boolean): Promise<void> {
    const before = this.status[flag];
    this.status[flag] = value;
    try {
      await this.queuePublish();
    } catch (err) {
      this.status[flag] = before;
      throw err;
    }
  }

  private closed(): boolean {
    return TERMINAL_STAGES.includes(this.status.stage) || this.ended !== undefined;
  }

  private now(): string {
    return new Date(this.runtime.now()).toISOString();
  }

  private recordAction(entry: Omit<ActionRecord, 'at'>): void {
    const { history } = this.status;
    history.push({ at: this.now(), ...entry });
    if (history.length > MAX_ACTION_RECORDS) history.splice(0, history.length - MAX_ACTION_RECORDS);
  }

  /**
   * Tells webhooks of a release event: queued in order and recorded by one activity at a time
   * (events that queued meanwhile go together). Never awaited here, so a slow API slows no
   * release; the run waits for them before it ends or hands over (`eventsRecorded`).
   */
  private emit(type: ReleaseEventType, data: Record<string, string | number | boolean | undefined> = {}): void {
    // patched(): a release recorded before events replays without their activities.
    if (!this.runtime.patched('webhook-events')) return;
    // Within what the API takes (a failure's message can be longer): a refused batch is dropped.
    const defined = Object.fromEntries(
      Object.entries(data)
        .filter(([, v]) => v !== undefined && v !== '')
        .map(([k, v]) => [k, typeof v === 'string' ? v.slice(0, MAX_EVENT_TEXT) : v]),
    );
    this.queuedEvents.push({ type, at: this.now(), data: defined as ReleaseEvent['data'] });
    if (!this.handingOver) this.recordingEvents ??= this.recordQueuedEvents();
  }

  private async recordQueuedEvents(): Promise<void> {
    const { status } = this;
    while (this.queuedEvents.length > 0 && !this.handingOver) {
      const events = this.queuedEvents.splice(0, MAX_EVENTS_PER_BATCH);
      // A batch the API refuses for good (or after a day of retries) is dropped: events never stop a release.
      await this.runtime
        .recordEvents({ releaseId: status.releaseId, channel: status.channel, version: status.version, events })
        .catch(() => undefined);
    }
    this.recordingEvents = undefined;
  }

  /** Waits until every queued event is recorded; passes `result` through. */
  private async eventsRecorded<T>(result: T): Promise<T> {
    while (this.recordingEvents) await this.recordingEvents;
    return result;
  }

  /** Moves to a stage, waiting for something, and shows it (search attributes, the UI's details). */
  private setStage(stage: Stage, waitingFor: string): void {
    const from = this.status.stage;
    if (from !== stage) this.emit('release.stage-changed', { from, to: stage });
    if (from !== stage && stage === 'stable') this.emit('release.stable', { percent: this.status.percent });
    if (from !== stage && stage === 'failed')
      this.emit('release.failed', { code: this.status.error?.code, message: this.status.error?.message });
    this.status.stage = stage;
    this.status.lifecycle = lifecycleOf(stage, this.status.percent);
    this.status.waitingFor = waitingFor;
    this.runtime.publishView(this.status);
  }
}

/**
 * The bake left after one wait. What follows a wait (another timer, or the next step's publish)
 * must replay exactly as it first ran, so it may depend on history only, never on a clock
 * reading: workflow time comes from a workflow task's start, and a task retried after a server
 * restart can run live at another time than the one its history keeps. So a wait that timed
 * out took exactly its timer, and a wait an operator ended early leaves at least 1 ms: only a
 * timer ends a bake, and the clock only sizes the next timer. `byTimers` false is the clock's
 * arithmetic, for histories recorded before.
 */
function bakeLeft(w: { remaining: number; wait: number; woken: boolean; elapsed: number; byTimers: boolean }): number {
  if (!w.byTimers) return w.remaining - w.elapsed;
  return w.woken ? Math.max(1, w.remaining - w.elapsed) : w.remaining - w.wait;
}

/** Runs a check; its ServerError becomes a typed refusal, so callers see the code, not just a message. */
function asRefusal(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof ServerError) throw refuse(err.message, err.code);
    throw err;
  }
}
