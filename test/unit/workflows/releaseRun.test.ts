import { ApplicationFailure } from '@temporalio/common';
import { ContinueAsNew } from '@temporalio/workflow';
import { expect } from 'chai';

import {
  type ChannelPolicy,
  type ReleaseSpec,
  type ReleaseStatus,
  releaseTarget,
  type RolloutStep,
} from '../../../common/release';
import type { ReleaseEvent } from '../../../common/webhookEvents';
import {
  type CarriedState,
  type ReleaseActivities,
  ReleaseRun,
  type WorkflowRuntime,
} from '../../../workflows/releaseRun';
import { refusal, rejectionOf } from '../../rejection';
import { waitFor } from '../../wait';

type ActivityName = keyof ReleaseActivities;
type RolloutInput = Parameters<ReleaseActivities['publishRollout']>[0];
type View = Pick<ReleaseStatus, 'stage' | 'percent' | 'paused' | 'withdrawn' | 'awaitingApproval'>;

const SHA = 'ab'.repeat(32);
/** A condition's timeout fires after this much real time: bakes here are 0 ms, so only health polls wait. */
const TIMER_MS = 2;

/**
 * The Temporal side of a release, faked: activities answer plausible values (or the failures a
 * test queues), `condition` re-checks its predicate on every turn of the event loop, and the
 * view, the published rollout entries and a continue-as-new hand-over are recorded.
 */
class FakeRuntime implements WorkflowRuntime {
  readonly views: View[] = [];
  readonly published: RolloutInput[] = [];
  readonly calls: ActivityName[] = [];
  readonly handedOver: CarriedState[] = [];
  /** Release events as recorded, and the batches they came in. */
  readonly events: ReleaseEvent[] = [];
  readonly eventBatches: number[] = [];
  /** While set, recording events waits for it (an API that is slow or down). */
  eventsHeld: Promise<void> | undefined;
  patches = true;
  /** Patches a history recorded before them lacks, while it has the others. */
  readonly unpatched = new Set<string>();
  health = { healthy: 0, reverted: 0 };
  full = false;
  readonly longActivities: ReleaseActivities;
  readonly shortActivities: ReleaseActivities;
  private readonly failing = new Map<ActivityName, { code: string; times: number }>();
  private stopped = false;

  constructor(readonly policy: ChannelPolicy) {
    this.longActivities = this.shortActivities = this.activities();
  }

  /** The next `times` calls of an activity fail with a permanent failure typed `code`. */
  fail(name: ActivityName, code: string, times = 1): void {
    this.failing.set(name, { code, times });
  }

  count(name: ActivityName): number {
    return this.calls.filter((c) => c === name).length;
  }

  /** The stages the view went through, without repeats. */
  stages(): string[] {
    return this.views.map((v) => v.stage).filter((s, i, all) => s !== all[i - 1]);
  }

  /** Ends every pending condition, so a release a test leaves waiting holds no event-loop work. */
  stop(): void {
    this.stopped = true;
  }

