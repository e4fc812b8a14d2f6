/**
 * The agent's whole install against `rauc install` of the same bundle alone, on the same
 * device: the reference VM (QEMU, TCG) with the agent as its service, against a real stack of
 * its own (var/bench-rauc, on the test ports of OTA_TEST_PORT_OFFSET).
 *
 * Ours: from the agent's first download line to the end of its install (`progress` lines,
 * timed by the guest's clock): the verified download over mutual TLS through the VM's
 * forwards, both repositories' checks, and `rauc install` of the verified bundle. The
 * baseline: the same bundle copied into the guest beforehand, then `rauc install` of it alone,
 * into the same inactive slot. Target: at most 1.2x. The agent verifies the whole bundle
 * against both repositories before RAUC sees it, so its time is the download's plus RAUC's:
 * the rows below the first say how much each part takes.
 *
 *   OTA_TEST_PORT_OFFSET=150 bash scripts/node.sh dist/bench/raucInstall.js [--rounds 2] [--json]
 *
 * `--rounds`: baseline installs (the agent installs once: one release per run).
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';

import { type QemuVm } from '../device/vm/qemuVm';
import { stackDown, stackEnv, type StackProfile, stackUp, TEST_PROFILE } from '../scripts/lib/stack';
import {
  agentEvent,
  agentImage,
  agentVm,
  enrollmentToken,
  provisionAndStart,
  updateBundle,
  type VmDevice,
} from '../test/device/agentVm';
import { copyFromHost, GRUB_CHOICE, guest, nextBoot, serveFile } from '../test/device/referenceVm';
import { approve, closeTemporalClient, releaseAwaitingApproval } from '../test/integration/helpers';
import { TEST_EXTRA_ENV } from '../test/integration/setup';
import { intArg, loadNote, report, type Row } from './lib';

const PROFILE: StackProfile = { ...TEST_PROFILE, home: resolve(__dirname, '..', '..', 'var', 'bench-rauc') };
const CHANNEL = 'vm-rauc';
const HARDWARE = 'enigm-ota-vm';
/** The agent's single executable starts in tens of seconds under TCG. */
const AGENT_TIMEOUT_MS = 300_000;
const INSTALL_TIMEOUT_MS = 1_200_000;

const say = (line: string) => process.stderr.write(`[rauc-install] ${line}\n`);

/** The JSON object of an agent log line on the console (journald may prefix it). */
function logEntry(line: string): { time: string; doneBytes?: number; totalBytes?: number } {
  return JSON.parse(line.slice(line.indexOf('{'))) as { time: string };
}

/** The agent's install of 2.0.0: the console lines of its download's start and its install's end. */
async function agentInstall(vm: QemuVm, from: number) {
  const start = await vm.waitFor(agentEvent('progress', { phase: 'download' }), {
    timeoutMs: INSTALL_TIMEOUT_MS,
    from,
  });
  const installStart = await vm.waitFor(agentEvent('progress', { phase: 'install' }), {
    timeoutMs: INSTALL_TIMEOUT_MS,
    from: start.index,
  });
  const end = await vm.waitFor(agentEvent('progress', { phase: 'install' }), {
    timeoutMs: INSTALL_TIMEOUT_MS,
    from: installStart.index + 1,
  });
  const t = (l: { line: string }) => Date.parse(logEntry(l.line).time);
  return { totalMs: t(end) - t(start), downloadMs: t(installStart) - t(start), raucMs: t(end) - t(installStart) };
}

