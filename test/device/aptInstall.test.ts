import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { AGENT_VERSION } from '../../device/agent/version';
import { type QemuVm } from '../../device/vm/qemuVm';
import { REPO_ROOT } from '../paths';
import { agentImage } from './agentVm';
import { copyFromHost, freshVm, guest, nextBoot, serveFile } from './referenceVm';

/** `npm run package:agent` writes the package beside the executable it holds. */
const PACKAGE_DIR = join(REPO_ROOT, 'var', 'agent');

/**
 * The Debian package as a vendor installs it: `apt install ./file.deb` on the reference
 * device (Debian bookworm, systemd running, no network but the test's forward), then removed.
 * The image under test has no agent of its own.
 */
describe('the agent package installed with apt on the reference device', function () {
  let vm: QemuVm | undefined;
  let server: Awaited<ReturnType<typeof serveFile>> | undefined;

  before(async function () {
    this.timeout(1_800_000);
    // Builds the executable and its package when the agent's code changed (cached otherwise).
    await agentImage();
  });

  after(async function () {
    this.timeout(120_000);
    server?.close();
    await vm?.close({ removeDir: this.currentTest?.state !== 'failed' });
  });

  it('installs with apt (the service enabled, waiting for its configuration), runs, and removes keeping the state', async function () {
    this.timeout(900_000);
    // This version's package (an older one may lie beside it).
    const name = (await readdir(PACKAGE_DIR)).find(
      (f) => f.startsWith(`enigm-ota-agent_${AGENT_VERSION}_`) && f.endsWith('.deb'),
    );
    assert.ok(name, `no package in ${PACKAGE_DIR}`);
    const deb = join(PACKAGE_DIR, name);
    const bytes = (await stat(deb)).size;
    server = await serveFile(deb);
    const port = server.port;

    vm = await freshVm('apt-install', { forwards: [port] });
    await nextBoot(vm);
    assert.notEqual((await vm.exec('command -v enigm-ota-agent')).code, 0, 'the reference image has no agent');
    // The image's root filesystem is sized to its content (an update bundle carries only that);
    // a vendor's image has room for the agent: grow it online to its 1 GiB slot.
    await guest(vm, 'resize2fs "$(findmnt -no SOURCE /)"', { timeoutMs: 120_000 });
    const file = `/var/tmp/${name}`;
    await copyFromHost(vm, { port, bytes }, file);
    assert.equal(Number(await guest(vm, `stat -c %s ${file}`)), bytes);

    const t = Date.now();
    // No repository is reachable: apt installs the file alone, which needs nothing the image lacks.
    await guest(vm, `DEBIAN_FRONTEND=noninteractive apt-get install -y ${file}`, { timeoutMs: 600_000 });
    console.log(`      apt install: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    assert.match(
      await guest(vm, "dpkg-query -W -f '${Status} ${Version}' enigm-ota-agent"),
      new RegExp(`^install ok installed ${AGENT_VERSION.replace(/\./g, '\\.')}$`),
    );
    assert.equal(await guest(vm, 'enigm-ota-agent --version', { timeoutMs: 300_000 }), AGENT_VERSION);
    assert.equal(await guest(vm, 'systemctl is-enabled enigm-ota-agent.service'), 'enabled');
    // Without /etc/enigm-ota/agent.json the unit skips itself: enabled, not running, not failed.
    assert.equal((await vm.exec('systemctl is-active enigm-ota-agent.service')).output.trim(), 'inactive');
    assert.equal(await guest(vm, 'stat -c %a /var/lib/enigm-ota'), '700');
    // The example configuration is in the package's list (this image's dpkg leaves /usr/share/doc out).
    assert.match(
      await guest(vm, 'dpkg -L enigm-ota-agent'),
      /\/usr\/share\/doc\/enigm-ota-agent\/examples\/agent\.json/,
    );

    await guest(vm, 'touch /var/lib/enigm-ota/state-to-keep');
    await guest(vm, 'DEBIAN_FRONTEND=noninteractive apt-get remove -y enigm-ota-agent', { timeoutMs: 300_000 });
    assert.notEqual((await vm.exec('command -v enigm-ota-agent')).code, 0, 'the executable is gone');
    assert.notEqual((await vm.exec('systemctl is-enabled enigm-ota-agent.service')).code, 0, 'the unit is gone');
    assert.ok(await guest(vm, 'test -f /var/lib/enigm-ota/state-to-keep && echo kept'), 'the state directory stays');
  });
});
