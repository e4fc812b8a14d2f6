/**
 * The device side of bench/agent.ts, bundled with device/packaging/bundle.ts into one file as a
 * device runs it, and started once per measurement so each peak is its own process's:
 *  - `idle`: the SDK's DeviceAgent with the reference installer and its mutual TLS identity
 *    does a first update cycle (TUF refresh, verified download, install, report) and two
 *    more polls, then waits; prints its resident memory;
 *  - `full`: a verified download of an image over mutual TLS, installed into a slot;
 *  - `delta`: a verified download of a delta, the image rebuilt from the slot's base and
 *    installed.
 * Prints one JSON line: `{ rssMiB, maxRssMiB, ms, phases }`, `phases` the peak so far after
 * each step (start: the SDK loaded; download, apply, install), which says where a peak was reached.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import {
  AbSlotInstaller,
  applyDelta,
  createArtifactGet,
  type DeltaBinding,
  DeviceAgent,
  downloadVerified,
  saveIdentity,
  type VerifiedTarget,
} from '@enigm-ota/client-sdk';

import { peakResidentMiB } from './lib';

export interface ChildSpec {
  mode: 'idle' | 'full' | 'delta';
  /** The device's identity (its key, certificate and the fleet CA) as PEM. */
  identity: { caPem: string; certPem: string; keyPem: string };
  dir: string;
  idle?: { apiUrl: string; roots: { release: string; rollout: string }; channel: string; hardwareId: string };
  /** The image to install: where it is served, its signed length and sha256. */
  image?: { url: string; length: number; sha256: string };
  delta?: { url: string; length: number; sha256: string; base: string; binding: DeltaBinding };
}

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
const peakMiB = peakResidentMiB;
const phases: Record<string, number> = {};

async function idle(spec: ChildSpec): Promise<void> {
  const { idle: api, identity, dir } = spec;
  await saveIdentity(join(dir, 'identity'), identity);
  const agent = new DeviceAgent({
    apiUrl: api!.apiUrl,
    deviceId: 'bench-device',
    hardwareId: api!.hardwareId,
    channel: api!.channel,
    stateDir: dir,
    trustedRoots: api!.roots,
    fleetCaPem: identity.caPem,
    installer: new AbSlotInstaller(join(dir, 'system'), { boot: () => Promise.resolve(true) }),
  });
  const first = await agent.checkForUpdate();
  if (first.status !== 'installed') throw new Error(`the first cycle did not install: ${JSON.stringify(first)}`);
  for (let i = 0; i < 2; i++) await agent.checkForUpdate();
  // Idle as between polls: the rest the run loop takes before it sleeps, then what stays resident.
  agent.rest();
  await new Promise((r) => setTimeout(r, 2000));
}

async function install(spec: ChildSpec): Promise<void> {
  phases.start = peakMiB();
  const image = spec.image!;
  const installer = new AbSlotInstaller(join(spec.dir, 'slots'), { boot: () => Promise.resolve(true) });
  const target = {
    name: 'bench/1.0.0/image',
    length: image.length,
    sha256: image.sha256,
    fields: { version: '1.0.0' },
  } as VerifiedTarget;
  await mkdir(join(spec.dir, 'slots'), { recursive: true });
  const get = createArtifactGet(spec.identity);
  const file = join(spec.dir, 'image');
  if (spec.delta) {
    const d = spec.delta;
    await downloadVerified(d, join(spec.dir, 'delta'), { timeoutMs: 60_000, get });
    phases.download = peakMiB();
    await applyDelta({ base: d.base, delta: join(spec.dir, 'delta'), deltaLength: d.length, output: file }, d.binding);
    phases.apply = peakMiB();
    await rm(join(spec.dir, 'delta'), { force: true });
  } else {
    await downloadVerified(image, file, { timeoutMs: 60_000, get });
    phases.download = peakMiB();
  }
  await installer.install(file, target);
  phases.install = peakMiB();
  await rm(file, { force: true });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]!) as ChildSpec;
  const start = process.hrtime.bigint();
  await (spec.mode === 'idle' ? idle(spec) : install(spec));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  process.stdout.write(`${JSON.stringify({ rssMiB: rssMiB(), maxRssMiB: peakMiB(), ms, phases })}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
