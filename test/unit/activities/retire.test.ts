import { expect } from 'chai';
import { retiredTargets, type RetireEntry } from '../../../activities/retire';

const entry = (version: string, rollout: Partial<RetireEntry['rollout']> = {}, rollbackIndex = 1): RetireEntry => ({
  name: `stable/${version}/fw.bin`,
  version,
  rollbackIndex,
  rollout: { percent: 100, paused: false, withdrawn: false, ...rollout },
});

describe('retiredTargets (what leaves a partition\'s device-facing metadata)', () => {
  it('keeps the newest stable releases and retires older stable ones, by version not by order', () => {
    const entries = [entry('1.2.0'), entry('1.10.0'), entry('1.9.0'), entry('1.1.0')];
    expect(retiredTargets(entries, 2).sort()).to.deep.equal(['stable/1.1.0/fw.bin', 'stable/1.2.0/fw.bin']);
    expect(retiredTargets(entries, 4)).to.deep.equal([]);
  });

  it('retires every withdrawn release (rolled back, aborted, superseded), however new', () => {
    expect(retiredTargets([entry('2.0.0', { withdrawn: true }), entry('1.5.0', { withdrawn: true }), entry('1.0.0')], 2)).to.deep.equal(['stable/2.0.0/fw.bin', 'stable/1.5.0/fw.bin']);
  });

  it('keeps the newest release with the highest rollback index, withdrawn or old, as the floor devices may hold', () => {
    expect(retiredTargets([entry('2.0.0', { withdrawn: true }, 5), entry('1.9.0', { withdrawn: true }, 5), entry('1.0.0', {}, 1)], 2)).to.deep.equal(['stable/1.9.0/fw.bin']);
    expect(retiredTargets([entry('3.0.0', {}, 2), entry('2.0.0', {}, 2), entry('1.0.0', {}, 7)], 1)).to.deep.equal(['stable/2.0.0/fw.bin']);
  });

  it('keeps releases still rolling out or paused, and does not count them as stable', () => {
    const entries = [entry('3.0.0', { percent: 10 }), entry('2.5.0', { paused: true }), entry('2.0.0'), entry('1.0.0')];
    expect(retiredTargets(entries, 1)).to.deep.equal(['stable/1.0.0/fw.bin']);
  });
});
