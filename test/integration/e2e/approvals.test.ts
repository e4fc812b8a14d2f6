import { expect } from 'chai';

import type { ReleaseListItem } from '../../../common/adminApi';
import { releaseStatus, waitForStatus } from '../../../control/releases';
import {
  device,
  type ErrorAnswer,
  ota,
  otaAs,
  postJson,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
} from '../helpers';

/** The approver is whoever's token the CLI sends, never a name in the request. */
const approve = (version: string, channel: string, approver: string) =>
  otaAs(approver, 'release', 'approve', version, '--channel', channel, '--comment', `ok from ${approver}`, '--json');

describe('approvals', () => {
  describe('on a channel that needs 2 approvals from alice, bob or carol', () => {
    const channel = 'strict';
    const version = '1.0.0';
    before(async () => {
      await releaseAwaitingApproval(channel, version, { as: 'carol' });
    });

    it('refuses the creator, an unknown approver and a duplicate, changing nothing', async () => {
      const byCreator = await approve(version, channel, 'carol');
      expect((byCreator.json as ErrorAnswer).error.code).to.equal('APPROVAL_REFUSED');
      const byStranger = await approve(version, channel, 'mallory');
      expect((byStranger.json as ErrorAnswer).error.code).to.equal('APPROVAL_REFUSED');
      expect((await approve(version, channel, 'alice')).code).to.equal(0);
      const twice = await approve(version, channel, 'alice');
      expect((twice.json as ErrorAnswer).error.code).to.equal('APPROVAL_REFUSED');
      const s = await releaseStatus(await temporalClient(), { channel, version });
      expect(s.stage).to.equal('approval');
      expect(s.approvals.map((a) => a.approver)).to.deep.equal(['alice']);
    });

    it('starts the rollout with the second owner, recording who approved and when', async () => {
      expect((await approve(version, channel, 'bob')).code).to.equal(0);
      const s = await waitForStatus(await temporalClient(), { channel, version }, (x) => x.stage === 'stable');
      expect(s.approvals.map((a) => [a.approver, a.decision])).to.deep.equal([
        ['alice', 'approve'],
        ['bob', 'approve'],
      ]);
      expect(s.approvals.every((a) => !Number.isNaN(Date.parse(a.at)))).to.equal(true);
      // A device sees who approved what it installs: the approvals are in the signed rollout.
      const agent = await device('strict-1', channel);
      const verified = await agent.verify(s.target!.name, await agent.state());
      expect(verified.rollout.approvals?.map((a) => a.approver)).to.deep.equal(['alice', 'bob']);
    });
  });

  describe('once the release is rolling out', () => {
    it('refuses an approval at the wrong stage (WRONG_STAGE) from an owner allowed to approve, changing nothing', async () => {
      // Any owner but the creator may approve on this channel: frank could have approved it a moment ago.
      await releaseAwaitingApproval('latecomer', '1.0.0', { as: 'erin', steps: '50,100', bake: '1h' });
      expect((await approve('1.0.0', 'latecomer', 'grace')).code).to.equal(0);
      const client = await temporalClient();
      const rolling = await waitForStatus(client, { channel: 'latecomer', version: '1.0.0' }, stepPublished(50));
      const late = await approve('1.0.0', 'latecomer', 'frank');
      expect(late.code).to.equal(1);
      expect((late.json as ErrorAnswer).error.code).to.equal('WRONG_STAGE');
      const s = await releaseStatus(client, { channel: 'latecomer', version: '1.0.0' });
      expect(s.approvals.map((a) => a.approver)).to.deep.equal(['grace']);
      expect(s.history).to.deep.equal(rolling.history);
    });
  });

  describe('when an owner rejects', () => {
    it('ends the release and offers it to no device', async () => {
      await releaseAwaitingApproval('rejecting', '1.0.0');
      const r = await otaAs(
        'dave',
        'release',
        'reject',
        '1.0.0',
        '--channel',
        'rejecting',
        '--comment',
        'not ready',
        '--json',
      );
      expect(r.code, r.stderr).to.equal(0);
      const s = await waitForStatus(
        await temporalClient(),
        { channel: 'rejecting', version: '1.0.0' },
        (x) => x.stage === 'rejected',
      );
      expect(s.approvals[0]).to.include({ approver: 'dave', decision: 'reject', comment: 'not ready' });
      const poll = await postJson('/v1/poll', {
        deviceId: 'rej-1',
        hardwareId: 'devkit-a',
        channel: 'rejecting',
        currentVersion: '0.0.1',
      });
      expect(poll.body).to.deep.equal({ offer: null });
    });
  });

  describe('with an approval-gated step', () => {
    it('waits at that step for an owner, listed as awaiting approval, then continues', async () => {
      await releaseAwaitingApproval('stepgate', '1.0.0', { plan: 'stepgate' });
      const client = await temporalClient();
      expect((await approve('1.0.0', 'stepgate', 'erin')).code).to.equal(0);
      const waiting = await waitForStatus(
        client,
        { channel: 'stepgate', version: '1.0.0' },
        (x) => x.stage === 'rollout' && x.awaitingApproval,
      );
      expect(waiting.percent).to.equal(10);
      const listed = await ota('release', 'list', '--channel', 'stepgate', '--json');
      expect((listed.json as ReleaseListItem[]).map((r) => r.version)).to.include('1.0.0');
      // A new round: the same owner may approve the step.
      expect((await approve('1.0.0', 'stepgate', 'erin')).code).to.equal(0);
      const done = await waitForStatus(client, { channel: 'stepgate', version: '1.0.0' }, (x) => x.stage === 'stable');
      expect(done.approvals.map((a) => a.round)).to.deep.equal(['release', 'step-1']);
    });
  });
});
