import { expect } from 'chai';

import { deliverySummary } from '../../../common/adminApi';

describe('deliverySummary (release status: how installs came)', () => {
  it('counts the saving against a full image for every install', () => {
    const s = deliverySummary(
      { delta: { installs: 3, bytes: 300 }, full: { installs: 1, bytes: 1000 }, deltaRefused: 1 },
      1000,
    );
    expect(s).to.deep.equal({
      delta: { installs: 3, bytes: 300 },
      full: { installs: 1, bytes: 1000 },
      deltaRefused: 1,
      savedBytes: 2700,
      savedPercent: 67.5,
    });
  });

  it('saves nothing without installs, and never reports a negative saving (resumed downloads count what they fetched)', () => {
    expect(
      deliverySummary({ delta: { installs: 0, bytes: 0 }, full: { installs: 0, bytes: 0 }, deltaRefused: 0 }, 1000),
    ).to.include({ savedBytes: 0, savedPercent: 0 });
    expect(
      deliverySummary({ delta: { installs: 0, bytes: 0 }, full: { installs: 1, bytes: 1500 }, deltaRefused: 0 }, 1000),
    ).to.include({ savedBytes: 0, savedPercent: 0 });
  });
});
