import { expect } from 'chai';

import { type ReleaseStatus, releaseWorkflowId } from '../../../common/release';
import { waitForStatus } from '../../../control/releases';
import { logContains, ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { adminApi, createRelease, operatorToken, stepPublished, temporalClient } from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';
import { auditMark, auditProblems, chainMark, metadataChainProblems, rolloutProblems } from './invariants';

/** Each stage a release passes through, the activity that runs it (if any) and its channel here. */
const HELD = [
  { stage: 'intake', activity: 'intakeBuild' },
  { stage: 'preparation', activity: 'prepareArtifact' },
  { stage: 'manifest', activity: 'createManifest' },
  { stage: 'signing', activity: 'signRelease' },
  { stage: 'registration', activity: 'registerRelease' },
  { stage: 'validation', activity: 'validateRelease' },
  { stage: 'publish', activity: 'publishRollout' },
] as const;
const VERSION = '1.0.0';
const channelOf = (stage: string) => `kill-${stage}`;

/**
 * Fault injection: one SIGKILL of the only worker while nine releases stand each at
 * another stage: six held right after their stage's activity did its work (so the retry meets
 * work already done), one after publishing its first step, one waiting for approval and one
 * baking. A failpoint (worker/faultHold.ts) holds those activities so the kill lands there.
 */
describe('faults: the worker killed with SIGKILL at every stage', function () {
  this.timeout(420_000);
  const pm = new ProcessManager(TEST_PROFILE.home);

  after(async function () {
    this.timeout(120_000);
    // The suite's worker again, without failpoints, whatever happened.
    await pm.stop('worker', { kill: true });
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  it('every release completes its plan after the restart, every step signed in storage once, and every action audited', async () => {
    const since = await chainMark();
    const audited = await auditMark();
    const holds = HELD.map((h) => `${h.activity}@${releaseWorkflowId(channelOf(h.stage), VERSION)}`);
    await pm.stop('worker');
    await stackUp(TEST_PROFILE, { extraEnv: { ...TEST_EXTRA_ENV, OTA_FAULT_HOLD: holds.join(',') } });
    const client = await temporalClient();
    const api = await adminApi();
    const approveViaApi = (channel: string) =>
      api.send('POST', `/v1/admin/releases/${channel}/${VERSION}/approve`, { comment: 'fault suite' });
    try {
      await operatorToken('test-creator'); // made once, before the parallel creates use it
      const plans = [
        ...HELD.map((h) => ({
          channel: channelOf(h.stage),
          steps: h.stage === 'publish' ? '50,100' : '100',
          bake: '1s',
        })),
        { channel: channelOf('approval'), steps: '100', bake: '1s' },
        // The bake outlasts the wait for every hold, so the kill lands inside it.
        { channel: channelOf('bake'), steps: '50,100', bake: '40s' },
      ];
      await Promise.all(plans.map((p) => createRelease(p.channel, VERSION, p)));

      // The releases with nothing held before approval: approve the two that must roll out.
      for (const stage of ['publish', 'bake']) {
        await waitForStatus(
          client,
          { channel: channelOf(stage), version: VERSION, timeoutMs: 60_000 },
          (s) => s.stage === 'approval',
        );
        await approveViaApi(channelOf(stage));
      }
      await waitForStatus(
        client,
        { channel: channelOf('approval'), version: VERSION, timeoutMs: 60_000 },
        (s) => s.stage === 'approval',
      );
      await waitForStatus(
        client,
        { channel: channelOf('bake'), version: VERSION, timeoutMs: 60_000 },
        stepPublished(50),
      );
      const log = pm.logFile('worker');
      const held = async () =>
        (
          await Promise.all(
            HELD.map((h) =>
              logContains(log, `fault hold: ${h.activity} of ${releaseWorkflowId(channelOf(h.stage), VERSION)}`),
            ),
          )
        ).every(Boolean);
      await waitFor('every failpoint reached', held, { timeoutMs: 90_000, intervalMs: 500 });
      const bake = await waitForStatus(client, { channel: channelOf('bake'), version: VERSION }, () => true);
      expect(bake.stage, 'still baking when the worker dies').to.equal('rollout');

      expect(await pm.stop('worker', { kill: true })).to.equal(true);
      await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });

      // Held before approval: each reaches it (its lost attempt retried), then is approved.
      const before = HELD.filter((h) => h.stage !== 'publish').map((h) => channelOf(h.stage));
      for (const channel of [...before, channelOf('approval')]) {
        const s = await waitForStatus(
          client,
          { channel, version: VERSION, timeoutMs: 120_000 },
          (x) => x.stage === 'approval' || x.stage === 'failed',
        );
        expect(s.stage, `${channel}: ${JSON.stringify(s.error)}`).to.equal('approval');
        await approveViaApi(channel);
      }
      const ended: ReleaseStatus[] = [];
      for (const p of plans)
        ended.push(
          await waitForStatus(
            client,
            { channel: p.channel, version: VERSION, timeoutMs: 120_000 },
            (x) => x.stage === 'stable' || x.stage === 'failed',
          ),
        );
      for (const [i, s] of ended.entries()) {
        const p = plans[i]!;
        expect(s.stage, `${p.channel}: ${JSON.stringify(s.error)}`).to.equal('stable');
        expect(
          s.history.filter((h) => h.action === 'step').map((h) => h.detail),
          p.channel,
        ).to.deep.equal(p.steps.split(',').map((x) => `${x}%`));
        expect(
          s.history.filter((h) => h.action === 'registered'),
          `${p.channel} registered once`,
        ).to.have.length(1);
      }
      expect(await metadataChainProblems(since)).to.deep.equal([]);
      // Every step signed and in storage, in order, whatever the workflow says of itself.
      expect(
        await rolloutProblems(
          ended.map((s, i) => ({ target: s.target!.name, steps: plans[i]!.steps.split(',').map(Number) })),
          since,
        ),
      ).to.deep.equal([]);
      expect(
        await auditProblems(
          plans.flatMap((p) => [
            { action: 'release.create', subject: `${p.channel}/${VERSION}` },
            { action: 'release.approve', subject: `${p.channel}/${VERSION}` },
          ]),
          audited,
        ),
      ).to.deep.equal([]);
    } finally {
      await api.close();
    }
  });
});
