import { rolloutBucket, type RolloutState } from '@enigm-ota/client-sdk';
import { expect } from 'chai';

import { type CheckName, CHECKS } from '../../../common/adminApi';
import {
  chooseOffer,
  decideEligibility,
  type EligibilityContext,
  type EligibilityDecision,
  type FleetDeviceFacts,
  type OfferCandidate,
} from '../../../fleet/eligibility';

const now = new Date('2026-11-26T12:00:00Z');
const HOUR = 60 * 60 * 1000;
const context: EligibilityContext = { now, attestationMaxAgeMs: HOUR };
const device: FleetDeviceFacts = {
  deviceId: 'dev-1',
  hardwareId: 'devkit-a',
  channel: 'stable',
  status: 'enrolled',
  groups: ['lab', 'berlin'],
  tags: { region: 'eu', tier: 'gold' },
  currentVersion: '1.0.0',
};
const rollout: RolloutState = { percent: 100, salt: 'release-stable-2.0.0', paused: false, withdrawn: false };
const release: OfferCandidate = {
  targetName: 'stable/2.0.0/fw.bin',
  version: '2.0.0',
  channel: 'stable',
  hardwareIds: ['devkit-a'],
  rollout,
};
const attested = (msAgo: number, passed = true) => ({
  verifiedAt: new Date(now.getTime() - msAgo).toISOString(),
  passed,
});

function decide(
  d: Partial<FleetDeviceFacts> = {},
  r: Partial<OfferCandidate> = {},
  state: Partial<RolloutState> = {},
  ctx: Partial<EligibilityContext> = {},
): EligibilityDecision {
  return decideEligibility(
    { ...device, ...d },
    { ...release, ...r, rollout: { ...rollout, ...state } },
    { ...context, ...ctx },
  );
}
const failed = (d: EligibilityDecision) => d.checks.filter((c) => !c.ok).map((c) => c.check);
const reason = (d: EligibilityDecision, check: CheckName) => d.checks.find((c) => c.check === check)!.reason;

