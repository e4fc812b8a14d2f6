import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';

import { bootedSlot, deviceRunningOld, loopbackDevice, type Release, said } from './loopbackOta';

const OLD: Release = { version: '1.0.0', rollbackIndex: 1, bytes: Buffer.from('old image') };
const NEW: Release = { version: '2.0.0', rollbackIndex: 2, bytes: Buffer.from('new image') };
describe('DeviceAgent with the A/B installer', () => {
  const ctx = deviceRunningOld(OLD, NEW, 'ota-agent-');
  const storedState = async () => JSON.parse(await readFile(join(ctx.stateDir, 'state.json'), 'utf8')) as unknown;

  describe('when the new version fails its boot', () => {
    it('reverts, reports the revert with the version that runs, and raises nothing', async () => {
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { boot: () => Promise.resolve(false) });
      expect(await agent.checkForUpdate()).to.include({
        status: 'refused',
        code: 'HEALTH_CHECK_FAILED',
        version: OLD.version,
      });
      expect(await storedState()).to.deep.equal({
        currentVersion: OLD.version,
        rollbackIndex: OLD.rollbackIndex,
        // One trial of it failed here: the next offer gets one more.
        reverted: ['loop/2.0.0/fw-2.0.0.bin'],
      });
      expect(ctx.ota.reports.map(said)).to.deep.equal(['failed 1.0.0 HEALTH_CHECK_FAILED']);
      expect(ctx.ota.reports[0]).to.include({ health: 'reverted' });
      expect(await bootedSlot(ctx.stateDir, [OLD, NEW])).to.deep.equal({ version: OLD.version, complete: true });
    });
  });

  describe('when the same target is reverted again and again', () => {
    it('tries it twice, then refuses it with TARGET_REVERTED without downloading it, and takes a new target', async () => {
      const failing = () => loopbackDevice(ctx.ota, ctx.stateDir, { boot: () => Promise.resolve(false) });
      for (let trial = 0; trial < 2; trial++) {
        expect(await failing().checkForUpdate()).to.include({ status: 'refused', code: 'HEALTH_CHECK_FAILED' });
      }
      const downloads = ctx.ota.downloads.length;
      expect(await failing().checkForUpdate()).to.include({ status: 'refused', code: 'TARGET_REVERTED' });
      expect(ctx.ota.downloads.length).to.equal(downloads, 'nothing downloaded for a target given up on');
      expect(ctx.ota.reports.map(said)).to.deep.equal([
        'failed 1.0.0 HEALTH_CHECK_FAILED',
        'failed 1.0.0 HEALTH_CHECK_FAILED',
        'refused 1.0.0 TARGET_REVERTED',
      ]);
      expect(await bootedSlot(ctx.stateDir, [OLD, NEW])).to.deep.equal({ version: OLD.version, complete: true });
      expect(await storedState()).to.deep.include({ currentVersion: OLD.version, rollbackIndex: OLD.rollbackIndex });
    });

    it('counts a revert once, and reports it as a revert, however many cycles its report takes', async () => {
      ctx.ota.failReports = true;
      const failing = loopbackDevice(ctx.ota, ctx.stateDir, { boot: () => Promise.resolve(false) });
      expect(await failing.checkForUpdate()).to.include({ status: 'refused', code: 'HEALTH_CHECK_FAILED' });
      ctx.ota.offering = undefined;
      const restarted = loopbackDevice(ctx.ota, ctx.stateDir);
      for (let i = 0; i < 3; i++) await restarted.checkForUpdate();
      ctx.ota.failReports = false;
      await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate();
      expect(ctx.ota.reports.map(said)).to.deep.equal(['failed 1.0.0 HEALTH_CHECK_FAILED']);
      expect(await storedState()).to.deep.equal({
        currentVersion: OLD.version,
        rollbackIndex: OLD.rollbackIndex,
        reverted: ['loop/2.0.0/fw-2.0.0.bin'],
      });
    });

    it('gives another trial after a single revert, as after a power cut during the trial boot', async () => {
      const failing = loopbackDevice(ctx.ota, ctx.stateDir, { boot: () => Promise.resolve(false) });
      expect(await failing.checkForUpdate()).to.include({ status: 'refused', code: 'HEALTH_CHECK_FAILED' });
      expect(await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate()).to.include({
        status: 'installed',
        version: NEW.version,
      });
    });
  });

  describe('when the boot answers only after the health window closed', () => {
    it('stays reverted: the late answer switches nothing', async () => {
      const late = () => new Promise<boolean>((r) => setTimeout(() => r(true), 300));
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { boot: late, healthWindowMs: 50 });
      expect(await agent.checkForUpdate()).to.include({ status: 'refused', code: 'HEALTH_CHECK_FAILED' });
      await new Promise((r) => setTimeout(r, 400));
      expect(await bootedSlot(ctx.stateDir, [OLD, NEW])).to.deep.equal({ version: OLD.version, complete: true });
      expect(await agent.state()).to.deep.equal({ currentVersion: OLD.version, rollbackIndex: OLD.rollbackIndex });
    });
  });

  describe('when the report of an install does not arrive', () => {
    it('stores the confirmed version and index at once and reports them again on the next cycle', async () => {
      ctx.ota.failReports = true;
      const agent = loopbackDevice(ctx.ota, ctx.stateDir);
      expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: NEW.version });
      expect(await storedState()).to.deep.include({ currentVersion: NEW.version, rollbackIndex: NEW.rollbackIndex });
      ctx.ota.failReports = false;
      expect(await agent.checkForUpdate()).to.include({ status: 'up-to-date', version: NEW.version });
      expect(ctx.ota.reports.map(said)).to.deep.equal(['installed 2.0.0 healthy']);
      expect(await storedState()).to.deep.equal({ currentVersion: NEW.version, rollbackIndex: NEW.rollbackIndex });
    });
  });

  describe('after a local revert to the previous slot', () => {
    it('reports the version that runs and keeps the rollback index it reached', async () => {
      expect(await loopbackDevice(ctx.ota, ctx.stateDir).checkForUpdate()).to.include({
        status: 'installed',
        version: NEW.version,
      });
      const active = join(ctx.stateDir, 'system', 'active');
      await writeFile(active, (await readFile(active, 'utf8')).trim() === 'a' ? 'b' : 'a');
      ctx.ota.offering = undefined;
      const polls = ctx.ota.polls.length;
      const rebooted = loopbackDevice(ctx.ota, ctx.stateDir);
      expect(await rebooted.checkForUpdate()).to.include({ status: 'up-to-date', version: OLD.version });
      expect(ctx.ota.polls[polls]?.currentVersion).to.equal(OLD.version);
      expect(await rebooted.state()).to.deep.equal({ currentVersion: OLD.version, rollbackIndex: NEW.rollbackIndex });
    });
  });
});
