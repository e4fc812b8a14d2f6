import { expect } from 'chai';

import type { FleetSummary } from '../../../common/adminApi';
import type { ReleaseStatus } from '../../../common/release';
import { releaseStatus, waitForStatus } from '../../../control/releases';
import { simulateFleet } from '../../../simulator/fleet';
import {
  apiGet,
  artifactFile,
  deviceFetch,
  type ErrorAnswer,
  ota,
  otaAs,
  temporalClient,
  testConfig,
} from '../helpers';

describe('the release path', () => {
  describe('when a build is released through the CLI and approved', () => {
    it('reaches every simulated device, which reports the new version', async () => {
      const channel = 'e2e';
      const version = '2.0.0';
      const file = await artifactFile('e2e-firmware.bin', 2 * 1024 * 1024);
      // Validation wants each hardware id known: a device of each is in the fleet (whatever ran before).
      await deviceFetch('kit-a-for-e2e', channel, 'devkit-a');
      await deviceFetch('kit-b-for-e2e', channel, 'devkit-b');
      const created = await ota(
        'release',
        'create',
        '--artifact',
        file,
        '--version',
        version,
        '--hardware',
        'devkit-a,devkit-b',
        '--channel',
        channel,
        '--steps',
        '10,50,100',
        '--bake',
        '1s',
        '--min-devices',
        '0',
        '--max-failure-rate',
        '1',
        '--json',
      );
      expect(created.code, created.stderr).to.equal(0);
      expect((created.json as { releaseId: string }).releaseId).to.equal('release-e2e-2.0.0');

      const client = await temporalClient();
      const config = testConfig();
      const fleet = {
        devices: 12,
        hardwareId: 'devkit-a',
        channel,
        fromVersion: '1.0.0',
        timeoutMs: 3000,
        intervalMs: 200,
      };

      // The version alone names the release while only one channel has it.
      const status = await ota('release', 'status', version, '--json');
      expect(status.code).to.equal(0);
      expect((status.json as ReleaseStatus).version).to.equal(version);

      await waitForStatus(client, { channel, version }, (s) => s.stage === 'approval');
      // Before approval: signed, registered and validated, yet no device installs anything.
      const before = await simulateFleet(config, { ...fleet, idPrefix: 'e2e-', timeoutMs: 0 });
      expect((await releaseStatus(client, { channel, version })).stage).to.equal('approval');
      expect(before.versions).to.deep.equal({ '1.0.0': 12 });
      expect(before.installs).to.equal(0);

      const approved = await otaAs(
        'alice',
        'release',
        'approve',
        version,
        '--channel',
        channel,
        '--comment',
        'ship it',
        '--json',
      );
      expect(approved.code, approved.stderr).to.equal(0);
      expect((approved.json as ReleaseStatus).approvals[0]).to.include({ approver: 'alice', comment: 'ship it' });

      const after = await simulateFleet(config, {
        ...fleet,
        idPrefix: 'e2e-',
        untilVersion: version,
        stopWhen: async () => (await releaseStatus(client, { channel, version })).stage === 'stable',
        timeoutMs: 60_000,
      });
      expect(after.done, JSON.stringify({ after, status: await releaseStatus(client, { channel, version }) })).to.equal(
        true,
      );
      expect(after.versions).to.deep.equal({ [version]: 12 });
      expect(after.refusals).to.deep.equal({});

      const summary = await apiGet<FleetSummary>('/v1/fleet/summary?prefix=e2e-');
      expect(summary.devices).to.equal(12);
      expect(summary.versions).to.deep.equal({ [version]: 12 });
      expect(summary.outcomes).to.deep.equal({ installed: 12 });
      const final = await releaseStatus(client, { channel, version });
      expect(final.stage).to.equal('stable');
      expect(final.percent).to.equal(100);
    });
  });

  describe('when the same release is created twice', () => {
    it('refuses the second with RELEASE_EXISTS and leaves the first untouched', async () => {
      const client = await temporalClient();
      const file = await artifactFile('twice.bin');
      const args = [
        'release',
        'create',
        '--artifact',
        file,
        '--version',
        '3.1.0',
        '--hardware',
        'devkit-a',
        '--channel',
        'twice',
        '--json',
      ];
      expect((await ota(...args)).code).to.equal(0);
      const runId = (await client.workflow.getHandle('release-twice-3.1.0').describe()).runId;
      const second = await ota(...args);
      expect(second.code).to.equal(1);
      expect((second.json as ErrorAnswer).error.code).to.equal('RELEASE_EXISTS');
      expect((await client.workflow.getHandle('release-twice-3.1.0').describe()).runId).to.equal(runId);
    });
  });
});
