import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type AbStep, type AgentStep, InstallError, readDeviceState } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { rejectionOf } from '../../rejection';
import {
  bootedSlot,
  deviceRunningOld,
  loopbackDevice,
  type LoopDelta,
  makeDelta,
  type Release,
  said,
  sha256Of,
  targetName,
} from './loopbackOta';

const OLD: Release = { version: '1.0.0', rollbackIndex: 1, bytes: Buffer.from('old image '.repeat(3000)) };
const NEW: Release = { version: '2.0.0', rollbackIndex: 2, bytes: Buffer.from('new image '.repeat(5000)) };
const CHILD = join(__dirname, 'powerCutDevice.js');

type Cut = AgentStep | AbStep;
interface Expected {
  /** The confirmed version after the cut (the slot the device boots). */
  runs: string;
  /** Reports from the cut cycle and the reboot, as `outcome version code-or-health`. */
  reports: string[];
  /** Artifact requests after the reboot (a verified download or image left on disk is reused). */
  downloads: number;
}

const installed = 'installed 2.0.0 healthy';
/** Every durable step of one install of 2.0.0, in the order they happen, and what a cut there must leave. */
const CUTS: Array<[Cut, Expected]> = [
  ['artifact-verified', { runs: '1.0.0', reports: [installed], downloads: 0 }],
  ['image-written', { runs: '1.0.0', reports: [installed], downloads: 0 }],
  ['version-written', { runs: '1.0.0', reports: [installed], downloads: 0 }],
  ['intent-written', { runs: '1.0.0', reports: ['failed 1.0.0 INSTALL_INTERRUPTED', installed], downloads: 1 }],
  // A trial that never confirmed is what an image crashing on boot looks like: a revert.
  ['trial-set', { runs: '1.0.0', reports: ['failed 1.0.0 HEALTH_CHECK_FAILED', installed], downloads: 1 }],
  ['active-switched', { runs: '2.0.0', reports: [installed], downloads: 0 }],
  ['trial-cleared', { runs: '2.0.0', reports: [installed], downloads: 0 }],
  ['state-written', { runs: '2.0.0', reports: [installed], downloads: 0 }],
  ['pending-cleared', { runs: '2.0.0', reports: [installed], downloads: 0 }],
];

/**
 * Every cut on both ways an image comes: downloaded whole, and rebuilt from a delta (one more
 * durable step: the rebuilt image verified in the downloads folder, then used as a download).
 */
const PATHS: Array<[string, () => Promise<LoopDelta[]>, Array<[Cut, Expected]>]> = [
  ['the full image', () => Promise.resolve([]), CUTS],
  [
    'a delta update',
    async () => [await makeDelta(OLD, NEW)],
    [['delta-applied', { runs: '1.0.0', reports: [installed], downloads: 0 }], ...CUTS],
  ],
];

for (const [path, deltas, cuts] of PATHS) {
  describe(`DeviceAgent after a power cut, installing ${path}`, () => {
    const ctx = deviceRunningOld(OLD, NEW, 'ota-cut-', deltas);
    const bootSlot = () => bootedSlot(ctx.stateDir, [OLD, NEW]);

    for (const [cut, expected] of cuts) {
      describe(`at "${cut}"`, () => {
        it('boots a complete slot, raises the rollback index only with the confirmed version, and converges on 2.0.0', async () => {
          const killed = await new Promise<NodeJS.Signals | null>((resolve) => {
            const args = JSON.stringify({ url: ctx.ota.url, roots: ctx.ota.roots, stateDir: ctx.stateDir, cut });
            execFile(process.execPath, [CHILD, args], (err) =>
              resolve((err as { signal?: NodeJS.Signals } | null)?.signal ?? null),
            );
          });
          expect(killed, 'the device process died at the step').to.equal('SIGKILL');

          const boots = await bootSlot();
          expect(boots).to.deep.equal({ version: expected.runs, complete: true });
          const onDisk = await readDeviceState(ctx.stateDir, { currentVersion: '0.0.0', rollbackIndex: 0 }); // valid, or this throws
          expect(onDisk.rollbackIndex).to.be.oneOf([OLD.rollbackIndex, NEW.rollbackIndex]);
          if (onDisk.rollbackIndex === NEW.rollbackIndex) expect(boots.version).to.equal(NEW.version);

          const downloadsBefore = ctx.ota.downloads.length;
          const pollsBefore = ctx.ota.polls.length;
          const rebooted = loopbackDevice(ctx.ota, ctx.stateDir);
          const result = await rebooted.checkForUpdate();
          expect(
            ctx.ota.polls[pollsBefore]?.currentVersion,
            'the first poll after the reboot names what runs',
          ).to.equal(expected.runs);
          expect(result).to.include({
            status: expected.runs === NEW.version ? 'up-to-date' : 'installed',
            version: NEW.version,
          });
          expect(await rebooted.state()).to.deep.equal({
            currentVersion: NEW.version,
            rollbackIndex: NEW.rollbackIndex,
          });
          expect(await bootSlot()).to.deep.equal({ version: NEW.version, complete: true });
          expect(ctx.ota.reports.map(said)).to.deep.equal(expected.reports);
          expect(ctx.ota.downloads.length - downloadsBefore).to.equal(expected.downloads);
          expect(JSON.parse(await readFile(join(ctx.stateDir, 'state.json'), 'utf8'))).to.not.have.property('pending');
          // On the delta path, the cut cycle and the retry both used the delta: the full image was never fetched.
          if (path === 'a delta update') expect(ctx.ota.fetched).to.have.length.above(0).and.not.include(sha256Of(NEW));
        });
      });
    }
  });
}

