import { expect } from 'chai';

import type { TargetStats } from '../../../common/adminApi';
import type { GateState, ReleaseStatus } from '../../../common/release';
import { waitForStatus } from '../../../control/releases';
import { simulateFleet } from '../../../simulator/fleet';
import { approve, ota, postJson, releaseAwaitingApproval, stepPublished, temporalClient, testConfig } from '../helpers';

/** 24 simulated devices of which 70% fail their health check after installing. */
const unhealthyFleet = (channel: string) =>
  simulateFleet(testConfig(), {
    devices: 24,
    hardwareId: 'devkit-a',
    channel,
    fromVersion: '0.0.1',
    idPrefix: `${channel}-`,
    failRate: 0.7,
    timeoutMs: 2000,
    intervalMs: 200,
  });

describe('health gates', () => {
  describe('when more devices revert than the step allows', () => {
    it('pause the rollout by themselves, and status says which gate tripped on what numbers', async () => {
      const channel = 'gatetrip';
      await releaseAwaitingApproval(channel, '1.1.0', { plan: 'gated' });
      await approve(channel, '1.1.0');
      const client = await temporalClient();
      await waitForStatus(client, { channel, version: '1.1.0' }, stepPublished(50));
      const tally = await unhealthyFleet(channel);
      expect(tally.refusals['HEALTH_CHECK_FAILED'] ?? 0).to.be.greaterThan(0);

      const s = await waitForStatus(client, { channel, version: '1.1.0' }, (x) => x.paused);
      expect(s.gate).to.include({ result: 'tripped', percent: 50, minDevices: 4, maxFailureRate: 0.25 });
      expect(s.gate!.failureRate).to.be.greaterThan(0.25);
      expect(s.history.map((h) => h.action)).to.include('gate-tripped');
      const cli = await ota('release', 'status', '1.1.0', '--channel', channel, '--json');
      // `ota release status --json`: the status with the target's numbers.
      const shown = cli.json as ReleaseStatus & { gate: GateState; devices: TargetStats };
      expect(shown.gate.result).to.equal('tripped');
      // Devices may still report in the moment between the gate's sample and the pause.
      expect(shown.devices.reverted + shown.devices.blocked).to.be.at.least(s.gate!.failures);
      const poll = await postJson('/v1/poll', {
        deviceId: `${channel}-0001`,
        hardwareId: 'devkit-a',
        channel,
        currentVersion: '0.0.1',
      });
      expect(poll.body).to.deep.equal({ offer: null });
    });
  });

  describe('on a channel whose policy rolls back on a breach', () => {
    it('withdraws the release by itself', async () => {
      const channel = 'autoback';
      // No plan given: the channel's own plan ('gated') applies.
      const created = await releaseAwaitingApproval(channel, '1.0.0', { plan: '' });
      expect(created.plan).to.equal('gated');
      await approve(channel, '1.0.0');
      const client = await temporalClient();
      await waitForStatus(client, { channel, version: '1.0.0' }, stepPublished(50));
      await unhealthyFleet(channel);
      const s = await waitForStatus(client, { channel, version: '1.0.0' }, (x) => x.stage === 'rolled-back');
      expect(s.withdrawn).to.equal(true);
      expect(s.gate?.result).to.equal('tripped');
    });
  });
});
