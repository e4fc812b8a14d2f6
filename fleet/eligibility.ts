import { bucketInPercent, compareSemver, isSemver, rolloutBucket, type RolloutState } from '@enigm-ota/client-sdk';

import { type CheckName, CHECKS } from '../common/adminApi';
import { patterns } from '../common/validation';

/**
 * Eligibility: the one place that decides whether the API offers a release to a device,
 * and why. Pure: device facts, the signed release entry and the time come in as data.
 *
 * It decides the *offer* only. The device re-checks hardware, channel, rollout, version
 * order, rollback index and build compatibility against the signed metadata (D-3..D-6,
 * D-15) and never installs because the API offered; identity, enrollment, integrity,
 * attestation, groups and tags are facts only the server has, so they narrow the offer
 * and nothing else (S-12).
 */

type EnrollmentStatus = 'enrolled' | 'pending' | 'revoked';

/** The API's last verified attestation of the device (fleet/attestation.ts). */
interface AttestationFacts {
  /** ISO time the server verified the evidence, by the server's clock. */
  verifiedAt: string;
  passed: boolean;
  reason?: string;
}

/** What the server knows about a device: its enrollment record, never the device's own say-so. */
export interface FleetDeviceFacts {
  deviceId: string;
  hardwareId: string;
  channel: string;
  status: EnrollmentStatus;
  groups: string[];
  tags: Record<string, string>;
  currentVersion: string;
  /** Integrity flags from the device's last report or attestation (`true` = check passed). */
  integrity?: Record<string, boolean>;
  attestation?: AttestationFacts;
  /** What the device said of itself in its poll; identity fails when it differs from the enrollment. */
  claimed?: { hardwareId: string; channel: string };
}

/** One release entry of the signed rollout repository (release policy fields and rollout state). */
export interface OfferCandidate {
  targetName: string;
  /** The artifact's content address (its signed sha256), which devices download it by. */
  sha256?: string;
  version: string;
  channel: string;
  hardwareIds: string[];
  minSourceVersion?: string;
  rollout: RolloutState;
}

export interface EligibilityContext {
  now: Date;
  /** Attestation evidence older than this (by `verifiedAt`) no longer counts. */
  attestationMaxAgeMs: number;
  /**
   * Integrity flags the device's last report must show as passed (`true`). None by default:
   * the server's policy, not the release, decides which reported flags matter.
   */
  requiredIntegrity?: readonly string[];
}

interface EligibilityCheck {
  check: CheckName;
  ok: boolean;
  reason: string;
}

export interface EligibilityDecision {
  /** True only when every check passed. */
  eligible: boolean;
  /** Every check in `CHECKS` order, failed or not: an operator explaining a decision wants all reasons. */
  checks: EligibilityCheck[];
}

type Outcome = Omit<EligibilityCheck, 'check'>;
type Rule = (device: FleetDeviceFacts, release: OfferCandidate, context: EligibilityContext) => Outcome;

const pass = (reason: string): Outcome => ({ ok: true, reason });
const fail = (reason: string): Outcome => ({ ok: false, reason });
/** Several independent problems in one check are all named. */
const outcome = (problems: string[], okReason: string): Outcome =>
  problems.length === 0 ? pass(okReason) : fail(problems.join('; '));

const DEVICE_ID = new RegExp(patterns.deviceId);

/** Negative, zero or positive; undefined when either side is not a semantic version (never throws). */
function order(a: string, b: string): number | undefined {
  try {
    return compareSemver(a, b);
  } catch {
    return undefined;
  }
}

