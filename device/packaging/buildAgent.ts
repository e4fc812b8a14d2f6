import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { AGENT_VERSION } from '../agent/version';
import { bundleAgent } from './bundle';

/**
 * `npm run package:agent`: the agent as one JavaScript file (esbuild), as one executable
 * (Node's single executable application: the node binary with the bundle injected), and as a
 * Debian package holding that executable, the systemd unit, an example configuration and the
 * state directory (docs/adr/0062-agent-shipped-as-a-node-sea-in-a-debian-package.md).
 */

/** dist/device/packaging -> the repository. */
const REPO = join(__dirname, '..', '..', '..');
const OUT = join(REPO, 'var', 'agent');
const PACKAGING = join(REPO, 'device', 'packaging');
/** The fuse Node's SEA loader looks for (node's documentation on single executable applications). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const POSTJECT = 'postject@1.0.0-alpha.6';

function singleExecutable(bundled: string): string {
  const blob = join(OUT, 'sea-prep.blob');
  const seaConfig = join(OUT, 'sea-config.json');
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: bundled,
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: false,
      useCodeCache: true,
    }),
  );
  execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
  const exe = join(OUT, 'enigm-ota-agent');
  rmSync(exe, { force: true });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  execFileSync(
    'npm',
    [
      'exec',
      '--yes',
      `--package=${POSTJECT}`,
      '--',
      'postject',
      exe,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      SEA_FUSE,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return exe;
}

/** The package tree under var/agent/deb, then dpkg-deb (owned by root inside the package, whoever builds it). */
function debianPackage(exe: string): string {
  const root = join(OUT, 'deb');
  rmSync(root, { recursive: true, force: true });
  const place = (from: string, to: string, mode: number) => {
    mkdirSync(join(root, to, '..'), { recursive: true });
    copyFileSync(from, join(root, to));
    chmodSync(join(root, to), mode);
  };
  place(exe, 'usr/bin/enigm-ota-agent', 0o755);
  place(join(PACKAGING, 'enigm-ota-agent.service'), 'usr/lib/systemd/system/enigm-ota-agent.service', 0o644);
  place(join(PACKAGING, 'agent.example.json'), 'usr/share/doc/enigm-ota-agent/examples/agent.json', 0o644);
  place(join(REPO, 'docs', 'agent-config.md'), 'usr/share/doc/enigm-ota-agent/agent-config.md', 0o644);
  mkdirSync(join(root, 'etc', 'enigm-ota'), { recursive: true });
  mkdirSync(join(root, 'var', 'lib', 'enigm-ota'), { recursive: true, mode: 0o700 });
  chmodSync(join(root, 'var', 'lib', 'enigm-ota'), 0o700);
  for (const script of ['postinst', 'prerm', 'postrm'])
    place(join(PACKAGING, 'debian', script), `DEBIAN/${script}`, 0o755);
  const installedKiB = Math.ceil(statSync(exe).size / 1024) + 16;
  writeFileSync(join(root, 'DEBIAN', 'control'), control(installedKiB));
  const deb = join(OUT, `enigm-ota-agent_${AGENT_VERSION}_${debArch()}.deb`);
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

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const bundled = await bundleAgent(join(OUT, 'enigm-ota-agent.js'));
  const exe = singleExecutable(bundled);
  const deb = debianPackage(exe);
  const kib = (f: string) => `${Math.round(statSync(f).size / 1024)} KiB`;
  console.log(`bundle:     ${bundled} (${kib(bundled)})`);
  console.log(`executable: ${exe} (${kib(exe)})`);
  console.log(`package:    ${deb} (${kib(deb)})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