describe('DeviceAgent after a power cut', () => {
  const ctx = deviceRunningOld(OLD, NEW, 'ota-cut-');
  const bootSlot = () => bootedSlot(ctx.stateDir, [OLD, NEW]);

  /** One device process that dies (SIGKILL) right after `cut`. */
  const cutAt = (cut: string) =>
    new Promise<NodeJS.Signals | null>((resolve) => {
      const args = JSON.stringify({ url: ctx.ota.url, roots: ctx.ota.roots, stateDir: ctx.stateDir, cut });
      execFile(process.execPath, [CHILD, args], (err) =>
        resolve((err as { signal?: NodeJS.Signals } | null)?.signal ?? null),
      );
    });

  describe('when the power goes again after start-up recovery dropped a trial, before state.json recorded it', () => {
    it('counts that trial as a failed boot (a revert) once, not as an interrupted install', async () => {
      // The first cut: during the trial boot (its marker set, the slot never switched).
      expect(await cutAt('trial-set')).to.equal('SIGKILL');
      ctx.ota.offering = undefined;
      // The next start drops the trial; the power goes before its outcome is stored.
      expect(await cutAt('recovered')).to.equal('SIGKILL');
      const device = loopbackDevice(ctx.ota, ctx.stateDir);
      expect(await device.checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: OLD.version });
      expect(ctx.ota.reports.map(said)).to.deep.equal(['failed 1.0.0 HEALTH_CHECK_FAILED']);
      expect(JSON.parse(await readFile(join(ctx.stateDir, 'state.json'), 'utf8'))).to.deep.equal({
        currentVersion: OLD.version,
        rollbackIndex: OLD.rollbackIndex,
        reverted: [targetName(NEW.version)],
      });
      expect(await bootSlot()).to.deep.equal({ version: OLD.version, complete: true });
    });
  });

  describe('when state.json is torn or garbage (D-10)', () => {
    const garbage = [
      '',
      '{"currentVersion":"1.0',
      '{"currentVersion":"1.0.0"}',
      '{"currentVersion":"1.0.0","rollbackIndex":-1}',
      'null',
      '{"currentVersion":"1.0.0","rollbackIndex":1,"pending":{"version":"2.0.0"}}',
      // Valid JSON beyond the size a state file can have: damaged or planted, never parsed.
      `${' '.repeat(70_000)}{"currentVersion":"1.0.0","rollbackIndex":1}`,
    ];
    for (const text of garbage) {
      it(`stops every install with DEVICE_STATE_INVALID (${JSON.stringify(text).slice(0, 40)})`, async () => {
        await writeFile(join(ctx.stateDir, 'state.json'), text);
        const agent = loopbackDevice(ctx.ota, ctx.stateDir);
        expect(await rejectionOf(agent.checkForUpdate()))
          .to.be.instanceOf(InstallError)
          .and.have.property('code', 'DEVICE_STATE_INVALID');
        const forced = agent.installOffer({ targetName: targetName(NEW.version), version: NEW.version });
        expect(await rejectionOf(forced))
          .to.be.instanceOf(InstallError)
          .and.have.property('code', 'DEVICE_STATE_INVALID');
        expect(ctx.ota.downloads, 'nothing was downloaded').to.deep.equal([]);
        expect(await bootSlot()).to.deep.equal({ version: OLD.version, complete: true });
        expect(await readFile(join(ctx.stateDir, 'state.json'), 'utf8'), 'never repaired with defaults').to.equal(text);
      });
    }
  });

  describe('with a partial download left by a cut', () => {
    const partial = () => join(ctx.stateDir, 'downloads', `${sha256Of(NEW)}.partial`);
    const half = Math.floor(NEW.bytes.length / 2);

    it('resumes it from where it stopped and drops partials of artifacts no longer offered', async () => {
      await mkdir(join(ctx.stateDir, 'downloads'), { recursive: true });
      await writeFile(partial(), NEW.bytes.subarray(0, half));
      await writeFile(join(ctx.stateDir, 'downloads', `${'0'.repeat(64)}.partial`), 'an older offer');
      expect(await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate()).to.include({
        status: 'installed',
        version: NEW.version,
      });
      expect(ctx.ota.downloads).to.deep.equal([`bytes=${half}-`]);
      expect(await readdir(join(ctx.stateDir, 'downloads'))).to.deep.equal([]);
      expect(await bootSlot()).to.deep.equal({ version: NEW.version, complete: true });
    });

    it('discards a kept part that ends in garbage (an unsynced tail) and downloads it whole, reporting no tampering', async () => {
      await mkdir(join(ctx.stateDir, 'downloads'), { recursive: true });
      await writeFile(partial(), Buffer.concat([NEW.bytes.subarray(0, half), Buffer.alloc(4096)]));
      expect(await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate()).to.include({
        status: 'installed',
        version: NEW.version,
      });
      expect(ctx.ota.downloads).to.deep.equal([`bytes=${half + 4096}-`, 'whole']);
      expect(ctx.ota.reports.map(said)).to.deep.equal([installed]);
      expect(await bootSlot()).to.deep.equal({ version: NEW.version, complete: true });
    });
  });
});
