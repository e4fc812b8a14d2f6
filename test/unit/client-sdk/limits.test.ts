import { expect } from 'chai';
import { defaultLimits, updaterConfig } from '@enigm-ota/client-sdk';

describe('updaterConfig', () => {
  it('D-2: caps every metadata download with the device limits and never retries', () => {
    const limits = { ...defaultLimits, rootMaxLength: 1, timestampMaxLength: 2, snapshotMaxLength: 3, targetsMaxLength: 4, fetchTimeoutMs: 5 };
    expect(updaterConfig(limits)).to.deep.equal({
      rootMaxLength: 1,
      timestampMaxLength: 2,
      snapshotMaxLength: 3,
      targetsMaxLength: 4,
      fetchTimeout: 5,
      fetchRetries: 0,
    });
  });
});
