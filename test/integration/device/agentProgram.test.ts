import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { waitForStatus } from '../../../control/releases';
import { bundleAgent } from '../../../device/packaging/bundle';
import { rootFile } from '../../../trust/ceremony';
import { waitFor } from '../../wait';
import {
  adminApi,
  approve,
  deviceFetch,
  releaseAwaitingApproval,
  stepPublished,
  temporalClient,
  testConfig,
} from '../helpers';

const run = promisify(execFile);
const CHANNEL = 'agent';
const DEVICE = 'agent-program-1';

/** A running `enigm-ota-agent run`: its parsed log lines as they arrive, and its exit. */
interface Agent {
  child: ChildProcess;
  events: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

describe('the enigm-ota-agent program (bundled, as a child process)', () => {
  let bundle: string;
  let configFile: string;
  let dir: string;
  const go = () => join(dir, 'health-go');

  const start = (): Agent => {
    const child = spawn(process.execPath, [bundle, 'run', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events: Agent['events'] = [];
    let rest = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) events.push(JSON.parse(line) as Record<string, unknown>);
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => {
        if (code !== 0) console.log(stderr);
        resolve(code);
      }),
    );
    return { child, events, exited };
  };
  const event = (a: Agent, name: string, match: Record<string, unknown> = {}) =>
    waitFor(
      `the agent's ${name} event ${JSON.stringify(match)}`,
      () => a.events.find((e) => e['event'] === name && Object.entries(match).every(([k, v]) => e[k] === v)),
      { timeoutMs: 120_000 },
    );
  const agentCli = async (...args: string[]) => {
    try {
      const { stdout } = await run(process.execPath, [bundle, ...args, '--config', configFile, '--json']);
      return { code: 0, json: JSON.parse(stdout) as Record<string, unknown> };
    } catch (err) {
      const e = err as { code: number; stdout: string };
      return { code: e.code, json: JSON.parse(e.stdout) as Record<string, unknown> };
    }
  };
  const release = async (version: string) => {
    await releaseAwaitingApproval(CHANNEL, version, { steps: '100' });
    await approve(CHANNEL, version);
    await waitForStatus(await temporalClient(), { channel: CHANNEL, version }, stepPublished(100));
  };

  before(async function () {
    this.timeout(300_000);
    const config = testConfig();
    dir = join(config.home, 'agent-program');
    await mkdir(dir, { recursive: true });
    bundle = await bundleAgent(join(dir, 'enigm-ota-agent.js'));
    // Release validation wants the hardware id known in the fleet.
    await deviceFetch('agent-program-kit', CHANNEL);
    const api = await adminApi();
    const { token } = await api
      .send<{ token: string }>('POST', '/v1/admin/devices/tokens', {
        deviceId: DEVICE,
        hardwareId: 'devkit-a',
        channel: CHANNEL,
      })
      .finally(() => api.close());
    await writeFile(join(dir, 'token'), token);
    configFile = join(dir, 'agent.json');
    // The factory pins the stack's log and its witnesses: every timestamp the agent trusts is proved in it.
    const log = config.transparency!;
    await writeFile(
      join(dir, 'witnesses'),
      (await Promise.all(log.witnessKeyFiles.map((f) => readFile(f, 'utf8')))).join('\n'),
    );
    const health = ['/bin/sh', '-c', `while [ ! -e '${join(dir, 'health-go')}' ]; do sleep 0.05; done`];
    await writeFile(
      configFile,
      JSON.stringify({
        apiUrl: config.api.url,
        deviceId: DEVICE,
        hardwareId: 'devkit-a',
        channel: CHANNEL,
        stateDir: join(dir, 'state'),
        identity: {
          fleetCaFile: config.identity.fleetCaCert,
          enrollmentTokenFile: join(dir, 'token'),
          releaseRootFile: rootFile(config, 'release'),
          rolloutRootFile: rootFile(config, 'rollout'),
        },
        factory: { version: '1.0.0', rollbackIndex: 0 },
        installer: { backend: 'reference' },
        health: { commands: [{ argv: health, timeoutSec: 120 }], deadlineSec: 180 },
        poll: { intervalSec: 10, jitter: 0 },
        log: { level: 'debug' },
        transparencyLog: {
          keyFile: log.keyFile,
          witnessesFile: join(dir, 'witnesses'),
          quorum: log.witnessKeyFiles.length,
        },
      }),
    );
  });

  it('enrolls, installs a release with the reference installer, shows it in status, and stops at SIGTERM', async () => {
    await release('1.1.0');
    await writeFile(go(), '');
    const agent = start();
    const installed = await event(agent, 'cycle', { status: 'installed' });
    expect(installed).to.include({ version: '1.1.0', target: 'agent/1.1.0/fw-agent-1.1.0.bin' });
    // The token never reaches the journal.
    const token = await readFile(join(dir, 'token'), 'utf8');
    expect(agent.events.map((e) => JSON.stringify(e)).join('\n')).not.to.include(token);

    const status = await agentCli('status');
    expect(status.code).to.equal(0);
    expect(status.json).to.deep.include({ running: '1.1.0', pending: null, problems: [] });
    expect(status.json['stored']).to.deep.equal({ currentVersion: '1.1.0', rollbackIndex: 1 });
    expect(status.json['process']).to.include({ command: 'run', pid: agent.child.pid });
    expect(status.json['lastCycle']).to.include({ status: 'installed', version: '1.1.0' });
    const log = testConfig().transparency!;
    const witnesses = await Promise.all(
      log.witnessKeyFiles.map(async (f) => (await readFile(f, 'utf8')).split('+')[0]),
    );
    const kept = status.json['transparencyLog'] as {
      origin: string;
      size: number;
      rootHash: string;
      witnessedBy: string[];
    };
    expect(kept.origin).to.equal(log.origin);
    expect(kept.size).to.be.above(0);
    expect(kept.rootHash).to.match(/^[0-9a-f]{64}$/);
    expect(witnesses).to.have.length.above(0);
    expect(kept.witnessedBy).to.deep.equal(witnesses);

    // Idle between cycles: it stops at once, and leaves no lock behind.
    agent.child.kill('SIGTERM');
    expect(await agent.exited).to.equal(0);
    expect(await event(agent, 'stopping')).to.include({ when: 'now' });
    expect(existsSync(join(dir, 'state', 'agent.lock'))).to.equal(false);
  });

  it('at SIGTERM during an install, finishes and records it before exiting; the next start settles', async () => {
    await release('1.2.0');
    await rm(go(), { force: true });
    const agent = start();
    // The trial boot runs the health command, which waits for the test: the install is under way.
    await event(agent, 'step', { step: 'intent-written' });
    agent.child.kill('SIGTERM');
    expect(await event(agent, 'stopping')).to.include({ when: 'after-install' });
    await writeFile(go(), '');
    expect(await agent.exited).to.equal(0);
    const names = agent.events.map((e) => String(e['event']));
    expect(names.indexOf('cycle')).to.be.above(names.indexOf('stopping'));
    expect(agent.events.find((e) => e['event'] === 'cycle')).to.include({ status: 'installed', version: '1.2.0' });
    const state = JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8')) as Record<string, unknown>;
    expect(state).to.deep.equal({ currentVersion: '1.2.0', rollbackIndex: 1 });

    // The next start (a one-off cycle here) finds nothing to settle or install.
    const next = await agentCli('check-now');
    expect(next.code).to.equal(0);
    expect(next.json).to.include({ status: 'up-to-date', version: '1.2.0' });
  });

  it('check-now while the service runs asks the service for the cycle instead of racing it', async () => {
    const agent = start();
    await event(agent, 'cycle', { status: 'up-to-date' });
    const asked = await agentCli('check-now', '--timeout', '60');
    expect(asked.code).to.equal(0);
    expect(asked.json).to.include({ status: 'up-to-date', version: '1.2.0' });
    await event(agent, 'cycle-requested');
    // The cycle check-now printed is one the service ran: one process acted on the state directory.
    await event(agent, 'cycle', { startedAt: asked.json['startedAt'] });
    agent.child.kill('SIGTERM');
    expect(await agent.exited).to.equal(0);
  });
});
