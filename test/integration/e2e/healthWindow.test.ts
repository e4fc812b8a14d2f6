import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { apiGet, approve, device, releaseAwaitingApproval, temporalClient, testConfig } from '../helpers';

describe('a device whose new version does not confirm its health within the window', () => {
  it('reverts it by itself, keeps its version and rollback index, and reports the revert', async () => {
    const waiting = await releaseAwaitingApproval('hwindow', '1.0.0', { rollbackIndex: 3 });
    expect(waiting.lifecycle).to.equal('validation');
    await approve('hwindow', '1.0.0');
    const stable = await waitForStatus(
      await temporalClient(),
      { channel: 'hwindow', version: '1.0.0' },
      (s) => s.stage === 'stable',
    );
    expect(stable.lifecycle).to.equal('stable');

    const config = testConfig();
    const stateDir = join(config.home, 'test-devices', 'hwindow-1');
    // The simulated boot answers only after 5 s; the window is 200 ms.
    const slowBoot = () => new Promise<boolean>((r) => setTimeout(() => r(true), 5000));
    const agent = await device('hwindow-1', 'hwindow', { healthy: slowBoot, limits: { healthWindowMs: 200 } });
    const result = await agent.checkForUpdate();
    expect(result).to.include({ status: 'refused', code: 'HEALTH_CHECK_FAILED' });
    expect(await agent.state()).to.deep.equal({ currentVersion: '0.0.0', rollbackIndex: 0 });
    // The image may stay in the inactive A/B slot; it never became the slot that boots.
    expect(await readFile(join(stateDir, 'system', 'active')).catch(() => undefined)).to.equal(undefined);
    expect(await readFile(join(stateDir, 'system', 'trial')).catch(() => undefined)).to.equal(undefined);
    const stats = await apiGet<{ reverted: number }>(
      `/v1/fleet/targets/stats?name=${encodeURIComponent(stable.target!.name)}`,
    );
    expect(stats.reverted).to.equal(1);
  });
});
