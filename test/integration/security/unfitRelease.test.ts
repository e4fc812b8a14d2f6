import type { InstallReport } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { TargetStats } from '../../../common/adminApi';
import type { ReleaseStatus } from '../../../common/release';
import { releaseStatus, waitForStatus } from '../../../control/releases';
import { waitFor } from '../../wait';
import { chainMark, rolloutProblems } from '../faults/invariants';
import {
  apiGet,
  approve,
  artifactFile,
  deviceFetch,
  ota,
  releaseAwaitingApproval,
  signedReport,
  stepPublished,
  temporalClient,
  testConfig,
} from '../helpers';
import { after, completions, ofType, releaseEvents, waitsOnlyForAMessage } from '../releaseHistory';

/** `ota release create` on the CLI's own defaults (custom steps now have a health gate). */
async function create(channel: string, version: string, extra: string[]): Promise<void> {
  const file = await artifactFile(`fw-${channel}-${version}.bin`);
  const r = await ota(
    'release',
    'create',
    '--artifact',
    file,
    '--version',
    version,
    '--channel',
    channel,
    ...extra,
    '--json',
  );
  expect(r.code, r.stderr).to.equal(0);
}

async function finalState(channel: string, version: string): Promise<ReleaseStatus> {
  return waitForStatus(
    await temporalClient(),
    { channel, version },
    (s) => s.stage === 'failed' || s.stage === 'approval',
  );
}

/** A device of `channel` reports on a target over its own mutual-TLS identity. */
async function report(deviceId: string, channel: string, body: Omit<InstallReport, 'deviceId'>): Promise<void> {
  const fetch = await deviceFetch(deviceId, channel);
  const res = await fetch(`${testConfig().api.url}/v1/reports`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(await signedReport({ deviceId, ...body })),
  });
  expect(res.status).to.equal(202);
}

/**
 * A release the fleet cannot install must not go stable: one with a rollback index below its
 * channel's fails validation (devices would refuse it), so does a lower version, before anyone
 * is asked to approve; and a plan's step needs device reports, so it does not pass while
 * devices are still enrolling.
 */
