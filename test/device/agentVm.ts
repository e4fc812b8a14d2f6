import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import {
  buildDeviceImage,
  type DeviceImage,
  type SlotFile,
  slotImageWithVersion,
} from '../../device/image/deviceImage';
import { bundleAgent } from '../../device/packaging/bundle';
import { AGENT_EXEC_ARGV } from '../../device/packaging/sea';
import { QemuVm } from '../../device/vm/qemuVm';
import { createBundle } from '../../infra/raucBundle';
import { TEST_PROFILE } from '../../scripts/lib/stack';
import { bundleSigningFiles } from '../../trust/bundleSigning';
import { rootFile } from '../../trust/ceremony';
import { adminApi, testConfig } from '../integration/helpers';
import { REPO_ROOT } from '../paths';
import { guest, vmDir } from './referenceVm';

const run = promisify(execFile);

/** `npm run package:agent`'s single executable. */
const AGENT_EXE = join(REPO_ROOT, 'var', 'agent', 'enigm-ota-agent');

/** The device as the factory provisions it: identity, channel and hardware of the fleet it joins. */
export interface VmDevice {
  deviceId: string;
  hardwareId: string;
  channel: string;
  token: string;
  installer: { backend: 'reference' } | { backend: 'rauc'; raucBinary?: string };
  /** The API the agent talks to (default: the test stack's). */
  apiUrl?: string;
  /** Files of this device's own in every slot (test fixtures), beside the provisioned ones. */
  files?: SlotFile[];
  /** The health checks a new slot must pass (default: systemd reached its target without failed units). */
  health?: HealthCommand[];
}

/** One entry of the agent's `health.commands`. */
interface HealthCommand {
  argv: string[];
  timeoutSec: number;
}

const DEFAULT_HEALTH: HealthCommand[] = [
  { argv: ['/usr/bin/systemctl', 'is-system-running', '--wait'], timeoutSec: 240 },
];

let image: Promise<DeviceImage> | undefined;

/**
 * The reference image with the agent's single executable and unit inside (cached by their
 * content, as every input of the image). The executable is `npm run package:agent`'s, built
 * again unless the one there was made from the same agent code with the same runtime settings:
 * the executable itself differs from build to build (V8's code cache), its bundled JavaScript
 * and its SEA configuration do not.
 */
export function agentImage(): Promise<DeviceImage> {
  image ??= (async () => {
    const probe = join(REPO_ROOT, 'var', `agent-probe-${process.pid}`);
    await mkdir(probe, { recursive: true });
    try {
      const current = await readFile(await bundleAgent(join(probe, 'enigm-ota-agent.js')));
      const built = await readFile(`${AGENT_EXE}.js`).catch(() => undefined);
      const exe = await stat(AGENT_EXE).catch(() => undefined);
      const settings = await readFile(`${AGENT_EXE}.sea-config.json`, 'utf8').then(
        (text) => JSON.stringify((JSON.parse(text) as { execArgv?: unknown }).execArgv),
        () => undefined,
      );
      if (!exe || !built?.equals(current) || settings !== JSON.stringify(AGENT_EXEC_ARGV)) {
        await run('bash', ['scripts/node.sh', 'dist/device/packaging/buildAgent.js'], { cwd: REPO_ROOT });
      }
    } finally {
      await rm(probe, { recursive: true, force: true });
    }
    return buildDeviceImage({ agentExe: AGENT_EXE });
  })();
  return image;
}

/**
 * A fresh VM of the agent image whose guest reaches the test stack's API and MinIO at their
 * host addresses, and the host's loopback `ports` given.
 */
export async function agentVm(name: string, options: { ports?: number[] } = {}): Promise<QemuVm> {
  const { disk } = await agentImage();
  const forwards = [TEST_PROFILE.apiPort, TEST_PROFILE.minioPort, ...(options.ports ?? [])];
  return QemuVm.create({ baseImage: disk, dir: vmDir(name), accel: 'tcg', forwards });
}

/**
 * What the factory writes into the device's image for this test stack: the agent's
 * configuration, the fleet CA, both trusted roots, and a unit drop-in that copies the agent's
 * log lines to the serial console (so a test waits on them as on boot messages). The
 * enrollment token is separate: it is used once and belongs to one device, not to an image.
 */