const rules: Record<CheckName, Rule> = {
  identity: (device) => {
    if (typeof device.deviceId !== 'string' || !DEVICE_ID.test(device.deviceId))
      return fail(`device id ${String(device.deviceId).slice(0, 80)} is missing or malformed`);
    const c = device.claimed;
    if (c && (c.hardwareId !== device.hardwareId || c.channel !== device.channel)) {
      return fail(
        `polls as ${c.hardwareId.slice(0, 64)} on ${c.channel.slice(0, 32)}, enrolled as ${device.hardwareId} on ${device.channel}`,
      );
    }
    return pass(`device ${device.deviceId}`);
  },

  enrollment: (device) => {
    switch (device.status) {
      case 'enrolled':
        return pass('enrolled');
      case 'revoked':
        return fail('enrollment revoked');
      case 'pending':
        return fail('enrollment pending');
      default:
        return fail(`unknown enrollment status ${String(device.status).slice(0, 40)}`);
    }
  },

  integrity: (device, _release, context) => {
    const required = context.requiredIntegrity ?? [];
    if (required.length === 0) return pass('no integrity flags required');
    if (!device.integrity) return fail(`no integrity report; required: ${required.join(', ')}`);
    const reported = device.integrity;
    const problems = required
      .filter((flag) => !(Object.hasOwn(reported, flag) && reported[flag] === true))
      .map((flag) =>
        Object.hasOwn(reported, flag) ? `integrity flag ${flag} failing` : `integrity flag ${flag} not reported`,
      );
    return outcome(problems, `integrity flags passed: ${required.join(', ')}`);
  },

  attestation: (device, release, context) => {
    if (release.rollout.attestationRequired !== true) return pass('not required by this release');
    const a = device.attestation;
    if (!a) return fail('release requires attestation; the device has no attestation evidence');
    const verifiedAt = Date.parse(a.verifiedAt);
    if (Number.isNaN(verifiedAt)) return fail(`attestation time ${String(a.verifiedAt).slice(0, 40)} is unreadable`);
    const ageMs = context.now.getTime() - verifiedAt;
    const problems: string[] = [];
    if (!a.passed) problems.push(`last evidence failed${a.reason ? `: ${a.reason}` : ''}`);
    // Comparisons are written so that NaN (a broken clock or setting) fails, never passes.
    if (ageMs < 0) problems.push(`evidence verified at ${a.verifiedAt}, after now`);
    else if (!(ageMs <= context.attestationMaxAgeMs)) {
      problems.push(
        `evidence verified at ${a.verifiedAt} is stale (${Math.floor(ageMs / 1000)} s old, at most ${Math.floor(context.attestationMaxAgeMs / 1000)} s)`,
      );
    }
    return outcome(problems, `passing evidence verified at ${a.verifiedAt}`);
  },

  channel: (device, release) =>
    release.channel === device.channel
      ? pass(`channel ${release.channel}`)
      : fail(`release is on channel ${release.channel}, device follows ${device.channel}`),

  groups: (device, release) => {
    const groups = release.rollout.groups;
    // Only an absent list means "everyone"; an empty one (which the readers refuse) offers to no one.
    if (groups === undefined) return pass('not limited to groups');
    const member = groups.find((g) => device.groups.includes(g));
    return member !== undefined
      ? pass(`device is in group ${member}`)
      : fail(`device is in none of the groups ${groups.join(', ') || '(none listed)'}`);
  },

  tags: (device, release) => {
    const required = Object.entries(release.rollout.tags ?? {});
    if (required.length === 0) return pass('no tags required');
    const problems = required
      .filter(([key, value]) => !(Object.hasOwn(device.tags, key) && device.tags[key] === value))
      .map(([key, value]) =>
        Object.hasOwn(device.tags, key)
          ? `needs ${key}=${value}, device has ${key}=${device.tags[key]}`
          : `needs ${key}=${value}, device has no ${key}`,
      );
    return outcome(problems, `tags match: ${required.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  },

  hardware: (device, release) =>
    release.hardwareIds.includes(device.hardwareId)
      ? pass(`built for ${device.hardwareId}`)
      : fail(`built for ${release.hardwareIds.join(', ')}, not ${device.hardwareId}`),

  buildCompatibility: (device, release) => {
    const min = release.minSourceVersion;
    if (min === undefined) return pass('no minimum source version');
    const o = order(device.currentVersion, min);
    if (o === undefined) return fail(`cannot compare device version ${device.currentVersion} with minimum ${min}`);
    return o >= 0
      ? pass(`device runs ${device.currentVersion}, at least ${min}`)
      : fail(`device runs ${device.currentVersion}, below the minimum source version ${min}`);
  },

  rollout: (device, release, context) => {
    const r = release.rollout;
    const problems: string[] = [];
    const notes: string[] = [];
    if (r.withdrawn) problems.push('release withdrawn');
    if (r.paused) problems.push('rollout paused');
    if (r.notBefore !== undefined) {
      const opens = Date.parse(r.notBefore);
      if (Number.isNaN(opens)) problems.push(`unreadable not-before ${String(r.notBefore).slice(0, 40)}`);
      else if (!(opens <= context.now.getTime())) problems.push(`rollout opens at ${r.notBefore}`);
    }
    // Newer only, or an older release as a signed rollback for exactly the device's version (as D-6).
    const o = order(release.version, device.currentVersion);
    if (o === undefined)
      problems.push(`cannot compare release ${release.version} with device version ${device.currentVersion}`);
    else if (o > 0) notes.push(`${release.version} is newer than ${device.currentVersion}`);
    else if (o === 0) problems.push(`device already runs ${device.currentVersion}`);
    else if (r.downgradeFrom?.includes(device.currentVersion))
      notes.push(`signed rollback from ${device.currentVersion}`);
    else problems.push(`${release.version} is older than ${device.currentVersion} and not a signed rollback from it`);
    const bucket = rolloutBucket(r.salt, device.deviceId);
    if (bucketInPercent(bucket, r.percent)) notes.push(`bucket ${bucket} inside ${r.percent}%`);
    else problems.push(`bucket ${bucket} outside ${r.percent}%`);
    return outcome(problems, ['open', ...notes].join('; '));
  },
};

/**
 * Whether `release` is offered to `device` now, with the reason for every check. Every
 * check runs, also after one failed; the release is eligible only if all pass.
 */
export function decideEligibility(
  device: FleetDeviceFacts,
  release: OfferCandidate,
  context: EligibilityContext,
): EligibilityDecision {
  const checks = CHECKS.map((check) => ({ check, ...rules[check](device, release, context) }));
  return { eligible: checks.every((c) => c.ok), checks };
}

/**
 * A necessary condition of the rollout check, on the device's version alone: false only when
 * `release` is certainly not offered to a device running `version` (not newer, and not a signed
 * rollback from it). Devices running the same version share the answer, so the offer index
 * asks it once per version rather than on every poll.
 */
export function mayUpdateFrom(release: OfferCandidate, version: string): boolean {
  return !(
    isSemver(release.version) &&
    isSemver(version) &&
    compareSemver(release.version, version) <= 0 &&
    !release.rollout.downgradeFrom?.includes(version)
  );
}

/**
 * The offer among several releases: of the eligible ones, a signed rollback for the
 * device's version wins (its version was withdrawn); otherwise the newest.
 */
export function chooseOffer(
  device: FleetDeviceFacts,
  candidates: readonly OfferCandidate[],
  context: EligibilityContext,
): OfferCandidate | null {
  let best: OfferCandidate | undefined;
  let bestIsRollback = false;
  for (const c of candidates) {
    // Necessary conditions first, cheaply (each is one of the checks): on a poll most entries
    // are for another channel or not newer, and ten reasons for each was the poll's main cost.
    if (c.channel !== device.channel || !c.hardwareIds.includes(device.hardwareId)) continue;
    if (!mayUpdateFrom(c, device.currentVersion)) continue;
    if (!decideEligibility(device, c, context).eligible) continue;
    // Eligible means the rollout check compared both versions, so they are valid semantic versions.
    const rollback = compareSemver(c.version, device.currentVersion) < 0;
    if (
      !best ||
      (rollback && !bestIsRollback) ||
      (rollback === bestIsRollback && compareSemver(c.version, best.version) > 0)
    ) {
      best = c;
      bestIsRollback = rollback;
    }
  }
  return best ?? null;
}
