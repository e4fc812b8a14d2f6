import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { DeviceAgent, InstallWindow } from '@enigm-ota/client-sdk';
import { WEEKDAYS } from '@enigm-ota/client-sdk/installWindows';
import { expect } from 'chai';

import type { TargetStats } from '../../../common/adminApi';
import type { ReleaseStatus } from '../../../common/release';
import { releaseStatus, waitForStatus } from '../../../control/releases';
import {
  adminApi,
  approve,
  artifactFile,
  device,
  ota,
  releaseAwaitingApproval,
  temporalClient,
  testConfig,
} from '../helpers';

const CHANNEL = 'windows';
const NIGHT_SHIFT = 'night-shift';

/** A one-hour window three days from now (UTC): closed whenever the test runs. */
function closedNow(): InstallWindow {
  const day = WEEKDAYS[(new Date().getUTCDay() + 6 + 3) % 7]!;
  return { days: [day], start: '00:00', minutes: 60, timeZone: 'UTC', groups: [NIGHT_SHIFT] };
}
const windowFlag = (w: InstallWindow) =>
  `${w.days.join(',')} ${w.start} ${w.minutes}m ${w.timeZone}${w.groups ? ` group=${w.groups.join(',')}` : ''}`;

async function statusWithDevices(version: string): Promise<ReleaseStatus & { devices: TargetStats }> {
  const cli = await ota('release', 'status', version, '--channel', CHANNEL, '--json');
  expect(cli.code, cli.stderr).to.equal(0);
  return cli.json as ReleaseStatus & { devices: TargetStats };
}

/**
 * Install windows on the real stack: signed into the rollout entry by the worker, enforced by
 * devices with their own clocks, reported as waiting, shown by `ota release status`, and left
 * out of the health gate.
 */
