import {
  type DeviceFacts,
  PolicyError,
  readReleaseFields,
  readRolloutState,
  RollbackError,
  rolloutBucket,
  VerificationError,
  verifyInstallable,
  verifyTargetName,
} from '@enigm-ota/client-sdk';
import { TargetFile } from '@tufjs/models';
import { expect } from 'chai';

import { refusal } from '../../rejection';

const SHA = 'ab'.repeat(32);
const policy = { version: '2.0.0', channel: 'stable', hardwareIds: ['devkit-a'], rollbackIndex: 3 };
const rollout = { percent: 100, salt: 'release-stable-2.0.0', paused: false, withdrawn: false };
const target = (custom: object, hashes: Record<string, string> = { sha256: SHA }, length = 10) =>
  new TargetFile({ path: 'stable/2.0.0/fw.bin', length, hashes, unrecognizedFields: { custom: custom as never } });
/** The same artifact as the rollout repository signs it: the release policy plus a rollout state. */
const offered = (state: object = {}, fields: object = {}) =>
  target({ ...policy, ...fields, rollout: { ...rollout, ...state } });
/** The release as signed, and that release offered with `state` (and rollout `fields`). */
const signedPair = (state: object = {}, fields: object = {}) => ({
  release: target(policy),
  rollout: offered(state, fields),
});
const device: DeviceFacts = {
  deviceId: 'd-1',
  hardwareId: 'devkit-a',
  channel: 'stable',
  currentVersion: '1.0.0',
  rollbackIndex: 2,
};
const now = new Date('2026-11-26T00:00:00Z');

