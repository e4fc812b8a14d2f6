import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { approve, device, releaseAwaitingApproval, temporalClient } from '../helpers';

describe('a device that installed one release', () => {
  it('verifies and installs the next release of its channel with fresh metadata', async () => {
    const agent = await device('succ-1', 'succ');
    for (const [version, index] of [
      ['1.0.0', 1],
      ['1.1.0', 2],
    ] as const) {
      await releaseAwaitingApproval('succ', version, { rollbackIndex: index });
      await approve('succ', version);
      await waitForStatus(await temporalClient(), { channel: 'succ', version }, (s) => s.stage === 'stable');
      const result = await agent.checkForUpdate();
      expect(result, version).to.deep.include({ status: 'installed', version });
      expect(await agent.state()).to.deep.equal({ currentVersion: version, rollbackIndex: index });
    }
  });
});
