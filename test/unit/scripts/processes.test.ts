import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import {
  currentRun,
  logContains,
  ProcessManager,
  type ServiceSpec,
  START_MARKER,
} from '../../../scripts/lib/processes';

/** A service that says which run it is, says `ready` after `delayMs`, and runs until stopped. */
function service(pm: ProcessManager, run: number, delayMs = 0): ServiceSpec {
  const script = `console.log('run ${run} started'); setTimeout(() => console.log('ready'), ${delayMs}); setInterval(() => {}, 1000);`;
  return {
    name: 'echo',
    command: process.execPath,
    args: ['-e', script],
    env: {},
    ready: () => logContains(pm.logFile('echo'), 'ready'),
    timeoutMs: 20_000,
  };
}

describe('ProcessManager logs: a restarted service appends to its log', () => {
  let home: string;
  let pm: ProcessManager;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'ota-processes-'));
    pm = new ProcessManager(home);
  });
  afterEach(async () => {
    await pm.stop('echo', { kill: true });
    await rm(home, { recursive: true, force: true });
  });

  it("keeps the earlier run's lines when a service is restarted, each run after its own start marker", async () => {
    expect(await pm.start(service(pm, 1))).to.equal('started');
    await pm.stop('echo');
    expect(await pm.start(service(pm, 2))).to.equal('started');
    const log = await readFile(pm.logFile('echo'), 'utf8');
    const lines = log.split('\n').filter((l) => l.length > 0);
    const markers = lines
      .filter((l) => l.includes(START_MARKER))
      .map((l) => JSON.parse(l) as { service?: string; msg?: string });
    expect(markers).to.have.length(2);
    expect(markers[0]).to.include({ service: 'echo', msg: START_MARKER });
    expect(log.indexOf('run 1 started')).to.be.greaterThan(-1).and.lessThan(log.indexOf('run 2 started'));
  });

  it('judges readiness by the current run only: the last run\'s "ready" does not count', async () => {
    await pm.start(service(pm, 1));
    await pm.stop('echo');
    await pm.start(service(pm, 2, 800));
    expect(currentRun(await readFile(pm.logFile('echo'), 'utf8')))
      .to.include('run 2 started')
      .and.include('ready')
      .and.not.include('run 1');
  });

  it('reads a log without a start marker as one run', () => {
    expect(currentRun('old line\n')).to.equal('old line\n');
  });
});