describe('verifyInstallable', () => {
  it('returns the verified target when both repositories agree and every rule passes', () => {
    expect(verifyInstallable(signedPair(), device, now)).to.deep.equal({
      name: 'stable/2.0.0/fw.bin',
      length: 10,
      sha256: SHA,
      fields: policy,
      rollout,
    });
  });

  describe('D-3: the same artifact in both repositories', () => {
    it('accepts hardware ids listed in another order', () => {
      const both = { ...policy, hardwareIds: ['devkit-b', 'devkit-a'] };
      const ok = verifyInstallable(
        { release: target(both), rollout: target({ ...both, hardwareIds: ['devkit-a', 'devkit-b'], rollout }) },
        device,
        now,
      );
      expect(ok.fields.hardwareIds).to.deep.equal(['devkit-b', 'devkit-a']);
    });

    it('refuses when the repositories disagree on the hash', () => {
      const e = refusal(() =>
        verifyInstallable(
          { release: target(policy), rollout: target({ ...policy, rollout }, { sha256: 'cd'.repeat(32) }) },
          device,
          now,
        ),
      );
      expect(e).to.be.instanceOf(VerificationError).and.have.property('code', 'TARGET_MISMATCH');
    });

    it('refuses when the repositories disagree on the length', () => {
      const e = refusal(() =>
        verifyInstallable(
          { release: target(policy), rollout: target({ ...policy, rollout }, { sha256: SHA }, 11) },
          device,
          now,
        ),
      );
      expect(e).to.be.instanceOf(VerificationError).and.have.property('code', 'TARGET_MISMATCH');
    });

    for (const [field, value] of [
      ['version', '2.0.1'],
      ['channel', 'beta'],
      ['hardwareIds', ['devkit-a', 'devkit-b']],
      ['rollbackIndex', 9],
    ] as const) {
      it(`refuses when the repositories disagree on ${field}`, () => {
        const e = refusal(() => verifyInstallable(signedPair({}, { [field]: value }), device, now));
        expect(e).to.be.instanceOf(VerificationError).and.have.property('code', 'TARGET_MISMATCH');
      });
    }

    it('refuses a target without a sha256 hash in either repository', () => {
      const sha512Only = { sha512: 'ef'.repeat(64) };
      expect(refusal(() => verifyInstallable({ release: target(policy, sha512Only), rollout: offered() }, device, now)))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_INVALID');
      expect(
        refusal(() =>
          verifyInstallable(
            { release: target(policy), rollout: target({ ...policy, rollout }, sha512Only) },
            device,
            now,
          ),
        ),
      )
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_INVALID');
    });

    it('refuses a rollout target that lacks the release policy fields', () => {
      const e = refusal(() =>
        verifyInstallable({ release: target(policy), rollout: target({ rollout }) }, device, now),
      );
      expect(e).to.be.instanceOf(VerificationError).and.have.property('code', 'METADATA_INVALID');
    });
  });

  describe('D-4: hardware and channel', () => {
    it('accepts a device whose hardware is one of several the release is built for', () => {
      const multi = { ...policy, hardwareIds: ['devkit-a', 'devkit-b'] };
      const ok = verifyInstallable(
        { release: target(multi), rollout: target({ ...multi, rollout }) },
        { ...device, hardwareId: 'devkit-b' },
        now,
      );
      expect(ok.fields.hardwareIds).to.include('devkit-b');
    });

    it('refuses other hardware', () => {
      expect(refusal(() => verifyInstallable(signedPair(), { ...device, hardwareId: 'x' }, now)))
        .to.be.instanceOf(PolicyError)
        .and.have.property('code', 'HARDWARE_MISMATCH');
    });

    it('refuses another channel', () => {
      expect(refusal(() => verifyInstallable(signedPair(), { ...device, channel: 'beta' }, now)))
        .to.be.instanceOf(PolicyError)
        .and.have.property('code', 'CHANNEL_MISMATCH');
    });
  });

  describe('D-5: an open rollout that includes the device', () => {
    it('refuses paused, withdrawn and not-yet-open rollouts', () => {
      expect(refusal(() => verifyInstallable(signedPair({ paused: true }), device, now)))
        .to.be.instanceOf(PolicyError)
        .and.have.property('code', 'ROLLOUT_PAUSED');
      expect(refusal(() => verifyInstallable(signedPair({ withdrawn: true }), device, now)))
        .to.be.instanceOf(PolicyError)
        .and.have.property('code', 'RELEASE_WITHDRAWN');
      expect(refusal(() => verifyInstallable(signedPair({ notBefore: '2026-11-26T00:00:01Z' }), device, now)))
        .to.be.instanceOf(PolicyError)
        .and.have.property('code', 'NOT_IN_ROLLOUT');
    });

    it('reports a withdrawn release as withdrawn even while it is also paused', () => {
      expect(
        refusal(() => verifyInstallable(signedPair({ paused: true, withdrawn: true }), device, now)),
      ).to.have.property('code', 'RELEASE_WITHDRAWN');
    });

    it('accepts once not-before is reached', () => {
      for (const notBefore of ['2026-11-26T00:00:00Z', '2026-01-01T00:00:00Z']) {
        expect(verifyInstallable(signedPair({ notBefore }), device, now).rollout.notBefore).to.equal(notBefore);
      }
    });

    it('refuses a device whose bucket is outside the signed percent, and accepts it one bucket later', () => {
      const bucket = rolloutBucket(rollout.salt, device.deviceId);
      expect(refusal(() => verifyInstallable(signedPair({ percent: bucket / 100 }), device, now)))
        .to.be.instanceOf(PolicyError)
        .and.have.property('code', 'NOT_IN_ROLLOUT');
      expect(verifyInstallable(signedPair({ percent: (bucket + 1) / 100 }), device, now).name).to.equal(
        'stable/2.0.0/fw.bin',
      );
    });

    it('refuses every device at 0%', () => {
      expect(refusal(() => verifyInstallable(signedPair({ percent: 0 }), device, now))).to.have.property(
        'code',
        'NOT_IN_ROLLOUT',
      );
    });
  });

  describe('D-6: rollback index and version order', () => {
    it("refuses a rollbackIndex below the device's and accepts an equal one", () => {
      expect(refusal(() => verifyInstallable(signedPair(), { ...device, rollbackIndex: 4 }, now)))
        .to.be.instanceOf(RollbackError)
        .and.have.property('code', 'ROLLBACK_INDEX_TOO_LOW');
      expect(verifyInstallable(signedPair(), { ...device, rollbackIndex: 3 }, now).fields.rollbackIndex).to.equal(3);
    });

    it('refuses the version the device runs, also when only build metadata differs', () => {
      for (const currentVersion of ['2.0.0', '2.0.0+other-build']) {
        expect(refusal(() => verifyInstallable(signedPair(), { ...device, currentVersion }, now)))
          .to.be.instanceOf(PolicyError)
          .and.have.property('code', 'NOT_NEWER');
      }
    });

    it("accepts an older release only as a signed rollback from the device's own version", () => {
      const older = { ...policy, version: '0.9.0', rollbackIndex: 2 };
      const rollback = (from?: string[]) =>
        target({ ...older, rollout: from ? { ...rollout, downgradeFrom: from } : rollout });
      expect(
        verifyInstallable({ release: target(older), rollout: rollback(['1.1.0', '1.0.0']) }, device, now).fields
          .version,
      ).to.equal('0.9.0');
      expect(
        refusal(() => verifyInstallable({ release: target(older), rollout: rollback(['1.1.0']) }, device, now)),
      ).to.have.property('code', 'NOT_NEWER');
      expect(
        refusal(() => verifyInstallable({ release: target(older), rollout: rollback() }, device, now)),
      ).to.have.property('code', 'NOT_NEWER');
    });

    it('does not let a signed rollback reinstall the version the device runs', () => {
      const e = refusal(() =>
        verifyInstallable(signedPair({ downgradeFrom: ['2.0.0'] }), { ...device, currentVersion: '2.0.0' }, now),
      );
      expect(e).to.have.property('code', 'NOT_NEWER');
    });

    it('checks the rollback index before a signed rollback', () => {
      const older = { ...policy, version: '0.9.0', rollbackIndex: 1 };
      const e = refusal(() =>
        verifyInstallable(
          { release: target(older), rollout: target({ ...older, rollout: { ...rollout, downgradeFrom: ['1.0.0'] } }) },
          device,
          now,
        ),
      );
      expect(e).to.be.instanceOf(RollbackError).and.have.property('code', 'ROLLBACK_INDEX_TOO_LOW');
    });
  });

  describe('D-15: build compatibility (minimum source version)', () => {
    const needs = (minSourceVersion: string) => ({ ...policy, minSourceVersion });
    const both = (p: object) => ({ release: target(p), rollout: target({ ...p, rollout }) });

    it("refuses a release whose signed minimum source version is above the device's version", () => {
      for (const currentVersion of ['1.0.0', '1.4.9', '1.5.0-rc.1']) {
        const e = refusal(() => verifyInstallable(both(needs('1.5.0')), { ...device, currentVersion }, now));
        expect(e, currentVersion).to.be.instanceOf(PolicyError).and.have.property('code', 'SOURCE_VERSION_TOO_OLD');
      }
    });

    it('accepts a device running exactly the minimum source version or later', () => {
      for (const currentVersion of ['1.5.0', '1.5.0+build.7', '1.9.0']) {
        expect(
          verifyInstallable(both(needs('1.5.0')), { ...device, currentVersion }, now).fields.minSourceVersion,
          currentVersion,
        ).to.equal('1.5.0');
      }
    });

    it('takes the minimum from the release repository, and refuses when the rollout repository disagrees', () => {
      const e = refusal(() => verifyInstallable({ release: target(needs('1.5.0')), rollout: offered() }, device, now));
      expect(e).to.be.instanceOf(VerificationError).and.have.property('code', 'TARGET_MISMATCH');
      const lowered = refusal(() =>
        verifyInstallable(
          { release: target(needs('1.5.0')), rollout: target({ ...needs('0.1.0'), rollout }) },
          device,
          now,
        ),
      );
      expect(lowered).to.have.property('code', 'TARGET_MISMATCH');
    });

    it('is checked before the rollout, so an operator sees why a device in the rollout was refused', () => {
      const e = refusal(() =>
        verifyInstallable(
          {
            release: target(needs('1.5.0')),
            rollout: target({ ...needs('1.5.0'), rollout: { ...rollout, paused: true } }),
          },
          device,
          now,
        ),
      );
      expect(e).to.have.property('code', 'SOURCE_VERSION_TOO_OLD');
    });
  });

  describe('server-side targeting fields', () => {
    it('does not act on groups, tags or attestationRequired: the device cannot know them, the API checks them', () => {
      const targeted = offered({ attestationRequired: true, groups: ['lab'], tags: { region: 'eu' } });
      expect(verifyInstallable({ release: target(policy), rollout: targeted }, device, now).rollout).to.include({
        attestationRequired: true,
      });
    });
  });
});

