import { expect } from 'chai';

import { runCommand } from '../../../device/agent/commands';

/** The pid a test script printed first, so the descendant it left behind can be ended. */
function endDescendant(output: string): void {
  const pid = Number(/^(\d+)/.exec(output)?.[1]);
  if (Number.isSafeInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

describe('agent commands (health checks, hooks, the metered probe)', function () {
  this.timeout(15_000);

  it('answers at the deadline when a program ends but a descendant keeps its output open', async () => {
    const started = Date.now();
    const r = await runCommand(['sh', '-c', 'sleep 20 & echo $!'], { timeoutMs: 1000 });
    endDescendant(r.output);
    expect(Date.now() - started).to.be.below(8000);
    expect(r).to.include({ exitCode: 0, timedOut: false });
    expect(r.output).to.match(/^\d+\n$/);
  });

  it('answers at the deadline when a killed program leaves a descendant holding its output', async () => {
    const started = Date.now();
    const r = await runCommand(['sh', '-c', 'sleep 20 & echo $!; wait'], { timeoutMs: 1000 });
    endDescendant(r.output);
    expect(Date.now() - started).to.be.below(8000);
    expect(r).to.include({ exitCode: undefined, timedOut: true });
  });

  it('reports a command that cannot be started (an empty program name) instead of throwing', async () => {
    const r = await runCommand([''], { timeoutMs: 1000 });
    expect(r).to.include({ exitCode: undefined, timedOut: false });
    expect(r.output).to.match(/empty|invalid/i);
  });

  it('keeps the first 4096 bytes of stdout and stderr together, passes env, runs no shell', async () => {
    const flood = await runCommand([process.execPath, '-e', 'process.stderr.write("e".repeat(1 << 20))'], {
      timeoutMs: 10_000,
    });
    expect(flood).to.deep.equal({ exitCode: 0, timedOut: false, output: 'e'.repeat(4096) });
    const env = await runCommand(['printenv', 'ENIGM_OTA_VERSION'], {
      timeoutMs: 5000,
      env: { ENIGM_OTA_VERSION: '2.1.0' },
    });
    expect(env.output).to.equal('2.1.0\n');
    const literal = await runCommand(['echo', '$HOME;', 'true'], { timeoutMs: 5000 });
    expect(literal.output).to.equal('$HOME; true\n');
  });
});
