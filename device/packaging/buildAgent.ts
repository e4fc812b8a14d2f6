import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { bundleAgent } from './bundle';
import { buildDebianPackage } from './debianPackage';

/**
 * `npm run package:agent`: the agent as one JavaScript file (esbuild), as one executable
 * (Node's single executable application: the node binary with the bundle injected), and as a
 * Debian package holding that executable, the systemd unit, an example configuration and the
 * state directory (docs/adr/0062-agent-shipped-as-a-node-sea-in-a-debian-package.md).
 */

/** dist/device/packaging -> the repository. */
const REPO = join(__dirname, '..', '..', '..');
const OUT = join(REPO, 'var', 'agent');
/** The fuse Node's SEA loader looks for (node's documentation on single executable applications). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** postject, a pinned devDependency: the build runs what package-lock.json names, fetched by npm ci, not at build time. */
const POSTJECT_CLI = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');

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
  execFileSync(process.execPath, [POSTJECT_CLI, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return exe;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const bundled = await bundleAgent(join(OUT, 'enigm-ota-agent.js'));
  const exe = singleExecutable(bundled);
  const deb = buildDebianPackage({ exe, out: OUT });
  const kib = (f: string) => `${Math.round(statSync(f).size / 1024)} KiB`;
  console.log(`bundle:     ${bundled} (${kib(bundled)})`);
  console.log(`executable: ${exe} (${kib(exe)})`);
  console.log(`package:    ${deb} (${kib(deb)})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
