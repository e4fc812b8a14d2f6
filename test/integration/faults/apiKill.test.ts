import { expect } from 'chai';

import { ProcessManager } from '../../../scripts/lib/processes';
import { stackUp, TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { TEST_EXTRA_ENV } from '../setup';
import { reportProblems } from './invariants';
import { reportStorm } from './reportStorm';

/**
 * Fault injection: the API process killed with SIGKILL in the middle of a report
 * storm, then started again. Devices retry what got no answer; every report that got a 2xx
 * is in the store exactly once, including those acknowledged just before the kill.
 */
describe('faults: the API killed during a report storm', function () {
  this.timeout(300_000);
  const pm = new ProcessManager(TEST_PROFILE.home);

  after(async function () {
    this.timeout(120_000);
    await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
  });

  it('keeps every acknowledged report exactly once', async () => {
    const storm = await reportStorm({
      prefix: 'storm-api-',
      devices: 12,
      reports: 20,
      fault: async (live) => {
        const unanswered = live.failures[0] ?? 0;
        expect(await pm.stop('api', { kill: true })).to.equal(true);
        // Down until devices met it: reports went unanswered and are being sent again.
        await waitFor('reports unanswered by the dead API', () => (live.failures[0] ?? 0) > unanswered, {
          timeoutMs: 60_000,
        });
        await stackUp(TEST_PROFILE, { extraEnv: TEST_EXTRA_ENV });
      },
    });
    expect(Object.keys(storm.failures), 'reports met the dead API').to.include('0');
    expect(Object.keys(storm.failures), 'no answer other than none or a 503').to.satisfy((codes: string[]) =>
      codes.every((c) => c === '0' || c === '503'),
    );
    expect([...storm.acked.values()].flat().length).to.be.at.least(12 * 20);
    expect(await reportProblems(storm.acked)).to.deep.equal([]);
  });
});
