import { expect } from 'chai';

import { releaseStatus, waitForStatus } from '../../../control/releases';
import {
  approve,
  artifactFile,
  ota,
  type PollAnswer,
  postJson,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
} from '../helpers';

describe('one active rollout per channel', () => {
  const channel = 'super';

  it('a newer release that starts its rollout supersedes the older one, withdrawing its offer', async () => {
    const client = await temporalClient();
    await releaseAwaitingApproval(channel, '1.0.0', { steps: '100', bake: '1h' });
    await approve(channel, '1.0.0');
    await waitForStatus(client, { channel, version: '1.0.0' }, stepPublished(100));
    await releaseAwaitingApproval(channel, '1.1.0', { steps: '100', bake: '1h' });
    await approve(channel, '1.1.0');
    const older = await waitForStatus(client, { channel, version: '1.0.0' }, (s) => s.stage === 'aborted');
    expect(older.withdrawn).to.equal(true);
    expect(older.history.at(-1)).to.include({
      action: 'abort',
      actor: 'supersede',
      detail: 'superseded by release-super-1.1.0',
    });
    const newer = await waitForStatus(client, { channel, version: '1.1.0' }, stepPublished(100));
    expect(newer.history.map((h) => h.action)).to.include('superseded');
    const poll = await postJson<PollAnswer>('/v1/poll', {
      deviceId: 'super-1',
      hardwareId: 'devkit-a',
      channel,
      currentVersion: '0.0.1',
    });
    expect(poll.body.offer).to.include({ version: '1.1.0' });
  });

  it('an older release created after a newer one rolls out fails validation, before anyone is asked to approve', async () => {
    const client = await temporalClient();
    const file = await artifactFile('fw-super-1.0.5.bin');
    const created = await ota(
      'release',
      'create',
      '--artifact',
      file,
      '--version',
      '1.0.5',
      '--channel',
      channel,
      '--hardware',
      'devkit-a',
      '--steps',
      '100',
      '--bake',
      '0s',
      '--json',
    );
    expect(created.code, created.stderr).to.equal(0);
    const s = await waitForStatus(client, { channel, version: '1.0.5' }, (x) => x.stage === 'failed').catch(() =>
      releaseStatus(client, { channel, version: '1.0.5' }),
    );
    expect(s.stage).to.equal('failed');
    expect(s.approvals).to.deep.equal([]);
    expect(s.error?.code).to.equal('VALIDATION_FAILED');
    expect(s.error?.message).to.contain('NOT_NEWER');
  });
});
