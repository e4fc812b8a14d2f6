import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type CycleOutcome, type DeviceConfig, type InstallWindow } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { deviceRunningOld, loopbackDevice, makeDelta, type Release, said, targetName } from './loopbackOta';

const OLD: Release = { version: '1.0.0', rollbackIndex: 1, bytes: Buffer.from('old image '.repeat(400)) };
const NEXT = { version: '2.0.0', rollbackIndex: 2, bytes: Buffer.from('new image '.repeat(400)) };
// Saturday night in Berlin: 01:00 to 03:00 CET.
const SATURDAY_NIGHT: InstallWindow = { days: ['sat'], start: '01:00', minutes: 120, timeZone: 'Europe/Berlin' };
const MONDAY_NOON = new Date('2027-03-01T12:00:00Z');
const SATURDAY_0130_CET = new Date('2027-03-06T00:30:00Z');

/** A device clock a test moves. */
function clock(start: Date): { now: () => Date; set(d: Date): void; advance(ms: number): void } {
  let t = start.getTime();
  return { now: () => new Date(t), set: (d) => (t = d.getTime()), advance: (ms) => (t += ms) };
}

describe('DeviceAgent: not now (install windows, readiness, metered networks)', () => {
  describe('a release whose signed install window is closed by the device clock', () => {
    const ctx = deviceRunningOld(OLD, { ...NEXT, windows: [SATURDAY_NIGHT] }, 'ota-window-');

    it('waits without downloading, reports waiting once, and installs once the window opens', async () => {
      const c = clock(MONDAY_NOON);
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { now: c.now } });
      expect(await agent.checkForUpdate()).to.include({
        status: 'waiting',
        reason: 'window',
        code: 'INSTALL_WINDOW_CLOSED',
        version: OLD.version,
      });
      expect(await agent.checkForUpdate()).to.include({ status: 'waiting', reason: 'window' });
      expect(ctx.ota.downloads, 'no artifact byte fetched').to.deep.equal([]);
      expect(ctx.ota.reports.map(said)).to.deep.equal(['waiting 1.0.0 INSTALL_WINDOW_CLOSED']);
      expect(ctx.ota.reports[0]).to.include({ waitReason: 'window', targetName: targetName(NEXT.version) });
      c.set(SATURDAY_0130_CET);
      expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: NEXT.version });
    });

    it('refuses an offer forced on it outside the window as it refuses the API one', async () => {
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { now: () => MONDAY_NOON } });
      const forced = await agent.installOffer({ targetName: targetName(NEXT.version), version: NEXT.version });
      expect(forced).to.include({ status: 'waiting', code: 'INSTALL_WINDOW_CLOSED' });
      expect(ctx.ota.downloads).to.deep.equal([]);
      expect(await agent.state()).to.deep.equal({ currentVersion: OLD.version, rollbackIndex: OLD.rollbackIndex });
    });

    it('is bound by a window without groups whatever groups it is in', async () => {
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { now: () => MONDAY_NOON, groups: ['lab'] } });
      expect(await agent.checkForUpdate()).to.include({ status: 'waiting', reason: 'window' });
    });
  });

  describe('a readiness hook', () => {
    const ctx = deviceRunningOld(OLD, NEXT, 'ota-ready-');

    /** A hook that counts its runs in a file and exits with the code in another. */
    async function hook(stateDir: string): Promise<{ config: DeviceConfig['readiness']; runs(): Promise<number> }> {
      const runs = join(stateDir, '..', 'hook-runs');
      const code = join(stateDir, '..', 'hook-exit');
      await writeFile(code, '1');
      const script = `const fs = require("fs"); fs.appendFileSync(${JSON.stringify(runs)}, "x"); process.exit(Number(fs.readFileSync(${JSON.stringify(code)}, "utf8")))`;
      return {
        config: { command: [process.execPath, '-e', script], timeoutMs: 10_000 },
        runs: async () => (await readFile(runs, 'utf8').catch(() => '')).length,
      };
    }

    it('that says not now makes the device wait and ask again only after its backoff, then install', async () => {
      const h = await hook(ctx.stateDir);
      const c = clock(MONDAY_NOON);
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { now: c.now, readiness: h.config } });
      expect(await agent.checkForUpdate()).to.include({
        status: 'waiting',
        reason: 'not-ready',
        code: 'DEVICE_NOT_READY',
      });
      expect(await agent.checkForUpdate()).to.include({ status: 'waiting', reason: 'not-ready' });
      expect(await h.runs(), 'not asked again within the backoff').to.equal(1);
      expect(ctx.ota.downloads).to.deep.equal([]);
      expect(ctx.ota.reports.map(said)).to.deep.equal(['waiting 1.0.0 DEVICE_NOT_READY']);
      expect(ctx.ota.reports[0]?.message).to.match(/exit code 1/);
      await writeFile(join(ctx.stateDir, '..', 'hook-exit'), '0');
      c.advance(30_000);
      expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: NEXT.version });
      expect(await h.runs()).to.equal(2);
    });

    it('spaces the next cycle of run() by its backoff, sooner than the poll interval', async () => {
      const h = await hook(ctx.stateDir);
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { readiness: h.config } });
      const stop = new AbortController();
      const outcomes: CycleOutcome[] = [];
      await agent.run(stop.signal, (o) => {
        outcomes.push(o);
        // Once the agent sleeps: an abort before that would not end its sleep.
        setImmediate(() => stop.abort());
      });
      expect(outcomes[0]?.result).to.include({ status: 'waiting', reason: 'not-ready' });
      expect(outcomes[0]?.nextInMs).to.be.within(29_000, 30_000);
    });
  });

  describe('on a metered network', () => {
    const ctx = deviceRunningOld(OLD, NEXT, 'ota-metered-');

    it('with deltas only and no delta signed for the running image, waits without downloading', async () => {
      const network = { metered: true, deltasOnly: true };
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { network } });
      expect(await agent.checkForUpdate()).to.include({
        status: 'waiting',
        reason: 'metered',
        code: 'NETWORK_METERED',
      });
      expect(ctx.ota.downloads).to.deep.equal([]);
    });

    it('waits for the next day when the image does not fit what is left of the day, and counts what it fetched', async () => {
      const c = clock(MONDAY_NOON);
      const budget = NEXT.bytes.length + 100;
      const network = { metered: () => Promise.resolve(true), dailyByteBudget: budget };
      await writeFile(join(ctx.stateDir, 'network-budget.json'), JSON.stringify({ day: '2027-03-01', bytes: 101 }));
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { now: c.now, network } });
      expect(await agent.checkForUpdate()).to.include({ status: 'waiting', code: 'BYTE_BUDGET_SPENT' });
      expect(ctx.ota.downloads).to.deep.equal([]);
      c.advance(12 * 3_600_000);
      expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: NEXT.version });
      expect(JSON.parse(await readFile(join(ctx.stateDir, 'network-budget.json'), 'utf8'))).to.deep.equal({
        day: '2027-03-02',
        bytes: NEXT.bytes.length,
      });
    });

    it('on an unmetered network, neither rule applies and nothing is counted', async () => {
      const network = { metered: false, deltasOnly: true, dailyByteBudget: 0 };
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { network } });
      expect(await agent.checkForUpdate()).to.include({ status: 'installed', version: NEXT.version });
      expect(await readFile(join(ctx.stateDir, 'network-budget.json')).catch(() => 'none')).to.equal('none');
    });
  });

  describe('on a metered network whose budget fits the signed delta but not the full image', () => {
    const ctx = deviceRunningOld(OLD, NEXT, 'ota-metered-fallback-', async () => {
      const delta = await makeDelta(OLD, NEXT);
      // Storage serves other bytes: the delta fails its hash and the full image would follow.
      return [{ ...delta, served: Buffer.alloc(delta.bytes.length, 7) }];
    });

    it('waits rather than fall back to the full image', async () => {
      const network = { metered: true, dailyByteBudget: NEXT.bytes.length - 1 };
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { network } });
      expect(await agent.checkForUpdate()).to.include({
        status: 'waiting',
        reason: 'metered',
        code: 'NETWORK_METERED',
      });
      expect(ctx.ota.fetched, 'the delta only').to.have.length(1);
      expect(await agent.state()).to.include({ currentVersion: OLD.version });
    });
  });

  describe('on a metered network with deltas only, when a signed delta applies', () => {
    const ctx = deviceRunningOld(OLD, NEXT, 'ota-metered-delta-', async () => [await makeDelta(OLD, NEXT)]);

    it('installs from the delta', async () => {
      const agent = loopbackDevice(ctx.ota, ctx.stateDir, { device: { network: { metered: true, deltasOnly: true } } });
      const result = await agent.checkForUpdate();
      expect(result).to.include({ status: 'installed', version: NEXT.version });
      if (result.status === 'installed') expect(result.delivery?.as).to.equal('delta');
    });
  });
});
