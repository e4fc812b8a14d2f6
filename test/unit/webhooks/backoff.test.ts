import { expect } from 'chai';

import { givesUp, RETRY, retryDelayMs } from '../../../webhooks/backoff';

describe('webhook retry schedule', () => {
  it('doubles from 5 s per failed attempt, up to the cap, with jitter between half and all of it', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, RETRY.maxMs, 0.999999))).to.deep.equal([5000, 10000, 20000, 40000]);
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, RETRY.maxMs, 0))).to.deep.equal([2500, 5000, 10000, 20000]);
    expect(retryDelayMs(30, RETRY.maxMs, 0.999999)).to.equal(RETRY.maxMs);
    expect(retryDelayMs(1000, 60_000, 0)).to.equal(30_000);
  });

  it('spreads retries: 1,000 receivers failing together do not come back at one instant', () => {
    const delays = new Set(Array.from({ length: 1000 }, () => retryDelayMs(3)));
    expect(delays.size).to.be.above(500);
    for (const d of delays) expect(d).to.be.within(10_000, 20_000);
  });

  it('gives up 24 hours after the event (or its redelivery), not before', () => {
    const from = new Date('2026-12-07T00:00:00Z');
    expect(givesUp(from, new Date('2026-12-07T23:59:59Z'))).to.equal(false);
    expect(givesUp(from, new Date('2026-12-08T00:00:00Z'))).to.equal(true);
  });
});
