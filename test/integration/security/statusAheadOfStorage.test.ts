import { expect } from 'chai';

import { releaseStatus, waitForStatus } from '../../../control/releases';
import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { adminApi, approve, ota, releaseAwaitingApproval, stepPublished, temporalClient } from '../helpers';
import { failedAttempts } from '../releaseHistory';
import { TEST_EXTRA_ENV } from '../setup';

/**
 * With storage down, `ota release status` must not show the next step's percent as if devices
 * were offered it while they are still offered the previous one: status shows the signed,
 * published state and the pending one apart.
 */
describe('security: release status is not ahead of storage', function () {
  this.timeout(240_000);
  const channel = 'ahead';

  after(async () => {
    // Whatever happened, the next tests need MinIO.
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  it('shows the published percent and the pending one while storage is down, then catches up', async () => {
    await releaseAwaitingApproval(channel, '1.0.0', { steps: '50,100', bake: '1h' });
    await approve(channel, '1.0.0');
    const client = await temporalClient();
    await waitForStatus(client, { channel, version: '1.0.0' }, stepPublished(50));

    expect(await new ProcessManager(TEST_PROFILE.home).stop('minio')).to.equal(true);
    const api = await adminApi();
    try {
      await api.send('POST', `/v1/admin/releases/${channel}/1.0.0/promote`, {
        reason: 'next step while storage is down',
      });
    } finally {
      await api.close();
    }
    const ahead = await waitForStatus(
      client,
      { channel, version: '1.0.0', timeoutMs: 30_000 },
      (s) => s.percent === 100,
    );
    expect(ahead.published).to.include({ percent: 50 });
    const cli = await ota('release', 'status', '1.0.0', '--channel', channel);
    expect(cli.stdout).to.match(/published: 50% .*; pending: 100% \(not in storage yet\)/);
    // Once the write has had its chance and failed (Temporal's record of the publish attempts),
    // the step is still pending, not shown as done.
    await waitFor(
      'a publish attempt failed on the stopped storage',
      async () => (await failedAttempts(channel, '1.0.0', 'publishRollout')) >= 1,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect((await releaseStatus(client, { channel, version: '1.0.0' })).published).to.include({ percent: 50 });

    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
    const caught = await waitForStatus(client, { channel, version: '1.0.0', timeoutMs: 90_000 }, stepPublished(100));
    expect(caught.published).to.include({ percent: 100, paused: false, withdrawn: false });
    expect((await ota('release', 'status', '1.0.0', '--channel', channel)).stdout).to.not.contain('pending');
  });
});