  condition(until: () => boolean, timeoutMs?: number): Promise<boolean> {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + Math.min(timeoutMs, TIMER_MS);
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.stopped) return;
        if (until()) resolve(true);
        else if (deadline !== undefined && Date.now() >= deadline) resolve(false);
        else setImmediate(check);
      };
      setImmediate(check);
    });
  }

  allHandlersFinished(): boolean {
    return true;
  }

  now(): number {
    return Date.now();
  }

  historyFull(): boolean {
    return this.full;
  }

  historyLength(): number {
    return 9_999;
  }

  patched(id: string): boolean {
    return this.patches && !this.unpatched.has(id);
  }

  async recordEvents(input: { events: ReleaseEvent[] }): Promise<void> {
    await this.eventsHeld;
    this.events.push(...input.events);
    this.eventBatches.push(input.events.length);
  }

  /** The recorded events' types, without stage changes. */
  told(): string[] {
    return this.events.map((e) => e.type).filter((t) => t !== 'release.stage-changed');
  }

  publishView(s: ReleaseStatus): void {
    this.views.push({
      stage: s.stage,
      percent: s.percent,
      paused: s.paused,
      withdrawn: s.withdrawn,
      awaitingApproval: s.awaitingApproval,
    });
  }

  continueAsNew(carried: CarriedState): Promise<never> {
    this.handedOver.push(structuredClone(carried));
    throw new ContinueAsNew({ workflowType: 'releaseWorkflow' });
  }

  private activities(): ReleaseActivities {
    const act =
      <I, R>(name: ActivityName, answer: (input: I) => R) =>
      (input: I): Promise<R> => {
        this.calls.push(name);
        const failure = this.failing.get(name);
        if (failure && failure.times > 0) {
          failure.times--;
          return Promise.reject(ApplicationFailure.nonRetryable(`${name} failed`, failure.code));
        }
        return Promise.resolve(answer(input));
      };
    return {
      loadChannelPolicy: act('loadChannelPolicy', () => this.policy),
      intakeBuild: act('intakeBuild', () => ({ sha256: SHA, length: 65_536, etag: 'etag-1' })),
      prepareArtifact: act('prepareArtifact', (i: { sha256: string; length: number }) => ({
        sha256: i.sha256,
        length: i.length,
        artifactKey: `sha256/${i.sha256}`,
      })),
      buildDeltas: act('buildDeltas', () => []),
      createManifest: act('createManifest', releaseTarget),
      signRelease: act('signRelease', () => ({ parts: [{ version: 2, key: 'staging/release/2.targets.json' }] })),
      registerRelease: act('registerRelease', () => undefined),
      validateRelease: act('validateRelease', () => undefined),
      publishRollout: act('publishRollout', (input: RolloutInput) => {
        this.published.push(structuredClone(input));
      }),
      rolloutHealth: act('rolloutHealth', () => ({
        blocked: 0,
        ...this.health,
        devices: this.health.healthy + this.health.reverted,
        failed: 0,
        refused: 0,
      })),
      offerPrevious: act('offerPrevious', (i: { toVersion: string }) => ({
        targetName: `beta/${i.toVersion}/fw.bin`,
        rollbackIndex: 1,
      })),
      supersede: act('supersede', () => ({ aborted: [] })),
      refreshMetadata: act('refreshMetadata', () => ({ release: [], rollout: [] })),
      recordReleaseEvents: act('recordReleaseEvents', () => undefined),
    };
  }
}

/**
 * A runtime whose clock a test drives: every timer fires `lateMs` after it was due (as after a
 * server restart), and the waits the release made are recorded in order with the activities.
 */
class ClockedRuntime extends FakeRuntime {
  readonly sequence: string[] = [];
  private clock = 1_000_000;

  constructor(
    policy: ChannelPolicy,
    private readonly lateMs: number,
  ) {
    super(policy);
  }

  override now(): number {
    return this.clock;
  }

  override async condition(until: () => boolean, timeoutMs?: number): Promise<boolean> {
    if (timeoutMs === undefined) return super.condition(until);
    this.sequence.push(`timer after ${this.count('rolloutHealth')} health reads`);
    await new Promise((r) => setImmediate(r));
    this.clock += timeoutMs + this.lateMs;
    return until();
  }
}

const step = (percent: number, over: Partial<RolloutStep> = {}): RolloutStep => ({
  percent,
  bakeTimeMs: 0,
  minDevices: 0,
  maxFailureRate: 1,
  gate: 'auto',
  ...over,
});

const specWith = (over: Partial<ReleaseSpec> = {}): ReleaseSpec => ({
  version: '1.2.0',
  channel: 'beta',
  hardwareIds: ['devkit-a'],
  rollbackIndex: 1,
  intakeKey: 'uploads/beta/fw.bin',
  fileName: 'fw.bin',
  createdBy: 'carol',
  plan: 'custom',
  steps: [step(10), step(50), step(100)],
  ...over,
});

const POLICY: ChannelPolicy = { approvals: 1, owners: ['*'], plan: 'default', onBreach: 'pause' };
/** A first step that waits for one device report: the release stays in rollout until a test acts. */
const HOLDING_STEPS = [step(10, { minDevices: 1 }), step(100)];
const QUICKLY = { timeoutMs: 5_000, intervalMs: 1 };

