import { compareSemver } from '@enigm-ota/client-sdk';

/** A rollout entry as the retirement rule reads it (its signed custom fields). */
export interface RetireEntry {
  name: string;
  version: string;
  rollout: { percent: number; paused: boolean; withdrawn: boolean };
}

/**
 * Which releases leave a partition's device-facing metadata (#10): withdrawn ones (rolled
 * back, aborted, superseded) and stable ones older than `keepStable` newer stable ones.
 * Releases still rolling out stay. Their history stays on the server (Temporal, the fleet
 * store); a rollback can go only to a release still listed (keepStable sets how far back).
 */
export function retiredTargets(entries: readonly RetireEntry[], keepStable: number): string[] {
  const retired = entries.filter((e) => e.rollout.withdrawn).map((e) => e.name);
  const stable = entries
    .filter((e) => !e.rollout.withdrawn && !e.rollout.paused && e.rollout.percent >= 100)
    .sort((a, b) => compareSemver(b.version, a.version));
  retired.push(...stable.slice(keepStable).map((e) => e.name));
  return retired;
}