describe('security: a release the fleet cannot install does not go stable', function () {
  this.timeout(240_000);

  describe('validation checks the release against what its channel runs, before approval', () => {
    const channel = 'unfit';
    before(async () => {
      await releaseAwaitingApproval(channel, '1.0.0', { rollbackIndex: 2 });
      await approve(channel, '1.0.0');
      await waitForStatus(await temporalClient(), { channel, version: '1.0.0' }, (s) => s.stage === 'stable');
    });

    it("refuses a rollback index below the channel's (devices would refuse it: ROLLBACK_INDEX_TOO_LOW)", async () => {
      await create(channel, '1.1.0', [
        '--hardware',
        'devkit-a',
        '--rollback-index',
        '1',
        '--steps',
        '100',
        '--bake',
        '0s',
      ]);
      const s = await finalState(channel, '1.1.0');
      expect(s.stage).to.equal('failed');
      expect(s.approvals).to.deep.equal([]);
      expect(s.error?.code).to.equal('VALIDATION_FAILED');
      expect(s.error?.message).to.contain('ROLLBACK_INDEX_TOO_LOW');
    });

    it('refuses a version not above the one the channel offers (NOT_NEWER)', async () => {
      await create(channel, '0.9.0', [
        '--hardware',
        'devkit-a',
        '--rollback-index',
        '2',
        '--steps',
        '100',
        '--bake',
        '0s',
      ]);
      const s = await finalState(channel, '0.9.0');
      expect(s.stage).to.equal('failed');
      expect(s.error?.message).to.contain('NOT_NEWER');
    });

    it('refuses hardware no device has and no release was for', async () => {
      await create(channel, '1.2.0', [
        '--hardware',
        'devkit-a,devkit-typo',
        '--rollback-index',
        '2',
        '--steps',
        '100',
        '--bake',
        '0s',
      ]);
      const s = await finalState(channel, '1.2.0');
      expect(s.stage).to.equal('failed');
      expect(s.error?.message).to.contain('hardware devkit-typo is unknown');
    });

    it('lets a release that fits through to approval', async () => {
      await create(channel, '1.3.0', [
        '--hardware',
        'devkit-a',
        '--rollback-index',
        '2',
        '--steps',
        '100',
        '--bake',
        '0s',
      ]);
      expect((await finalState(channel, '1.3.0')).stage).to.equal('approval');
    });
  });

  it('counts devices refusing a release they cannot install: the gate trips and the rollout pauses', async () => {
    const channel = 'unfit-gate';
    const since = await chainMark();
    await releaseAwaitingApproval(channel, '1.0.0', {
      steps: '50,100',
      bake: '3s',
      minDevices: 1,
      maxFailureRate: 0.1,
    });
    await approve(channel, '1.0.0');
    const client = await temporalClient();
    const started = await waitForStatus(client, { channel, version: '1.0.0' }, stepPublished(50));
    const targetName = started.target!.name;
    await report('unfit-gate-ok', channel, { version: '1.0.0', targetName, outcome: 'installed', health: 'healthy' });
    for (const id of ['unfit-gate-1', 'unfit-gate-2', 'unfit-gate-3']) {
      await report(id, channel, {
        version: '0.0.9',
        targetName,
        outcome: 'refused',
        errorCode: 'ROLLBACK_INDEX_TOO_LOW',
        message: "rollback index below the device's",
      });
    }
    // Outside the rollout says nothing about the release: not counted.
    await report('unfit-gate-out', channel, {
      version: '0.0.9',
      targetName,
      outcome: 'refused',
      errorCode: 'NOT_IN_ROLLOUT',
    });
    const s = await waitForStatus(
      client,
      { channel, version: '1.0.0', timeoutMs: 60_000 },
      (x) => x.gate?.result === 'tripped',
    );
    // The gate trips on the first sample that breaches: some of the refusals may be enough.
    expect(s.gate!.blocked).to.be.at.least(1);
    expect(s.gate!.failures).to.equal(s.gate!.blocked);
    expect(s.paused).to.equal(true);
    expect(s.percent).to.equal(50);
    const stats = await apiGet<TargetStats>(`/v1/fleet/targets/stats?name=${encodeURIComponent(targetName)}`);
    expect(stats).to.include({ healthy: 1, refused: 4, blocked: 3 });
    // Paused, it waits for an operator: no timer or activity left that could move it on (the
    // 3 s bake included), as Temporal records it; and storage still offers the paused 50%.
    await waitFor('the release waiting only for a message', () => waitsOnlyForAMessage(channel, '1.0.0'));
    expect(await releaseStatus(client, { channel, version: '1.0.0' })).to.include({ stage: 'rollout', percent: 50 });
    expect(await rolloutProblems([{ target: targetName, steps: [50], paused: true }], since)).to.deep.equal([]);
  });

  it('a step whose gate has seen no health report waits, unless the plan says --min-devices 0', async () => {
    const channel = 'unfit-empty';
    await create(channel, '1.0.0', ['--hardware', 'devkit-a', '--steps', '50,100', '--bake', '1s']);
    const client = await temporalClient();
    await waitForStatus(client, { channel, version: '1.0.0' }, (s) => s.stage === 'approval');
    await approve(channel, '1.0.0');
    const started = await waitForStatus(client, { channel, version: '1.0.0' }, stepPublished(50));
    // The 1 s bake over, the workflow looked at health again and chose to wait (a timer
    // started after that look, not the next publish), as Temporal records it.
    await waitFor('a health look after the bake, then a wait', async () => {
      const events = await releaseEvents(channel, '1.0.0');
      const looks = completions(events, 'rolloutHealth');
      return looks.length >= 2 && ofType(after(events, looks[1]!), 'EVENT_TYPE_TIMER_STARTED').length > 0;
    });
    const waiting = await releaseStatus(client, { channel, version: '1.0.0' });
    expect(waiting).to.include({ stage: 'rollout', percent: 50 });
    expect(waiting.gate).to.include({ result: 'waiting', reports: 0, minDevices: 1 });
    await report('unfit-empty-1', channel, {
      version: '1.0.0',
      targetName: started.target!.name,
      outcome: 'installed',
      health: 'healthy',
    });
    await waitForStatus(client, { channel, version: '1.0.0', timeoutMs: 60_000 }, (s) => s.stage === 'stable');

    // The same plan with --min-devices 0: no report needed, the rollout completes on its own.
    await create(channel, '1.1.0', [
      '--hardware',
      'devkit-a',
      '--rollback-index',
      '2',
      '--steps',
      '50,100',
      '--bake',
      '1s',
      '--min-devices',
      '0',
    ]);
    await waitForStatus(client, { channel, version: '1.1.0' }, (s) => s.stage === 'approval');
    await approve(channel, '1.1.0');
    const unreported = await waitForStatus(
      client,
      { channel, version: '1.1.0', timeoutMs: 60_000 },
      (s) => s.stage === 'stable' || s.stage === 'failed',
    );
    expect(unreported.stage).to.equal('stable');
    expect(unreported.gate).to.include({ reports: 0, minDevices: 0 });
  });
});
