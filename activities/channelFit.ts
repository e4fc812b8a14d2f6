import { compareSemver } from '@enigm-ota/client-sdk/semver';

import type { ReleaseTarget } from '../common/release';

/** A target as a repository holds it: its name and the release fields in `custom`. */
export interface ChannelEntry {
  name: string;
  custom: {
    version?: string;
    channel?: string;
    hardwareIds?: string[];
    rollbackIndex?: number;
    rollout?: { withdrawn?: boolean };
  };
}

/**
 * Why a release cannot go to its channel's devices, checked at validation, before anyone
 * is asked to approve (empty: it fits). Compared with every release the channel has offered
 * for the same hardware (the rollout repository's entries):
 * - its rollback index is not below any of theirs: a device that installed one of them
 *   keeps that index and refuses lower ones (ROLLBACK_INDEX_TOO_LOW), withdrawn ones too;
 * - its version is above every one still offered: devices running it refuse older ones
 *   (NOT_NEWER), and the newest release of a channel wins anyway (supersede);
 * - each hardware id is known: some device in the fleet has it, or an earlier release was
 *   for it (a typo reaches no device). A fleet with no device yet knows every hardware.
 */
export function channelFitProblems(
  target: ReleaseTarget,
  channel: { offered: ChannelEntry[]; released: ChannelEntry[]; fleetHardware: ReadonlySet<string> },
): string[] {
  const { offered, released, fleetHardware } = channel;
  const mine = new Set(target.custom.hardwareIds);
  const peers = offered.filter(
    (e) =>
      e.name !== target.name &&
      e.custom.channel === target.custom.channel &&
      (e.custom.hardwareIds ?? []).some((h) => mine.has(h)),
  );
  const problems: string[] = [];
  const highest = peers.reduce<ChannelEntry | undefined>(
    (top, e) => ((e.custom.rollbackIndex ?? 0) > (top?.custom.rollbackIndex ?? -1) ? e : top),
    undefined,
  );
  if (highest && target.custom.rollbackIndex < (highest.custom.rollbackIndex ?? 0)) {
    problems.push(
      `rollback index ${target.custom.rollbackIndex} is below ${highest.custom.rollbackIndex} of ${highest.name}: devices that installed it would refuse this release (ROLLBACK_INDEX_TOO_LOW)`,
    );
  }
  for (const e of peers) {
    if (e.custom.rollout?.withdrawn || e.custom.version === undefined) continue;
    if (compareSemver(target.custom.version, e.custom.version) <= 0) {
      problems.push(
        `version ${target.custom.version} is not above ${e.custom.version} (${e.name}), which the channel offers: devices running it would refuse this release (NOT_NEWER)`,
      );
    }
  }
  if (fleetHardware.size > 0) {
    const releasedFor = new Set(
      released.filter((e) => e.name !== target.name).flatMap((e) => e.custom.hardwareIds ?? []),
    );
    for (const h of target.custom.hardwareIds) {
      if (!fleetHardware.has(h) && !releasedFor.has(h))
        problems.push(`hardware ${h} is unknown: no device in the fleet has it and no earlier release was for it`);
    }
  }
  return problems;
}
