import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { TRIALS_PER_TARGET } from '@enigm-ota/client-sdk';
import type { Targets } from '@tufjs/models';

import type { DeviceDetail, DeviceReport } from '../../common/adminApi';
import { releaseStatus, waitForStatus } from '../../control/releases';
import { type QemuVm } from '../../device/vm/qemuVm';
import { createActivityDeps } from '../../worker/deps';
import { adminApi, approve, releaseAwaitingApproval, temporalClient, testConfig } from '../integration/helpers';
import { type Proxy, startCompromisedApi } from '../integration/security/proxy';
import { mochaHooks } from '../integration/setup';
import {
  agentEvent,
  agentImage,
  agentVm,
  provisionAndStart,
  reconfigure,
  updateBundle,
  type VmDevice,
} from './agentVm';
import { BOOT_TIMEOUT_MS, GRUB_CHOICE, grubenv, guest, nextBoot, reboot } from './referenceVm';

const CHANNEL = 'vm-recovery';
const HARDWARE = 'enigm-ota-vm';
/** The agent's single executable starts in tens of seconds under TCG on a loaded machine. */
const AGENT_TIMEOUT_MS = 300_000;
/** A file only an image that must fail its health check carries. */
const UNHEALTHY = '/etc/enigm-ota/unhealthy';
/** A file only an image whose health check takes its time carries. */
const SLOW_HEALTH = '/etc/enigm-ota/slow-health';
/** While this file exists the agent's request to switch the bootloader waits (RAUC_WRAPPER). */
const HOLD_SWITCH = '/run/enigm-ota-test-hold-switch';
/**
 * The agent's `rauc`, a test fixture: RAUC itself, except that `status mark-active` waits while
 * HOLD_SWITCH exists. It opens a window between the slot written and the bootloader switched
 * that a power cut can be aimed at (/run is empty after every boot).
 */
const RAUC_WRAPPER = {
  path: '/usr/local/sbin/enigm-ota-test-rauc',
  content: [
    '#!/bin/sh',
    'for arg; do [ "$arg" = mark-active ] && while [ -e ' + HOLD_SWITCH + ' ]; do sleep 0.2; done; done',
    'exec /usr/bin/rauc "$@"',
    '',
  ].join('\n'),
  mode: 0o755,
};

/**
 * What happens on a real A/B device when an update goes wrong: the agent's single executable as
 * a service in the reference VM, RAUC writing the other slot, GRUB's try counter, against the
 * real stack through the VM's loopback forwards. One VM and one channel for the file (boots cost
 * a minute each): the tests run in order, each starts from the device the one before left.
 */