/** `rauc install` of the bundle already in the guest, alone; its time by the guest's clock. */
async function raucAlone(vm: QemuVm, bundle: string): Promise<number> {
  const out = await guest(
    vm,
    `s=$(date +%s%N); rauc install ${bundle} >/var/tmp/rauc-install.log 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))`,
    { timeoutMs: INSTALL_TIMEOUT_MS },
  );
  return Number(out.trim().split('\n').at(-1));
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const rounds = intArg('rounds', 2, 1, 5);
  const load = loadavg()[0]!;
  await agentImage();
  await stackDown(PROFILE);
  await rm(PROFILE.home, { recursive: true, force: true });
  await stackUp(PROFILE, { extraEnv: TEST_EXTRA_ENV, log: (l) => say(`[stack] ${l}`) });
  Object.assign(process.env, await stackEnv(PROFILE), TEST_EXTRA_ENV);
  let vm: QemuVm | undefined;
  let server: { close(): void } | undefined;
  try {
    const deviceId = 'bench-rauc-1';
    const device: VmDevice = {
      deviceId,
      hardwareId: HARDWARE,
      channel: CHANNEL,
      token: await enrollmentToken({ deviceId, hardwareId: HARDWARE, channel: CHANNEL }),
      installer: { backend: 'rauc' },
    };
    const dir = join(PROFILE.home, 'bundles');
    await mkdir(dir, { recursive: true });
    const bundle = await updateBundle(device, { version: '2.0.0', dir });
    const bundleBytes = (await stat(bundle)).size;
    say(`bundle ${(bundleBytes / 2 ** 20).toFixed(1)} MiB`);
    const served = await serveFile(bundle);
    server = served;

    vm = await agentVm('bench-rauc', { ports: [served.port] });
    await nextBoot(vm);
    const from = vm.console.lineCount;
    await provisionAndStart(vm, device);
    await vm.waitFor(agentEvent('cycle', { status: 'up-to-date' }), { timeoutMs: AGENT_TIMEOUT_MS, from });
    // The release's artifact is the bundle; its one step needs this device's report.
    const gate = { steps: '100', hardware: HARDWARE, minDevices: 1, maxFailureRate: 0, bytes: await readFile(bundle) };
    await releaseAwaitingApproval(CHANNEL, '2.0.0', gate);
    await approve(CHANNEL, '2.0.0');
    say('released 2.0.0: the agent downloads, verifies and installs it');
    const agent = await agentInstall(vm, from);
    say(
      `agent: ${(agent.totalMs / 1000).toFixed(1)} s (download and checks ${(agent.downloadMs / 1000).toFixed(1)} s, ` +
        `rauc install ${(agent.raucMs / 1000).toFixed(1)} s)`,
    );
    // The agent reboots into the new slot and confirms it; then the old one is the inactive slot.
    const trial = await vm.waitFor(GRUB_CHOICE, { timeoutMs: INSTALL_TIMEOUT_MS, from });
    await vm.waitFor(agentEvent('cycle', { version: '2.0.0' }), {
      timeoutMs: AGENT_TIMEOUT_MS + 240_000,
      from: trial.index,
    });

    await copyFromHost(vm, { port: served.port, bytes: bundleBytes }, '/var/tmp/bundle.raucb');
    const alone: number[] = [];
    for (let i = 0; i < rounds; i++) {
      alone.push(await raucAlone(vm, '/var/tmp/bundle.raucb'));
      say(`rauc install alone, round ${i + 1}/${rounds}: ${(alone.at(-1)! / 1000).toFixed(1)} s`);
    }
    const baseline = Math.min(...alone);
    const mib = (bundleBytes / 2 ** 20).toFixed(1);
    const rows: Row[] = [
      {
        measure: `install time, agent (download + checks + rauc install), ${mib} MiB bundle`,
        baseline: `${(baseline / 1000).toFixed(1)} s (rauc install alone, best of ${rounds})`,
        ours: `${(agent.totalMs / 1000).toFixed(1)} s`,
        ratio: agent.totalMs / baseline,
        target: '<= 1.20x',
        met: agent.totalMs / baseline <= 1.2,
      },
      {
        measure: `  of which rauc install inside the agent`,
        baseline: `${(baseline / 1000).toFixed(1)} s`,
        ours: `${(agent.raucMs / 1000).toFixed(1)} s`,
        ratio: agent.raucMs / baseline,
      },
      {
        measure: `  of which the verified download and checks`,
        baseline: `${(baseline / 1000).toFixed(1)} s`,
        ours: `${(agent.downloadMs / 1000).toFixed(1)} s`,
        ratio: agent.downloadMs / baseline,
      },
    ];
    report(`Agent install against rauc install in the reference VM (TCG) (${loadNote(load)})`, rows, json);
  } finally {
    server?.close();
    await vm?.close({ removeDir: true });
    await closeTemporalClient();
    await stackDown(PROFILE);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
