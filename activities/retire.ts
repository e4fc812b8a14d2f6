import {
  compareSemver,
  isDeltaEntry,
  readReleaseFields,
  readRolloutState,
  rebuiltTargetOf,
} from '@enigm-ota/client-sdk';
import type { TargetFile } from '@tufjs/models';

/** A rollout entry as the retirement rule reads it (its signed custom fields). */
export interface RetireEntry {
  name: string;
  version: string;
  rollbackIndex: number;
  rollout: { percent: number; paused: boolean; withdrawn: boolean };
}

/**
 * Which releases leave a partition's device-facing metadata: withdrawn ones (rolled
 * back, aborted, superseded) and stable ones older than `keepStable` newer stable ones.
 * Releases still rolling out stay, and so does the newest release with the partition's
 * highest rollback index: devices may hold that index, and validation (channelFit) checks
 * a new release against it. Their history stays on the server (Temporal, the fleet store);
 * a rollback can go only to a release still listed (keepStable sets how far back).
 */
export function retiredTargets(entries: readonly RetireEntry[], keepStable: number): string[] {
  if (entries.length === 0) return [];
  const newestFirst = [...entries].sort((a, b) => compareSemver(b.version, a.version));
  const stable = newestFirst.filter((e) => !e.rollout.withdrawn && !e.rollout.paused && e.rollout.percent >= 100);
  const retired = new Set(
    [...entries.filter((e) => e.rollout.withdrawn), ...stable.slice(keepStable)].map((e) => e.name),
  );
  const highest = Math.max(...entries.map((e) => e.rollbackIndex));
  if (!entries.some((e) => !retired.has(e.name) && e.rollbackIndex === highest)) {
    retired.delete(newestFirst.find((e) => e.rollbackIndex === highest)!.name);
  }
  return [...retired];
}

/** Retired releases (activities/retire.ts), and the deltas that rebuild a release no longer listed. */
export function retiredNames(targets: Record<string, TargetFile>, keepStable: number): string[] {
  const deltas = Object.values(targets).filter(isDeltaEntry);
  const releases = Object.values(targets).filter((t) => !isDeltaEntry(t));
  const retired = retiredTargets(retireEntries(releases), keepStable);
  const listed = new Set(releases.map((t) => t.path).filter((name) => !retired.includes(name)));
  const orphans = deltas.filter((d) => !listed.has(rebuiltTargetOf(d) ?? '')).map((d) => d.path);
  return [...retired, ...orphans];
}

function retireEntries(targets: TargetFile[]): RetireEntry[] {
  return targets.flatMap((t): RetireEntry[] => {
    try {
      const policy = readReleaseFields(t);
      return [
        { name: t.path, version: policy.version, rollbackIndex: policy.rollbackIndex, rollout: readRolloutState(t) },
      ];
    } catch {
      // An entry a device would refuse anyway.
      return [
        { name: t.path, version: '0.0.0', rollbackIndex: -1, rollout: { percent: 0, paused: false, withdrawn: true } },
      ];
    }
  });
}
