import { expect } from 'chai';

import type { ReleaseStatus } from '../../../common/release';
import { releaseStatus, waitForStatus } from '../../../control/releases';
import {
  approve,
  device,
  type ErrorAnswer,
  ota,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
} from '../helpers';

describe('rollback --to an earlier release', () => {
  const channel = 'backto';

  it('offers the previous good release again, and devices on the withdrawn one go back to it', async () => {
    const client = await temporalClient();
    const agent = await device('backto-1', channel);
    await releaseAwaitingApproval(channel, '1.0.0', { rollbackIndex: 1 });
    await approve(channel, '1.0.0');
    await waitForStatus(client, { channel, version: '1.0.0' }, (s) => s.stage === 'stable');
    expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });

    await releaseAwaitingApproval(channel, '1.1.0', { rollbackIndex: 1, steps: '100', bake: '1h' });
    await approve(channel, '1.1.0');
    await waitForStatus(client, { channel, version: '1.1.0' }, stepPublished(100));
    expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: '1.1.0' });

    const r = await ota(
      'release',
      'rollback',
      '1.1.0',
      '--channel',
      channel,
      '--to',
      '1.0.0',
      '--reason',
      'crash loop',
      '--json',
    );
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect((r.json as ReleaseStatus).withdrawn).to.equal(true);
    expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });
    // A device still on 1.0.0 is not offered anything new, and nobody gets 1.1.0.
    expect(await agent.checkForUpdate()).to.include({ status: 'up-to-date', version: '1.0.0' });
  });

  it('says when the rollback index forbids it, and changes nothing', async () => {
    const client = await temporalClient();
    await releaseAwaitingApproval(channel, '1.2.0', { rollbackIndex: 2, steps: '100', bake: '1h' });
    await approve(channel, '1.2.0');
    await waitForStatus(client, { channel, version: '1.2.0' }, stepPublished(100));
    const r = await ota('release', 'rollback', '1.2.0', '--channel', channel, '--to', '1.0.0', '--json');
    expect(r.code).to.equal(1);
    expect((r.json as ErrorAnswer).error.code).to.equal('ROLLBACK_NOT_ALLOWED');
    expect((r.json as ErrorAnswer).error.message).to.contain('roll forward');
    const s = await releaseStatus(client, { channel, version: '1.2.0' });
    expect(s).to.include({ stage: 'rollout', withdrawn: false });
  });
});
