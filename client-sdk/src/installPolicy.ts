import type { TargetFile } from '@tufjs/models';

import { bucketInPercent, rolloutBucket } from './bucket';
import { PolicyError, RollbackError, VerificationError } from './errors';
import { installWindowsProblem } from './installWindows';
import type { ReleaseFields, RolloutState, VerifiedTarget } from './metadata';
import { compareSemver, isSemver } from './semver';
import { isGroupList, isTagMap } from './targeting';

/** What the device is, as stored on the device itself (never taken from the API). */
export interface DeviceFacts {
  deviceId: string;
  hardwareId: string;
  channel: string;
  currentVersion: string;
  /** Highest rollbackIndex this device has booted and confirmed. */
  rollbackIndex: number;
}

/** One target's entries in the two repositories, each already verified by TUF there. */
export interface SignedEntries {
  release: TargetFile;
  rollout: TargetFile;
}

/**
 * The acceptance checklist. Inputs are targets already verified by TUF in each
 * repository; this function decides whether this device may install it now.
 * Each step throws; the result exists only when every rule passed.
 */
export function verifyInstallable({ release, rollout }: SignedEntries, device: DeviceFacts, now: Date): VerifiedTarget {
  const fields = readReleaseFields(release);
  const rolloutState = readRolloutState(rollout);
  verifySameArtifact(release, rollout); // D-3
  verifyHardware(fields, device); // D-4
  verifyChannel(fields, device); // D-4
  verifySourceVersion(fields, device); // D-15
  verifyRolloutOpen(rolloutState, now); // D-5
  verifyBucket(rolloutState, device); // D-5
  verifyRollbackIndex(fields, device); // D-6
  verifyNewer(fields, rolloutState, device); // D-6
  return { name: release.path, length: release.length, sha256: sha256Of(release), fields, rollout: rolloutState };
}

const TARGET_NAME = /^[A-Za-z0-9._-]{1,128}(\/[A-Za-z0-9._-]{1,128}){0,7}$/;

/** D-12: a target name is a plain relative path; nothing from the network names a file here. */
export function isTargetName(name: string): boolean {
  return TARGET_NAME.test(name) && !name.split('/').some((part) => part === '..' || part === '.');
}

export function verifyTargetName(name: string): void {
  if (!isTargetName(name)) {
    throw new VerificationError('TARGET_NAME_INVALID', `refusing target name ${JSON.stringify(name.slice(0, 100))}`);
  }
}

function verifySameArtifact(release: TargetFile, rollout: TargetFile): void {
  const a = releaseFields(release);
  const b = releaseFields(rollout);
  if (release.length !== rollout.length || sha256Of(release) !== sha256Of(rollout) || a !== b) {
    throw new VerificationError('TARGET_MISMATCH', `the two repositories disagree about ${release.path}`);
  }
}

function verifyHardware(fields: ReleaseFields, device: DeviceFacts): void {
  if (!fields.hardwareIds.includes(device.hardwareId)) {
    throw new PolicyError(
      'HARDWARE_MISMATCH',
      `release ${fields.version} is not built for hardware ${device.hardwareId}`,
    );
  }
}

function verifyChannel(fields: ReleaseFields, device: DeviceFacts): void {
  if (fields.channel !== device.channel) {
    throw new PolicyError(
      'CHANNEL_MISMATCH',
      `release ${fields.version} is on channel ${fields.channel}, device follows ${device.channel}`,
    );
  }
}

/** D-15: a release built for upgrades from minSourceVersion on is not installed over anything older. */
function verifySourceVersion(fields: ReleaseFields, device: DeviceFacts): void {
  if (fields.minSourceVersion !== undefined && compareSemver(device.currentVersion, fields.minSourceVersion) < 0) {
    throw new PolicyError(
      'SOURCE_VERSION_TOO_OLD',
      `release ${fields.version} installs over ${fields.minSourceVersion} or later, device runs ${device.currentVersion}`,
    );
  }
}

function verifyRolloutOpen(rolloutState: RolloutState, now: Date): void {
  if (rolloutState.withdrawn) throw new PolicyError('RELEASE_WITHDRAWN', 'the release was withdrawn');
  if (rolloutState.paused) throw new PolicyError('ROLLOUT_PAUSED', 'the rollout is paused');
  if (rolloutState.notBefore && Date.parse(rolloutState.notBefore) > now.getTime()) {
    throw new PolicyError('NOT_IN_ROLLOUT', `the rollout opens at ${rolloutState.notBefore}`);
  }
}

function verifyBucket(rolloutState: RolloutState, device: DeviceFacts): void {
  const bucket = rolloutBucket(rolloutState.salt, device.deviceId);
  if (!bucketInPercent(bucket, rolloutState.percent)) {
    throw new PolicyError('NOT_IN_ROLLOUT', `bucket ${bucket} is outside the signed ${rolloutState.percent}%`);
  }
}

