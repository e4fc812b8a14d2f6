import { expect } from 'chai';
import { TargetFile } from '@tufjs/models';
import { PolicyError, RollbackError, VerificationError, rolloutBucket, verifyInstallable, type DeviceFacts } from '@enigm-ota/client-sdk';

const policy = { version: '2.0.0', channel: 'stable', hardwareIds: ['devkit-a'], rollbackIndex: 3 };
const rollout = { percent: 100, salt: 'release-stable-2.0.0', paused: false, withdrawn: false };
const target = (custom: object, sha = 'ab'.repeat(32), length = 10) =>
  new TargetFile({ path: 'stable/2.0.0/fw.bin', length, hashes: { sha256: sha }, unrecognizedFields: { custom: custom as never } });
const device: DeviceFacts = { deviceId: 'd-1', hardwareId: 'devkit-a', channel: 'stable', currentVersion: '1.0.0', rollbackIndex: 2 };
const now = new Date('2026-11-26T00:00:00Z');

function refusal(fn: () => unknown): Error & { code: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code: string };
  }
  throw new Error('expected a refusal');
}

describe('verifyInstallable', () => {
  it('accepts a target both repositories agree on, for this device', () => {
    const ok = verifyInstallable(target(policy), target({ ...policy, rollout }), device, now);
    expect(ok.policy.version).to.equal('2.0.0');
  });

  it('refuses when the repositories disagree on the artifact', () => {
    const e = refusal(() => verifyInstallable(target(policy), target({ ...policy, rollout }, 'cd'.repeat(32)), device, now));
    expect(e).to.be.instanceOf(VerificationError).and.have.property('code', 'TARGET_MISMATCH');
  });

  it('refuses when the repositories disagree on a policy field', () => {
    const e = refusal(() => verifyInstallable(target(policy), target({ ...policy, rollbackIndex: 9, rollout }), device, now));
    expect(e).to.have.property('code', 'TARGET_MISMATCH');
  });

  it('refuses other hardware and other channels', () => {
    expect(refusal(() => verifyInstallable(target(policy), target({ ...policy, rollout }), { ...device, hardwareId: 'x' }, now)))
      .to.be.instanceOf(PolicyError).and.have.property('code', 'HARDWARE_MISMATCH');
    expect(refusal(() => verifyInstallable(target(policy), target({ ...policy, rollout }), { ...device, channel: 'beta' }, now)))
      .to.have.property('code', 'CHANNEL_MISMATCH');
  });

  it('refuses paused, withdrawn and not-yet-open rollouts', () => {
    const r = (state: object) => target({ ...policy, rollout: { ...rollout, ...state } });
    expect(refusal(() => verifyInstallable(target(policy), r({ paused: true }), device, now))).to.have.property('code', 'ROLLOUT_PAUSED');
    expect(refusal(() => verifyInstallable(target(policy), r({ withdrawn: true }), device, now))).to.have.property('code', 'RELEASE_WITHDRAWN');
    expect(refusal(() => verifyInstallable(target(policy), r({ notBefore: '2027-01-01T00:00:00Z' }), device, now))).to.have.property('code', 'NOT_IN_ROLLOUT');
  });

  it('refuses a device whose bucket is outside the signed percent', () => {
    const bucket = rolloutBucket(rollout.salt, device.deviceId);
    const below = target({ ...policy, rollout: { ...rollout, percent: bucket / 100 } });
    expect(refusal(() => verifyInstallable(target(policy), below, device, now))).to.have.property('code', 'NOT_IN_ROLLOUT');
    const above = target({ ...policy, rollout: { ...rollout, percent: (bucket + 1) / 100 } });
    expect(verifyInstallable(target(policy), above, device, now).name).to.equal('stable/2.0.0/fw.bin');
  });

  it('refuses a rollbackIndex below the device\'s, and versions that are not newer', () => {
    expect(refusal(() => verifyInstallable(target(policy), target({ ...policy, rollout }), { ...device, rollbackIndex: 4 }, now)))
      .to.be.instanceOf(RollbackError).and.have.property('code', 'ROLLBACK_INDEX_TOO_LOW');
    expect(refusal(() => verifyInstallable(target(policy), target({ ...policy, rollout }), { ...device, currentVersion: '2.0.0' }, now)))
      .to.have.property('code', 'NOT_NEWER');
  });

  it('accepts an older release only as a signed rollback from the device\'s own version', () => {
    const older = { ...policy, version: '0.9.0', rollbackIndex: 2 };
    const rollback = (from: string[]) => target({ ...older, rollout: { ...rollout, downgradeFrom: from } });
    expect(verifyInstallable(target(older), rollback(['1.0.0']), device, now).policy.version).to.equal('0.9.0');
    expect(refusal(() => verifyInstallable(target(older), rollback(['1.1.0']), device, now))).to.have.property('code', 'NOT_NEWER');
    expect(refusal(() => verifyInstallable(target(older), target({ ...older, rollout }), device, now))).to.have.property('code', 'NOT_NEWER');
  });

  it('treats missing or malformed policy fields as invalid metadata', () => {
    expect(refusal(() => verifyInstallable(target({ version: '2.0.0' }), target({ ...policy, rollout }), device, now)))
      .to.be.instanceOf(VerificationError).and.have.property('code', 'METADATA_INVALID');
    expect(refusal(() => verifyInstallable(target(policy), target({ ...policy, rollout: { percent: 'all' } }), device, now)))
      .to.have.property('code', 'METADATA_INVALID');
  });
});
