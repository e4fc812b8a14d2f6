import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { waitForStatus } from '../../control/releases';
import { AGENT_VERSION } from '../../device/agent/version';
import { type QemuVm } from '../../device/vm/qemuVm';
import { approve, releaseAwaitingApproval, temporalClient, testConfig } from '../integration/helpers';
import { mochaHooks } from '../integration/setup';
import {
  agentEvent,
  agentImage,
  agentVm,
  enrollmentToken,
  provisionAndStart,
  updateBundle,
  type VmDevice,
} from './agentVm';
import { GRUB_CHOICE, grubenv, guest, nextBoot } from './referenceVm';

/** A channel per test: a device of one never sees the other's release (a random build is no RAUC bundle). */
const CHANNEL = { reference: 'vm-reference', rauc: 'vm-rauc' } as const;
const HARDWARE = 'enigm-ota-vm';
/** The agent's single executable starts in tens of seconds under TCG on a loaded machine. */
const AGENT_TIMEOUT_MS = 300_000;

/**
 * The agent as a device runs it: the single executable as a systemd service in the reference
 * VM, reaching the test stack (API, MinIO) only through the VM's loopback forwards.
 */
describe('the agent in the reference VM, against the real stack', function () {
  let vm: QemuVm | undefined;

  before(async function () {
    this.timeout(1_800_000);
    await agentImage();
    await mochaHooks.beforeAll.call(this);
  });

  afterEach(async function () {
    await vm?.close({ removeDir: this.currentTest?.state === 'passed' });
    vm = undefined;
  });

  after(async function () {
    await mochaHooks.afterAll.call(this);
  });

  it('enrolls from the VM, installs a release through the forwards, and its report lets the gate make it stable', async function () {
    this.timeout(1_200_000);
    const deviceId = 'vm-reference-1';
    const device: VmDevice = {
      deviceId,
      hardwareId: HARDWARE,
      channel: CHANNEL.reference,
      token: await enrollmentToken({ deviceId, hardwareId: HARDWARE, channel: CHANNEL.reference }),
      installer: { backend: 'reference' },
    };
    vm = await agentVm('agent-reference');
    const boot = await nextBoot(vm);
    console.log(`      boot: multi-user after ${boot.toMultiUser.toFixed(1)} s`);
    const started = vm.console.lineCount;
    await provisionAndStart(vm, device);
    const firstCycle = Date.now();
    await vm.waitFor(agentEvent('cycle', { status: 'up-to-date' }), { timeoutMs: AGENT_TIMEOUT_MS, from: started });
    console.log(`      agent: enrolled and polled ${((Date.now() - firstCycle) / 1000).toFixed(1)} s after its start`);

    // The 100% step needs one device's report: the VM's success is what lets it pass.
    const gate = { steps: '100', hardware: HARDWARE, minDevices: 1, maxFailureRate: 0 };
    await releaseAwaitingApproval(CHANNEL.reference, '1.1.0', gate);
    await approve(CHANNEL.reference, '1.1.0');
    const released = Date.now();
    const installed = agentEvent('cycle', { status: 'installed', version: '1.1.0' });
    await vm.waitFor(installed, { timeoutMs: AGENT_TIMEOUT_MS, from: started });
    console.log(`      install: ${((Date.now() - released) / 1000).toFixed(1)} s from approval`);
    const client = await temporalClient();
    const stable = await waitForStatus(
      client,
      { channel: CHANNEL.reference, version: '1.1.0', timeoutMs: 300_000 },
      (s) => ['stable', 'ended'].includes(s.stage),
    );
    assert.equal(stable.stage, 'stable');

    const status = await agentStatus(vm);
    assert.equal(status['running'], '1.1.0');
    assert.deepEqual(status['problems'], []);
    // The agent proved what it trusted in the stack's log, cosigned by every witness.
    const log = testConfig().transparency!;
    const kept = await keptLog(vm);
    assert.equal(kept.origin, log.origin);
    assert.ok(kept.size !== null && kept.size > 0, `a checkpoint kept: ${JSON.stringify(kept)}`);
    assert.equal(kept.witnessedBy.length, log.witnessKeyFiles.length);
    assert.ok(kept.witnessedBy.length > 0, 'the stack runs a witness');
    // Standard output and error together: the executable starts without a word of Node's own.
    assert.equal(await guest(vm, 'enigm-ota-agent --version 2>&1'), AGENT_VERSION);
  });

  it('a RAUC bundle of the next slot image installs, the VM boots it, health passes, it is marked good, the release goes stable', async function () {
    this.timeout(2_400_000);
    const deviceId = 'vm-rauc-1';
    const device: VmDevice = {
      deviceId,
      hardwareId: HARDWARE,
      channel: CHANNEL.rauc,
      token: await enrollmentToken({ deviceId, hardwareId: HARDWARE, channel: CHANNEL.rauc }),
      installer: { backend: 'rauc' },
    };
    const dir = join(testConfig().home, 'bundles');
    await mkdir(dir, { recursive: true });
    let t = Date.now();
    const bundle = await updateBundle(device, { version: '2.0.0', dir });
    const bytes = await readFile(bundle);
    console.log(
      `      bundle: ${(bytes.length / 2 ** 20).toFixed(1)} MiB in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );

    vm = await agentVm('agent-rauc');
    await nextBoot(vm);
    const started = vm.console.lineCount;
    await provisionAndStart(vm, device);
    await vm.waitFor(agentEvent('cycle', { status: 'up-to-date' }), { timeoutMs: AGENT_TIMEOUT_MS, from: started });

    const before = await keptLog(vm);
    const gate = { steps: '100', hardware: HARDWARE, minDevices: 1, maxFailureRate: 0, bytes };
    await releaseAwaitingApproval(CHANNEL.rauc, '2.0.0', gate);
    await approve(CHANNEL.rauc, '2.0.0');
    t = Date.now();
    // The agent verified the bundle with both repositories, RAUC wrote slot B and the agent asked for the reboot.
    const trial = await vm.waitFor(GRUB_CHOICE, { timeoutMs: 1_200_000, from: started });
    console.log(`      download, rauc install and reboot: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    assert.match(trial.line, /slot B \(try 1 of 3\)/);
    t = Date.now();
    // At its start in the new slot the agent runs the health checks, marks the slot good and reports.
    const confirmed = await vm.waitFor(agentEvent('cycle', { version: '2.0.0' }), {
      timeoutMs: AGENT_TIMEOUT_MS + 240_000,
      from: trial.index,
    });
    console.log(`      first boot of B to the agent's report: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    assert.match(confirmed.line, /"status":"(up-to-date|installed)"/);
    assert.equal(await guest(vm, 'cat /etc/enigm-ota/version'), '2.0.0');
    const env = await grubenv(vm);
    assert.deepEqual([env['ORDER'], env['B_OK'], env['B_TRY']], ['B A', '1', '0'], 'slot B is marked good');
    // Slot A's agent proved the release's timestamp in the log before it installed (an idle poll
    // checks nothing); the checkpoint it kept on the data partition survived the reboot, and slot
    // B's agent reads it back against its own pinned keys.
    const after = await keptLog(vm);
    console.log(`      log in the device's view: ${before.size ?? 'none'} -> ${after.size} entries`);
    assert.ok(after.size !== null && after.size > (before.size ?? 0), `${before.size} -> ${after.size}`);
    assert.equal(after.witnessedBy.length, testConfig().transparency!.witnessKeyFiles.length);

    const client = await temporalClient();
    const stable = await waitForStatus(client, { channel: CHANNEL.rauc, version: '2.0.0', timeoutMs: 300_000 }, (s) =>
      ['stable', 'ended'].includes(s.stage),
    );
    assert.equal(stable.stage, 'stable');
  });
});

async function agentStatus(vm: QemuVm): Promise<Record<string, unknown>> {
  return JSON.parse(await guest(vm, 'enigm-ota-agent status --json', { timeoutMs: AGENT_TIMEOUT_MS })) as Record<
    string,
    unknown
  >;
}

/** The log checkpoint an agent verified last, as its status shows it (size null: none yet). */
type KeptLog = { origin: string; size: number | null; witnessedBy: string[] };

/** The log checkpoint the agent in `vm` verified last, as its status shows it. */
async function keptLog(vm: QemuVm): Promise<KeptLog> {
  const kept = (await agentStatus(vm))['transparencyLog'] as KeptLog;
  assert.ok(kept, 'the agent checks a log');
  return kept;
}
