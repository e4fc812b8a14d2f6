import { compareSemver, readReleasePolicy } from '@enigm-ota/client-sdk';
import { ServerError } from '../common/errors';
import type { ReleaseTarget } from '../common/release';
import { targetFile } from '../trust/tufRepository';
import type { ActivityDeps } from './deps';

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
  const released = await deps.repos.release.published();
  const prefix = `${current.custom.channel}/${toVersion}/`;
  const previous = Object.values(released.signed.targets).find((t) => t.path.startsWith(prefix));
  if (!previous) throw new ServerError('NOT_FOUND', `no release ${toVersion} in channel ${current.custom.channel}`);
  const policy = readReleasePolicy(previous);
  if (policy.rollbackIndex < current.custom.rollbackIndex) {
    throw new ServerError(
      'ROLLBACK_NOT_ALLOWED',
      `${toVersion} has rollbackIndex ${policy.rollbackIndex}, below ${current.custom.rollbackIndex} that devices running ${current.custom.version} store: roll forward with a new release instead`,
    );
  }
  const rollout = {
    // Offered back to the devices the withdrawn release reached: its audience.
    ...current.targeting,
    percent: 100,
    salt: `release-${current.custom.channel}-${toVersion}`,
    paused: false,
    withdrawn: false,
    downgradeFrom: [current.custom.version],
    approvals: [],
  };
  await deps.repos.rollout.publish(
    (targets) => targets.addTarget(targetFile(previous.path, previous.length, previous.hashes['sha256']!, { ...policy, rollout })),
  );
  return { targetName: previous.path, rollbackIndex: policy.rollbackIndex };
}
