import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { REPO_ROOT } from '../../paths';

const HISTORIES = join(REPO_ROOT, 'test', 'histories');

/**
 * Histories recorded from real releases (scripts/recordHistories.ts) replayed against
 * today's workflow code: a change that would break running releases fails here.
 */
describe('recorded release histories', () => {
  it('replay without nondeterminism against the current workflow code', async () => {
    const files = (await readdir(HISTORIES)).filter((f) => f.endsWith('.json'));
    expect(files.length).to.be.greaterThan(3);
    for (const file of files) {
      const history = JSON.parse(await readFile(join(HISTORIES, file), 'utf8')) as unknown;
      await Worker.runReplayHistory({ workflowsPath: require.resolve('../../../workflows'), replayName: file }, history, file.replace(/\.json$/, ''));
    }
  });
});
