import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { type AgentStep, type CommandSpec, DeviceAgent, RaucInstaller } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { CHANNEL, HARDWARE, type LoopbackOta, type Release, said, startLoopbackOta } from '../loopbackOta';
import { FakeRauc } from './fakeRauc';

const OLD: Release = { version: '1.0.0', rollbackIndex: 1, bytes: Buffer.from('factory image') };
const NEW: Release = { version: '2.0.0', rollbackIndex: 2, bytes: Buffer.from('a bundle of the new image') };
const PASS: CommandSpec = { argv: ['true'], timeoutMs: 5000 };
const FAIL: CommandSpec = { argv: ['false'], timeoutMs: 5000 };

describe('DeviceAgent with the RAUC installer', () => {
  let ota: LoopbackOta;
  let dir: string;
  let rauc: FakeRauc;
  let reboots: number;

  before(async () => {
    ota = await startLoopbackOta([OLD, NEW]);
  });
  after(() => ota.close());
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ota-rauc-'));
    rauc = await FakeRauc.create(dir);
    reboots = 0;
    ota.offering = NEW.version;
    ota.failReports = false;
    ota.reports.length = 0;
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** One agent start on the device (the factory image runs OLD, which RAUC has no record of). */
  const agent = (health: CommandSpec[] = [PASS], cut?: (step: AgentStep) => void) =>
    new DeviceAgent({
      apiUrl: ota.url,
      deviceId: 'rauc-device-1',
      hardwareId: HARDWARE,
      channel: CHANNEL,
      stateDir: join(dir, 'state'),
      trustedRoots: ota.roots,
      initialState: { currentVersion: OLD.version, rollbackIndex: OLD.rollbackIndex },
      installer: new RaucInstaller({
        stateDir: join(dir, 'state'),
        binary: rauc.binary,
        health: { commands: health, checkInTimeoutMs: 5000 },
        reboot: () => {
          reboots++;
          return Promise.resolve();
        },
      }),
      step: cut,
    });
  const stored = async () => JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8')) as unknown;
  const slot = async (b: 'A' | 'B') => {
    const env = await rauc.read();
    return { ok: env.vars[`${b}_OK`], tried: env.vars[`${b}_TRY`] };
  };

  /** An agent start that loses power right after `at`. */
  async function cutAt(at: AgentStep): Promise<void> {
    const cut = (step: AgentStep) => {
      if (step === at) throw new Error('power cut');
    };
    await agent([PASS], cut)
      .checkForUpdate()
      .then(
        () => expect.fail('the cut should stop the agent'),
        (err: Error) => expect(err.message).to.equal('power cut'),
      );
  }

  /** An agent start whose install loses power right after the agent recorded its intent. */
  const cutAfterIntent = () => cutAt('intent-written');

  /**
   * RAUC with activate-installed=false writes the slot; the power goes while confirm() has the
   * marker at `activating`, before the switch was recorded as done.
   */
  async function cutWhileSwitching(): Promise<void> {
    await rauc.change((env) => (env.activateInstalled = false));
    await cutAfterIntent();
    const markerFile = join(dir, 'state', 'rauc-trial.json');
    const marker = JSON.parse(await readFile(markerFile, 'utf8')) as Record<string, unknown>;
    await writeFile(markerFile, JSON.stringify({ ...marker, phase: 'activating' }));
  }

  /** The first agent installs the bundle and asks for the trial boot; the device reboots into B. */
  async function installAndReboot(health: CommandSpec[] = [PASS]): Promise<void> {
    expect(await agent(health).checkForUpdate()).to.deep.equal({
      status: 'rebooting',
      version: OLD.version,
      target: `${CHANNEL}/${NEW.version}/fw-${NEW.version}.bin`,
    });
    expect(reboots).to.equal(1);
    expect(ota.reports).to.deep.equal([]);
    expect(await rauc.boot()).to.equal('rootfs.1');
  }

  describe('when the new slot boots and its health checks pass', () => {
    it('marks it good, then stores, raises and reports the new version', async () => {
      await installAndReboot();
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: NEW.version });
      expect(await slot('B')).to.deep.equal({ ok: 1, tried: 0 });
      expect(ota.reports.map(said)).to.deep.equal(['installed 2.0.0 healthy']);
      expect(await stored()).to.deep.equal({ currentVersion: NEW.version, rollbackIndex: NEW.rollbackIndex });
    });

    it('marks the confirmed slot good again on a later boot without running the health checks', async () => {
      await installAndReboot();
      await agent().checkForUpdate();
      expect(await rauc.boot()).to.equal('rootfs.1');
      expect(await slot('B')).to.deep.equal({ ok: 1, tried: 1 });
      // A failing check would send the device back to 1.0.0 if it ran: a confirmed slot is not on trial.
      expect(await agent([FAIL]).checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: NEW.version });
      expect(await slot('B')).to.deep.equal({ ok: 1, tried: 0 });
      expect(reboots).to.equal(1);
    });
  });

  describe('when the install asks for the reboot', () => {
    it('ends run() without an abort, and a later cycle acts on nothing', async () => {
      const device = agent();
      const outcomes: unknown[] = [];
      await device.run(new AbortController().signal, (o) => outcomes.push(o.result ?? o.error));
      expect(outcomes).to.deep.equal([
        { status: 'rebooting', version: OLD.version, target: `${CHANNEL}/${NEW.version}/fw-${NEW.version}.bin` },
      ]);
      const polls = ota.polls.length;
      expect(await device.checkForUpdate()).to.deep.equal({ status: 'rebooting', version: OLD.version });
      expect(ota.polls.length).to.equal(polls);
      expect(ota.reports).to.deep.equal([]);
      expect(await stored()).to.deep.include({ currentVersion: OLD.version, rollbackIndex: OLD.rollbackIndex });
      expect(reboots).to.equal(1);
    });
  });

  describe('when the new slot fails a health check', () => {
    it('marks it bad and reboots; after the fallback the revert is reported and nothing rises', async () => {
      await installAndReboot([FAIL]);
      expect(await agent([FAIL]).checkForUpdate()).to.deep.equal({ status: 'rebooting', version: OLD.version });
      expect(reboots).to.equal(2);
      expect(await slot('B')).to.deep.equal({ ok: 0, tried: 0 });
      expect(ota.reports).to.deep.equal([]);
      expect(await rauc.boot()).to.equal('rootfs.0');
      ota.offering = undefined;
      expect(await agent([FAIL]).checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: OLD.version });
      expect(ota.reports.map(said)).to.deep.equal(['failed 1.0.0 HEALTH_CHECK_FAILED']);
      expect(ota.reports[0]).to.include({ health: 'reverted' });
      expect(await stored()).to.deep.equal({
        currentVersion: OLD.version,
        rollbackIndex: OLD.rollbackIndex,
        // One trial of it failed here: the next offer gets one more.
        reverted: ['loop/2.0.0/fw-2.0.0.bin'],
      });
      expect(await slot('A')).to.deep.equal({ ok: 1, tried: 0 });
    });
  });

  describe('when the agent cannot check in with the API after the reboot', () => {
    it('counts it as a failed health check and falls back', async () => {
      await installAndReboot();
      const down = ota.url;
      ota.url = 'http://127.0.0.1:9';
      try {
        const unreachable = new DeviceAgent({
          apiUrl: ota.url,
          deviceId: 'rauc-device-1',
          hardwareId: HARDWARE,
          channel: CHANNEL,
          stateDir: join(dir, 'state'),
          trustedRoots: ota.roots,
          retry: { maxAttempts: 1 },
          installer: new RaucInstaller({
            stateDir: join(dir, 'state'),
            binary: rauc.binary,
            health: { commands: [PASS], checkInTimeoutMs: 5000 },
            reboot: () => Promise.resolve(void reboots++),
          }),
        });
        expect(await unreachable.checkForUpdate()).to.include({ status: 'rebooting' });
      } finally {
        ota.url = down;
      }
      expect(await slot('B')).to.deep.equal({ ok: 0, tried: 0 });
      expect(await rauc.boot()).to.equal('rootfs.0');
    });
  });

  describe('when the power is cut during the first boot of the new slot', () => {
    it('boots the old slot through the try counter and reports the revert', async () => {
      await installAndReboot();
      // No agent ran: the trial was never marked good, so GRUB skips it.
      expect(await rauc.boot()).to.equal('rootfs.0');
      ota.offering = undefined;
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: OLD.version });
      expect(ota.reports.map(said)).to.deep.equal(['failed 1.0.0 HEALTH_CHECK_FAILED']);
      expect(await slot('B')).to.deep.include({ ok: 0 });
      expect(await stored()).to.deep.equal({
        currentVersion: OLD.version,
        rollbackIndex: OLD.rollbackIndex,
        // One trial of it failed here: the next offer gets one more.
        reverted: ['loop/2.0.0/fw-2.0.0.bin'],
      });
    });
  });

  describe('when the power is cut after the fallback, before the agent stored the failed trial', () => {
    it("keeps the installer's trial note until the failure is stored, so the next start counts one revert", async () => {
      await installAndReboot();
      expect(await rauc.boot()).to.equal('rootfs.0');
      ota.offering = undefined;
      const markerFile = join(dir, 'state', 'rauc-trial.json');
      // Recovery has run (the trial slot marked bad); the power goes before state.json is written.
      await cutAt('recovered');
      expect(existsSync(markerFile), 'the trial note outlives the cut').to.equal(true);
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: OLD.version });
      expect(ota.reports.map(said), 'a revert, not an interruption').to.deep.equal([
        'failed 1.0.0 HEALTH_CHECK_FAILED',
      ]);
      expect(await stored()).to.deep.equal({
        currentVersion: OLD.version,
        rollbackIndex: OLD.rollbackIndex,
        reverted: ['loop/2.0.0/fw-2.0.0.bin'],
      });
      expect(existsSync(markerFile), 'cleared once stored').to.equal(false);
    });
  });

  describe('when the power is cut after RAUC switched the boot order, before the trial was asked for', () => {
    it('falls back from the unasked boot and reports the install as interrupted', async () => {
      await cutAfterIntent();
      expect(await rauc.boot()).to.equal('rootfs.1');
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'rebooting', version: OLD.version });
      expect(await rauc.boot()).to.equal('rootfs.0');
      ota.offering = undefined;
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: OLD.version });
      expect(ota.reports.map(said)).to.deep.equal(['failed 1.0.0 INSTALL_INTERRUPTED']);
      expect(await stored()).to.deep.equal({ currentVersion: OLD.version, rollbackIndex: OLD.rollbackIndex });
    });
  });

  describe('when the power is cut after RAUC wrote the slot, before the bootloader switch (activate-installed=false)', () => {
    it('boots the old slot, reports the install as interrupted (no trial counted), and installs it again', async () => {
      await cutWhileSwitching();
      expect(await slot('B')).to.deep.equal({ ok: 0, tried: 0 });
      expect(await rauc.boot()).to.equal('rootfs.0');
      ota.offering = undefined;
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: OLD.version });
      expect(ota.reports.map(said)).to.deep.equal(['failed 1.0.0 INSTALL_INTERRUPTED']);
      expect(await stored()).to.deep.equal({ currentVersion: OLD.version, rollbackIndex: OLD.rollbackIndex });
      ota.offering = NEW.version;
      ota.reports.length = 0;
      await installAndReboot();
      ota.offering = undefined;
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: NEW.version });
      expect(ota.reports.map(said)).to.deep.equal(['installed 2.0.0 healthy']);
    });
  });

  describe('when the power is cut after the switch took effect, before the marker said so, and the slot is unhealthy', () => {
    it('runs the trial, falls back and reports it as a failed boot (a revert), not an interruption', async () => {
      await cutWhileSwitching();
      // RAUC's switch took effect before the power went; the marker did not say so yet.
      await promisify(execFile)(rauc.binary, ['status', 'mark-active', 'rootfs.1']);
      expect(await rauc.boot()).to.equal('rootfs.1');
      expect(await agent([FAIL]).checkForUpdate()).to.deep.equal({ status: 'rebooting', version: OLD.version });
      expect(await rauc.boot()).to.equal('rootfs.0');
      ota.offering = undefined;
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: OLD.version });
      expect(ota.reports.map(said)).to.deep.equal(['failed 1.0.0 HEALTH_CHECK_FAILED']);
    });
  });

  describe('when RAUC wrote the other slot without the agent (an install finished after a restart, by hand)', () => {
    it('falls back from that slot at its first boot and reports nothing', async () => {
      await rauc.change((env) => (env.calls = []));
      const bundle = join(dir, 'manual.raucb');
      await writeFile(bundle, 'a bundle');
      await promisify(execFile)(rauc.binary, ['install', bundle]);
      expect(await rauc.boot()).to.equal('rootfs.1');
      ota.offering = undefined;
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'rebooting', version: OLD.version });
      expect(await slot('B')).to.deep.equal({ ok: 0, tried: 0 });
      expect(await rauc.boot()).to.equal('rootfs.0');
      expect(await agent().checkForUpdate()).to.deep.equal({ status: 'up-to-date', version: OLD.version });
      expect(await slot('A')).to.deep.equal({ ok: 1, tried: 0 });
      expect(ota.reports).to.deep.equal([]);
    });
  });

  describe('when rauc install fails', () => {
    it('reports the installer error and leaves the booted slot as it was', async () => {
      await rauc.change((env) => (env.failInstall = true));
      expect(await agent().checkForUpdate()).to.include({ status: 'refused', code: 'INSTALLER_COMMAND_FAILED' });
      expect(ota.reports.map(said)).to.deep.equal(['failed 1.0.0 INSTALLER_COMMAND_FAILED']);
      expect(reboots).to.equal(0);
      expect(await rauc.boot()).to.equal('rootfs.0');
    });
  });

  describe('when RAUC answers a status that is not RAUC talking', () => {
    it('stops before anything is installed or reported', async () => {
      await rauc.change((env) => (env.statusText = JSON.stringify({ slots: [] })));
      const err = await agent()
        .checkForUpdate()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).to.have.property('code', 'RAUC_STATUS_INVALID');
      expect(ota.reports).to.deep.equal([]);
      expect((await rauc.read()).calls.filter((c) => c[0] === 'install')).to.deep.equal([]);
    });
  });
});
