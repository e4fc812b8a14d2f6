import { expect } from 'chai';

import { ProcessManager } from '../../../scripts/lib/processes';
import { TEST_PROFILE } from '../../../scripts/lib/stack';
import { waitFor } from '../../wait';
import { reportProblems } from '../faults/invariants';
import { reportStorm } from '../faults/reportStorm';
import { restartSuitePostgres, TEST_EXTRA_ENV } from '../setup';

/**
 * Fault injection: PostgreSQL (the shared fleet store) stopped and started again
 * while reports arrive. The API answers 503 meanwhile (never a 2xx for a report it did not
 * store), reconnects by itself, and every acknowledged report is stored exactly once.
 */
describe('faults: PostgreSQL restarted while reports arrive', function () {
  this.timeout(300_000);
  const pm = new ProcessManager(TEST_PROFILE.home);

  before(function () {
    if (!TEST_EXTRA_ENV['DATABASE_URL'])
      throw new Error('this suite runs in the postgres tier only (test/tiers/postgres.json)');
  });

  it('keeps every acknowledged report exactly once, on the same API process', async () => {
    const api = pm.running('api');
    const storm = await reportStorm({
      prefix: 'storm-pg-',
      devices: 12,
      reports: 20,
      fault: async (live) => {
        const refused = live.failures[503] ?? 0;
        // Down until reports met it: the API answered 503 (store unavailable) for some.
        await restartSuitePostgres(() =>
          waitFor('reports refused while the store is down', () => (live.failures[503] ?? 0) > refused, {
            timeoutMs: 60_000,
          }),
        );
      },
    });
    // The store was down: answered 503 with its code (never 500, never a 2xx).
    expect(storm.failures, 'reports met the stopped store').to.have.property('503');
    expect(Object.keys(storm.failures)).to.deep.equal(['503']);
    expect(pm.running('api'), 'the API outlived the restart').to.equal(api);
    expect([...storm.acked.values()].flat().length).to.be.at.least(12 * 20);
    expect(await reportProblems(storm.acked)).to.deep.equal([]);
  });
});
