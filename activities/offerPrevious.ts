import { compareSemver, readReleaseFields } from '@enigm-ota/client-sdk';
import type { TargetFile } from '@tufjs/models';

import { ServerError } from '../common/errors';
import type { ReleaseTarget } from '../common/release';
import { targetFile } from '../trust/roleMetadata';
import type { ActivityDeps } from './deps';
import { addRolloutEntry } from './signAndPublish';

/**
 * `rollback --to VERSION`: offer an earlier release of the channel again, to every device
 * and explicitly to devices running the withdrawn version. Allowed only when its
 * rollbackIndex is not below the withdrawn release's, since devices that installed that
 * one store its index and would refuse anything lower: then ops must roll forward.
 */
export async function offerPrevious(
  deps: ActivityDeps,
  input: { current: ReleaseTarget; toVersion: string },
): Promise<{ targetName: string; rollbackIndex: number }> {
  const { current, toVersion } = input;
  if (compareSemver(toVersion, current.custom.version) >= 0) {
    throw new ServerError('INVALID_INPUT', `--to ${toVersion} is not earlier than ${current.custom.version}`);
  }
  const prefix = `${current.custom.channel}/${toVersion}/`;
  let previous: TargetFile | undefined;
  for (const set of await deps.repos.release.fileSetsFor(current.custom.channel, current.custom.hardwareIds)) {
    previous ??= Object.values(await set.publishedOrNone()).find((t) => t.path.startsWith(prefix));
  }
  if (!previous) {
    throw new ServerError(
      'NOT_FOUND',
      `no release ${toVersion} in channel ${current.custom.channel} in the device-facing metadata (partitioned repositories keep the ${deps.retention.keepStable} newest stable releases: OTA_KEEP_STABLE_RELEASES)`,
    );
  }
  const fields = readReleaseFields(previous);
  if (fields.rollbackIndex < current.custom.rollbackIndex) {
    throw new ServerError(
      'ROLLBACK_NOT_ALLOWED',
      `${toVersion} has rollbackIndex ${fields.rollbackIndex}, below ${current.custom.rollbackIndex} that devices running ${current.custom.version} store: roll forward with a new release instead`,
    );
  }
  const rollout = {
    // Offered back to the devices the withdrawn release reached: its audience.
    ...current.targeting,
    ...(current.windows ? { windows: current.windows } : {}),
    percent: 100,
    salt: `release-${current.custom.channel}-${toVersion}`,
    paused: false,
    withdrawn: false,
    downgradeFrom: [current.custom.version],
    approvals: [],
  };
  await addRolloutEntry(
    deps,
    { channel: fields.channel, hardwareIds: fields.hardwareIds },
    {
      entry: targetFile({
        name: previous.path,
        length: previous.length,
        sha256: previous.hashes['sha256']!,
        custom: { ...fields, rollout },
      }),
    },
  );
  return { targetName: previous.path, rollbackIndex: fields.rollbackIndex };
}
