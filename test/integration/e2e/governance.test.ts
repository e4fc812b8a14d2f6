import { rolloutBucket } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import type { ReleaseStatus } from '../../../common/release';
import { releaseQuery } from '../../../common/temporalNames';
import { releaseStatus, waitForStatus } from '../../../control/releases';
import { waitFor } from '../../wait';
import {
  approve,
  device,
  type ErrorAnswer,
  ota,
  type PollAnswer,
  postJson,
  releaseAwaitingApproval,
  temporalClient,
} from '../helpers';

/** A device id whose bucket for this release is below `percent`, found by the public rule. */
function deviceInside(releaseId: string, percent: number, prefix: string): string {
  for (let i = 0; ; i++) if (rolloutBucket(releaseId, `${prefix}${i}`) < percent * 100) return `${prefix}${i}`;
}

function deviceOutside(releaseId: string, percent: number, prefix: string): string {
  for (let i = 0; ; i++) if (rolloutBucket(releaseId, `${prefix}${i}`) >= percent * 100) return `${prefix}${i}`;
}

const poll = (deviceId: string, channel: string, hardwareId = 'devkit-a') =>
  postJson<PollAnswer>('/v1/poll', { deviceId, hardwareId, channel, currentVersion: '0.0.1' });

describe('rollout governance', () => {
  const channel = 'gov';
  const version = '1.2.0';
  const releaseId = `release-${channel}-${version}`;
  const inside = deviceInside(releaseId, 50, 'gov-in-');
  const outside = deviceOutside(releaseId, 50, 'gov-out-');

  before(async () => {
    await releaseAwaitingApproval(channel, version, { steps: '50,100', bake: '1h' });
  });

  describe('before the approval', () => {
    it('offers the release to no device, and a device refuses a forced offer', async () => {
      expect((await poll(inside, channel)).body).to.deep.equal({ offer: null });
      const forced = await (
        await device(inside, channel)
      ).installOffer({ targetName: `${channel}/${version}/fw-${channel}-${version}.bin`, version });
      expect(forced).to.include({ status: 'refused', code: 'NOT_IN_ROLLOUT' });
    });

    it('is listed in Temporal by its search attributes as awaiting approval', async () => {
      const client = await temporalClient();
      const query = releaseQuery({ awaitingApproval: true, channel, stage: 'approval' });
      // Visibility is eventually consistent.
      const ids = await waitFor('the release in visibility', async () => {
        const found: string[] = [];
        for await (const wf of client.workflow.list({ query })) found.push(wf.workflowId);
        return found.length > 0 && found;
      });
      expect(ids).to.deep.equal([releaseId]);
    });

    it('refuses pause with WRONG_STAGE and changes nothing', async () => {
      const paused = await ota('release', 'pause', version, '--channel', channel, '--json');
      expect(paused.code).to.equal(1);
      expect((paused.json as ErrorAnswer).error.code).to.equal('WRONG_STAGE');
      expect((await releaseStatus(await temporalClient(), { channel, version })).paused).to.equal(false);
    });
  });

  describe('at the 50% step', () => {
    before(async () => {
      await approve(channel, version);
      const client = await temporalClient();
      await waitForStatus(client, { channel, version }, (s) => s.percent === 50);
      // The step's metadata is published before the bake starts; wait for it to be visible.
      await waitFor('the 50% step offered', async () => (await poll(inside, channel)).body.offer !== null);
    });

    it('offers the release to devices inside the percent only', async () => {
      expect((await poll(inside, channel)).body.offer).to.include({ version });
      expect((await poll(outside, channel)).body).to.deep.equal({ offer: null });
    });

    it('does not offer it to other hardware, which refuses a forced offer', async () => {
      expect((await poll(inside, channel, 'devkit-z')).body).to.deep.equal({ offer: null });
      const other = await device(`${inside}-z`, channel, { hardwareId: 'devkit-z' });
      const forced = await other.installOffer({
        targetName: `${channel}/${version}/fw-${channel}-${version}.bin`,
        version,
      });
      expect(forced).to.include({ status: 'refused', code: 'HARDWARE_MISMATCH' });
    });

    it('stops new offers while paused and offers again after resume', async () => {
      const paused = await ota(
        'release',
        'pause',
        version,
        '--channel',
        channel,
        '--reason',
        'investigating',
        '--json',
      );
      expect(paused.code, paused.stderr).to.equal(0);
      expect((paused.json as ReleaseStatus).paused).to.equal(true);
      expect((await poll(inside, channel)).body).to.deep.equal({ offer: null });
      const forced = await (
        await device(`${inside}`, channel)
      ).installOffer({ targetName: `${channel}/${version}/fw-${channel}-${version}.bin`, version });
      expect(forced).to.include({ status: 'refused', code: 'ROLLOUT_PAUSED' });

      const resumed = await ota('release', 'resume', version, '--channel', channel, '--json');
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect((await poll(inside, channel)).body.offer).to.include({ version });
    });

    it('stops all offers after a rollback and marks the release withdrawn', async () => {
      const rolled = await ota('release', 'rollback', version, '--channel', channel, '--reason', 'bad build', '--json');
      expect(rolled.code, rolled.stderr).to.equal(0);
      expect((rolled.json as ReleaseStatus).withdrawn).to.equal(true);
      expect((await poll(inside, channel)).body).to.deep.equal({ offer: null });
      const forced = await (
        await device(`${inside}-late`, channel)
      ).installOffer({ targetName: `${channel}/${version}/fw-${channel}-${version}.bin`, version });
      expect(forced).to.include({ status: 'refused', code: 'RELEASE_WITHDRAWN' });
      const client = await temporalClient();
      const status = await waitForStatus(client, { channel, version }, (s) => s.stage === 'rolled-back');
      expect(status.stage).to.equal('rolled-back');
      expect(status.history.map((h) => h.action)).to.include.members(['approve', 'pause', 'resume', 'rollback']);
    });
  });
});
