import { expect } from 'chai';

import { describeTally, type FleetTally } from '../../../simulator/fleet';

describe('ota fleet simulate: the progress line', () => {
  const tally: FleetTally = {
    rounds: 4,
    elapsedMs: 12_000,
    versions: { '1.0.0': 2, '2.0.0': 3 },
    installs: 3,
    refusals: { NOT_IN_ROLLOUT: 1 },
    errors: {},
    waiting: { INSTALL_WINDOW_CLOSED: 2 },
    done: false,
  };

  it('says how many devices wait for a release and why, beside installs and refusals', () => {
    expect(describeTally(tally)).to.equal(
      'round 4 · 12s · versions 1.0.0: 2 · 2.0.0: 3 · installs 3 · waiting INSTALL_WINDOW_CLOSED: 2 · refused NOT_IN_ROLLOUT: 1',
    );
  });

  it('leaves waiting out when no device waits', () => {
    expect(describeTally({ ...tally, waiting: {} })).to.not.include('waiting');
  });
});
