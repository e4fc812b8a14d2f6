import { join } from 'node:path';

import { expect } from 'chai';

import { releaseWorkflowId } from '../../../common/release';
import { waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import {
  adminApi,
  approve,
  closeTemporalClient,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
  testConfig,
} from '../helpers';
import { TEST_EXTRA_ENV } from '../setup';
import { auditMark, auditProblems, chainMark, metadataChainProblems, rolloutProblems } from './invariants';
import { replayProblems, saveHistories } from './replayCheck';

/**
 * How many times the restart runs in one go (each with releases of its own):
 * OTA_RESTART_REPEAT=30 is how the restart was shown reliable, not just lucky once.
 */
const REPEAT = Number(process.env['OTA_RESTART_REPEAT'] ?? 1);

/** The worker's failed long polls so far (Temporal SDK metrics; none is 0: the series appears on the first failure). */
async function workerPollFailures(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${TEST_PROFILE.workerMetricsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('temporal_long_request_failure'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

/**
 * Fault injection: the Temporal server killed and started again on its database
 * file while one release bakes and another waits for approval. The worker and the API ride it
 * out (same processes), and both releases carry on from where they were, with histories that
 * replay against the workflow code (the bake's history is kept in var/ for post-mortems).
 */
describe('faults: the Temporal server restarted mid-release', function () {
  this.timeout(300_000);
  const pm = new ProcessManager(TEST_PROFILE.home);

  after(async function () {
    this.timeout(120_000);
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  for (let run = 1; run <= REPEAT; run++) {
    const suffix = REPEAT === 1 ? '' : `-${run}`;
    it(`a baking release and one awaiting approval both complete, on the same worker and API processes${REPEAT === 1 ? '' : ` (run ${run} of ${REPEAT})`}`, () =>
      restartMidRelease({ bake: `restart-bake${suffix}`, approval: `restart-approval${suffix}` }));
  }

  /** Kept for post-mortems (and as replay fixtures) whether the run passed or not. */
  async function restartMidRelease(channels: { bake: string; approval: string }): Promise<void> {
    try {
      await restartAndFinish(channels);
    } finally {
      const dir = join(TEST_PROFILE.home, 'histories');
      const address = testConfig().temporal.address;
      for (const channel of [channels.bake, channels.approval]) {
        await saveHistories(await temporalClient(), { workflowId: releaseWorkflowId(channel, '1.0.0'), dir, address });
      }
    }
  }

  async function restartAndFinish(channels: { bake: string; approval: string }): Promise<void> {
    const since = await chainMark();
    const audited = await auditMark();
    await releaseAwaitingApproval(channels.bake, '1.0.0', { steps: '50,100', bake: '20s' });
    await approve(channels.bake, '1.0.0');
    await waitForStatus(await temporalClient(), { channel: channels.bake, version: '1.0.0' }, stepPublished(50));
    await releaseAwaitingApproval(channels.approval, '1.0.0');
    const worker = pm.running('worker');
    const api = pm.running('api');

    const failedPolls = await workerPollFailures();
    expect(await pm.stop('temporal', { kill: true })).to.equal(true);
    // Down until the worker has met the outage: its long polls failed (its own metrics say so).
    await waitFor('the worker met the dead server', async () => (await workerPollFailures()) > failedPolls, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
    expect(pm.running('worker'), 'the worker outlived the outage').to.equal(worker);
    expect(pm.running('api'), 'the API outlived the outage').to.equal(api);
    await closeTemporalClient(); // this test's own connection is not what is under test

    // The worker's pollers find the new server after their backoff: the bake goes on by itself.
    const client = await temporalClient();
    const baked = await waitForStatus(
      client,
      { channel: channels.bake, version: '1.0.0', timeoutMs: 120_000 },
      (x) => x.stage === 'stable' || x.stage === 'failed',
    );
    expect(baked.stage, JSON.stringify(baked.error)).to.equal('stable');
    // Through the API, whose Temporal client reconnects by itself. Until the restarted server
    // has seen the worker poll, the API refuses with NO_WORKER (nothing changed): an operator
    // tries again, and so does this test.
    const admin = await adminApi();
    try {
      await waitFor(
        'the approval accepted',
        () =>
          admin
            .send('POST', `/v1/admin/releases/${channels.approval}/1.0.0/approve`, { comment: 'after the restart' })
            .then(
              () => true,
              (err: unknown) => {
                if ((err as { code?: string }).code !== 'NO_WORKER') throw err;
                return false;
              },
            ),
        { timeoutMs: 90_000, intervalMs: 2000 },
      );
    } finally {
      await admin.close();
    }
    const targets: Record<string, string> = {};
    for (const channel of [channels.bake, channels.approval]) {
      const s = await waitForStatus(
        client,
        { channel, version: '1.0.0', timeoutMs: 120_000 },
        (x) => x.stage === 'stable' || x.stage === 'failed',
      );
      expect(s.stage, `${channel}: ${JSON.stringify(s.error)}`).to.equal('stable');
      targets[channel] = s.target!.name;
    }
    expect(await metadataChainProblems(since)).to.deep.equal([]);
    expect(
      await rolloutProblems(
        [
          { target: targets[channels.bake]!, steps: [50, 100] },
          { target: targets[channels.approval]!, steps: [100] },
        ],
        since,
      ),
    ).to.deep.equal([]);
    // The approval is audited once it took effect (refused attempts are audited as refused).
    expect(
      await auditProblems([{ action: 'release.approve', subject: `${channels.approval}/1.0.0` }], audited),
    ).to.deep.equal([]);
    for (const channel of [channels.bake, channels.approval]) {
      expect(await replayProblems(client, releaseWorkflowId(channel, '1.0.0'))).to.deep.equal([]);
    }
  }
});
