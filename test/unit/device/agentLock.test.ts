import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';

import { acquireLock } from '../../../device/agent/lock';
import { tempDirs } from '../tempDirs';

/** How many of the attempts took the lock. */
async function winners(dir: string, attempts: number): Promise<number> {
  // One that finds another agent mid-takeover gives up with an error (it exits; systemd starts it again).
  const results = await Promise.all(
    Array.from({ length: attempts }, (_, i) => acquireLock(dir, `agent-${i}`).catch(() => ({ failed: true }))),
  );
  return results.filter((r) => 'release' in r).length;
}

describe('agent lock', () => {
  const temp = tempDirs('ota-lock-');

  it('goes to exactly one of many agents starting at once, and leaves no temporary file', async () => {
    for (let round = 0; round < 20; round++) {
      const dir = await temp();
      expect(await winners(dir, 8)).to.equal(1);
      expect(await readdir(dir)).to.deep.equal(['agent.lock']);
    }
  });

  it('is taken over from a holder that is gone by exactly one of the agents that find it', async () => {
    for (let round = 0; round < 20; round++) {
      const dir = await temp();
      // A pid that cannot be alive: the holder crashed or lost power.
      await writeFile(join(dir, 'agent.lock'), JSON.stringify({ pid: 2 ** 22 + 1, command: 'run', since: 'x' }));
      expect(await winners(dir, 8)).to.be.at.most(1);
      const again = await acquireLock(dir, 'later');
      expect('heldBy' in again, 'someone holds it after the takeover').to.equal(true);
    }
  });

  it('ignores a takeover marker left by a crash once it expired', async () => {
    const dir = await temp();
    await writeFile(join(dir, 'agent.lock'), JSON.stringify({ pid: 2 ** 22 + 1, command: 'run', since: 'x' }));
    await mkdir(join(dir, 'agent.lock.takeover'));
    const old = new Date(Date.now() - 120_000);
    await utimes(join(dir, 'agent.lock.takeover'), old, old);
    await acquireLock(dir, 'first').catch(() => undefined);
    const taken = await acquireLock(dir, 'second');
    expect(taken).to.have.property('release');
  });
});