describe('decideEligibility', () => {
  it('offers a release when every check passes, and lists every check with its reason in a fixed order', () => {
    const d = decide();
    expect(d.eligible).to.equal(true);
    expect(d.checks.map((c) => c.check)).to.deep.equal([...CHECKS]);
    expect(CHECKS).to.deep.equal([
      'identity',
      'enrollment',
      'integrity',
      'attestation',
      'channel',
      'groups',
      'tags',
      'hardware',
      'buildCompatibility',
      'rollout',
    ]);
    for (const c of d.checks) {
      expect(c.ok, c.check).to.equal(true);
      expect(c.reason, c.check).to.be.a('string').and.not.equal('');
    }
  });

  // Each row fails exactly one check; the others keep passing, so every check is shown to refuse on its own.
  const single: Array<[CheckName, string, () => EligibilityDecision, string]> = [
    ['identity', 'an empty device id', () => decide({ deviceId: '' }), 'missing or malformed'],
    ['identity', 'a malformed device id', () => decide({ deviceId: '../dev-1' }), 'missing or malformed'],
    [
      'identity',
      'a poll claiming other hardware than enrolled',
      () => decide({ claimed: { hardwareId: 'devkit-z', channel: 'stable' } }),
      'polls as devkit-z on stable',
    ],
    [
      'identity',
      'a poll claiming another channel than enrolled',
      () => decide({ claimed: { hardwareId: 'devkit-a', channel: 'beta' } }),
      'enrolled as devkit-a on stable',
    ],
    ['enrollment', 'a revoked device', () => decide({ status: 'revoked' }), 'revoked'],
    ['enrollment', 'a device whose enrollment is pending', () => decide({ status: 'pending' }), 'pending'],
    [
      'enrollment',
      'an unknown enrollment status',
      () => decide({ status: 'suspended' as FleetDeviceFacts['status'] }),
      'unknown',
    ],
    [
      'integrity',
      'a required integrity flag reported failing',
      () => decide({ integrity: { selinux: false } }, {}, {}, { requiredIntegrity: ['selinux'] }),
      'selinux failing',
    ],
    [
      'integrity',
      'a required integrity flag not reported',
      () => decide({ integrity: { 'dm-verity': true } }, {}, {}, { requiredIntegrity: ['selinux'] }),
      'selinux not reported',
    ],
    [
      'integrity',
      'no integrity report when flags are required',
      () => decide({}, {}, {}, { requiredIntegrity: ['selinux'] }),
      'no integrity report',
    ],
    [
      'attestation',
      'no evidence for an attestation-required release',
      () => decide({}, {}, { attestationRequired: true }),
      'no attestation evidence',
    ],
    [
      'attestation',
      'failing evidence',
      () =>
        decide(
          { attestation: { ...attested(0, false), reason: 'boot state unverified' } },
          {},
          { attestationRequired: true },
        ),
      'boot state unverified',
    ],
    [
      'attestation',
      'stale evidence',
      () => decide({ attestation: attested(HOUR + 1) }, {}, { attestationRequired: true }),
      'stale',
    ],
    [
      'attestation',
      'evidence verified after now',
      () => decide({ attestation: attested(-1000) }, {}, { attestationRequired: true }),
      'after now',
    ],
    [
      'attestation',
      'an unreadable verification time',
      () => decide({ attestation: { verifiedAt: 'today', passed: true } }, {}, { attestationRequired: true }),
      'unreadable',
    ],
    ['channel', 'another channel', () => decide({ channel: 'beta' }), 'channel stable'],
    [
      'groups',
      "a device in none of the release's groups",
      () => decide({}, {}, { groups: ['fleet-a', 'fleet-b'] }),
      'fleet-a, fleet-b',
    ],
    [
      'groups',
      'a device in no group at all',
      () => decide({ groups: [] }, {}, { groups: ['lab'] }),
      'none of the groups',
    ],
    ['groups', 'an empty group list (offers to no one)', () => decide({}, {}, { groups: [] }), 'none listed'],
    [
      'tags',
      'a tag with another value',
      () => decide({}, {}, { tags: { region: 'us' } }),
      'needs region=us, device has region=eu',
    ],
    ['tags', 'a tag the device lacks', () => decide({}, {}, { tags: { site: 'plant-7' } }), 'device has no site'],
    [
      'tags',
      'a required tag named like an object property',
      () => decide({}, {}, { tags: { constructor: 'x' } }),
      'device has no constructor',
    ],
    ['hardware', 'other hardware', () => decide({ hardwareId: 'devkit-b' }), 'not devkit-b'],
    [
      'buildCompatibility',
      'a device below the minimum source version',
      () => decide({}, { minSourceVersion: '1.5.0' }),
      'below the minimum source version 1.5.0',
    ],
    ['rollout', 'a paused rollout', () => decide({}, {}, { paused: true }), 'paused'],
    ['rollout', 'a withdrawn release', () => decide({}, {}, { withdrawn: true }), 'withdrawn'],
    ['rollout', 'a rollout not open yet', () => decide({}, {}, { notBefore: '2026-11-26T12:00:01Z' }), 'opens at'],
    ['rollout', 'an unreadable not-before', () => decide({}, {}, { notBefore: 'soon' }), 'unreadable'],
    ['rollout', 'the version the device runs', () => decide({ currentVersion: '2.0.0' }), 'already runs'],
    [
      'rollout',
      'the version the device runs, other build metadata',
      () => decide({ currentVersion: '2.0.0+b7' }),
      'already runs',
    ],
    [
      'rollout',
      'an older release that is no signed rollback',
      () => decide({}, { version: '0.9.0' }),
      'not a signed rollback',
    ],
    [
      'rollout',
      'an older release signed as a rollback from another version',
      () => decide({}, { version: '0.9.0' }, { downgradeFrom: ['1.1.0'] }),
      'not a signed rollback',
    ],
    ['rollout', 'a release version that is not semantic', () => decide({}, { version: 'latest' }), 'cannot compare'],
    ['rollout', 'a device outside the percent', () => decide({}, {}, { percent: 0 }), 'outside 0%'],
  ];
  for (const [check, what, run, why] of single) {
    it(`${check}: refuses ${what}, and only that check fails`, () => {
      const d = run();
      expect(d.eligible).to.equal(false);
      expect(failed(d)).to.deep.equal([check]);
      expect(reason(d, check)).to.contain(why);
      expect(d.checks).to.have.length(CHECKS.length);
    });
  }

  it('does not stop at the first failure: a device failing everything gets every reason', () => {
    const d = decide(
      {
        deviceId: '',
        status: 'revoked',
        channel: 'beta',
        groups: [],
        tags: {},
        hardwareId: 'x',
        currentVersion: '1.0.0',
        integrity: { selinux: false },
      },
      { minSourceVersion: '1.5.0' },
      { attestationRequired: true, groups: ['lab'], tags: { region: 'eu' }, paused: true },
      { requiredIntegrity: ['selinux'] },
    );
    expect(d.eligible).to.equal(false);
    expect(failed(d)).to.deep.equal([...CHECKS]);
  });

  it('names every problem inside one check', () => {
    const d = decide(
      { attestation: attested(2 * HOUR, false) },
      {},
      { attestationRequired: true, paused: true, withdrawn: true, percent: 0, tags: { region: 'us', site: 'x' } },
    );
    expect(reason(d, 'attestation')).to.contain('failed').and.contain('stale');
    expect(reason(d, 'rollout')).to.contain('withdrawn').and.contain('paused').and.contain('outside 0%');
    expect(reason(d, 'tags')).to.contain('region=us').and.contain('site=x');
  });

  describe('integrity', () => {
    it('requires nothing unless the policy names flags, whatever the device reported', () => {
      expect(decide({ integrity: { selinux: false } }).eligible).to.equal(true);
      expect(decide({ integrity: { selinux: false } }, {}, {}, { requiredIntegrity: [] }).eligible).to.equal(true);
    });

    it('passes when every required flag is reported true', () => {
      expect(
        decide(
          { integrity: { selinux: true, 'dm-verity': true, debuggable: false } },
          {},
          {},
          { requiredIntegrity: ['selinux', 'dm-verity'] },
        ).eligible,
      ).to.equal(true);
    });
  });

  describe('attestation', () => {
    it('is not needed for a release that does not require it, even when the last evidence failed', () => {
      expect(decide().eligible).to.equal(true);
      expect(decide({ attestation: attested(5 * HOUR, false) }, {}, { attestationRequired: false }).eligible).to.equal(
        true,
      );
    });

    it('counts passing evidence up to exactly the maximum age, and not a millisecond longer', () => {
      expect(decide({ attestation: attested(0) }, {}, { attestationRequired: true }).eligible).to.equal(true);
      expect(decide({ attestation: attested(HOUR) }, {}, { attestationRequired: true }).eligible).to.equal(true);
      expect(decide({ attestation: attested(HOUR + 1) }, {}, { attestationRequired: true }).eligible).to.equal(false);
      expect(
        decide(
          { attestation: attested(HOUR + 1) },
          {},
          { attestationRequired: true },
          { attestationMaxAgeMs: 2 * HOUR },
        ).eligible,
      ).to.equal(true);
    });
  });

  it('fails closed on a broken clock or maximum age', () => {
    const invalid = new Date(Number.NaN);
    expect(
      failed(
        decide({ attestation: attested(0) }, {}, { attestationRequired: true }, { attestationMaxAgeMs: Number.NaN }),
      ),
    ).to.deep.equal(['attestation']);
    expect(
      failed(
        decide(
          { attestation: { verifiedAt: now.toISOString(), passed: true } },
          {},
          { attestationRequired: true, notBefore: '2026-01-01T00:00:00Z' },
          { now: invalid },
        ),
      ),
    ).to.deep.equal(['attestation', 'rollout']);
  });

  describe('groups and tags', () => {
    it('offers an unrestricted release to a device in no group and without tags', () => {
      expect(decide({ groups: [], tags: {} }).eligible).to.equal(true);
      expect(decide({ groups: [], tags: {} }, {}, { tags: {} }).eligible).to.equal(true);
    });

    it('needs one of the groups, and every tag', () => {
      expect(decide({}, {}, { groups: ['fleet-a', 'berlin'] }).eligible).to.equal(true);
      expect(reason(decide({}, {}, { groups: ['fleet-a', 'berlin'] }), 'groups')).to.contain('berlin');
      expect(decide({}, {}, { tags: { region: 'eu', tier: 'gold' } }).eligible).to.equal(true);
      expect(failed(decide({}, {}, { tags: { region: 'eu', tier: 'silver' } }))).to.deep.equal(['tags']);
    });
  });

  describe('build compatibility', () => {
    it('offers to a device at or above the minimum source version', () => {
      for (const currentVersion of ['1.5.0', '1.5.0+b1', '1.9.0']) {
        expect(decide({ currentVersion }, { minSourceVersion: '1.5.0' }).eligible, currentVersion).to.equal(true);
      }
    });

    it('refuses a pre-release of the minimum, and a device version it cannot compare', () => {
      expect(failed(decide({ currentVersion: '1.5.0-rc.1' }, { minSourceVersion: '1.5.0' }))).to.deep.equal([
        'buildCompatibility',
      ]);
      expect(failed(decide({ currentVersion: 'unknown' }, { minSourceVersion: '1.5.0' }))).to.deep.equal([
        'buildCompatibility',
        'rollout',
      ]);
    });
  });

  describe('rollout', () => {
    it("offers an older release as a signed rollback for exactly the device's version", () => {
      const d = decide({}, { version: '0.9.0' }, { downgradeFrom: ['1.1.0', '1.0.0'] });
      expect(d.eligible).to.equal(true);
      expect(reason(d, 'rollout')).to.contain('signed rollback from 1.0.0');
    });

    it('does not let a rollback entry re-offer the version the device runs', () => {
      expect(failed(decide({ currentVersion: '2.0.0' }, {}, { downgradeFrom: ['2.0.0'] }))).to.deep.equal(['rollout']);
    });

    it('is open from not-before on', () => {
      expect(decide({}, {}, { notBefore: '2026-11-26T12:00:00Z' }).eligible).to.equal(true);
    });

    it('offers to a device whose bucket is inside the percent, and not one bucket earlier', () => {
      const bucket = rolloutBucket(rollout.salt, device.deviceId);
      expect(failed(decide({}, {}, { percent: bucket / 100 }))).to.deep.equal(['rollout']);
      expect(reason(decide({}, {}, { percent: bucket / 100 }), 'rollout')).to.contain(`bucket ${bucket} outside`);
      expect(decide({}, {}, { percent: (bucket + 1) / 100 }).eligible).to.equal(true);
    });

    it('puts the same device in another bucket for another release salt', () => {
      const inside = Array.from(
        { length: 40 },
        (_, i) => decide({}, {}, { salt: `release-${i}`, percent: 50 }).eligible,
      );
      expect(inside).to.include(true).and.include(false);
    });
  });
});