const typeOf = (err: unknown): string | undefined =>
  err instanceof ApplicationFailure ? (err.type ?? undefined) : undefined;
const refusedWith = (fn: () => unknown): string | undefined => typeOf(refusal(fn));

describe('ReleaseRun', () => {
  const runtimes: FakeRuntime[] = [];
  afterEach(() => runtimes.splice(0).forEach((rt) => rt.stop()));

  function start(opts: { spec?: Partial<ReleaseSpec>; policy?: Partial<ChannelPolicy>; carried?: CarriedState } = {}) {
    const rt = new FakeRuntime({ ...POLICY, ...opts.policy });
    runtimes.push(rt);
    const release = new ReleaseRun({
      spec: specWith(opts.spec),
      runtime: rt,
      releaseId: 'release-beta-1.2.0',
      carried: opts.carried,
    });
    const done = release.run();
    // Tests await `done` when they expect the end; a release left waiting is stopped by afterEach.
    done.catch(() => undefined);
    return { rt, release, done };
  }

  async function atApproval(opts: Parameters<typeof start>[0] = {}) {
    const started = start(opts);
    await waitFor('the approval wait', () => started.release.status.awaitingApproval, QUICKLY);
    return started;
  }

  async function inRollout(opts: Parameters<typeof start>[0] = {}) {
    const started = await atApproval({ ...opts, spec: { steps: HOLDING_STEPS, ...opts.spec } });
    approveAs(started.release, 'owner');
    await waitFor('the first step', () => started.rt.count('rolloutHealth') > 0, QUICKLY);
    return started;
  }

  /** What the approve update does: validator first, then the handler. */
  function approveAs(release: ReleaseRun, approver: string): ReleaseStatus {
    release.checkApproval({ approver });
    return release.approve({ approver, comment: 'looks good' });
  }

  describe('approval validator', () => {
    it('refuses approvals with WRONG_STAGE before the channel policy is loaded', () => {
      const release = new ReleaseRun({
        spec: specWith(),
        runtime: new FakeRuntime(POLICY),
        releaseId: 'release-beta-1.2.0',
      });
      expect(refusedWith(() => release.checkApproval({ approver: 'alice' }))).to.equal('WRONG_STAGE');
    });

    it('refuses the release creator with APPROVAL_REFUSED', async () => {
      const { release } = await atApproval();
      expect(refusedWith(() => release.checkApproval({ approver: 'carol' }))).to.equal('APPROVAL_REFUSED');
    });

    it('refuses someone who is not a release owner of the channel', async () => {
      const { release } = await atApproval({ policy: { owners: ['alice', 'bob'] } });
      expect(refusedWith(() => release.checkApproval({ approver: 'mallory' }))).to.equal('APPROVAL_REFUSED');
      expect(() => release.checkApproval({ approver: 'alice' })).not.to.throw();
    });

    it('refuses a second approval by the same owner in one round', async () => {
      const { release } = await atApproval({ policy: { approvals: 2 } });
      approveAs(release, 'alice');
      expect(refusedWith(() => release.checkApproval({ approver: 'alice' }))).to.equal('APPROVAL_REFUSED');
    });

    it('refuses an approval with WRONG_STAGE once the release waits for none', async () => {
      const { release, done } = await atApproval();
      approveAs(release, 'alice');
      await done;
      expect(refusedWith(() => release.checkApproval({ approver: 'bob' }))).to.equal('WRONG_STAGE');
    });

    it('refuses malformed input with INVALID_INPUT', async () => {
      const { release } = await atApproval();
      expect(refusedWith(() => release.checkApproval({ approver: '' }))).to.equal('INVALID_INPUT');
      expect(refusedWith(() => release.checkApproval({ approver: 'alice', comment: 'x'.repeat(1001) }))).to.equal(
        'INVALID_INPUT',
      );
    });
  });

  describe('operator validator', () => {
    it('refuses pause, resume and promote with WRONG_STAGE while the release awaits approval', async () => {
      const { release } = await atApproval();
      for (const action of ['pause', 'resume', 'promote'] as const) {
        expect(
          refusedWith(() => release.checkOps(action, { actor: 'op' })),
          action,
        ).to.equal('WRONG_STAGE');
      }
    });

    it('allows a plain rollback before the rollout but refuses one to an earlier version', async () => {
      const { release } = await atApproval();
      expect(() => release.checkOps('rollback', { actor: 'op' })).not.to.throw();
      expect(refusedWith(() => release.checkOps('rollback', { actor: 'op', to: '1.1.0' }))).to.equal('WRONG_STAGE');
    });

    it('refuses resume while the rollout runs, and pause once it is paused', async () => {
      const { release } = await inRollout();
      expect(refusedWith(() => release.checkOps('resume', {}))).to.equal('WRONG_STAGE');
      await release.pause({ actor: 'op' });
      expect(refusedWith(() => release.checkOps('pause', {}))).to.equal('WRONG_STAGE');
      expect(refusedWith(() => release.checkOps('promote', {}))).to.equal('WRONG_STAGE');
    });

    it('refuses every action, abort included, once the release has ended', async () => {
      const { release, done } = await atApproval();
      release.reject({ approver: 'alice' });
      await done;
      expect(refusedWith(() => release.checkOps('abort', { actor: 'op' }))).to.equal('WRONG_STAGE');
    });

    it('refuses malformed input with INVALID_INPUT', async () => {
      const { release } = await inRollout();
      expect(refusedWith(() => release.checkOps('rollback', { to: 'latest' }))).to.equal('INVALID_INPUT');
      expect(refusedWith(() => release.checkOps('pause', { actor: 'op\u0007' }))).to.equal('INVALID_INPUT');
      expect(refusedWith(() => release.checkOps('abort', { reason: 'r'.repeat(1001) }))).to.equal('INVALID_INPUT');
    });
  });

  describe('an update that arrives after its notAfter (S-19)', () => {
    it('is refused with NO_WORKER, so an approval the API refused never applies when a worker returns', async () => {
      const { release } = await atApproval();
      expect(refusedWith(() => release.checkApproval({ approver: 'alice', notAfter: Date.now() - 1 }))).to.equal(
        'NO_WORKER',
      );
      expect(refusedWith(() => release.checkOps('abort', { actor: 'op', notAfter: Date.now() - 1 }))).to.equal(
        'NO_WORKER',
      );
      expect(() => release.checkApproval({ approver: 'alice', notAfter: Date.now() + 60_000 })).not.to.throw();
      expect(refusedWith(() => release.checkApproval({ approver: 'alice', notAfter: -5 }))).to.equal('INVALID_INPUT');
    });
  });

  describe('run', () => {
    it('goes from intake through approval to stable, publishing each step in order', async () => {
      const { rt, release, done } = await atApproval();
      expect(rt.published).to.deep.equal([]);
      approveAs(release, 'alice');
      const status = await done;
      expect(status).to.include({ stage: 'stable', lifecycle: 'stable', percent: 100, withdrawn: false });
      expect(rt.stages()).to.deep.equal([
        'intake',
        'preparation',
        'manifest',
        'signing',
        'registration',
        'validation',
        'approval',
        'rollout',
        'stable',
      ]);
      expect(rt.published.map((p) => p.percent)).to.deep.equal([10, 50, 100]);
      expect(rt.published.every((p) => !p.paused && !p.withdrawn)).to.equal(true);
      expect(rt.published[0]!.approvals.map((a) => a.approver)).to.deep.equal(['alice']);
    });

    it('ends as rejected without publishing anything', async () => {
      const { rt, release, done } = await atApproval();
      release.checkApproval({ approver: 'alice' });
      release.reject({ approver: 'alice', comment: 'no' });
      expect((await done).stage).to.equal('rejected');
      expect(rt.published).to.deep.equal([]);
      expect(rt.count('supersede')).to.equal(0);
    });

    it('ends as rolled-back without publishing when rolled back during approval', async () => {
      const { rt, release, done } = await atApproval();
      await release.rollback({ actor: 'op' });
      expect((await done).stage).to.equal('rolled-back');
      expect(rt.published).to.deep.equal([]);
    });

    it('waits for an owner before an approval-gated step', async () => {
      const { rt, release, done } = await atApproval({
        spec: { steps: [step(10), step(50, { gate: 'approval' }), step(100)] },
      });
      approveAs(release, 'alice');
      await waitFor(
        'the step approval',
        () => release.status.stepIndex === 1 && release.status.awaitingApproval,
        QUICKLY,
      );
      expect(rt.published.map((p) => p.percent)).to.deep.equal([10]);
      // A new round: the release approver may approve the step too.
      approveAs(release, 'alice');
      expect((await done).stage).to.equal('stable');
      expect(rt.published.map((p) => p.percent)).to.deep.equal([10, 50, 100]);
    });

    it('refuses an invalid release spec with INVALID_INPUT before any activity', async () => {
      const { rt, done } = start({ spec: { version: 'not-semver' } });
      expect(typeOf(await rejectionOf(done))).to.equal('INVALID_INPUT');
      expect(rt.calls).to.deep.equal([]);
    });
  });

  describe('signing', () => {
    it('signs again when another release registered first (REPOSITORY_CONFLICT)', async () => {
      const { rt, release } = start();
      rt.fail('registerRelease', 'REPOSITORY_CONFLICT', 2);
      await waitFor('the approval wait', () => release.status.awaitingApproval, QUICKLY);
      expect(rt.count('signRelease')).to.equal(3);
      expect(rt.count('registerRelease')).to.equal(3);
    });

    it('gives up after five conflicting rounds and fails with REPOSITORY_CONFLICT', async () => {
      const { rt, release, done } = start();
      rt.fail('registerRelease', 'REPOSITORY_CONFLICT', 99);
      expect(typeOf(await rejectionOf(done))).to.equal('REPOSITORY_CONFLICT');
      expect(rt.count('signRelease')).to.equal(5);
      expect(release.status.error?.code).to.equal('REPOSITORY_CONFLICT');
    });

    it('does not sign again after any other registration failure', async () => {
      const { rt, done } = start();
      rt.fail('registerRelease', 'SIGNING_KEYS_MISSING');
      expect(typeOf(await rejectionOf(done))).to.equal('SIGNING_KEYS_MISSING');
      expect(rt.count('signRelease')).to.equal(1);
    });
  });

  describe('when an activity fails', () => {
    it('ends in stage failed with the failure code and publishes nothing before the rollout', async () => {
      const { rt, release, done } = start();
      rt.fail('validateRelease', 'VALIDATION_FAILED');
      await rejectionOf(done);
      expect(release.status.stage).to.equal('failed');
      expect(release.status.error?.code).to.equal('VALIDATION_FAILED');
      expect(rt.published).to.deep.equal([]);
    });

    it('withdraws the offer when it fails during the rollout', async () => {
      const { rt, release, done } = await inRollout();
      rt.fail('rolloutHealth', 'UNAVAILABLE', 99);
      expect(typeOf(await rejectionOf(done))).to.equal('UNAVAILABLE');
      expect(release.status).to.include({ stage: 'failed', withdrawn: true });
      expect(release.status.error?.code).to.equal('UNAVAILABLE');
      expect(rt.published.at(-1)).to.include({ percent: 10, withdrawn: true });
    });
  });

  describe('health gate', () => {
    const tripping = { steps: [step(10, { minDevices: 2, maxFailureRate: 0.1 }), step(100)] };

    it('pauses the rollout when it trips, and a resume overrides it for that step', async () => {
      const { rt, release, done } = await atApproval({ spec: tripping });
      rt.health = { healthy: 0, reverted: 2 };
      approveAs(release, 'alice');
      await waitFor('the pause', () => release.status.paused, QUICKLY);
      expect(release.status.gate?.result).to.equal('tripped');
      expect(rt.published.map((p) => [p.percent, p.paused])).to.deep.equal([
        [10, false],
        [10, true],
      ]);
      release.checkOps('resume', { actor: 'op' });
      await release.resume({ actor: 'op' });
      expect((await done).stage).to.equal('stable');
      expect(rt.published.map((p) => p.percent)).to.deep.equal([10, 10, 10, 100]);
    });

    it("withdraws the release when the channel's onBreach is rollback", async () => {
      const { rt, release, done } = await atApproval({ spec: tripping, policy: { onBreach: 'rollback' } });
      rt.health = { healthy: 1, reverted: 3 };
      approveAs(release, 'alice');
      expect((await done).stage).to.equal('rolled-back');
      expect(rt.published.map((p) => [p.percent, p.paused, p.withdrawn])).to.deep.equal([
        [10, false, false],
        [10, false, true],
      ]);
    });
  });

  describe('bake time', () => {
    /** A release through a 20 s bake whose timers fire `lateMs` late: what it did, in order. */
    async function bakeWith(lateMs: number): Promise<string[]> {
      const rt = new ClockedRuntime(POLICY, lateMs);
      runtimes.push(rt);
      const spec = specWith({ steps: [step(50, { bakeTimeMs: 20_000 }), step(100)] });
      const release = new ReleaseRun({ spec, runtime: rt, releaseId: 'release-beta-1.2.0' });
      const done = release.run();
      await waitFor('the approval wait', () => release.status.awaitingApproval, QUICKLY);
      approveAs(release, 'owner');
      expect((await done).stage).to.equal('stable');
      return [...rt.sequence, `${rt.count('rolloutHealth')} health reads, ${rt.count('publishRollout')} publishes`];
    }

    it('ends on its own timers: late timers and clock readings never change what the release does', async () => {
      const onTime = await bakeWith(0);
      expect(onTime.filter((e) => e.startsWith('timer'))).to.have.length(10);
      // What a replay meets when a workflow task ran live at another time than history keeps.
      expect(await bakeWith(700)).to.deep.equal(onTime);
      expect(await bakeWith(15_000)).to.deep.equal(onTime);
    });
  });

  describe('operator actions during the rollout', () => {
    it('publishes paused, then resumed, and carries on to stable', async () => {
      const { rt, release, done } = await inRollout();
      release.checkOps('pause', { actor: 'op' });
      await release.pause({ actor: 'op', reason: 'looking' });
      expect(rt.published.at(-1)).to.include({ percent: 10, paused: true });
      release.checkOps('resume', { actor: 'op' });
      await release.resume({ actor: 'op' });
      expect(rt.published.at(-1)).to.include({ percent: 10, paused: false });
      rt.health = { healthy: 1, reverted: 0 };
      expect((await done).stage).to.equal('stable');
      expect(rt.published.map((p) => p.paused)).to.deep.equal([false, true, false, false]);
    });

    it('puts the flag back when publishing it fails', async () => {
      const { rt, release } = await inRollout();
      rt.fail('publishRollout', 'UNAVAILABLE');
      expect(typeOf(await rejectionOf(release.pause({ actor: 'op' })))).to.equal('UNAVAILABLE');
      expect(release.status.paused).to.equal(false);
      // The publish chain survives a failed write.
      await release.pause({ actor: 'op' });
      expect(release.status.paused).to.equal(true);
      expect(rt.published.at(-1)).to.include({ paused: true });
    });

    it('withdraws the release on abort and ends as aborted', async () => {
      const { rt, release, done } = await inRollout();
      release.checkOps('abort', { actor: 'op' });
      await release.abort({ actor: 'op', reason: 'bad build' });
      expect(rt.published.at(-1)).to.include({ percent: 10, withdrawn: true });
      expect((await done).stage).to.equal('aborted');
    });

    it('offers the earlier version before withdrawing on rollback --to', async () => {
      const { rt, release, done } = await inRollout();
      release.checkOps('rollback', { actor: 'op', to: '1.1.0' });
      await release.rollback({ actor: 'op', to: '1.1.0' });
      expect(rt.calls.indexOf('offerPrevious')).to.be.at.least(0).and.lessThan(rt.calls.lastIndexOf('publishRollout'));
      expect(rt.published.at(-1)).to.include({ withdrawn: true });
      expect((await done).stage).to.equal('rolled-back');
    });

    it('changes nothing when the earlier version may not be offered', async () => {
      const { rt, release } = await inRollout();
      rt.fail('offerPrevious', 'ROLLBACK_NOT_ALLOWED');
      expect(typeOf(await rejectionOf(release.rollback({ actor: 'op', to: '0.9.0' })))).to.equal(
        'ROLLBACK_NOT_ALLOWED',
      );
      expect(release.status.withdrawn).to.equal(false);
      expect(rt.published.map((p) => p.withdrawn)).to.deep.equal([false]);
    });
  });

  describe('continue-as-new', () => {
    it('hands the approval wait over to a new run when the history is full', async () => {
      const { rt, release, done } = await atApproval({ policy: { approvals: 2 } });
      approveAs(release, 'alice');
      rt.full = true;
      expect(await rejectionOf(done)).to.be.instanceOf(ContinueAsNew);
      expect(release.status.stage).to.equal('approval');
      expect(rt.handedOver).to.have.length(1);
      const carried = rt.handedOver[0]!;
      expect(carried).to.include({ round: 'release', stepStarted: false, promoted: false, gateOverridden: false });
      expect(carried.policy).to.deep.equal({ ...POLICY, approvals: 2 });
      expect(carried.status.approvals.map((a) => a.approver)).to.deep.equal(['alice']);
      expect(carried.status.history.at(-1)?.action).to.equal('continue-as-new');

      // The next run waits for the one missing approval, without preparing the release again.
      const next = start({ carried });
      await waitFor('the carried approval wait', () => next.release.status.awaitingApproval, QUICKLY);
      expect(refusedWith(() => next.release.checkApproval({ approver: 'alice' }))).to.equal('APPROVAL_REFUSED');
      approveAs(next.release, 'bob');
      expect((await next.done).stage).to.equal('stable');
      expect(next.rt.calls).not.to.include('intakeBuild');
      expect(next.rt.published.map((p) => p.percent)).to.deep.equal([10, 50, 100]);
    });
  });

  describe('continue-as-new while release events are being recorded', () => {
    /** A release that hands over at its first bake while the API holds the first batch of events. */
    const handOverWithEventsHeld = async (carries: boolean) => {
      const { rt, release, done } = await atApproval();
      if (!carries) rt.unpatched.add('handover-carries-events');
      let letThrough = () => undefined as void;
      rt.eventsHeld = new Promise<void>((r) => (letThrough = r));
      approveAs(release, 'alice');
      rt.full = true;
      await waitFor('the first step published', () => rt.published.length > 0, QUICKLY);
      letThrough();
      expect(await rejectionOf(done)).to.be.instanceOf(ContinueAsNew);
      return { rt, carried: rt.handedOver[0]! };
    };

    it('lets the batch out finish, starts no other, and carries what queued to the next run, which records it', async () => {
      const { rt, carried } = await handOverWithEventsHeld(true);
      // Workflow time is shared by everything one activation does, so the data tells events apart.
      const key = (e: ReleaseEvent) => `${e.type}@${e.at}:${JSON.stringify(e.data)}`;
      expect(carried.events?.map((e) => e.type)).to.include('release.step-published');
      const recordedHere = rt.events.map(key);
      expect(
        carried.events!.map(key).filter((k) => recordedHere.includes(k)),
        'recorded twice',
      ).to.deep.equal([]);

      const next = start({ carried });
      await waitFor('the carried events recorded', () => next.rt.events.length >= carried.events!.length, QUICKLY);
      expect(next.rt.events.slice(0, carried.events!.length)).to.deep.equal(carried.events);
      next.rt.stop();
    });

    it('replays a release recorded before this: the hand-over waits for every event, none carried', async () => {
      const { rt, carried } = await handOverWithEventsHeld(false);
      expect(carried.events).to.equal(undefined);
      expect(rt.told()).to.include('release.step-published');
    });
  });

  describe('release events for webhooks', () => {
    it('tells of each change in order, and the run ends only once all are recorded', async () => {
      const { rt, release, done } = await atApproval();
      let letThrough = () => undefined as void;
      rt.eventsHeld = new Promise<void>((r) => (letThrough = r));
      approveAs(release, 'alice');
      await waitFor('the stable stage', () => release.status.stage === 'stable', QUICKLY);
      let ended = false;
      void done.then(() => (ended = true));
      await new Promise((r) => setImmediate(r));
      expect(ended, 'ended with events unrecorded').to.equal(false);
      letThrough();
      await done;
      expect(rt.told()).to.deep.equal([
        'release.created',
        'release.approval-requested',
        'release.approved',
        'release.step-published',
        'release.step-published',
        'release.step-published',
        'release.stable',
      ]);
      // Events that queued while the API was slow went in batches, not one activity each.
      expect(rt.eventBatches.length).to.be.below(rt.events.length);
      const approved = rt.events.find((e) => e.type === 'release.approved')!;
      expect(approved.data).to.deep.equal({ approver: 'alice', round: 'release', comment: 'looks good' });
      const stages = rt.events.filter((e) => e.type === 'release.stage-changed').map((e) => e.data['to']);
      expect(stages).to.deep.equal([
        'preparation',
        'manifest',
        'signing',
        'registration',
        'validation',
        'approval',
        'rollout',
        'stable',
      ]);
    });

    it("tells of a tripped gate's pause with its reason, and of an operator's resume", async () => {
      const { rt, release, done } = await atApproval({
        spec: { steps: [step(10, { minDevices: 2, maxFailureRate: 0.1 }), step(100)] },
      });
      rt.health = { healthy: 0, reverted: 2 };
      approveAs(release, 'alice');
      await waitFor('the pause', () => release.status.paused, QUICKLY);
      await release.resume({ actor: 'op', reason: 'known flaky sensor' });
      await done;
      const paused = rt.events.find((e) => e.type === 'release.gate-paused')!;
      expect(paused.data).to.include({ step: 0, percent: 10, failures: 2, reports: 2 });
      expect(paused.data['reason']).to.match(/2\/2 failed/);
      expect(rt.events.find((e) => e.type === 'release.resumed')?.data).to.include({
        actor: 'op',
        reason: 'known flaky sensor',
      });
    });

    it('tells of a failure with its code, its text cut to what the API takes', async () => {
      const rt0 = start();
      rt0.rt.fail('intakeBuild', 'INTAKE_MISMATCH');
      await rejectionOf(rt0.done);
      const failed = rt0.rt.events.find((e) => e.type === 'release.failed');
      expect(failed?.data).to.include({ code: 'INTAKE_MISMATCH' });
      const long = new ReleaseRun({ spec: specWith(), runtime: rt0.rt, releaseId: 'release-beta-1.2.0' });
      await long.resume({ actor: 'op', reason: 'x'.repeat(5000) }).catch(() => undefined);
      const resumed = rt0.rt.events.find((e) => e.type === 'release.resumed');
      expect(String(resumed?.data['reason'])).to.have.length(1000);
    });

    it('records none for a release whose history was made before events (patched)', async () => {
      const rt = new FakeRuntime(POLICY);
      rt.patches = false;
      runtimes.push(rt);
      const release = new ReleaseRun({ spec: specWith(), runtime: rt, releaseId: 'release-beta-1.2.0' });
      const done = release.run();
      await waitFor('the approval wait', () => release.status.awaitingApproval, QUICKLY);
      approveAs(release, 'alice');
      expect((await done).stage).to.equal('stable');
      expect(rt.events).to.deep.equal([]);
    });

    it('does not ask again for an approval the previous run already asked for', async () => {
      const { rt, release, done } = await atApproval({ policy: { approvals: 2 } });
      approveAs(release, 'alice');
      rt.full = true;
      await rejectionOf(done);
      const next = start({ carried: rt.handedOver[0]! });
      await waitFor('the carried approval wait', () => next.release.status.awaitingApproval, QUICKLY);
      approveAs(next.release, 'bob');
      await next.done;
      expect(next.rt.told()).to.deep.equal([
        'release.approved',
        'release.step-published',
        'release.step-published',
        'release.step-published',
        'release.stable',
      ]);
    });
  });
});