async function provisioningFiles(device: VmDevice): Promise<SlotFile[]> {
  const config = testConfig();
  const log = config.transparency;
  const witnesses = await Promise.all((log?.witnessKeyFiles ?? []).map((f) => readFile(f, 'utf8')));
  const agentConfig = {
    apiUrl: device.apiUrl ?? config.api.url,
    deviceId: device.deviceId,
    hardwareId: device.hardwareId,
    channel: device.channel,
    identity: {
      fleetCaFile: '/etc/enigm-ota/fleet-ca.pem',
      enrollmentTokenFile: '/etc/enigm-ota/enrollment-token',
      releaseRootFile: '/etc/enigm-ota/release-root.json',
      rolloutRootFile: '/etc/enigm-ota/rollout-root.json',
    },
    factory: { version: '1.0.0', rollbackIndex: 0 },
    installer: device.installer,
    health: { commands: device.health ?? DEFAULT_HEALTH },
    poll: { intervalSec: 15, jitter: 0 },
    log: { level: 'debug' },
    // The stack's log and every witness: each timestamp the agent trusts is proved in one history.
    ...(log && {
      transparencyLog: {
        keyFile: '/etc/enigm-ota/transparency-log.vkey',
        witnessesFile: '/etc/enigm-ota/witnesses',
        quorum: witnesses.length,
      },
    }),
  };
  const keyring = bundleSigningFiles(config.ceremonyDir).keyring;
  return [
    // RAUC's keyring: the ceremony's bundle-signing CA of this stack.
    { path: '/etc/rauc/keyring.pem', content: await readFile(keyring), mode: 0o644 },
    { path: '/etc/enigm-ota/agent.json', content: `${JSON.stringify(agentConfig, null, 2)}\n`, mode: 0o644 },
    { path: '/etc/enigm-ota/fleet-ca.pem', content: await readFile(config.identity.fleetCaCert), mode: 0o644 },
    { path: '/etc/enigm-ota/release-root.json', content: await readFile(rootFile(config, 'release')), mode: 0o644 },
    { path: '/etc/enigm-ota/rollout-root.json', content: await readFile(rootFile(config, 'rollout')), mode: 0o644 },
    ...(log
      ? [
          { path: '/etc/enigm-ota/transparency-log.vkey', content: await readFile(log.keyFile), mode: 0o644 },
          { path: '/etc/enigm-ota/witnesses', content: witnesses.map((w) => `${w.trim()}\n`).join(''), mode: 0o644 },
        ]
      : []),
    {
      path: '/etc/systemd/system/enigm-ota-agent.service.d/console.conf',
      content: '[Service]\nStandardOutput=journal+console\n',
      mode: 0o644,
    },
    ...(device.files ?? []),
  ];
}

/** Writes a file into the running guest (root-owned, folders made), through the test command channel. */
async function guestWrite(vm: QemuVm, file: SlotFile): Promise<void> {
  const content = Buffer.from(file.content).toString('base64');
  const mode = file.mode.toString(8);
  await guest(vm, `install -D -m ${mode} /dev/null '${file.path}' && echo '${content}' | base64 -d > '${file.path}'`);
}

/** Provisions the booted slot as the factory would, then starts the agent (its unit waits for agent.json). */
export async function provisionAndStart(vm: QemuVm, device: VmDevice): Promise<void> {
  for (const file of await provisioningFiles(device)) await guestWrite(vm, file);
  await guestWrite(vm, { path: '/etc/enigm-ota/enrollment-token', content: `${device.token}\n`, mode: 0o600 });
  // RAUC's service reads its keyring when it starts.
  await guest(vm, 'systemctl daemon-reload && systemctl try-restart rauc.service');
  await guest(vm, 'systemctl start --no-block enigm-ota-agent.service');
}

/** Rewrites the running slot's agent configuration for `device` (the agent reads it when it starts). */
export async function reconfigure(vm: QemuVm, device: VmDevice): Promise<void> {
  const config = (await provisioningFiles(device)).find((f) => f.path === '/etc/enigm-ota/agent.json');
  if (config) await guestWrite(vm, config);
}

/**
 * A RAUC bundle of the agent image's slot at `version`, provisioned as the running slot is
 * (without the enrollment token: the identity is on the data partition) plus `files`, signed
 * with the stack's ceremony: the artifact a vendor releases.
 */
export async function updateBundle(
  device: VmDevice,
  options: { version: string; dir: string; files?: SlotFile[] },
): Promise<string> {
  const { rootfs } = await agentImage();
  // RAUC writes an image by its name's extension.
  const slot = join(options.dir, 'rootfs.ext4');
  const files = [...(await provisioningFiles(device)), ...(options.files ?? [])];
  await slotImageWithVersion({ rootfs, version: options.version, out: slot, files });
  const out = join(options.dir, `enigm-ota-vm-${options.version}.raucb`);
  const signing = bundleSigningFiles(testConfig().ceremonyDir);
  await createBundle({ image: slot, version: options.version, compatible: 'enigm-ota-vm', out, signing });
  return out;
}

/** An agent log line on the serial console: `event` and the fields given, as the agent wrote them. */
export function agentEvent(event: string, fields: Record<string, string> = {}): RegExp {
  const parts = [`"event":"${event}"`, ...Object.entries(fields).map(([k, v]) => `"${k}":"${v}"`)];
  return new RegExp(parts.map((p) => `(?=.*${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})`).join(''));
}

/** A one-time enrollment token from the stack's admin API, as the fleet's operator issues it. */
export async function enrollmentToken(device: {
  deviceId: string;
  hardwareId: string;
  channel: string;
}): Promise<string> {
  const api = await adminApi();
  try {
    return (await api.send<{ token: string }>('POST', '/v1/admin/devices/tokens', device)).token;
  } finally {
    await api.close();
  }
}
