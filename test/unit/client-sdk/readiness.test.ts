import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { askReadiness, checkReadinessHook, READINESS_OUTPUT_BYTES, ReadinessBackoff } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

const node = (script: string, timeoutMs = 10_000) => ({ command: [process.execPath, '-e', script], timeoutMs });

describe('the readiness hook', () => {
  it('says ready on exit code 0', async () => {
    expect(await askReadiness(node('process.exit(0)'))).to.deep.equal({ ready: true });
  });

  it('says not now on any other exit code, with the code and what the hook printed', async () => {
    const answer = await askReadiness(node('console.log("battery at 12%"); process.exit(75)'));
    expect(answer).to.deep.equal({ ready: false, detail: 'exit code 75: battery at 12%' });
  });

  it('says not now when the hook gives no answer within its time, and ends it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'readiness-'));
    try {
      const pidFile = join(dir, 'pid');
      const script = `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`;
      const answer = await askReadiness(node(script, 3000));
      expect(answer).to.deep.equal({ ready: false, detail: 'no answer within 3000 ms' });
      const pid = Number(await readFile(pidFile, 'utf8'));
      await waitFor(() => !alive(pid), 10_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps only the first bytes of a flood of output', async () => {
    const answer = await askReadiness(node('process.stdout.write("y".repeat(1 << 20), () => process.exit(1))'));
    expect(answer.ready).to.equal(false);
    if (answer.ready) return;
    expect(answer.detail.length).to.be.at.most(READINESS_OUTPUT_BYTES + 20);
    expect(answer.detail).to.match(/^exit code 1: y+$/);
  });

  it('runs no shell: a command line is one program name, which does not exist', async () => {
    const answer = await askReadiness({ command: ['true; exit 0'], timeoutMs: 5000 });
    expect(answer.ready).to.equal(false);
    if (!answer.ready) expect(answer.detail).to.match(/^could not run: .*ENOENT/);
  });

  it('refuses a hook configured without a program or with an unbounded time (CONFIG_INVALID)', () => {
    for (const hook of [
      { command: [], timeoutMs: 1000 },
      { command: [''], timeoutMs: 1000 },
      { command: ['/bin/check'], timeoutMs: 0 },
      { command: ['/bin/check'], timeoutMs: Number.NaN },
      { command: ['/bin/check'], timeoutMs: 3_600_000 },
    ])
      expect(() => checkReadinessHook(hook), JSON.stringify(hook))
        .to.throw()
        .with.property('code', 'CONFIG_INVALID');
    expect(checkReadinessHook({ command: ['/bin/check', '--battery'], timeoutMs: 5000 }).timeoutMs).to.equal(5000);
  });

  describe('backoff after "not now"', () => {
    it('doubles from 30 s up to 30 min, and starts over after "ready"', () => {
      const b = new ReadinessBackoff();
      const t = 1_000_000;
      expect(b.waitMs(t)).to.equal(0);
      expect([1, 2, 3, 4, 5, 6, 7, 8].map(() => b.record(false, t))).to.deep.equal([
        30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_800_000, 1_800_000,
      ]);
      expect(b.waitMs(t + 1_000_000)).to.equal(800_000);
      expect(b.record(true, t)).to.equal(0);
      expect(b.waitMs(t)).to.equal(0);
      expect(b.record(false, t)).to.equal(30_000);
    });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > end) expect.fail('the hook process is still running');
    await new Promise((r) => setTimeout(r, 20));
  }
}
