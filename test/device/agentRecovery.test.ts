import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { TRIALS_PER_TARGET } from '@enigm-ota/client-sdk';

import type { DeviceDetail, DeviceReport } from '../../common/adminApi';
import { waitForStatus } from '../../control/releases';
import { type QemuVm } from '../../device/vm/qemuVm';
import { adminApi, approve, releaseAwaitingApproval, temporalClient, testConfig } from '../integration/helpers';
import { mochaHooks } from '../integration/setup';
import { agentEvent, agentImage, agentVm, provisionAndStart, updateBundle, type VmDevice } from './agentVm';
import { GRUB_CHOICE, grubenv, guest, nextBoot } from './referenceVm';

const CHANNEL = 'vm-recovery';
const HARDWARE = 'enigm-ota-vm';
/** The agent's single executable starts in tens of seconds under TCG on a loaded machine. */
const AGENT_TIMEOUT_MS = 300_000;
/** A file only an image that must fail its health check carries. */
const UNHEALTHY = '/etc/enigm-ota/unhealthy';

/**
 * What happens on a real A/B device when an update goes wrong: the agent's single executable as
 * a service in the reference VM, RAUC writing the other slot, GRUB's try counter, against the
 * real stack through the VM's loopback forwards. One VM and one channel for the file (boots cost
 * a minute each): the tests run in order, each starts from the device the one before left.
 */
describe('the agent in the reference VM, when an update goes wrong', function () {
  let vm: QemuVm | undefined;
  let failed = false;
  const deviceId = 'vm-recovery-1';
  const device: VmDevice = {
    deviceId,
    hardwareId: HARDWARE,
    channel: CHANNEL,
    token: '',
    installer: { backend: 'rauc' },
    // The same configuration in every slot: only the image that carries UNHEALTHY fails it.
    health: [
      { argv: ['/usr/bin/systemctl', 'is-system-running', '--wait'], timeoutSec: 240 },
      { argv: ['/usr/bin/test', '!', '-e', UNHEALTHY], timeoutSec: 30 },
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
    vm = await agentVm('agent-recovery');
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

  async function bundleOf(version: string, files: { unhealthy?: boolean } = {}): Promise<Buffer> {
    const dir = join(testConfig().home, 'bundles', version);
    await mkdir(dir, { recursive: true });
    const extra = [
      ...(files.unhealthy ? [{ path: UNHEALTHY, content: 'this image fails its health check\n', mode: 0o644 }] : []),
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

  async function agentStatus(): Promise<{ running: unknown; stored: unknown }> {
    const status = JSON.parse(
      await guest(vm!, 'enigm-ota-agent status --json', { timeoutMs: AGENT_TIMEOUT_MS }),
    ) as Record<string, unknown>;
    return { running: status['running'], stored: status['stored'] };
  }
});