describe('install windows', function () {
  this.timeout(180_000);
  const nightShift: DeviceAgent[] = [];
  let dayShift: DeviceAgent;

  before(async () => {
    for (const n of [1, 2, 3]) nightShift.push(await device(`win-night-${n}`, CHANNEL, { groups: [NIGHT_SHIFT] }));
    dayShift = await device('win-day-1', CHANNEL, { groups: ['day-shift'] });
  });

  describe('a release whose window for a group is closed now', () => {
    const window = closedNow();

    it('is refused at creation, by the CLI and by the API, when a window is malformed or names an unknown zone', async () => {
      const file = await artifactFile('fw-windows-bad.bin', 1024);
      for (const bad of ['mon 02:00 2h Mars/Olympus', 'mon 25:00 2h UTC', 'someday 02:00 2h UTC', 'mon 02:00 8d UTC']) {
        const created = await ota(
          ...['release', 'create', '--artifact', file, '--version', '0.9.0', '--channel', CHANNEL],
          ...['--hardware', 'devkit-a', '--window', bad, '--json'],
        );
        expect(created.code, bad).to.equal(2);
        expect(created.json, bad).to.have.nested.property('error.code', 'INVALID_INPUT');
      }
      const api = await adminApi();
      try {
        const { uploadKey } = await api.upload<{ uploadKey: string }>('/v1/admin/uploads?fileName=fw.bin', file);
        const body = { version: '0.9.0', channel: 'winapi', hardwareIds: ['devkit-a'], rollbackIndex: 1, uploadKey };
        const good: InstallWindow = { days: ['sat'], start: '02:00', minutes: 120, timeZone: 'Europe/Berlin' };
        for (const windows of [
          [{ ...good, timeZone: 'Mars/Olympus' }],
          [{ ...good, start: '2:00' }],
          [{ ...good, minutes: 0 }],
          Array.from({ length: 17 }, () => good),
        ]) {
          const refused = await api.send('POST', '/v1/admin/releases', { ...body, windows }).catch((e: unknown) => e);
          expect(refused, JSON.stringify(windows).slice(0, 80)).to.have.property('code', 'INVALID_INPUT');
        }
        // The same request with a good window starts the release: the window was the refusal.
        const created = await api.send<{ releaseId: string }>('POST', '/v1/admin/releases', {
          ...body,
          windows: [good],
        });
        expect(created.releaseId).to.equal('release-winapi-0.9.0');
      } finally {
        await api.close();
      }
    });

    it('is signed with its window; the group waits, reports why, and the gate passes on the others', async () => {
      // Any failure trips this gate, and one healthy report passes it.
      await releaseAwaitingApproval(CHANNEL, '1.0.0', {
        steps: '100',
        bake: '0s',
        minDevices: 1,
        maxFailureRate: 0,
        flags: ['--window', windowFlag(window)],
      });
      await approve(CHANNEL, '1.0.0');
      const client = await temporalClient();
      const rollingOut = await waitForStatus(
        client,
        { channel: CHANNEL, version: '1.0.0' },
        (s) => s.published?.percent === 100,
      );
      expect(rollingOut.target?.windows).to.deep.equal([window]);

      for (const agent of nightShift) {
        expect(await agent.checkForUpdate()).to.include({
          status: 'waiting',
          reason: 'window',
          code: 'INSTALL_WINDOW_CLOSED',
        });
        expect(await agent.state()).to.include({ currentVersion: '0.0.0' });
      }
      const shown = await statusWithDevices('1.0.0');
      expect(shown.devices.waiting).to.deep.equal({ window: 3, notReady: 0, metered: 0 });
      expect(shown.devices).to.include({ failed: 0, refused: 0, reverted: 0 });
      const text = await ota('release', 'status', '1.0.0', '--channel', CHANNEL);
      expect(text.stdout).to.match(/later: +3 wait for an install window \(not failures/);
      expect(text.stdout).to.include(`window:    ${window.days[0]} 00:00 for 60 min (UTC), groups ${NIGHT_SHIFT}`);

      // A device outside the group has no window: it installs, and its healthy report passes
      // the gate, which would have tripped had it counted the three waiting devices as failures.
      expect(await dayShift.checkForUpdate()).to.include({ status: 'installed', version: '1.0.0' });
      const done = await waitForStatus(
        client,
        { channel: CHANNEL, version: '1.0.0' },
        (s) => s.stage === 'stable' || s.paused,
      );
      expect(done.stage).to.equal('stable');
      expect(done.gate).to.include({ result: 'passed', reports: 1, failures: 0 });
    });

    it('is refused by a device when an API offers it outside the window, before a byte is downloaded', async () => {
      const status = await releaseStatus(await temporalClient(), { channel: CHANNEL, version: '1.0.0' });
      const agent = nightShift[0]!;
      // What a compromised API could do: name the target to install now.
      const forced = await agent.installOffer({ targetName: status.target!.name, version: '1.0.0' });
      expect(forced).to.include({ status: 'waiting', code: 'INSTALL_WINDOW_CLOSED' });
      expect(await agent.state()).to.include({ currentVersion: '0.0.0' });
      const downloads = join(testConfig().home, 'test-devices', 'win-night-1', 'downloads');
      expect(await readdir(downloads).catch(() => [])).to.deep.equal([]);
    });
  });

  describe('a release whose window is open now', () => {
    it('is installed by the devices that waited', async () => {
      const always: InstallWindow = {
        days: [...WEEKDAYS],
        start: '00:00',
        minutes: 1440,
        timeZone: 'Europe/Berlin',
        groups: [NIGHT_SHIFT],
      };
      await releaseAwaitingApproval(CHANNEL, '1.1.0', {
        steps: '100',
        bake: '0s',
        rollbackIndex: 2,
        flags: ['--window', `mon-sun 00:00 1d Europe/Berlin group=${NIGHT_SHIFT}`],
      });
      await approve(CHANNEL, '1.1.0');
      const client = await temporalClient();
      const s = await waitForStatus(
        client,
        { channel: CHANNEL, version: '1.1.0' },
        (x) => x.published?.percent === 100,
      );
      expect(s.target?.windows).to.deep.equal([always]);
      for (const agent of nightShift)
        expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: '1.1.0' });
      const shown = await statusWithDevices('1.1.0');
      expect(shown.devices).to.include({ healthy: 3 });
      expect(shown.devices.waiting).to.deep.equal({ window: 0, notReady: 0, metered: 0 });
    });
  });
});
