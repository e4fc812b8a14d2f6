import { createHash } from 'node:crypto';

import { BUCKET_COUNT, bucketInPercent, rolloutBucket } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

describe('rolloutBucket', () => {
  it('is the first four bytes of sha256("salt:deviceId"), big-endian, modulo 10,000: what every device and API version computes', () => {
    // Devices already in the field compute it this way; a change would move them between rollout steps.
    expect(rolloutBucket('release-a', 'dev-1')).to.equal(
      createHash('sha256').update('release-a:dev-1').digest().readUInt32BE(0) % BUCKET_COUNT,
    );
    for (let i = 0; i < 2000; i++) {
      const [salt, id] = [`s${i % 7}`, `device-${i}-ü`];
      expect(rolloutBucket(salt, id)).to.equal(
        createHash('sha256').update(`${salt}:${id}`).digest().readUInt32BE(0) % BUCKET_COUNT,
      );
    }
  });

  it('gives a device the same bucket every time, and another bucket in another release', () => {
    expect(rolloutBucket('release-a', 'dev-1')).to.equal(rolloutBucket('release-a', 'dev-1'));
    const differ = Array.from(
      { length: 20 },
      (_, i) => rolloutBucket('release-a', `d${i}`) !== rolloutBucket('release-b', `d${i}`),
    );
    expect(differ.filter(Boolean).length).to.be.greaterThan(15);
  });

  it('keeps every device that was in at a lower percent in at a higher one', () => {
    for (let i = 0; i < 500; i++) {
      const b = rolloutBucket('r', `dev-${i}`);
      if (bucketInPercent(b, 10)) expect(bucketInPercent(b, 50)).to.equal(true);
    }
  });

  it('spreads devices evenly enough that 10% means about a tenth of the fleet', () => {
    let inside = 0;
    for (let i = 0; i < 20_000; i++) if (bucketInPercent(rolloutBucket('r', `dev-${i}`), 10)) inside++;
    expect(inside).to.be.within(1800, 2200);
  });

  it('covers the whole range only at 100% and nothing at 0%', () => {
    expect(bucketInPercent(BUCKET_COUNT - 1, 100)).to.equal(true);
    expect(bucketInPercent(0, 0)).to.equal(false);
  });
});
