import { readFile } from 'node:fs/promises';

import { runCommand, runProgram } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

const LIMITS = { maxOutputBytes: 1024 };

describe('runCommand', () => {
  it('answers the output of a program that exited 0, its arguments passed as they are (no shell)', async () => {
    const out = await runCommand({ argv: ['printf', '%s|', 'a b', '$HOME', ';true'], timeoutMs: 5000 }, LIMITS);
    expect(out.stdout).to.equal('a b|$HOME|;true|');
  });

  it('refuses a non-zero exit with INSTALLER_COMMAND_FAILED and what the program said', async () => {
    const err = await runCommand({ argv: ['sh', '-c', 'echo broken >&2; exit 3'], timeoutMs: 5000 }, LIMITS).catch(
      (e: unknown) => e,
    );
    expect(err).to.have.property('code', 'INSTALLER_COMMAND_FAILED');
    expect(err)
      .to.have.property('message')
      .that.matches(/exit code 3: broken/);
  });

  it('kills a program that outlives its deadline', async () => {
    const err = await runCommand({ argv: ['sleep', '30'], timeoutMs: 100 }, LIMITS).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'INSTALLER_COMMAND_FAILED');
    expect(err)
      .to.have.property('message')
      .that.matches(/still running after 100 ms/);
  });

  it('kills what a program started too when it outlives its deadline', async () => {
    const out = await runProgram({
      argv: ['sh', '-c', 'sleep 31 & echo $!; sleep 30'],
      timeoutMs: 300,
      maxOutputBytes: 1024,
      overflow: 'drop',
    });
    expect(out.stopped).to.equal('timeout');
    const pid = Number(out.stdout.trim());
    expect(pid).to.be.above(1);
    // Gone, or a zombie its new parent has not reaped yet: no longer running either way.
    let state = '';
    for (let i = 0; i < 50; i++) {
      state = await readFile(`/proc/${pid}/stat`, 'utf8').then(
        (s) => s.split(') ')[1]?.[0] ?? '',
        () => 'gone',
      );
      if (state === 'gone' || state === 'Z') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(state).to.be.oneOf(['gone', 'Z']);
  });

  it('kills a program whose output outgrows the limit', async () => {
    const err = await runCommand({ argv: ['yes'], timeoutMs: 20_000 }, LIMITS).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'INSTALLER_COMMAND_FAILED');
    expect(err)
      .to.have.property('message')
      .that.matches(/stdout over 1024 bytes/);
  });

  it('answers by the deadline when the program exited 0 and left a descendant holding its output', async () => {
    const started = Date.now();
    const out = await runCommand({ argv: ['sh', '-c', 'sleep 20 & echo $!'], timeoutMs: 1000 }, LIMITS);
    process.kill(Number(out.stdout), 'SIGKILL');
    expect(Date.now() - started).to.be.below(8000);
  });

  it('refuses a missing program and a spec without a deadline', async () => {
    expect(
      await runCommand({ argv: ['/nonexistent/rauc'], timeoutMs: 5000 }, LIMITS).catch((e: unknown) => e),
    ).to.have.property('code', 'INSTALLER_COMMAND_FAILED');
    expect(
      await runCommand({ argv: ['true'], timeoutMs: Number.NaN }, LIMITS).catch((e: unknown) => e),
    ).to.have.property('code', 'CONFIG_INVALID');
  });
});
