import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Worker } from '@temporalio/worker';
import { expect } from 'chai';

import { REPO_ROOT } from '../../paths';
import { workflowBundle } from './bundle';

const HISTORIES = join(REPO_ROOT, 'test', 'histories');

/**
 * Histories recorded from real releases (scripts/recordHistories.ts) replayed against
 * today's workflow code: a change that would break running releases fails here. The code
 * is bundled once (./bundle.ts) and one replay worker takes every history (a bundle per
 * history cost most of the unit tier's time).
 */
describe('recorded release histories', () => {
  it('replay without nondeterminism against the current workflow code', async () => {
    const files = (await readdir(HISTORIES)).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).to.be.greaterThan(3);
    const histories = await Promise.all(
      files.map(async (file) => ({
        workflowId: file.replace(/\.json$/, ''),
        // runReplayHistories reads the JSON form of a history (as `temporal workflow show` writes it).
        history: JSON.parse(await readFile(join(HISTORIES, file), 'utf8')) as unknown,
      })),
    );
    const replayed: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle(), replayName: 'recorded-releases' },
      histories,
    )) {
      expect(result.error, `${result.workflowId}: ${result.error?.message}`).to.equal(undefined);
      replayed.push(result.workflowId);
    }
    expect(replayed.sort()).to.deep.equal(histories.map((h) => h.workflowId).sort());
  });
});
