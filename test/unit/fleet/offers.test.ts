import { DELTA_FIELD, DELTA_FORMAT, type PollRequest } from '@enigm-ota/client-sdk';
import { TargetFile } from '@tufjs/models';
import { expect } from 'chai';

import type { FleetDeviceFacts } from '../../../fleet/eligibility';
import { OfferIndex } from '../../../fleet/offers';

const now = new Date('2026-11-26T12:00:00Z');
const SHA = 'ab'.repeat(32);
const open = { percent: 100, paused: false, withdrawn: false };

function entry(channel: string, version: string, rollout: object = {}, fields: object = {}): TargetFile {
  const custom = {
    version,
    channel,
    hardwareIds: ['devkit-a'],
    rollbackIndex: 1,
    ...fields,
    rollout: { ...open, salt: `release-${channel}-${version}`, ...rollout },
  };
  return new TargetFile({
    path: `${channel}/${version}/fw.bin`,
    length: 10,
    hashes: { sha256: SHA },
    unrecognizedFields: { custom: custom as never },
  });
}

/** The signed rollout repository as the index reads it; counts reads. */
function repository(targets: TargetFile[]) {
  const repo = {
    reads: 0,
    offeredTo() {
      repo.reads++;
      return Promise.resolve({ scope: 'rollout', targets: Object.fromEntries(targets.map((t) => [t.path, t])) });
    },
  };
  return repo;
}

/** A delta update's entry: `sha` rebuilds the release `rebuilds` (image `targetSha`) from the image `base`. */
function deltaEntry(d: { sha: string; base: string; rebuilds: string; targetSha: string }): TargetFile {
  return new TargetFile({
    path: `${d.rebuilds}.from-${d.base.slice(0, 16)}.delta`,
    length: 5,
    hashes: { sha256: d.sha },
    unrecognizedFields: {
      custom: {
        [DELTA_FIELD]: {
          format: DELTA_FORMAT,
          base: { sha256: d.base, length: 10 },
          target: { name: d.rebuilds, sha256: d.targetSha, length: 10 },
        },
      } as never,
    },
  });
}

const poll: PollRequest = { deviceId: 'dev-1', hardwareId: 'devkit-a', channel: 'stable', currentVersion: '1.0.0' };
const plain: FleetDeviceFacts = { ...poll, status: 'enrolled', groups: [], tags: {} };
const enrolled: FleetDeviceFacts = { ...plain, groups: ['lab'], tags: { region: 'eu' } };
const index = (targets: TargetFile[], ttlMs = 0) =>
  new OfferIndex(repository(targets), ttlMs, { now: () => now, attestationMaxAgeMs: 60_000 });

