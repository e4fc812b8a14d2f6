import { DELTA_FIELD, DELTA_FORMAT } from '@enigm-ota/client-sdk';
import { TargetFile } from '@tufjs/models';
import { expect } from 'chai';

import { retiredNames, retiredTargets, type RetireEntry } from '../../../activities/retire';

const entry = (version: string, rollout: Partial<RetireEntry['rollout']> = {}, rollbackIndex = 1): RetireEntry => ({
  name: `stable/${version}/fw.bin`,
  version,
  rollbackIndex,
  rollout: { percent: 100, paused: false, withdrawn: false, ...rollout },
});

describe("retiredTargets (what leaves a partition's device-facing metadata)", () => {
  it('keeps the newest stable releases and retires older stable ones, by version not by order', () => {
    const entries = [entry('1.2.0'), entry('1.10.0'), entry('1.9.0'), entry('1.1.0')];
    expect(retiredTargets(entries, 2).sort()).to.deep.equal(['stable/1.1.0/fw.bin', 'stable/1.2.0/fw.bin']);
    expect(retiredTargets(entries, 4)).to.deep.equal([]);
  });

  it('retires every withdrawn release (rolled back, aborted, superseded), however new', () => {
    expect(
      retiredTargets([entry('2.0.0', { withdrawn: true }), entry('1.5.0', { withdrawn: true }), entry('1.0.0')], 2),
    ).to.deep.equal(['stable/2.0.0/fw.bin', 'stable/1.5.0/fw.bin']);
  });

  it('keeps the newest release with the highest rollback index, withdrawn or old, as the floor devices may hold', () => {
    expect(
      retiredTargets(
        [entry('2.0.0', { withdrawn: true }, 5), entry('1.9.0', { withdrawn: true }, 5), entry('1.0.0', {}, 1)],
        2,
      ),
    ).to.deep.equal(['stable/1.9.0/fw.bin']);
    expect(retiredTargets([entry('3.0.0', {}, 2), entry('2.0.0', {}, 2), entry('1.0.0', {}, 7)], 1)).to.deep.equal([
      'stable/2.0.0/fw.bin',
    ]);
  });

  it('keeps releases still rolling out or paused, and does not count them as stable', () => {
    const entries = [entry('3.0.0', { percent: 10 }), entry('2.5.0', { paused: true }), entry('2.0.0'), entry('1.0.0')];
    expect(retiredTargets(entries, 1)).to.deep.equal(['stable/1.0.0/fw.bin']);
  });
});

describe("retiredNames (a partition's rollout targets, delta updates among them)", () => {
  const release = (version: string, rollout: object = {}) =>
    new TargetFile({
      path: `stable/${version}/fw.bin`,
      length: 10,
      hashes: { sha256: 'ab'.repeat(32) },
      unrecognizedFields: {
        custom: {
          version,
          channel: 'stable',
          hardwareIds: ['devkit-a'],
          rollbackIndex: 1,
          rollout: { percent: 100, salt: 's', paused: false, withdrawn: false, ...rollout },
        } as never,
      },
    });
  const delta = (rebuilds: string, from: string) =>
    new TargetFile({
      path: `stable/${rebuilds}/fw.bin.from-${from}.delta`,
      length: 5,
      hashes: { sha256: 'cd'.repeat(32) },
      unrecognizedFields: {
        custom: {
          [DELTA_FIELD]: {
            format: DELTA_FORMAT,
            base: { sha256: 'ef'.repeat(32), length: 10 },
            target: { name: `stable/${rebuilds}/fw.bin`, sha256: 'ab'.repeat(32), length: 10 },
          },
        } as never,
      },
    });
  const named = (targets: TargetFile[]) => Object.fromEntries(targets.map((t) => [t.path, t]));

  it('keeps a delta while the release it rebuilds is listed, and retires it with that release', () => {
    const targets = named([
      release('3.0.0'),
      release('2.0.0'),
      release('1.0.0'),
      delta('3.0.0', '2.0.0'),
      delta('2.0.0', '1.0.0'),
    ]);
    expect(retiredNames(targets, 1).sort()).to.deep.equal([
      'stable/1.0.0/fw.bin',
      'stable/2.0.0/fw.bin',
      'stable/2.0.0/fw.bin.from-1.0.0.delta',
    ]);
  });

  it('never takes a delta for a withdrawn release, and retires a delta whose binding cannot be read', () => {
    const broken = new TargetFile({
      path: 'stable/x.delta',
      length: 5,
      hashes: { sha256: 'cd'.repeat(32) },
      unrecognizedFields: { custom: { [DELTA_FIELD]: { format: 'other' } } as never },
    });
    const targets = named([release('3.0.0', { withdrawn: true }), release('2.0.0'), delta('3.0.0', '2.0.0'), broken]);
    expect(retiredNames(targets, 2).sort()).to.deep.equal([
      'stable/3.0.0/fw.bin',
      'stable/3.0.0/fw.bin.from-2.0.0.delta',
      'stable/x.delta',
    ]);
  });
});
