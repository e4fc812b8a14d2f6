import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { bundleAgent } from './bundle';
import { buildDebianPackage } from './debianPackage';
import { singleExecutable } from './sea';

/**
 * `npm run package:agent`: the agent as one JavaScript file (esbuild), as one executable
 * (Node's single executable application: the node binary with the bundle injected), and as a
 * Debian package holding that executable, the systemd unit, an example configuration and the
 * state directory (docs/adr/0062-agent-shipped-as-a-node-sea-in-a-debian-package.md).
 */

/** dist/device/packaging -> the repository. */
const REPO = join(__dirname, '..', '..', '..');
const OUT = join(REPO, 'var', 'agent');

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const bundled = await bundleAgent(join(OUT, 'enigm-ota-agent.js'));
  const exe = singleExecutable({ bundle: bundled, dir: OUT, name: 'enigm-ota-agent' });
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