describe('the agent in the reference VM, when an update goes wrong', function () {
  let vm: QemuVm | undefined;
  /** A compromised API between the VM and the real one; it passes everything through until told otherwise. */
  let proxy: Proxy | undefined;
  let failed = false;
  const deviceId = 'vm-recovery-1';
  const device: VmDevice = {
    deviceId,
    hardwareId: HARDWARE,
    channel: CHANNEL,
    token: '',
    installer: { backend: 'rauc', raucBinary: RAUC_WRAPPER.path },
    files: [RAUC_WRAPPER],
    // The same configuration in every slot: only the image that carries UNHEALTHY fails it.
    health: [
      { argv: ['/usr/bin/systemctl', 'is-system-running', '--wait'], timeoutSec: 240 },
      { argv: ['/usr/bin/test', '!', '-e', UNHEALTHY], timeoutSec: 30 },
      // Widens the window between the new slot's boot and its confirmation, in the images that ask for it.
      { argv: ['/bin/sh', '-c', `test ! -e ${SLOW_HEALTH} || exec sleep 45`], timeoutSec: 120 },
    ],
  };

  before(async function () {
    this.timeout(1_800_000);
    await agentImage();
    await mochaHooks.beforeAll.call(this);
    const api = await adminApi();
    try {
      const body = { deviceId, hardwareId: HARDWARE, channel: CHANNEL };
      device.token = (await api.send<{ token: string }>('POST', '/v1/admin/devices/tokens', body)).token;
    } finally {
      await api.close();
    }
    proxy = await startCompromisedApi(testConfig());
    vm = await agentVm('agent-recovery', { ports: [Number(new URL(proxy.url).port)] });
    await nextBoot(vm);
    const started = vm.console.lineCount;
    await provisionAndStart(vm, device);
    await vm.waitFor(agentEvent('cycle', { status: 'up-to-date' }), { timeoutMs: AGENT_TIMEOUT_MS, from: started });
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'passed') failed = true;
  });

  after(async function () {
    this.timeout(120_000);
    await vm?.close({ removeDir: !failed });
    await proxy?.close();
    await mochaHooks.afterAll.call(this);
  });

  async function deviceReports(): Promise<DeviceReport[]> {
    const api = await adminApi();
    try {
      return (await api.send<DeviceDetail>('GET', `/v1/admin/devices/${deviceId}`)).reports;
    } finally {
      await api.close();
    }
  }

  async function bundleOf(version: string, files: { unhealthy?: boolean; slowHealth?: boolean } = {}): Promise<Buffer> {
    const dir = join(testConfig().home, 'bundles', version);
    await mkdir(dir, { recursive: true });
    const extra = [
      ...(files.unhealthy ? [{ path: UNHEALTHY, content: 'this image fails its health check\n', mode: 0o644 }] : []),
      ...(files.slowHealth ? [{ path: SLOW_HEALTH, content: 'its health check takes time\n', mode: 0o644 }] : []),
    ];
    return readFile(await updateBundle(device, { version, dir, files: extra }));
  }

  it('a new slot that fails its health check: the device falls back to the old slot, reports the revert, and the gate pauses the release', async function () {
    this.timeout(2_400_000);
    const bytes = await bundleOf('2.0.0', { unhealthy: true });
    const from = vm!.console.lineCount;
    const gate = { steps: '100', hardware: HARDWARE, minDevices: 1, maxFailureRate: 0, bytes, rollbackIndex: 1 };
    await releaseAwaitingApproval(CHANNEL, '2.0.0', gate);
    await approve(CHANNEL, '2.0.0');
    let t = Date.now();
    const trial = await vm!.waitFor(GRUB_CHOICE, { timeoutMs: 1_200_000, from });
    console.log(`      download, rauc install and reboot: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    assert.match(trial.line, /slot B \(try 1 of 3\)/);
    t = Date.now();
    // The agent in B runs the health checks, the second fails: B is marked bad and the VM reboots.
    const fallback = await vm!.waitFor(GRUB_CHOICE, { timeoutMs: 900_000, from: trial.index + 1 });
    console.log(`      trial boot of B to the fallback: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    assert.match(fallback.line, /slot A \(try/);
    t = Date.now();
    // Back in A the agent drops the trial and reports it; the report cleared, the pending install is gone.
    await vm!.waitFor(agentEvent('step', { step: 'pending-cleared' }), {
      timeoutMs: AGENT_TIMEOUT_MS + 240_000,
      from: fallback.index,
    });
    console.log(`      boot of A to the revert's report: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const client = await temporalClient();
    const paused = await waitForStatus(client, { channel: CHANNEL, version: '2.0.0', timeoutMs: 300_000 }, (s) =>
      Boolean(s.paused || ['stable', 'ended'].includes(s.stage)),
    );
    assert.equal(paused.paused, true, `the release is ${paused.stage}, not paused`);
    assert.equal(paused.gate?.result, 'tripped');
    assert.ok(paused.gate.failures >= 1 && paused.gate.failures === paused.gate.reports, 'every report is a failure');
    // An offer that left before the pause may have the device try the same image once more (and
    // revert it again), never a third time (ADR 0072); once the pause is signed it is offered
    // nothing, back on its old slot.
    const settled = await vm!.waitFor(agentEvent('cycle', { status: 'up-to-date', version: '1.0.0' }), {
      timeoutMs: 1_200_000,
      from: fallback.index,
    });
    const trials = vm!.console
      .lines(trial.index)
      .slice(0, settled.index - trial.index)
      .filter((l) => /booting slot B/.test(l)).length;
    console.log(`      trials of B before the pause reached the device: ${trials}`);
    // Every trial was reported as reverted (a refused re-offer after the pause is no failure).
    const reverts = (await deviceReports()).filter(
      (r) => r.targetName === paused.target?.name && r.outcome === 'failed',
    );
    assert.equal(reverts.length, trials);
    assert.ok(trials >= 1 && trials <= TRIALS_PER_TARGET, `${trials} trials of one target`);
    for (const r of reverts) assert.deepEqual([r.health, r.errorCode], ['reverted', 'HEALTH_CHECK_FAILED']);
    assert.equal(await guest(vm!, 'cat /etc/enigm-ota/version'), '1.0.0');
    const env = await grubenv(vm!);
    // GRUB boots the first slot in ORDER that is good: B stays listed, marked bad.
    assert.deepEqual([env['A_OK'], env['B_OK']], ['1', '0'], 'A is good, B is bad');
    // The factory image runs (no version the agent wrote), the stored version and index unchanged.
    assert.deepEqual(await agentStatus(), { running: null, stored: { currentVersion: '1.0.0', rollbackIndex: 0 } });
  });

  it('power cuts mid-download, mid-write, after the write before the bootloader switch, during the first boot and before confirmation: a good slot boots every time and the device ends on the new version', async function () {
    this.timeout(3_600_000);
    const bytes = await bundleOf('3.0.0', { slowHealth: true });
    // An interrupted install is reported as a failure too; this gate waits for the last report.
    const gate = { steps: '100', hardware: HARDWARE, minDevices: 1, maxFailureRate: 1, bytes, rollbackIndex: 2 };
    await releaseAwaitingApproval(CHANNEL, '3.0.0', gate);
    const old = (await guest(vm!, 'cat /proc/cmdline')).includes('rauc.slot=B') ? 'B' : 'A';
    const next = old === 'B' ? 'A' : 'B';
    const nextDevice = next === 'B' ? 'vda3' : 'vda2';
    const t = Date.now();
    const cuts: string[] = [];
    const cut = async (point: string): Promise<void> => {
      await vm!.powerCut();
      cuts.push(`${point} at ${((Date.now() - t) / 1000).toFixed(0)} s`);
      await vm!.start();
    };
    /** Waits for this power-on's boot; answers the console index to wait for later boots from. */
    const bootsOld = async (after: string): Promise<number> => {
      const boot = await nextBoot(vm!);
      assert.equal(boot.slot, old, `the old slot boots after a cut ${after}`);
      return vm!.console.lineCount;
    };
    await approve(CHANNEL, '3.0.0');

    // 1. Mid-download: the agent's partial file holds more than 1 MiB.
    await until(
      'f=$(ls /var/lib/enigm-ota/downloads/*.partial 2>/dev/null | head -1); [ -n "$f" ] && [ $(stat -c %s "$f") -gt 1048576 ]',
    );
    await cut('mid-download');
    await bootsOld('mid-download');

    // 2. Mid-write: RAUC has written more than 16 MiB into the other slot since this boot.
    await until(`[ $(awk '{print $7}' /sys/class/block/${nextDevice}/stat) -gt 32768 ]`);
    assert.match(await guest(vm!, 'cat /var/lib/enigm-ota/rauc-trial.json'), /"phase":"installing"/);
    await cut('mid-write');
    await bootsOld('mid-write');

    // 3. After the write, before the bootloader switch: the agent asked for it, the switch waits.
    await guest(vm!, `touch ${HOLD_SWITCH}`);
    await until(running(`${RAUC_WRAPPER.path} status mark-active`));
    assert.match(await guest(vm!, 'cat /var/lib/enigm-ota/rauc-trial.json'), /"phase":"activating"/);
    // RAUC marked the slot it wrote not bootable; only the switch marks it good and first.
    assert.equal((await grubenv(vm!))[`${next}_OK`], '0', 'the bootloader cannot boot the new slot yet');
    await cut('after the write, before the switch');
    const afterOld = await bootsOld('before the switch');

    // 4. During the first boot of the new slot (the install done again, the switch let through).
    const first = await vm!.waitFor(GRUB_CHOICE, { timeoutMs: 1_800_000, from: afterOld });
    assert.match(first.line, new RegExp(`slot ${next} \\(try 1 of 3\\)`));
    await vm!.waitFor(/systemd\[1\]: Hostname set/, { timeoutMs: BOOT_TIMEOUT_MS, from: first.index });
    await cut('during the first boot');

    // 5. Before confirmation: the new slot's second try runs its slow health check.
    const second = await vm!.waitFor(GRUB_CHOICE, { timeoutMs: BOOT_TIMEOUT_MS });
    assert.match(second.line, new RegExp(`slot ${next} \\(try 2 of 3\\)`));
    await until(running('sleep 45'));
    assert.notEqual((await grubenv(vm!))[`${next}_TRY`], '0', 'not confirmed yet');
    await cut('before confirmation');

    const third = await vm!.waitFor(GRUB_CHOICE, { timeoutMs: BOOT_TIMEOUT_MS });
    assert.match(third.line, new RegExp(`slot ${next} \\(try 3 of 3\\)`));
    const confirmed = await vm!.waitFor(agentEvent('cycle', { version: '3.0.0' }), {
      timeoutMs: AGENT_TIMEOUT_MS + 240_000,
      from: third.index,
    });
    console.log(`      cuts: ${cuts.join(', ')}; on 3.0.0 after ${((Date.now() - t) / 1000).toFixed(0)} s`);
    assert.match(confirmed.line, /"status":"(up-to-date|installed)"/);
    assert.equal(await guest(vm!, 'cat /etc/enigm-ota/version'), '3.0.0');
    const env = await grubenv(vm!);
    assert.deepEqual([env['ORDER']?.split(' ')[0], env[`${next}_OK`]], [next, '1'], 'the new slot is marked good');
    assert.deepEqual(await agentStatus(), { running: '3.0.0', stored: { currentVersion: '3.0.0', rollbackIndex: 2 } });
    const client = await temporalClient();
    const stable = await waitForStatus(client, { channel: CHANNEL, version: '3.0.0', timeoutMs: 300_000 }, (s) =>
      ['stable', 'ended'].includes(s.stage),
    );
    assert.equal(stable.stage, 'stable');
    // Of this release: one interrupted install (the cut before the switch), then the install.
    const reports = (await deviceReports())
      .filter((r) => r.targetName === stable.target?.name)
      .map((r) => `${r.outcome} ${r.errorCode ?? r.health ?? ''}`);
    assert.deepEqual(reports.sort(), ['failed INSTALL_INTERRUPTED', 'installed healthy']);
  });

  it('the rollback index survives a reboot: an older release offered afterwards is refused with ROLLBACK_INDEX_TOO_LOW', async function () {
    this.timeout(1_200_000);
    const client = await temporalClient();
    const older = (await releaseStatus(client, { channel: CHANNEL, version: '2.0.0' })).target!;
    assert.ok(older.custom.rollbackIndex < 2, 'the offer is a downgrade below the stored index');
    // The strongest attacker: the API itself, with the rollout signing key. It opens 2.0.0 again
    // in the signed rollout and offers it; only the release repository's index stands in the way.
    const deps = await createActivityDeps(testConfig());
    try {
      for (const set of await deps.repos.rollout.fileSetsFor(CHANNEL, [HARDWARE])) {
        await set.publish((t: Targets) => {
          const entry = t.targets[older.name]!;
          const custom = entry.custom as { rollout: Record<string, unknown> };
          custom.rollout = { ...custom.rollout, percent: 100, paused: false, withdrawn: false };
        });
      }
    } finally {
      await deps.close();
    }
    proxy!.client = {
      caPem: `${await guest(vm!, 'cat /var/lib/enigm-ota/identity/fleet-ca.pem')}\n`,
      certPem: `${await guest(vm!, 'cat /var/lib/enigm-ota/identity/device.pem')}\n`,
      keyPem: `${await guest(vm!, 'cat /var/lib/enigm-ota/identity/device.key')}\n`,
    };
    proxy!.tamper = (path) =>
      path === '/v1/poll'
        ? Buffer.from(JSON.stringify({ offer: { targetName: older.name, version: '2.0.0' } }))
        : undefined;
    // The agent talks to the compromised API from its next start, after the reboot.
    await reconfigure(vm!, { ...device, apiUrl: proxy!.url });
    const rebooted = reboot(vm!);
    await nextBoot(vm!, rebooted);
    const refused = await vm!.waitFor(agentEvent('cycle', { status: 'refused' }), {
      timeoutMs: AGENT_TIMEOUT_MS,
      from: rebooted,
    });
    assert.match(refused.line, /"code":"ROLLBACK_INDEX_TOO_LOW"/);
    assert.deepEqual(await agentStatus(), { running: '3.0.0', stored: { currentVersion: '3.0.0', rollbackIndex: 2 } });
    assert.equal(await guest(vm!, 'cat /etc/enigm-ota/version'), '3.0.0');
    const refusals = (await deviceReports()).filter(
      (r) => r.targetName === older.name && r.errorCode === 'ROLLBACK_INDEX_TOO_LOW',
    );
    assert.ok(refusals.length >= 1, 'the refusal reached the fleet through the proxy');
  });

  /**
   * A guest shell condition: a process runs whose command line holds `words` (the image has no
   * procps). The first character in brackets keeps the pattern from matching the command
   * lines of the shell and grep that look for it.
   */
  function running(words: string): string {
    const pattern = `[${words[0]}]${words.slice(1)}`;
    return `for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done | grep -q '${pattern}'`;
  }

  /** Waits in the guest until `condition` (a shell command) succeeds, tried every 0.2 s. */
  async function until(condition: string): Promise<void> {
    const timeoutSec = 1_200;
    const quoted = `'until ${condition.replace(/'/g, `'\\''`)}; do sleep 0.2; done'`;
    await guest(vm!, `timeout ${timeoutSec} sh -c ${quoted}`, { timeoutMs: (timeoutSec + 30) * 1000 });
  }

  async function agentStatus(): Promise<{ running: unknown; stored: unknown }> {
    const status = JSON.parse(
      await guest(vm!, 'enigm-ota-agent status --json', { timeoutMs: AGENT_TIMEOUT_MS }),
    ) as Record<string, unknown>;
    return { running: status['running'], stored: status['stored'] };
  }
});