describe('chooseOffer', () => {
  const candidate = (version: string, state: Partial<RolloutState> = {}): OfferCandidate => ({
    ...release,
    targetName: `stable/${version}/fw.bin`,
    version,
    rollout: { ...rollout, salt: `release-stable-${version}`, ...state },
  });

  it('offers the newest eligible release', () => {
    expect(
      chooseOffer(device, [candidate('1.5.0'), candidate('2.1.0'), candidate('2.0.0')], context)?.version,
    ).to.equal('2.1.0');
  });

  it('skips releases the device is not eligible for', () => {
    const offers = [
      candidate('1.5.0'),
      candidate('2.1.0', { groups: ['fleet-a'] }),
      candidate('2.0.0', { attestationRequired: true }),
    ];
    expect(chooseOffer(device, offers, context)?.version).to.equal('1.5.0');
    expect(chooseOffer(device, [candidate('1.0.0'), candidate('0.9.0')], context)).to.equal(null);
  });

  it("prefers a signed rollback for the device's version over anything newer", () => {
    const offers = [
      candidate('2.1.0'),
      candidate('0.8.0', { downgradeFrom: ['1.0.0'] }),
      candidate('0.9.0', { downgradeFrom: ['1.0.0'] }),
      candidate('3.0.0'),
    ];
    expect(chooseOffer(device, offers, context)?.version).to.equal('0.9.0');
  });

  it('offers nothing from an empty index', () => {
    expect(chooseOffer(device, [], context)).to.equal(null);
  });
});