describe('readReleaseFields', () => {
  it('returns exactly the four policy fields', () => {
    expect(readReleaseFields(target({ ...policy, note: 'ignored', rollout }))).to.deep.equal(policy);
  });

  it('returns the minimum source version when the release has one', () => {
    expect(readReleaseFields(target({ ...policy, minSourceVersion: '1.2.0-rc.1' }))).to.deep.equal({
      ...policy,
      minSourceVersion: '1.2.0-rc.1',
    });
  });

  const malformed: Array<[string, object]> = [
    ['no custom fields', {}],
    ['a numeric version', { ...policy, version: 2 }],
    ['no channel', { ...policy, channel: undefined }],
    ['hardware ids that are not a list', { ...policy, hardwareIds: 'devkit-a' }],
    ['a hardware id that is not a string', { ...policy, hardwareIds: ['devkit-a', 7] }],
    ['a fractional rollback index', { ...policy, rollbackIndex: 1.5 }],
    ['a rollback index as a string', { ...policy, rollbackIndex: '3' }],
    ['a rollback index beyond safe integers', { ...policy, rollbackIndex: 2 ** 53 }],
    ['a numeric minimum source version', { ...policy, minSourceVersion: 1 }],
    ['a minimum source version that is not semantic', { ...policy, minSourceVersion: 'v1.2' }],
    ['a null minimum source version', { ...policy, minSourceVersion: null }],
    ['an over-long minimum source version', { ...policy, minSourceVersion: `1.0.0-${'a'.repeat(60)}` }],
  ];
  for (const [what, custom] of malformed) {
    it(`refuses ${what} as invalid metadata`, () => {
      expect(refusal(() => readReleaseFields(target(custom))))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_INVALID');
    });
  }
});