describe('OfferIndex', () => {
  describe('offerFor', () => {
    it("offers the newest release of the device's channel that eligibility allows", async () => {
      const offers = index([
        entry('stable', '1.5.0'),
        entry('stable', '2.0.0'),
        entry('beta', '3.0.0'),
        entry('stable', '2.1.0', { paused: true }),
      ]);
      expect(await offers.offerFor(enrolled)).to.deep.equal({ targetName: 'stable/2.0.0/fw.bin', version: '2.0.0' });
    });

    it('gives each channel and running version its own offer from one cached view', async () => {
      const offers = index(
        [
          entry('stable', '1.5.0'),
          entry('stable', '2.0.0'),
          entry('stable', '1.0.0', { downgradeFrom: ['2.1.0'] }),
          entry('beta', '3.0.0'),
        ],
        60_000,
      );
      const on = (channel: string, currentVersion: string) =>
        offers.offerFor({ ...plain, channel, currentVersion, claimed: { hardwareId: 'devkit-a', channel } });
      for (let round = 0; round < 2; round++) {
        expect(await on('stable', '1.0.0')).to.have.property('version', '2.0.0');
        expect(await on('stable', '1.5.0')).to.have.property('version', '2.0.0');
        expect(await on('stable', '2.0.0')).to.equal(null);
        expect(await on('stable', '2.1.0')).to.have.property('version', '1.0.0');
        expect(await on('beta', '1.0.0')).to.have.property('version', '3.0.0');
        expect(await on('beta', '3.0.0')).to.equal(null);
      }
    });

    it('offers a group-targeted release only to devices in the group', async () => {
      const offers = index([entry('stable', '2.0.0', { groups: ['lab'] })]);
      expect(await offers.offerFor(enrolled)).to.have.property('version', '2.0.0');
      expect(await offers.offerFor({ ...enrolled, groups: ['office'] })).to.equal(null);
    });

    it('offers an attestation-required release only with fresh, passing evidence', async () => {
      const offers = index([entry('stable', '2.0.0', { attestationRequired: true })]);
      const at = (ms: number, passed = true) => ({ verifiedAt: new Date(now.getTime() - ms).toISOString(), passed });
      expect(await offers.offerFor(enrolled)).to.equal(null);
      expect(await offers.offerFor({ ...enrolled, attestation: at(60_000) })).to.have.property('version', '2.0.0');
      expect(await offers.offerFor({ ...enrolled, attestation: at(60_001) })).to.equal(null);
      expect(await offers.offerFor({ ...enrolled, attestation: at(0, false) })).to.equal(null);
    });

    it('does not offer a release whose minimum source version the device is below', async () => {
      const offers = index([entry('stable', '2.0.0', {}, { minSourceVersion: '1.5.0' }), entry('stable', '1.5.0')]);
      expect(await offers.offerFor(enrolled)).to.have.property('version', '1.5.0');
      expect(await offers.offerFor({ ...enrolled, currentVersion: '1.5.0' })).to.have.property('version', '2.0.0');
    });

    it('offers nothing to a revoked device', async () => {
      expect(await index([entry('stable', '2.0.0')]).offerFor({ ...enrolled, status: 'revoked' })).to.equal(null);
    });

    it('never offers an entry whose signed fields a device would refuse', async () => {
      // Each of these would pass every eligibility check; only the readers refuse them.
      const offers = index([
        entry('stable', '2.0.0', { groups: ['lab', 'lab'] }),
        entry('stable', '2.1.0', {}, { rollbackIndex: 1.5 }),
        entry('stable', '1.5.0'),
      ]);
      expect(await offers.offerFor(enrolled)).to.have.property('version', '1.5.0');
    });

    it('reads the repository again only after its time to live', async () => {
      const repo = repository([entry('stable', '2.0.0')]);
      const offers = new OfferIndex(repo, 60_000, { now: () => now });
      await offers.offerFor(enrolled);
      await offers.offerFor(enrolled);
      expect(repo.reads).to.equal(1);
    });

    it('reads the repository again on the next poll once invalidated (a replica heard of a pause)', async () => {
      const repo = repository([entry('stable', '2.0.0')]);
      const offers = new OfferIndex(repo, 60_000, { now: () => now });
      await offers.offerFor(enrolled);
      offers.invalidate();
      await offers.offerFor(enrolled);
      expect(repo.reads).to.equal(2);
    });
  });

  describe('a device in no group, without tags or attestation', () => {
    it('is offered unrestricted releases only', async () => {
      const offers = index([
        entry('stable', '2.0.0', { groups: ['lab'] }),
        entry('stable', '1.9.0', { tags: { region: 'eu' } }),
        entry('stable', '1.8.0', { attestationRequired: true }),
        entry('stable', '1.7.0'),
      ]);
      expect(await offers.offerFor(plain)).to.have.property('version', '1.7.0');
    });
  });

  describe('explain', () => {
    it("gives every check for the release of that version on the device's channel, and what a poll would get", async () => {
      const offers = index([entry('stable', '2.0.0', { groups: ['office'] }), entry('stable', '1.5.0')]);
      const e = await offers.explain(enrolled, '2.0.0');
      expect(e).to.include({ deviceId: 'dev-1', version: '2.0.0', targetName: 'stable/2.0.0/fw.bin', eligible: false });
      expect(e.checks.map((c) => c.check)).to.deep.equal([
        'release',
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
      expect(e.checks.filter((c) => !c.ok).map((c) => c.check)).to.deep.equal(['groups']);
      expect(e.offer).to.deep.equal({ targetName: 'stable/1.5.0/fw.bin', version: '1.5.0' });
    });

    it('says so when the version is eligible', async () => {
      const e = await index([entry('stable', '2.0.0')]).explain(enrolled, '2.0.0');
      expect(e.eligible).to.equal(true);
      expect(e.checks.every((c) => c.ok)).to.equal(true);
    });

    it("says there is no such release on the device's channel, and where it is", async () => {
      const offers = index([entry('beta', '2.0.0'), entry('stable', '1.5.0')]);
      const elsewhere = await offers.explain(enrolled, '2.0.0');
      expect(elsewhere).to.include({ targetName: null, eligible: false });
      expect(elsewhere.checks).to.have.length(1);
      expect(elsewhere.checks[0]).to.include({ check: 'release', ok: false });
      expect(elsewhere.checks[0]!.reason).to.contain('only on beta');
      expect(elsewhere.offer).to.have.property('version', '1.5.0');
      const nowhere = await offers.explain(enrolled, '9.9.9');
      expect(nowhere.checks[0]!.reason).to.contain('no release 9.9.9 in the signed rollout repository');
    });
  });

  describe('artifactAccess', () => {
    /** An entry whose artifact has its own address. */
    const artifact = (sha: string, version: string, rollout: object = {}) => {
      const t = entry('stable', version, rollout);
      return new TargetFile({
        path: t.path,
        length: t.length,
        hashes: { sha256: sha },
        unrecognizedFields: { custom: t.custom as never },
      });
    };
    const OPEN_SHA = '01'.repeat(32);
    const LAB_SHA = '02'.repeat(32);
    const offers = () =>
      index([artifact(OPEN_SHA, '2.0.0'), artifact(LAB_SHA, '2.1.0', { protected: true, groups: ['lab'] })]);

    it("hands out an unprotected release's artifact to any enrolled device, a protected one only to an eligible device", async () => {
      expect(await offers().artifactAccess({ ...enrolled, groups: ['office'] }, OPEN_SHA)).to.deep.equal({
        allowed: true,
      });
      expect(await offers().artifactAccess(enrolled, LAB_SHA)).to.deep.equal({ allowed: true });
      const refused = await offers().artifactAccess({ ...enrolled, groups: ['office'] }, LAB_SHA);
      expect(refused).to.include({ allowed: false, code: 'ARTIFACT_REFUSED' });
      expect(refused.allowed === false && refused.reason).to.match(/stable\/2\.1\.0\/fw\.bin: groups \(/);
    });

    it('refuses a protected artifact to a device whose attestation evidence is stale', async () => {
      const index2 = index([artifact(LAB_SHA, '2.1.0', { protected: true, attestationRequired: true })]);
      const evidence = (ageMs: number) => ({
        ...enrolled,
        attestation: { verifiedAt: new Date(now.getTime() - ageMs).toISOString(), passed: true },
      });
      expect(await index2.artifactAccess(evidence(1000), LAB_SHA)).to.deep.equal({ allowed: true });
      const stale = await index2.artifactAccess(evidence(120_000), LAB_SHA);
      expect(stale.allowed === false && stale.reason).to.contain('attestation (');
    });

    it('hands out a delta update only to devices that may have the release it rebuilds, and never offers it', async () => {
      const DELTA_SHA = '03'.repeat(32);
      const delta = (sha: string, rebuilds: string, targetSha: string) =>
        deltaEntry({ sha, base: '0a'.repeat(32), rebuilds, targetSha });
      const ORPHAN_SHA = '04'.repeat(32);
      const withDeltas = index([
        artifact(LAB_SHA, '2.1.0', { protected: true, groups: ['lab'] }),
        delta(DELTA_SHA, 'stable/2.1.0/fw.bin', LAB_SHA),
        delta(ORPHAN_SHA, 'stable/9.0.0/fw.bin', SHA),
      ]);
      expect(await withDeltas.artifactAccess(enrolled, DELTA_SHA)).to.deep.equal({ allowed: true });
      expect(await withDeltas.artifactAccess({ ...enrolled, groups: ['office'] }, DELTA_SHA)).to.include({
        allowed: false,
        code: 'ARTIFACT_REFUSED',
      });
      expect(await withDeltas.artifactAccess(enrolled, ORPHAN_SHA), 'a delta of a release not listed').to.include({
        allowed: false,
        code: 'NOT_FOUND',
      });
      expect(await withDeltas.offerFor(enrolled)).to.deep.equal({
        targetName: 'stable/2.1.0/fw.bin',
        version: '2.1.0',
      });
    });

    it('refuses a delta from a protected release to every device not eligible for that release, whoever may have the release it rebuilds', async () => {
      const BASE_SHA = '05'.repeat(32);
      const FROM_PROTECTED = '06'.repeat(32);
      const FROM_OPEN = '07'.repeat(32);
      const FROM_RETIRED = '08'.repeat(32);
      const delta = (sha: string, base: string) =>
        deltaEntry({ sha, base, rebuilds: 'stable/2.0.0/fw.bin', targetSha: OPEN_SHA });
      const withDeltas = index([
        artifact(OPEN_SHA, '2.0.0'),
        artifact(BASE_SHA, '1.5.0', { protected: true, groups: ['lab'] }),
        artifact(LAB_SHA, '1.4.0'),
        delta(FROM_PROTECTED, BASE_SHA),
        delta(FROM_OPEN, LAB_SHA),
        delta(FROM_RETIRED, '09'.repeat(32)),
      ]);
      const office = { ...enrolled, groups: ['office'] };
      const refused = await withDeltas.artifactAccess(office, FROM_PROTECTED);
      expect(refused).to.include({ allowed: false, code: 'ARTIFACT_REFUSED' });
      expect(refused.allowed === false && refused.reason).to.match(/stable\/1\.5\.0\/fw\.bin: groups \(/);
      expect(await withDeltas.artifactAccess(office, OPEN_SHA), 'the release it rebuilds').to.deep.equal({
        allowed: true,
      });
      expect(await withDeltas.artifactAccess(office, FROM_OPEN)).to.deep.equal({ allowed: true });
      expect(await withDeltas.artifactAccess(office, FROM_RETIRED), 'a base no longer listed').to.deep.equal({
        allowed: true,
      });
      // A device of the base's group running it already is no longer eligible for it (not newer).
      const onBase = await withDeltas.artifactAccess({ ...enrolled, currentVersion: '1.5.0' }, FROM_PROTECTED);
      expect(onBase).to.include({ allowed: false, code: 'ARTIFACT_REFUSED' });
    });

    it('knows no artifact outside the signed rollout (NOT_FOUND)', async () => {
      expect(await offers().artifactAccess(enrolled, 'ff'.repeat(32))).to.include({
        allowed: false,
        code: 'NOT_FOUND',
      });
    });
  });
});
