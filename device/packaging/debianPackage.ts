import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { AGENT_VERSION } from '../agent/version';

/** dist/device/packaging -> the repository. */
const REPO = join(__dirname, '..', '..', '..');
const PACKAGING = join(REPO, 'device', 'packaging');

/** Where each file of the package lands on the device (what docs/adr/0062-agent-shipped-as-a-node-sea-in-a-debian-package.md lays out). */
export const PACKAGE_PATHS = {
  executable: 'usr/bin/enigm-ota-agent',
  unit: 'usr/lib/systemd/system/enigm-ota-agent.service',
  exampleConfig: 'usr/share/doc/enigm-ota-agent/examples/agent.json',
  configDocs: 'usr/share/doc/enigm-ota-agent/agent-config.md',
  configDir: 'etc/enigm-ota',
  stateDir: 'var/lib/enigm-ota',
} as const;

interface PackageInput {
  /** The agent executable to ship (the single executable application). */
  exe: string;
  /** Folder for the package tree (`deb/`) and the .deb itself. */
  out: string;
}

/**
 * The package tree under `<out>/deb`, then dpkg-deb (owned by root inside the package, whoever
 * builds it). Returns the .deb's path.
 */
export function buildDebianPackage({ exe, out }: PackageInput): string {
  const root = join(out, 'deb');
  rmSync(root, { recursive: true, force: true });
  const place = (from: string, to: string, mode: number) => {
    mkdirSync(join(root, to, '..'), { recursive: true });
    copyFileSync(from, join(root, to));
    chmodSync(join(root, to), mode);
  };
  place(exe, PACKAGE_PATHS.executable, 0o755);
  place(join(PACKAGING, 'enigm-ota-agent.service'), PACKAGE_PATHS.unit, 0o644);
  place(join(PACKAGING, 'agent.example.json'), PACKAGE_PATHS.exampleConfig, 0o644);
  place(join(REPO, 'docs', 'agent-config.md'), PACKAGE_PATHS.configDocs, 0o644);
  mkdirSync(join(root, PACKAGE_PATHS.configDir), { recursive: true });
  mkdirSync(join(root, PACKAGE_PATHS.stateDir), { recursive: true });
  chmodSync(join(root, PACKAGE_PATHS.stateDir), 0o700);
  for (const script of ['postinst', 'prerm', 'postrm'])
    place(join(PACKAGING, 'debian', script), `DEBIAN/${script}`, 0o755);
  const installedKiB = Math.ceil(statSync(exe).size / 1024) + 16;
  writeFileSync(join(root, 'DEBIAN', 'control'), control(installedKiB));
  const deb = join(out, `enigm-ota-agent_${AGENT_VERSION}_${debArch()}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zzstd', '--build', root, deb], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return deb;
}

function control(installedKiB: number): string {
  return [
    'Package: enigm-ota-agent',
    `Version: ${AGENT_VERSION}`,
    `Architecture: ${debArch()}`,
    'Maintainer: Enigm OTA <ota@enigm.invalid>',
    `Installed-Size: ${installedKiB}`,
    'Section: admin',
    'Priority: optional',
    'Recommends: rauc',
    'Homepage: https://github.com/enigm/enigm-ota',
    'Description: Enigm OTA device update agent',
    ' Verifies updates against two TUF repositories (release and rollout) before',
    ' installing them into the inactive slot, and reports to the update API.',
    ' One executable (Node.js single executable application): no Node.js needed.',
    '',
  ].join('\n');
}

function debArch(): string {
  return process.arch === 'arm64' ? 'arm64' : 'amd64';
}
