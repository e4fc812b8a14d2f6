import { execFile } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { AGENT_VERSION } from '../../../device/agent/version';
import { bundleAgent } from '../../../device/packaging/bundle';
import { buildDebianPackage, PACKAGE_PATHS } from '../../../device/packaging/debianPackage';

const run = promisify(execFile);

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * The Debian package's layout and maintainer scripts. The executable inside is the esbuild
 * bundle behind a `#!/usr/bin/env node` line, not the single executable (which takes minutes to
 * inject): the package's files, modes and scripts do not depend on which one it holds.
 */
describe('enigm-ota-agent Debian package', function () {
  this.timeout(120_000);
  let work: string;
  let deb: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'agent-deb-'));
    const bundled = await bundleAgent(join(work, 'bundle.js'));
    const exe = join(work, 'enigm-ota-agent');
    await writeFile(exe, `#!/usr/bin/env node\n${await readFile(bundled, 'utf8')}`);
    deb = buildDebianPackage({ exe, out: work });
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('names the package, its version and its maintainer scripts', async () => {
    const { stdout } = await run('dpkg-deb', ['--info', deb]);
    expect(stdout).to.match(/^ Package: enigm-ota-agent$/m);
    expect(stdout).to.match(new RegExp(`^ Version: ${AGENT_VERSION.replace(/\./g, '\\.')}$`, 'm'));
    expect(stdout).to.match(/^ Recommends: rauc$/m);
    for (const script of ['postinst', 'prerm', 'postrm', 'control'])
      expect(stdout).to.match(new RegExp(` ${script}\\b`));
  });

  it('holds the executable, the unit, the example configuration and a private state directory, owned by root', async () => {
    const { stdout } = await run('dpkg-deb', ['--contents', deb]);
    const entries = new Map(
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/))
        .map((f) => [f[5]!.replace(/^\.\//, '').replace(/\/$/, ''), { mode: f[0]!, owner: f[1]! }]),
    );
    expect(entries.get(PACKAGE_PATHS.executable)).to.deep.equal({ mode: '-rwxr-xr-x', owner: 'root/root' });
    expect(entries.get(PACKAGE_PATHS.unit)).to.deep.equal({ mode: '-rw-r--r--', owner: 'root/root' });
    expect(entries.get(PACKAGE_PATHS.exampleConfig)).to.deep.equal({ mode: '-rw-r--r--', owner: 'root/root' });
    expect(entries.get(PACKAGE_PATHS.configDocs)?.mode).to.equal('-rw-r--r--');
    expect(entries.get(PACKAGE_PATHS.stateDir)).to.deep.equal({ mode: 'drwx------', owner: 'root/root' });
    expect(entries.get(PACKAGE_PATHS.configDir)?.mode).to.equal('drwxr-xr-x');
    // No configuration file is shipped: a fresh install stays idle until the vendor writes one.
    expect([...entries.keys()].filter((p) => p.startsWith(`${PACKAGE_PATHS.configDir}/`))).to.deep.equal([]);
  });

  it('installs and purges under dpkg --root without touching the running system, and keeps the state on purge', async () => {
    const root = join(work, 'root');
    await mkdir(join(root, 'var', 'lib', 'dpkg', 'updates'), { recursive: true });
    await mkdir(join(root, 'var', 'lib', 'dpkg', 'info'), { recursive: true });
    await writeFile(join(root, 'var', 'lib', 'dpkg', 'status'), '');
    // A systemctl that records its calls: the maintainer scripts must not reach the host's systemd.
    const bin = join(work, 'bin');
    const calls = join(work, 'systemctl-calls');
    await mkdir(bin);
    await writeFile(join(bin, 'systemctl'), `#!/bin/sh\necho "$@" >> '${calls}'\n`);
    await chmod(join(bin, 'systemctl'), 0o755);
    // dpkg wants ldconfig and start-stop-daemon on PATH, which a user's PATH may lack.
    const env = { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` };
    const dpkg = (...args: string[]) =>
      run(
        'dpkg',
        [`--root=${root}`, '--force-script-chrootless', '--force-not-root', `--log=${join(work, 'dpkg.log')}`, ...args],
        { env },
      );

    await dpkg('--install', deb);
    const { stdout: version } = await run(join(root, PACKAGE_PATHS.executable), ['--version']);
    expect(version.trim()).to.contain(AGENT_VERSION);
    expect((await stat(join(root, PACKAGE_PATHS.stateDir))).mode & 0o777).to.equal(0o700);
    expect((await stat(join(root, PACKAGE_PATHS.unit))).isFile()).to.equal(true);

    await writeFile(join(root, PACKAGE_PATHS.stateDir, 'rollback-index'), '7');
    await dpkg('--purge', 'enigm-ota-agent');
    expect(await exists(join(root, PACKAGE_PATHS.executable))).to.equal(false);
    expect(await readFile(join(root, PACKAGE_PATHS.stateDir, 'rollback-index'), 'utf8')).to.equal('7');
    expect(await exists(calls)).to.equal(false);
  });

  it('has a unit file systemd-analyze verifies without a warning', async () => {
    // verify needs ExecStart's program to exist: this copy starts the one in the package tree.
    const tree = join(work, 'deb');
    const unit = join(work, 'verify', 'enigm-ota-agent.service');
    await mkdir(join(work, 'verify'));
    const text = await readFile(join(tree, PACKAGE_PATHS.unit), 'utf8');
    await writeFile(unit, text.replace(/^ExecStart=\/usr\/bin\//m, `ExecStart=${tree}/usr/bin/`));
    const { stdout, stderr } = await run('systemd-analyze', ['verify', '--man=no', unit]);
    expect(`${stdout}${stderr}`).to.equal('');
  });
});
