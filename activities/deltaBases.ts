import {
  compareSemver,
  isDeltaEntry,
  readDeltaBinding,
  readReleaseFields,
  readRolloutState,
} from '@enigm-ota/client-sdk';
import type { TargetFile } from '@tufjs/models';

import type { DeltaTarget, ReleaseSpec } from '../common/release';

/**
 * Which earlier releases may be delta bases for the release `spec` (newest first, distinct
 * images): of its channel, sharing a hardware id, older, and listed in both repositories.
 *
 * A delta must reveal no more than its base's own audience may see (S-28): bsdiff's diff
 * bytes are new minus old, so whoever holds the target and the delta holds the base. A
 * delta is handed to every device that may have its target, so an image that is, or ever
 * was released as, protected (its artifact only for devices eligible for it) is no base;
 * nor is one whose rollout entry is missing or unreadable, because its audience cannot be
 * told. `released` are the release repository's targets, `offered` the rollout
 * repository's, of the file sets the new release goes into.
 */
export function deltaBaseCandidates(input: {
  spec: Pick<ReleaseSpec, 'channel' | 'hardwareIds' | 'version'>;
  newSha256: string;
  released: readonly TargetFile[];
  offered: readonly TargetFile[];
}): DeltaTarget['base'][] {
  const { spec, newSha256 } = input;
  const audience = audiences(input.offered);
  const found = new Map<string, DeltaTarget['base']>();
  for (const t of input.released) {
    const sha256 = t.hashes['sha256'];
    if (!sha256 || sha256 === newSha256 || found.has(sha256) || audience.get(sha256) !== 'open') continue;
    try {
      if (readDeltaBinding(t)) continue;
      const p = readReleaseFields(t);
      if (
        p.channel !== spec.channel ||
        !p.hardwareIds.some((h) => spec.hardwareIds.includes(h)) ||
        compareSemver(p.version, spec.version) >= 0
      )
        continue;
      found.set(sha256, { sha256, length: t.length, version: p.version });
    } catch {
      // An entry devices would refuse: no device runs it.
    }
  }
  return [...found.values()].sort((a, b) => compareSemver(b.version, a.version));
}

/**
 * Each image's audience as the rollout repository signs it: `open` when every release
 * entry carrying it is unprotected, `closed` when one is protected or cannot be read (the
 * API hands out an image listed protected anywhere only to devices eligible for it).
 */
function audiences(offered: readonly TargetFile[]): Map<string, 'open' | 'closed'> {
  const audience = new Map<string, 'open' | 'closed'>();
  for (const t of offered) {
    const sha256 = t.hashes['sha256'];
    if (!sha256 || isDeltaEntry(t)) continue;
    let open = false;
    try {
      open = readRolloutState(t).protected !== true;
    } catch {
      // Unreadable rollout state: who may have this image cannot be told.
    }
    if (!open || audience.get(sha256) !== 'closed') audience.set(sha256, open ? 'open' : 'closed');
  }
  return audience;
}
