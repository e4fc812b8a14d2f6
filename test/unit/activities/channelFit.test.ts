import { expect } from 'chai';

import { type ChannelEntry, channelFitProblems } from '../../../activities/channelFit';
import type { ReleaseTarget } from '../../../common/release';

const target = (version: string, rollbackIndex: number, hardwareIds = ['kit-a'], channel = 'beta'): ReleaseTarget => ({
  name: `${channel}/${version}/fw.bin`,
  length: 1,
  sha256: '0'.repeat(64),
  custom: { version, channel, hardwareIds, rollbackIndex },
});
const entry = (t: ReleaseTarget, withdrawn = false): ChannelEntry => ({
  name: t.name,
  custom: { ...t.custom, rollout: { withdrawn } },
});
const fleet = new Set(['kit-a', 'kit-b']);

describe('channelFitProblems', () => {
  it('accepts a release above everything its channel offers', () => {
    expect(
      channelFitProblems(target('1.1.0', 2), {
        offered: [entry(target('1.0.0', 2))],
        released: [],
        fleetHardware: fleet,
      }),
    ).to.deep.equal([]);
  });

  it('refuses a rollback index below one the channel offered, withdrawn releases included (devices keep the index)', () => {
    const problems = channelFitProblems(target('1.2.0', 1), {
      offered: [entry(target('1.1.0', 2), true), entry(target('1.0.0', 1))],
      released: [],
      fleetHardware: fleet,
    });
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/rollback index 1 is below 2 of beta\/1\.1\.0\/fw\.bin.*ROLLBACK_INDEX_TOO_LOW/);
  });

  it('refuses a version not above one the channel still offers, but not one above a withdrawn release only', () => {
    expect(
      channelFitProblems(target('1.0.5', 1), {
        offered: [entry(target('1.1.0', 1))],
        released: [],
        fleetHardware: fleet,
      })[0],
    ).to.match(/version 1\.0\.5 is not above 1\.1\.0.*NOT_NEWER/);
    expect(
      channelFitProblems(target('1.1.0', 1), {
        offered: [entry(target('1.1.0', 1, ['kit-a'], 'beta'))].map((e) => ({ ...e, name: 'beta/1.1.0/other.bin' })),
        released: [],
        fleetHardware: fleet,
      })[0],
    ).to.match(/not above 1\.1\.0/);
    expect(
      channelFitProblems(target('1.0.5', 1), {
        offered: [entry(target('1.1.0', 1), true)],
        released: [],
        fleetHardware: fleet,
      }),
    ).to.deep.equal([]);
  });

  it('compares only with releases of the same channel for the same hardware', () => {
    const offered = [entry(target('2.0.0', 5, ['kit-a'], 'stable')), entry(target('2.0.0', 5, ['kit-b']))];
    expect(
      channelFitProblems(target('1.0.0', 1, ['kit-a']), { offered: offered, released: [], fleetHardware: fleet }),
    ).to.deep.equal([]);
  });

  it('refuses hardware no device has and no release was for; knows every hardware while the fleet is empty', () => {
    expect(
      channelFitProblems(target('1.0.0', 1, ['kit-a', 'kit-z']), { offered: [], released: [], fleetHardware: fleet }),
    ).to.deep.equal(['hardware kit-z is unknown: no device in the fleet has it and no earlier release was for it']);
    expect(
      channelFitProblems(target('1.0.0', 1, ['kit-z']), {
        offered: [],
        released: [entry(target('0.9.0', 1, ['kit-z'], 'other'))],
        fleetHardware: fleet,
      }),
    ).to.deep.equal([]);
    expect(
      channelFitProblems(target('1.0.0', 1, ['kit-z']), { offered: [], released: [], fleetHardware: new Set() }),
    ).to.deep.equal([]);
  });

  it('does not compare a release with itself (it is in the release repository by validation time)', () => {
    const self = target('1.0.0', 1, ['kit-z']);
    expect(
      channelFitProblems(self, { offered: [entry(self)], released: [entry(self)], fleetHardware: fleet }),
    ).to.deep.equal(['hardware kit-z is unknown: no device in the fleet has it and no earlier release was for it']);
  });
});
