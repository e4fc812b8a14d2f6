import { expect } from 'chai';

import type { MetadataStatus, RoleFreshness } from '../../../common/adminApi';
import { describeMetadataStatus } from '../../../control/metadataStatus';

const role = (r: Partial<RoleFreshness>): RoleFreshness => ({
  role: 'timestamp',
  version: 3,
  expires: '2026-12-07T00:00:00Z',
  hoursLeft: 160,
  expiresSoon: false,
  ...r,
});

function status(partitions: number, trouble: Partial<RoleFreshness> = {}): MetadataStatus {
  const roles = [role({ role: 'root', version: 2 })];
  for (let i = 0; i < partitions; i++) {
    for (const r of ['targets', 'snapshot', 'timestamp'] as const)
      roles.push(role({ role: r, partition: `stable/hw-${i}`, ...(i === 7 && r === 'timestamp' ? trouble : {}) }));
  }
  return {
    repositories: { release: roles, rollout: [] },
    schedule: { exists: true, paused: false },
    watermarks: [],
    healthy: true,
    problems: [],
  };
}

describe('describeMetadataStatus', () => {
  it('lists every role file of a few partitions', () => {
    const text = describeMetadataStatus(status(3));
    expect(text).to.contain('release repository: 3 partition(s)\n');
    expect(text.match(/stable\/hw-\d+ /g)).to.have.length(9);
  });

  it('with many partitions lists the root and the role files that need a look, and counts the rest', () => {
    const text = describeMetadataStatus(status(40, { expiresSoon: true, hoursLeft: 2 }));
    expect(text).to.contain(
      'release repository: 40 partition(s), 119 healthy role files not listed (--json lists them)',
    );
    expect(text).to.match(/ {2}root +v2 /);
    expect(text).to.match(/stable\/hw-7 timestamp .*not re-signed in time/);
    expect(text.match(/stable\/hw-\d+ /g)).to.have.length(1);
  });

  it('lists a partition whose storage went back below the highest version seen', () => {
    const text = describeMetadataStatus(status(40, { highestSeen: 9 }));
    expect(text).to.match(/stable\/hw-7 timestamp .*ROLLED BACK: v9/);
  });
});