describe('readRolloutState', () => {
  it('accepts a complete state, with not-before, rollback versions and approvals', () => {
    const state = {
      ...rollout,
      percent: 0,
      notBefore: '2026-11-26T00:00:00Z',
      downgradeFrom: ['1.0.0'],
      approvals: [{ approver: 'alice', at: '2026-11-25T00:00:00Z' }],
    };
    expect(readRolloutState(target({ ...policy, rollout: state }))).to.deep.equal(state);
    expect(readRolloutState(target({ rollout: { ...rollout, percent: 100 } })).percent).to.equal(100);
  });

  it('accepts targeting: attestation required, groups and tags at their limits', () => {
    const groups = ['g'.repeat(64), ...Array.from({ length: 31 }, (_, i) => `group-${i}`)];
    const tags = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`key.${i}`, 'v'.repeat(128)]));
    for (const state of [
      {
        ...rollout,
        attestationRequired: true,
        protected: true,
        groups: ['lab', 'site:berlin'],
        tags: { region: 'eu-west', tier: '' },
      },
      { ...rollout, attestationRequired: false, groups, tags },
      { ...rollout, tags: {} },
    ]) {
      expect(readRolloutState(target({ ...policy, rollout: state }))).to.deep.equal(state);
    }
  });

  it('accepts install windows (D-19), which the agent judges before it downloads', () => {
    const windows = [
      { days: ['sat', 'sun'], start: '02:00', minutes: 180, timeZone: 'Europe/Berlin' },
      { days: ['mon'], start: '23:30', minutes: 10_080, timeZone: 'UTC', groups: ['factory'] },
    ];
    const state = { ...rollout, windows };
    expect(readRolloutState(target({ ...policy, rollout: state }))).to.deep.equal(state);
  });

  const malformed: Array<[string, unknown]> = [
    ['no rollout state', undefined],
    ['a null rollout state', null],
    ['a rollout state that is a string', 'open'],
    ['a percent that is not a number', { ...rollout, percent: 'all' }],
    ['a negative percent', { ...rollout, percent: -1 }],
    ['a percent above 100', { ...rollout, percent: 100.01 }],
    ['no salt', { ...rollout, salt: undefined }],
    ['paused as a string', { ...rollout, paused: 'no' }],
    ['no withdrawn flag', { ...rollout, withdrawn: undefined }],
    ['a not-before that is not a time', { ...rollout, notBefore: 'tomorrow' }],
    ['a numeric not-before', { ...rollout, notBefore: 1767225600000 }],
    ['rollback versions that are not a list', { ...rollout, downgradeFrom: '1.0.0' }],
    ['a rollback version that is not a string', { ...rollout, downgradeFrom: ['1.0.0', 1] }],
    ['approvals that are not a list', { ...rollout, approvals: { approver: 'alice', at: '2026-11-25T00:00:00Z' } }],
    ['an approval without a time', { ...rollout, approvals: [{ approver: 'alice' }] }],
    ['an approval without an approver', { ...rollout, approvals: [{ at: '2026-11-25T00:00:00Z' }] }],
    ['a null approval', { ...rollout, approvals: [null] }],
    ['attestationRequired as a string', { ...rollout, attestationRequired: 'yes' }],
    ['protected as a number', { ...rollout, protected: 1 }],
    ['groups that are not a list', { ...rollout, groups: 'lab' }],
    ['an empty group list', { ...rollout, groups: [] }],
    ['33 groups', { ...rollout, groups: Array.from({ length: 33 }, (_, i) => `g${i}`) }],
    ['a repeated group', { ...rollout, groups: ['lab', 'lab'] }],
    ['a group that is not a string', { ...rollout, groups: ['lab', 7] }],
    ['a group name with a space', { ...rollout, groups: ['the lab'] }],
    ['a group name of 65 characters', { ...rollout, groups: ['g'.repeat(65)] }],
    ['tags that are a list', { ...rollout, tags: [['region', 'eu']] }],
    ['null tags', { ...rollout, tags: null }],
    ['33 tags', { ...rollout, tags: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }],
    ['a tag value that is not a string', { ...rollout, tags: { region: 1 } }],
    ['a tag value of 129 characters', { ...rollout, tags: { region: 'v'.repeat(129) } }],
    ['a tag value with a control character', { ...rollout, tags: { region: 'eu\nwest' } }],
    ['a tag key starting with an underscore', { ...rollout, tags: { __proto__x: 'v' } }],
    ['an empty tag key', { ...rollout, tags: { '': 'v' } }],
    ['a __proto__ tag key from JSON', { ...rollout, tags: JSON.parse('{"__proto__":"v"}') as Record<string, unknown> }],
    ['windows that are not a list', { ...rollout, windows: { days: ['mon'] } }],
    ['an empty window list', { ...rollout, windows: [] }],
    [
      'a window in a time zone the device does not know',
      { ...rollout, windows: [{ days: ['mon'], start: '02:00', minutes: 60, timeZone: 'Atlantis/Capital' }] },
    ],
    [
      'a window longer than a week',
      { ...rollout, windows: [{ days: ['mon'], start: '02:00', minutes: 10_081, timeZone: 'UTC' }] },
    ],
  ];
  for (const [what, state] of malformed) {
    it(`refuses ${what} as invalid metadata`, () => {
      const custom = state === undefined ? { ...policy } : { ...policy, rollout: state };
      expect(refusal(() => readRolloutState(target(custom))))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'METADATA_INVALID');
    });
  }
});

describe('verifyTargetName (D-12)', () => {
  for (const name of ['fw.bin', 'stable/2.0.0/fw-stable-2.0.0.bin', 'a/b/c/d/e/f/g/h']) {
    it(`accepts ${name}`, () => {
      expect(() => verifyTargetName(name)).to.not.throw();
    });
  }
  const refused = [
    '',
    '../../etc/passwd',
    'a/../b',
    './fw.bin',
    '/abs/path',
    'a//b',
    'a\\b',
    'sp ace',
    'a/b/c/d/e/f/g/h/i',
    'x'.repeat(129),
  ];
  for (const name of refused) {
    it(`refuses ${JSON.stringify(name.slice(0, 20))}`, () => {
      expect(refusal(() => verifyTargetName(name)))
        .to.be.instanceOf(VerificationError)
        .and.have.property('code', 'TARGET_NAME_INVALID');
    });
  }
});
