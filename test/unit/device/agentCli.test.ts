import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { exitCodeOf, parseCli, UsageError } from '../../../device/agent/cli';
import { AGENT_VERSION } from '../../../device/agent/version';
import { DIST, REPO_ROOT } from '../../paths';
import { tempDirs } from '../tempDirs';

const run = promisify(execFile);

async function agent(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(DIST, 'device', 'agent', 'main.js'), ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('enigm-ota-agent command line', () => {
  const temp = tempDirs('agent-cli-');

  it('runs the service by default, with the default configuration file', () => {
    expect(parseCli([])).to.deep.equal({
      name: 'run',
      config: '/etc/enigm-ota/agent.json',
      json: false,
      timeoutSec: 1800,
    });
    expect(parseCli(['status', '--json', '--config', '/tmp/a.json'])).to.deep.equal({
      name: 'status',
      config: '/tmp/a.json',
      json: true,
      timeoutSec: 1800,
    });
    expect(parseCli(['--timeout', '60', 'check-now'])).to.include({ name: 'check-now', timeoutSec: 60 });
    expect(parseCli(['status', '--version'])).to.deep.equal({ name: 'version' });
    expect(parseCli(['-h'])).to.deep.equal({ name: 'help' });
  });

  it('refuses what it does not understand rather than guessing', () => {
    for (const args of [
      ['--conf', 'x'],
      ['start'],
      ['status', 'run'],
      ['--config'],
      ['--config', '--json'],
      ['check-now', '--timeout', '0'],
      ['--timeout', '1e3'],
    ])
      expect(() => parseCli(args), args.join(' ')).to.throw(UsageError);
  });

  it("maps check-now's outcome to its exit code", () => {
    expect(['up-to-date', 'installed', 'refused', 'error'].map(exitCodeOf)).to.deep.equal([0, 3, 4, 1]);
  });

  it('prints its version (the package version) and its help', async () => {
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(AGENT_VERSION).to.equal(pkg.version);
    expect(await agent('--version')).to.include({ code: 0, stdout: `${AGENT_VERSION}\n` });
    const help = await agent('--help');
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('check-now').and.include('--config FILE');
  });

  it('exits 2 on bad usage or a refused configuration, naming the key, and starts nothing', async () => {
    const usage = await agent('frobnicate');
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include('unknown command frobnicate');
    const dir = await temp();
    const file = join(dir, 'agent.json');
    const state = join(dir, 'state');
    await writeFile(
      file,
      JSON.stringify({
        apiUrl: 'https://x',
        deviceId: 'd',
        hardwareId: 'h',
        channel: 'c',
        stateDir: state,
        installer: { backend: 'reference' },
        poll: { intervalSec: 0 },
      }),
    );
    const refused = await agent('run', '--config', file);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.include(`${file}: poll.intervalSec: must be an integer in 10..86400`);
    expect(refused.stdout).to.equal('');
    // Nothing started: not even the state directory was made.
    expect(await readFile(join(state, 'agent.lock')).catch((e: NodeJS.ErrnoException) => e.code)).to.equal('ENOENT');
  });

  it('exits 2 naming the key when a provisioned file is missing', async () => {
    const dir = await temp();
    const file = join(dir, 'agent.json');
    const identity = {
      fleetCaFile: join(dir, 'none.pem'),
      releaseRootFile: join(dir, 'r.json'),
      rolloutRootFile: join(dir, 'o.json'),
    };
    await writeFile(
      file,
      JSON.stringify({
        apiUrl: 'https://x',
        deviceId: 'd',
        hardwareId: 'h',
        channel: 'c',
        stateDir: join(dir, 'state'),
        identity,
        installer: { backend: 'reference' },
      }),
    );
    const refused = await agent('check-now', '--config', file);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.match(/identity\.releaseRootFile: cannot read .*r\.json/);
  });
});