function verifyRollbackIndex(fields: ReleaseFields, device: DeviceFacts): void {
  if (fields.rollbackIndex < device.rollbackIndex) {
    throw new RollbackError(
      'ROLLBACK_INDEX_TOO_LOW',
      `release rollbackIndex ${fields.rollbackIndex} is below the device's ${device.rollbackIndex}`,
    );
  }
}

/** Newer only, unless the signed rollout names the device's version for a rollback. */
function verifyNewer(fields: ReleaseFields, rolloutState: RolloutState, device: DeviceFacts): void {
  const order = compareSemver(fields.version, device.currentVersion);
  if (order > 0) return;
  if (order < 0 && rolloutState.downgradeFrom?.includes(device.currentVersion)) return;
  throw new PolicyError('NOT_NEWER', `release ${fields.version} is not newer than ${device.currentVersion}`);
}

function sha256Of(target: TargetFile): string {
  const hash = target.hashes['sha256'];
  if (!hash) throw new VerificationError('METADATA_INVALID', `target ${target.path} has no sha256 hash`);
  return hash;
}

/** Malformed custom fields are a verification failure, never a silent default. */
export function readReleaseFields(target: TargetFile): ReleaseFields {
  const c = target.custom;
  const ok =
    typeof c['version'] === 'string' &&
    typeof c['channel'] === 'string' &&
    Array.isArray(c['hardwareIds']) &&
    c['hardwareIds'].every((h) => typeof h === 'string') &&
    Number.isSafeInteger(c['rollbackIndex']);
  if (!ok) throw new VerificationError('METADATA_INVALID', `target ${target.path} lacks release policy fields`);
  const minSourceVersion = c['minSourceVersion'];
  if (minSourceVersion !== undefined && !(typeof minSourceVersion === 'string' && isSemver(minSourceVersion))) {
    throw new VerificationError('METADATA_INVALID', `target ${target.path} has a malformed minSourceVersion`);
  }
  return {
    version: c['version'] as string,
    channel: c['channel'] as string,
    hardwareIds: c['hardwareIds'] as string[],
    rollbackIndex: c['rollbackIndex'] as number,
    ...(minSourceVersion !== undefined && { minSourceVersion }),
  };
}

export function readRolloutState(target: TargetFile): RolloutState {
  const r = target.custom['rollout'] as Record<string, unknown> | null | undefined;
  const ok =
    typeof r === 'object' &&
    r !== null &&
    typeof r['percent'] === 'number' &&
    r['percent'] >= 0 &&
    r['percent'] <= 100 &&
    typeof r['salt'] === 'string' &&
    typeof r['paused'] === 'boolean' &&
    typeof r['withdrawn'] === 'boolean' &&
    (r['notBefore'] === undefined || (typeof r['notBefore'] === 'string' && !Number.isNaN(Date.parse(r['notBefore']))));
  if (!ok) throw new VerificationError('METADATA_INVALID', `target ${target.path} lacks rollout state`);
  const downgradeFrom = r['downgradeFrom'];
  if (
    downgradeFrom !== undefined &&
    !(Array.isArray(downgradeFrom) && downgradeFrom.every((v) => typeof v === 'string'))
  ) {
    throw new VerificationError('METADATA_INVALID', `target ${target.path} has a malformed downgradeFrom`);
  }
  const approvals = r['approvals'];
  if (
    approvals !== undefined &&
    !(
      Array.isArray(approvals) &&
      approvals.every(
        (a: { approver?: unknown; at?: unknown } | null) =>
          typeof a?.approver === 'string' && typeof a?.at === 'string',
      )
    )
  ) {
    throw new VerificationError('METADATA_INVALID', `target ${target.path} has malformed approvals`);
  }
  // Targeting fields: the device does not act on them, but a reader never passes on a field it cannot vouch for.
  for (const flag of ['attestationRequired', 'protected']) {
    if (r[flag] !== undefined && typeof r[flag] !== 'boolean')
      throw new VerificationError('METADATA_INVALID', `target ${target.path} has a malformed ${flag}`);
  }
  if (r['groups'] !== undefined && !isGroupList(r['groups'])) {
    throw new VerificationError('METADATA_INVALID', `target ${target.path} has malformed groups`);
  }
  if (r['tags'] !== undefined && !isTagMap(r['tags'])) {
    throw new VerificationError('METADATA_INVALID', `target ${target.path} has malformed tags`);
  }
  if (r['windows'] !== undefined) {
    const problem = installWindowsProblem(r['windows']);
    if (problem) throw new VerificationError('METADATA_INVALID', `target ${target.path}: ${problem.slice(0, 200)}`);
  }
  return r as unknown as RolloutState;
}

/** The policy fields compared across repositories, in a fixed order. */
function releaseFields(target: TargetFile): string {
  const p = readReleaseFields(target);
  return JSON.stringify([p.version, p.channel, [...p.hardwareIds].sort(), p.rollbackIndex, p.minSourceVersion ?? null]);
}
